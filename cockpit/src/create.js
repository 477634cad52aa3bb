/* The Create and Edit modal: one form, PatternFly's modal box on a <dialog>
 * (focus kept inside, Escape closes it). Create sends the keys the user
 * filled; Edit (route [name, "edit"]) is prefilled from the container's
 * properties and sends Update only the keys that changed, with what each
 * change does to a running container (the service's SpecKeys). */
import { MANAGER_IF, MANAGER_PATH, MAX_NAME_LENGTH, SOURCES, client, describeError, findContainer } from "./bus.js";
import { $, element } from "./dom.js";
import { toast } from "./toasts.js";

export const dialog = $("[data-create-dialog]");
export let form = null;

// What Update of a key does to a running container: SpecKeys' words, as a user reads them.
const EFFECT_TEXT = {
    restart: "restarts the container",
    reload: "reloads its system",
    live: "applies live",
    stored: "saved for the next start",
};
const effects = new Map(); // key -> restart | reload | live | stored

export function loadSpecKeys() {
    client.call(MANAGER_PATH, "org.freedesktop.DBus.Properties", "Get", [MANAGER_IF, "SpecKeys"], { type: "ss" })
            .then(([variant]) => {
                for (const [key, , effect] of (variant && variant.v) || [])
                    effects.set(key, effect);
                if (form && mode.kind === "edit")
                    showEffects();
            })
            // An older service: no effect labels.
            .catch(() => {});
}

const LIMITS = [
    { key: "MemoryMax", label: "Memory limit", hint: "Bytes with K, M, G or T, or “infinity”, e.g. 512M" },
    { key: "CPUQuota", label: "CPU quota", hint: "A percentage of one CPU, e.g. 50% or 200%" },
    { key: "TasksMax", label: "Tasks limit", hint: "A count or “infinity”" },
];
const SOURCE_LABEL = {
    SystemPath: ["A built system", "Store path of the system"],
    Config: ["A configuration", "Configuration (a NixOS module)"],
    Flake: ["A flake", "Flake URI"],
};
// Every field an error can be shown beside: the spec keys, plus name and source.
const FIELDS = ["name", "source", "PrivateNetwork", "HostAddress", "LocalAddress", "ForwardPorts", "BindMounts",
    "MemoryMax", "CPUQuota", "TasksMax", "AutoStart", "Ephemeral", "form"];

let mode = { kind: "closed", name: "" };
let original = {}; // Edit: the spec as prefilled, to send only what changed
let opener = null; // focus goes back there when the modal closes
let onClosed = () => {};

/* ------------------------------------------------------------ the form --- */

function errorNode(field) {
    return element("p", {
        className: "pf-v6-c-helper-text__item pf-m-error field-error",
        id: `err-${field}`,
        "data-error-for": field,
        role: "alert",
        hidden: true,
    });
}

function helper(text, field) {
    return element("p", { className: "pf-v6-c-helper-text__item hint", id: field ? `hint-${field}` : null, text });
}

function effectNode(key) {
    return element("p", { className: "pf-v6-c-helper-text__item effect", "data-effect-for": key, hidden: true });
}

function textInput(field, label, attributes = {}) {
    const id = `create-${field}`;
    const input = element(attributes.multiline ? "textarea" : "input", {
        id,
        name: field,
        autocomplete: "off",
        spellcheck: "false",
        "data-input": field,
        "data-field-input": attributes.errorField || field,
        "aria-describedby": attributes.hint ? `hint-${field}` : null,
        placeholder: attributes.placeholder,
        rows: attributes.multiline ? 5 : null,
    });
    return element("div", { className: "pf-v6-c-form__group", "data-field": field },
                   element("div", { className: "pf-v6-c-form__group-label" },
                           element("label", { className: "pf-v6-c-form__label", for: id },
                                   element("span", { className: "pf-v6-c-form__label-text", text: label }))),
                   element("div", { className: "pf-v6-c-form__group-control" },
                           element("span", { className: "pf-v6-c-form-control" + (attributes.multiline ? " pf-m-textarea" : "") }, input),
                           element("div", { className: "pf-v6-c-form__helper-text pf-v6-c-helper-text" },
                                   attributes.hint ? helper(attributes.hint, field) : null,
                                   effectNode(attributes.effectKey || field),
                                   attributes.noError ? null : errorNode(field))));
}

function checkbox(field, label) {
    const id = `create-${field}`;
    return element("div", { className: "pf-v6-c-form__group", "data-field": field },
                   element("div", { className: "pf-v6-c-check" },
                           element("input", { className: "pf-v6-c-check__input", type: "checkbox", id, name: field, "data-input": field, "data-field-input": field }),
                           element("label", { className: "pf-v6-c-check__label", for: id, text: label })),
                   element("div", { className: "pf-v6-c-form__helper-text pf-v6-c-helper-text" }, effectNode(field), errorNode(field)));
}

function sourceGroup() {
    const radios = SOURCES.map(source => element("div", { className: "pf-v6-c-radio" },
                                                 element("input", {
                                                     className: "pf-v6-c-radio__input",
                                                     type: "radio",
                                                     name: "source",
                                                     value: source,
                                                     id: `create-source-${source}`,
                                                     "data-input": `source-${source}`,
                                                 }),
                                                 element("label", { className: "pf-v6-c-radio__label", for: `create-source-${source}`, text: SOURCE_LABEL[source][0] })));
    const inputs = SOURCES.map(source => textInput(source, SOURCE_LABEL[source][1], {
        multiline: source === "Config",
        errorField: "source",
        effectKey: source,
        noError: true,
        placeholder: { SystemPath: "/nix/store/…-nixos-system-…", Config: "{ pkgs, ... }: { services.nginx.enable = true; }", Flake: "/path/to/flake#container" }[source],
    }));
    return element("fieldset", { className: "pf-v6-c-form__fieldset", "data-field": "source" },
                   element("legend", { className: "pf-v6-c-form__label", text: "System" }),
                   element("div", { className: "radios" }, ...radios), ...inputs, errorNode("source"));
}

function listRow(kind, values = []) {
    const list = $(`[data-list=${kind}]`, form);
    const n = list.children.length + 1;
    const remove = element("button", { type: "button", className: "pf-v6-c-button pf-m-link pf-m-small", "aria-label": `Remove ${kind === "ports" ? "port" : "bind mount"} ${n}` },
                           element("span", { className: "pf-v6-c-button__text", text: "Remove" }));
    let row;
    if (kind === "ports") {
        const [protocol = "tcp", host = "", inside = ""] = values;
        const select = element("select", { "aria-label": `Protocol of port ${n}`, "data-port": "protocol", "data-field-input": "ForwardPorts" },
                               element("option", { value: "tcp", text: "TCP" }), element("option", { value: "udp", text: "UDP" }));
        select.value = protocol;
        row = element("div", { className: "list-row", "data-port-row": String(n) },
                      element("span", { className: "pf-v6-c-form-control" }, select),
                      element("span", { className: "pf-v6-c-form-control" },
                              element("input", { type: "number", min: 1, max: 65535, "aria-label": `Host port ${n}`, placeholder: "Host port", "data-port": "host", "data-field-input": "ForwardPorts", value: host === "" ? null : host })),
                      element("span", { className: "pf-v6-c-form-control" },
                              element("input", { type: "number", min: 0, max: 65535, "aria-label": `Container port ${n}`, placeholder: "Container port", "data-port": "inside", "data-field-input": "ForwardPorts", value: inside === "" || inside === 0 ? null : inside })),
                      remove);
    } else {
        const [inside = "", host = "", readOnly = false] = values;
        const checkId = `bind-ro-${n}-${Date.now()}`;
        row = element("div", { className: "list-row", "data-bind-row": String(n) },
                      element("span", { className: "pf-v6-c-form-control" },
                              element("input", { "aria-label": `Path in the container, bind mount ${n}`, placeholder: "Path in the container", "data-bind": "inside", "data-field-input": "BindMounts", value: inside || null })),
                      element("span", { className: "pf-v6-c-form-control" },
                              element("input", { "aria-label": `Host path, bind mount ${n}`, placeholder: "Host path (empty: the same)", "data-bind": "host", "data-field-input": "BindMounts", value: host || null })),
                      element("span", { className: "pf-v6-c-check" },
                              element("input", { className: "pf-v6-c-check__input", type: "checkbox", id: checkId, "data-bind": "readonly", checked: readOnly }),
                              element("label", { className: "pf-v6-c-check__label", for: checkId, text: "Read-only" })),
                      remove);
    }
    remove.addEventListener("click", () => {
        row.remove();
        $(`[data-action=add-${kind}]`, form).focus();
    });
    list.append(row);
    return row;
}

function listGroup(kind, field, label, addLabel) {
    const add = element("button", { type: "button", className: "pf-v6-c-button pf-m-link pf-m-small", "data-action": `add-${kind}` },
                        element("span", { className: "pf-v6-c-button__text", text: addLabel }));
    add.addEventListener("click", () => {
        const row = listRow(kind);
        row.querySelector("input, select").focus();
    });
    return element("fieldset", { className: "pf-v6-c-form__fieldset", "data-field": field },
                   element("legend", { className: "pf-v6-c-form__label", text: label }),
                   element("div", { className: "rows", "data-list": kind }), add,
                   element("div", { className: "pf-v6-c-form__helper-text pf-v6-c-helper-text" }, effectNode(field), errorNode(field)));
}

function buildForm() {
    form = element("form", { className: "pf-v6-c-form", "data-create-form": "", novalidate: true });
    const submit = element("button", { type: "submit", className: "pf-v6-c-button pf-m-primary", "data-action": "create" },
                           element("span", { className: "pf-v6-c-button__text", text: "Create" }));
    const cancel = element("button", { type: "button", className: "pf-v6-c-button pf-m-link", "data-action": "cancel-create" },
                           element("span", { className: "pf-v6-c-button__text", text: "Cancel" }));
    form.append(
        textInput("name", "Name", { hint: `Letters, digits and '-', at most ${MAX_NAME_LENGTH} characters.` }),
        sourceGroup(),
        element("fieldset", { className: "pf-v6-c-form__fieldset", "data-field": "network" },
                element("legend", { className: "pf-v6-c-form__label", text: "Network" }),
                checkbox("PrivateNetwork", "Private network (its own veth and addresses)"),
                element("div", { className: "pair", "data-addresses": "" },
                        textInput("HostAddress", "Host address", { placeholder: "from the pool" }),
                        textInput("LocalAddress", "Container address", { placeholder: "from the pool", hint: "Empty: the next free pair of the address pool." }))),
        listGroup("ports", "ForwardPorts", "Forwarded ports", "Add port"),
        listGroup("binds", "BindMounts", "Bind mounts", "Add bind mount"),
        element("fieldset", { className: "pf-v6-c-form__fieldset", "data-field": "limits" },
                element("legend", { className: "pf-v6-c-form__label", text: "Limits" }),
                element("div", { className: "limits" }, ...LIMITS.map(l => textInput(l.key, l.label, { hint: l.hint, placeholder: "systemd's default" })))),
        checkbox("AutoStart", "Start with the service (AutoStart)"),
        checkbox("Ephemeral", "Ephemeral (an empty root, thrown away when it stops)"),
        element("div", { className: "pf-v6-c-form__helper-text pf-v6-c-helper-text" }, errorNode("form")),
        element("div", { className: "pf-v6-c-form__group pf-m-action" },
                element("div", { className: "pf-v6-c-form__actions" }, submit, cancel)),
        element("pre", { className: "build-output", "data-build-output": "", hidden: true, "aria-label": "Build output", tabindex: "0" }),
    );
    form.addEventListener("submit", submitForm);
    form.addEventListener("change", event => {
        if (event.target.name === "source")
            showSourceInput();
        if (event.target.name === "PrivateNetwork")
            showAddresses();
    });
    cancel.addEventListener("click", () => closeModal());
    $("[data-create-body]").replaceChildren(form);
}

function selectedSource() {
    return form.elements.source.value;
}

export function showSourceInput() {
    for (const source of SOURCES)
        $(`[data-field=${source}]`, form).hidden = source !== selectedSource();
}

function showAddresses() {
    $("[data-addresses]", form).hidden = !form.elements.PrivateNetwork.checked;
}

/* ------------------------------------------------------------ errors --- */

function setFieldError(field, text, kind) {
    const target = $(`[data-error-for="${field}"]`, form);
    target.textContent = text || "";
    target.hidden = !text;
    if (kind)
        target.dataset.errorKind = kind;
    else
        delete target.dataset.errorKind;
    for (const input of form.querySelectorAll(`[data-field-input="${field}"]`)) {
        const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(id => id && id !== target.id);
        if (text)
            described.push(target.id);
        if (described.length)
            input.setAttribute("aria-describedby", described.join(" "));
        else
            input.removeAttribute("aria-describedby");
        input.toggleAttribute("aria-invalid", Boolean(text));
        if (text)
            input.setAttribute("aria-invalid", "true");
        const control = input.closest(".pf-v6-c-form-control");
        if (control)
            control.classList.toggle("pf-m-error", Boolean(text));
    }
}

export function clearErrors() {
    if (form)
        for (const field of FIELDS)
            setFieldError(field, "");
}

// The checks the service makes first, so that most mistakes are caught
// before a call; the service's own answer still decides (see fieldOf).
function validateLocally(spec) {
    const errors = {};
    if (mode.kind === "create") {
        const name = form.elements.name.value.trim();
        if (name === "")
            errors.name = "A name is required.";
        else if (name.length > MAX_NAME_LENGTH)
            errors.name = `The name is ${name.length} characters long; the limit is ${MAX_NAME_LENGTH}.`;
        else if (!/^[A-Za-z0-9-]+$/.test(name))
            errors.name = "Use only letters, digits and '-'.";
        else if (name.startsWith("-") || name.endsWith("-"))
            errors.name = "The name cannot start or end with '-'.";
    }
    const source = selectedSource();
    const value = spec[source] ? spec[source].v : "";
    if (value === "" && mode.kind === "create")
        errors.source = "Say which system the container runs.";
    else if (source === "SystemPath" && value && !value.startsWith("/"))
        errors.source = "SystemPath must be an absolute path.";
    for (const [protocol, host, inside] of spec.ForwardPorts ? spec.ForwardPorts.v : [])
        if (!(host >= 1 && host <= 65535) || !(inside >= 0 && inside <= 65535) || !protocol)
            errors.ForwardPorts = "Each forwarded port needs a host port from 1 to 65535 (the container's port is 0 to 65535; empty: the same).";
    for (const [inside] of spec.BindMounts ? spec.BindMounts.v : [])
        if (!inside.startsWith("/"))
            errors.BindMounts = "Each bind mount needs an absolute path in the container.";
    return errors;
}

// The service's messages begin with what they are about ("name 'x' …",
// "SystemPath '/…' has no init", "MemoryMax …"): that decides the field shown beside.
export function fieldOf(message) {
    const first = (/^[A-Za-z0-9]+/.exec(message) || [""])[0];
    if (first === "name")
        return "name";
    if (SOURCES.includes(first) || first === "ConfigFile")
        return "source";
    if (FIELDS.includes(first) && first !== "form")
        return first;
    return "form";
}

/* ------------------------------------------------------------ the spec --- */

// The spec as the form says now. Create: only what the user filled; Edit:
// every key the form shows, so that clearing one is a change too.
function collectSpec(all) {
    const spec = {};
    const text = key => (form.elements[key] ? form.elements[key].value.trim() : "");
    const source = selectedSource();
    if (text(source) || all)
        spec[source] = { t: "s", v: text(source) };
    spec.PrivateNetwork = { t: "b", v: form.elements.PrivateNetwork.checked };
    if (form.elements.PrivateNetwork.checked || all)
        for (const key of ["HostAddress", "LocalAddress"])
            if (text(key) || all)
                spec[key] = { t: "s", v: text(key) };
    const ports = [...form.querySelectorAll("[data-port-row]")]
            .map(row => [$("[data-port=protocol]", row).value, $("[data-port=host]", row).value, $("[data-port=inside]", row).value])
            .filter(([, host, inside]) => host !== "" || inside !== "")
            .map(([protocol, host, inside]) => [protocol, Number(host), inside === "" ? 0 : Number(inside)]);
    if (ports.length || all)
        spec.ForwardPorts = { t: "a(sqq)", v: ports };
    const binds = [...form.querySelectorAll("[data-bind-row]")]
            .map(row => [$("[data-bind=inside]", row).value.trim(), $("[data-bind=host]", row).value.trim(), $("[data-bind=readonly]", row).checked])
            .filter(([inside, host]) => inside !== "" || host !== "");
    if (binds.length || all)
        spec.BindMounts = { t: "a(ssb)", v: binds };
    for (const { key } of LIMITS)
        if (text(key) || all)
            spec[key] = { t: "s", v: text(key) };
    for (const key of ["AutoStart", "Ephemeral"])
        if (form.elements[key].checked || all)
            spec[key] = { t: "b", v: form.elements[key].checked };
    return spec;
}

function changedKeys(spec) {
    return Object.fromEntries(Object.entries(spec).filter(([key, value]) =>
        JSON.stringify(value) !== JSON.stringify(original[key])));
}

function prefill(c) {
    form.elements.name.value = c.Name;
    const source = c.Config ? "Config" : c.Flake ? "Flake" : "SystemPath";
    form.elements.source.value = source;
    form.elements[source].value = c[source] || "";
    form.elements.PrivateNetwork.checked = Boolean(c.PrivateNetwork);
    form.elements.HostAddress.value = c.HostAddress || "";
    form.elements.LocalAddress.value = c.LocalAddress || "";
    for (const port of c.ForwardPorts || [])
        listRow("ports", port);
    for (const bind of c.BindMounts || [])
        listRow("binds", bind);
    for (const { key } of LIMITS)
        form.elements[key].value = c[key] || "";
    form.elements.AutoStart.checked = Boolean(c.AutoStart);
    form.elements.Ephemeral.checked = Boolean(c.Ephemeral);
}

function showEffects() {
    for (const node of form.querySelectorAll("[data-effect-for]")) {
        const effect = mode.kind === "edit" ? effects.get(node.dataset.effectFor) : undefined;
        node.hidden = !effect;
        node.dataset.effect = effect || "";
        node.textContent = effect ? `A change ${EFFECT_TEXT[effect] || effect}.` : "";
    }
}

/* ------------------------------------------------------------ the modal --- */

export function modalState() {
    return mode;
}

// Opens the modal for the route, once: render() calls this on every change.
export function openModal(kind, name, { closed }) {
    if (mode.kind === kind && mode.name === name && dialog.open)
        return;
    opener = document.activeElement;
    onClosed = closed;
    mode = { kind, name };
    original = {};
    buildForm();
    $("[data-create-title]").textContent = kind === "edit" ? `Edit ${name}` : "Create a container";
    $("[data-action=create] .pf-v6-c-button__text", form).textContent = kind === "edit" ? "Save" : "Create";
    dialog.dataset.mode = kind;
    form.elements.source.value = "SystemPath";
    form.elements.PrivateNetwork.checked = true;
    if (kind === "edit") {
        const c = findContainer(name);
        if (c)
            prefill(c);
        form.elements.name.readOnly = true;
        // The name is fixed: its rules are no help here.
        $("#hint-name", form).hidden = true;
        form.elements.name.removeAttribute("aria-describedby");
        original = collectSpec(true);
        if (c && c.Declarative) {
            setFieldError("form", "A declarative container is edited in the host's NixOS configuration.", "Declarative");
            $("[data-action=create]", form).disabled = true;
        }
    }
    showSourceInput();
    showAddresses();
    showEffects();
    if (!dialog.open)
        dialog.showModal();
    (kind === "edit" ? form.elements[selectedSource()] : form.elements.name).focus();
}

export function closeModal() {
    if (mode.kind === "closed")
        return;
    const was = mode;
    mode = { kind: "closed", name: "" };
    if (dialog.open)
        dialog.close();
    const back = opener && opener.isConnected && opener !== document.body ? opener : null;
    opener = null;
    onClosed(was, back);
}

export function initModal() {
    // Escape: the same as Cancel. The event comes a task later: a modal
    // opened again meanwhile (another route) stays open.
    dialog.addEventListener("close", () => {
        if (!dialog.open)
            closeModal();
    });
    $("[data-action=close-create]").addEventListener("click", () => closeModal());
    loadSpecKeys();
}

// The first input an error is tied to, or the form's own error, into view.
function focusFirstError() {
    const input = form.querySelector("[aria-invalid=true]");
    if (input)
        input.focus();
    else
        $("[data-error-for=form]", form).scrollIntoView({ block: "nearest" });
}

function appendBuildOutput(line) {
    const output = $("[data-build-output]", form);
    output.hidden = false;
    output.textContent += line + "\n";
    output.scrollTop = output.scrollHeight;
}

async function submitForm(event) {
    event.preventDefault();
    clearErrors();
    const editing = mode.kind === "edit";
    const name = editing ? mode.name : form.elements.name.value.trim();
    const full = collectSpec(editing);
    const local = validateLocally(full);
    for (const [field, text] of Object.entries(local))
        setFieldError(field, text);
    if (Object.keys(local).length) {
        focusFirstError();
        return;
    }
    const spec = editing ? changedKeys(full) : full;
    if (editing && !Object.keys(spec).length) {
        setFieldError("form", "Nothing changed.");
        return;
    }

    const submit = $("[data-action=create]", form);
    const submitText = $(".pf-v6-c-button__text", submit);
    const building = SOURCES.filter(s => s !== "SystemPath").some(s => s in spec);
    submit.disabled = true;
    submit.dataset.busy = "true";
    submitText.textContent = building ? "Building…" : editing ? "Saving…" : "Creating…";
    const output = $("[data-build-output]", form);
    output.textContent = "";
    output.hidden = true;
    // BuildOutput is sent to the caller alone: this page's connection.
    const subscription = client.subscribe({ interface: MANAGER_IF, member: "BuildOutput" },
                                          (path, iface, signal, [container, line]) => {
                                              if (container === name && form)
                                                  appendBuildOutput(line);
                                          });
    const thisForm = form;
    try {
        await client.call(MANAGER_PATH, MANAGER_IF, editing ? "Update" : "Create", [name, spec], { type: "sa{sv}" });
        toast({ kind: "success", title: editing ? `${name} updated` : `${name} created` });
        if (thisForm === form)
            closeModal();
    } catch (error) {
        const described = describeError(error);
        toast({ kind: "danger", title: editing ? `Could not update ${name}` : `Could not create ${name}`, text: described.text });
        if (thisForm === form) {
            setFieldError(described.kind === "InvalidArgument" ? fieldOf(described.text) : "form", described.text, described.kind);
            focusFirstError();
        }
    } finally {
        subscription.remove();
        submit.disabled = false;
        submit.dataset.busy = "false";
        submitText.textContent = editing ? "Save" : "Create";
    }
}
