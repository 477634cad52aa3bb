import "./containers.css";

/* NixOS containers in Cockpit: a client of org.nixos.Containers and nothing else.
 *
 * Everything shown comes from the service's objects (client.proxies over its
 * ObjectManager, so rows follow PropertiesChanged and InterfacesAdded/Removed
 * without polling); every action is one method call on the system bus, made
 * as the logged-in user. Nothing is retried as superuser: polkit decides, and
 * its answer is shown. */
"use strict";

const BUS_NAME = "org.nixos.Containers";
const MANAGER_PATH = "/org/nixos/Containers";
const MANAGER_IF = "org.nixos.Containers";
const CONTAINER_IF = "org.nixos.Containers.Container";
const SERVICE_ERROR = "org.nixos.Containers.Error.";
const ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied";
const AUTH_REQUIRED = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired";
// The service's own name rule (service/core/validation.cpp, validateName).
const MAX_NAME_LENGTH = 64;
const SOURCES = ["SystemPath", "Config", "Flake"];

// The row verbs, in button order: the progress label while the call runs, and
// when the button makes sense (the service still has the last word).
const VERBS = [
    { method: "Start", busy: "Starting…", enabled: c => ["stopped", "failed"].includes(c.State) },
    { method: "Stop", busy: "Stopping…", enabled: c => ["running", "starting"].includes(c.State) },
    { method: "Restart", busy: "Restarting…", enabled: c => c.State === "running" },
    { method: "Reload", busy: "Reloading…", enabled: c => c.State === "running" },
    // Back to the profile's previous generation (Generations: number, system, created, current).
    {
        method: "Rollback",
        busy: "Rolling back…",
        enabled: c => !c.Declarative && (c.Generations || []).some(([, , , current], i) => current && i > 0),
    },
    { method: "Destroy", busy: "Destroying…", enabled: c => !c.Declarative, confirm: true },
];

const client = cockpit.dbus(BUS_NAME, { bus: "system" });
const containers = client.proxies(CONTAINER_IF, MANAGER_PATH);

// What the page remembers between renders, per container name.
const busyVerb = new Map(); // name -> method in flight
const rowError = new Map(); // name -> { text, kind }

const $ = (selector, root = document) => root.querySelector(selector);

function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) {
        if (key === "text")
            node.textContent = value;
        else if (key === "className")
            node.className = value;
        else if (value !== undefined && value !== null && value !== false)
            node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children)
        if (child)
            node.append(child);
    return node;
}

/* ------------------------------------------------------------ errors --- */

// The text a user sees for a failed call: polkit's two answers in the words
// Cockpit users know, the service's named errors with their own message.
function describeError(error) {
    const name = error && error.name ? error.name : "";
    const message = error && error.message ? error.message : String(error);
    if (name === ACCESS_DENIED)
        return { kind: "denied", text: "Not authorized: " + message };
    if (name === AUTH_REQUIRED)
        return {
            kind: "challenge",
            text: "Authentication is required for this action. Polkit wants your password, " +
                  "which this page does not ask for: use nixos-container in a terminal, or ask an administrator.",
        };
    if (name.startsWith(SERVICE_ERROR))
        return { kind: name.slice(SERVICE_ERROR.length), text: message };
    if (error && error.problem)
        return { kind: error.problem, text: "Cannot reach the containers service: " + message };
    return { kind: "error", text: message };
}

/* ------------------------------------------------------------ values --- */

function containerOf(proxy) {
    return proxy && proxy.valid !== false ? proxy : null;
}

function sortedContainers() {
    return Object.values(containers)
            .filter(p => containerOf(p) && typeof p.Name === "string")
            .sort((a, b) => a.Name.localeCompare(b.Name));
}

function findContainer(name) {
    return sortedContainers().find(c => c.Name === name) || null;
}

function portsText(ports) {
    return (ports || []).map(([protocol, host, inside]) =>
        `${host}→${inside || host}/${protocol}`).join(", ");
}

function shownValue(value) {
    if (value === undefined || value === null)
        return "";
    if (typeof value === "string")
        return value;
    if (typeof value === "boolean" || typeof value === "number")
        return String(value);
    if (Array.isArray(value) && value.every(v => typeof v === "string"))
        return value.join(", ");
    return JSON.stringify(value);
}

/* --------------------------------------------------------------- list --- */

function stateBadge(c) {
    const badge = element("span", { className: "state state-" + c.State, "data-state": c.State, text: c.State });
    return badge;
}

function actionButtons(c, where) {
    const box = element("span", { className: "actions" });
    const inFlight = busyVerb.get(c.Name);
    for (const verb of VERBS) {
        const busy = inFlight === verb.method;
        const button = element("button", {
            type: "button",
            className: verb.method === "Destroy" ? "danger" : "",
            "data-verb": verb.method,
            "data-busy": busy ? "true" : "false",
            "aria-busy": busy ? "true" : "false",
            disabled: Boolean(inFlight) || !verb.enabled(c),
            text: busy ? verb.busy : verb.method,
        });
        button.addEventListener("click", () => act(c.Name, verb, where));
        box.append(button);
    }
    return box;
}

function errorLine(name) {
    const error = rowError.get(name);
    if (!error)
        return null;
    return element("p", { className: "row-error", "data-row-error": error.kind, role: "alert", text: error.text });
}

function renderList() {
    const rows = $("[data-rows]");
    const list = sortedContainers();
    $("[data-empty]").hidden = list.length > 0;
    rows.replaceChildren(...list.map(c => {
        const name = element("button", { type: "button", className: "link", "data-open": c.Name, text: c.Name });
        name.addEventListener("click", () => cockpit.location.go([c.Name]));
        const nameCell = element("td", { "data-cell": "name" }, name);
        if (c.Declarative)
            nameCell.append(element("span", { className: "tag", "data-declarative": "true", text: "declarative" }));
        const stateCell = element("td", { "data-cell": "state" }, stateBadge(c));
        if (c.State === "failed" && c.UnitResult)
            stateCell.append(element("span", { className: "reason", "data-unit-result": c.UnitResult, text: c.UnitResult }));
        const actionsCell = element("td", { "data-cell": "actions" }, actionButtons(c, "row"), errorLine(c.Name));
        return element("tr", { "data-container": c.Name, "data-state": c.State },
                       nameCell, stateCell,
                       element("td", { "data-cell": "addresses", text: (c.Addresses || []).join(", ") }),
                       element("td", { "data-cell": "ports", text: portsText(c.ForwardPorts) }),
                       actionsCell);
    }));
}

/* ------------------------------------------------------------ actions --- */

function confirmDestroy(name) {
    const dialog = $("[data-confirm-destroy]");
    $("[data-confirm-name]", dialog).textContent = name;
    return new Promise(resolve => {
        dialog.addEventListener("close", () => resolve(dialog.returnValue === "destroy"), { once: true });
        dialog.showModal();
    });
}

async function act(name, verb, where) {
    if (verb.confirm && !await confirmDestroy(name))
        return;
    const c = findContainer(name);
    if (!c)
        return;
    busyVerb.set(name, verb.method);
    rowError.delete(name);
    render();
    try {
        // No "i" flag: a challenge comes back as an answer, never as a prompt
        // this page cannot show.
        await client.call(c.path, CONTAINER_IF, verb.method, []);
    } catch (error) {
        rowError.set(name, describeError(error));
    } finally {
        busyVerb.delete(name);
        render();
    }
    if (verb.method === "Destroy" && where === "details" && !rowError.has(name))
        cockpit.location.go([]);
}

/* ------------------------------------------------------------- create --- */

const form = $("[data-create-form]");

function selectedSource() {
    return form.elements.source.value;
}

function showSourceInput() {
    for (const source of SOURCES)
        form.elements[source].hidden = source !== selectedSource();
}

function setFieldError(field, text) {
    const target = $(`[data-error-for="${field}"]`, form);
    target.textContent = text || "";
    target.hidden = !text;
    const box = $(`[data-field="${field}"]`, form);
    if (box)
        box.classList.toggle("has-error", Boolean(text));
}

function clearErrors() {
    for (const field of ["name", "source", "PrivateNetwork", "form"])
        setFieldError(field, "");
}

// The checks the service makes first, so that most mistakes are caught
// before a call; the service's own answer still decides (see fieldOf).
function validateLocally(name, source, value) {
    const errors = {};
    if (name === "")
        errors.name = "A name is required.";
    else if (name.length > MAX_NAME_LENGTH)
        errors.name = `The name is ${name.length} characters long; the limit is ${MAX_NAME_LENGTH}.`;
    else if (!/^[A-Za-z0-9-]+$/.test(name))
        errors.name = "Use only letters, digits and '-'.";
    else if (name.startsWith("-") || name.endsWith("-"))
        errors.name = "The name cannot start or end with '-'.";
    if (value.trim() === "")
        errors.source = "Say which system the container runs.";
    else if (source === "SystemPath" && !value.startsWith("/"))
        errors.source = "SystemPath must be an absolute path.";
    return errors;
}

// The service's messages begin with what they are about ("name 'x' …",
// "SystemPath '/…' has no init"): that decides the field shown beside.
function fieldOf(message) {
    if (/^name\b/.test(message))
        return "name";
    for (const source of SOURCES)
        if (message.startsWith(source))
            return "source";
    if (message.startsWith("PrivateNetwork"))
        return "PrivateNetwork";
    return "form";
}

function appendBuildOutput(line) {
    const output = $("[data-build-output]");
    output.hidden = false;
    output.textContent += line + "\n";
    output.scrollTop = output.scrollHeight;
}

async function submitCreate(event) {
    event.preventDefault();
    clearErrors();
    const name = form.elements.name.value.trim();
    const source = selectedSource();
    const value = form.elements[source].value;
    const local = validateLocally(name, source, value);
    for (const [field, text] of Object.entries(local))
        setFieldError(field, text);
    if (Object.keys(local).length)
        return;

    const spec = {
        [source]: { t: "s", v: value.trim() },
        PrivateNetwork: { t: "b", v: form.elements.PrivateNetwork.checked },
    };
    const submit = $("[data-action=create]", form);
    submit.disabled = true;
    submit.dataset.busy = "true";
    submit.textContent = source === "SystemPath" ? "Creating…" : "Building…";
    const output = $("[data-build-output]");
    output.textContent = "";
    output.hidden = true;
    // BuildOutput is sent to the caller alone: this page's connection.
    const subscription = client.subscribe({ interface: MANAGER_IF, member: "BuildOutput" },
                                          (path, iface, signal, [container, line]) => {
                                              if (container === name)
                                                  appendBuildOutput(line);
                                          });
    try {
        await client.call(MANAGER_PATH, MANAGER_IF, "Create", [name, spec], { type: "sa{sv}" });
        form.reset();
        showSourceInput();
        cockpit.location.go([]);
    } catch (error) {
        const described = describeError(error);
        setFieldError(described.kind === "InvalidArgument" ? fieldOf(described.text) : "form", described.text);
        $(`[data-error-for="${described.kind === "InvalidArgument" ? fieldOf(described.text) : "form"}"]`, form)
                .dataset.errorKind = described.kind;
    } finally {
        subscription.remove();
        submit.disabled = false;
        submit.dataset.busy = "false";
        submit.textContent = "Create";
    }
}

/* ------------------------------------------------------------ details --- */

const terminal = { channel: null, name: "" };

function closeTerminal() {
    if (terminal.channel)
        terminal.channel.close();
    terminal.channel = null;
    $("[data-terminal-input]").disabled = true;
    $("[data-action=connect-terminal]").textContent = "Connect";
}

// Terminal control sequences, which a plain text view cannot draw.
function plainText(data) {
    // eslint-disable-next-line no-control-regex
    return data.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Za-z0-9]|\r/g, "");
}

function connectTerminal(name) {
    if (terminal.channel) {
        closeTerminal();
        return;
    }
    const output = $("[data-terminal-output]");
    output.textContent = "";
    terminal.name = name;
    // The CLI asks the service for the shell (OpenShell) as this user, and
    // relays the pseudo-terminal it gets back.
    terminal.channel = cockpit.channel({
        payload: "stream",
        spawn: ["nixos-container", "root-login", name],
        pty: true,
        environ: ["TERM=dumb"],
        err: "out",
    });
    terminal.channel.addEventListener("message", (event, data) => {
        output.textContent += plainText(data);
        output.scrollTop = output.scrollHeight;
    });
    terminal.channel.addEventListener("close", (event, options) => {
        if (options && options.problem)
            output.textContent += `\n[${options.message || options.problem}]\n`;
        output.textContent += "\n[disconnected]\n";
        closeTerminal();
    });
    $("[data-terminal-input]").disabled = false;
    $("[data-terminal-input]").focus();
    $("[data-action=connect-terminal]").textContent = "Disconnect";
}

function renderDetails(name) {
    const c = findContainer(name);
    $("[data-details-name]").textContent = name;
    const view = $("[data-view=details]");
    view.dataset.container = name;
    if (!c) {
        view.dataset.state = "gone";
        $("[data-details-actions]").replaceChildren();
        $("[data-properties]").replaceChildren(element("dd", { text: "No container of this name." }));
        return;
    }
    view.dataset.state = c.State;
    $("[data-details-actions]").replaceChildren(actionButtons(c, "details"));
    const error = rowError.get(name);
    const errorBox = $("[data-details-error]");
    errorBox.hidden = !error;
    errorBox.textContent = error ? error.text : "";
    const names = Object.keys(c.data || {}).sort();
    $("[data-properties]").replaceChildren(...names.flatMap(property => [
        element("dt", { text: property }),
        element("dd", { "data-property": property, text: shownValue(c.data[property]) }),
    ]));
}

/* ------------------------------------------------------------ routing --- */

function currentView() {
    const path = cockpit.location.path;
    if (path.length === 1 && path[0] === "create")
        return { view: "create" };
    if (path.length === 1)
        return { view: "details", name: path[0] };
    return { view: "list" };
}

function render() {
    const { view, name } = currentView();
    document.getElementById("app").dataset.page = view;
    for (const section of document.querySelectorAll("[data-view]"))
        section.hidden = section.dataset.view !== view && !(view === "create" && section.dataset.view === "list");
    renderList();
    if (view === "details")
        renderDetails(name);
    else if (terminal.channel)
        closeTerminal();
}

function showConnectionProblem(problem) {
    const line = $("[data-connection]");
    line.hidden = false;
    line.textContent = "The containers service cannot be reached: " + (problem.message || problem.problem || problem);
}

function init() {
    form.addEventListener("submit", submitCreate);
    form.addEventListener("change", event => {
        if (event.target.name === "source")
            showSourceInput();
    });
    $("[data-action=show-create]").addEventListener("click", () => cockpit.location.go(["create"]));
    $("[data-action=cancel-create]").addEventListener("click", () => { clearErrors(); cockpit.location.go([]) });
    $("[data-action=back]").addEventListener("click", () => cockpit.location.go([]));
    $("[data-action=connect-terminal]").addEventListener("click", () => connectTerminal(currentView().name));
    $("[data-terminal-input]").addEventListener("keydown", event => {
        if (event.key === "Enter" && terminal.channel) {
            terminal.channel.send(event.target.value + "\n");
            event.target.value = "";
        }
    });
    showSourceInput();

    for (const signal of ["added", "changed", "removed"])
        containers.addEventListener(signal, render);
    cockpit.addEventListener("locationchanged", render);
    client.addEventListener("close", (event, options) => showConnectionProblem(options));
    containers.wait()
            .then(() => {
                document.body.dataset.loaded = "true";
                render();
            })
            .catch(showConnectionProblem);
    render();
}

init();
