/* A container's own page: its properties and its terminal.
 *
 * Its contract with index.js (the router):
 *   initDetails(currentName)   once, at start
 *   renderDetails(name, rest)  on every render while the route is [name, ...rest]
 *   leaveDetails()             on every render of another view (ends streams) */
import { findContainer } from "../bus.js";
import { actionButtons, rowError } from "../actions.js";
import { $, element } from "../dom.js";

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

export function renderDetails(name, rest) { // eslint-disable-line no-unused-vars
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

export function leaveDetails() {
    if (terminal.channel)
        closeTerminal();
}

export function initDetails(currentName) {
    $("[data-action=connect-terminal]").addEventListener("click", () => connectTerminal(currentName()));
    $("[data-terminal-input]").addEventListener("keydown", event => {
        if (event.key === "Enter" && terminal.channel) {
            terminal.channel.send(event.target.value + "\n");
            event.target.value = "";
        }
    });
}
