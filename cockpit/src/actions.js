/* The verbs a container's row and page offer: their buttons, the call, and
 * what the page remembers while one runs or after one failed. */
import { CONTAINER_IF, client, describeError, findContainer } from "./bus.js";
import { $, element } from "./dom.js";
import { refusal } from "./permissions.js";
import { toast } from "./toasts.js";

let render = () => {};
// index.js hands in the function that redraws the current view.
export function setRender(fn) {
    render = fn;
}

// The row verbs, in button order: the progress label while the call runs,
// what a toast says once it is done, and when the button makes sense (the
// service still has the last word).
export const VERBS = [
    { method: "Start", busy: "Starting…", done: "started", doing: "start", enabled: c => ["stopped", "failed"].includes(c.State) },
    { method: "Stop", busy: "Stopping…", done: "stopped", doing: "stop", enabled: c => ["running", "starting"].includes(c.State) },
    { method: "Restart", busy: "Restarting…", done: "restarted", doing: "restart", enabled: c => c.State === "running" },
    { method: "Reload", busy: "Reloading…", done: "reloaded", doing: "reload", enabled: c => c.State === "running" },
    // Back to the profile's previous generation (Generations: number, system, created, current).
    {
        method: "Rollback",
        busy: "Rolling back…",
        done: "rolled back",
        doing: "roll back",
        enabled: c => !c.Declarative && (c.Generations || []).some(([, , , current], i) => current && i > 0),
    },
    { method: "Destroy", busy: "Destroying…", done: "destroyed", doing: "destroy", enabled: c => !c.Declarative, confirm: true },
];

// What the page remembers between renders, per container name.
export const busyVerb = new Map(); // name -> method in flight
export const rowError = new Map(); // name -> { text, kind }
// Containers whose Start in flight a Stop cancelled: its failure is expected.
const startCancelled = new Set();

// A Start in flight leaves Stop usable: the service accepts the Stop and
// cancels the start with it. Everything else waits for the call's answer.
function usable(c, verb, inFlight) {
    if (inFlight === "Start" && verb.method === "Stop")
        return true;
    return !inFlight && verb.enabled(c);
}

export function actionButtons(c, where) {
    const box = element("span", { className: "actions" });
    const inFlight = busyVerb.get(c.Name);
    for (const verb of VERBS) {
        const busy = inFlight === verb.method;
        const refused = refusal(c.Name, verb.method);
        const label = busy ? verb.busy.replace("…", "") : verb.method;
        const button = element("button", {
            type: "button",
            className: "pf-v6-c-button pf-m-small " +
                (verb.method === "Destroy" ? "pf-m-danger pf-m-secondary" : "pf-m-secondary") +
                (refused ? " pf-m-aria-disabled" : ""),
            "data-verb": verb.method,
            "data-busy": busy ? "true" : "false",
            "aria-busy": busy ? "true" : "false",
            "aria-label": `${label} ${c.Name}`,
            // Refused: still focusable, so that the reason can be read.
            "aria-disabled": refused ? "true" : null,
            "aria-description": refused || null,
            "data-refused": refused ? "true" : null,
            title: refused || null,
            disabled: !refused && !usable(c, verb, inFlight),
        }, element("span", { className: "pf-v6-c-button__text", text: busy ? verb.busy : verb.method }));
        button.addEventListener("click", () => {
            if (!refusal(c.Name, verb.method))
                act(c.Name, verb, where, button);
        });
        box.append(button);
    }
    return box;
}

export function errorLine(name) {
    const error = rowError.get(name);
    if (!error)
        return null;
    return element("p", { className: "row-error", "data-row-error": error.kind, role: "alert", text: error.text });
}

/* ------------------------------------------------------------ actions --- */

// PatternFly's modal, with its safe default: focus on Cancel, so that Enter
// (even twice) keeps the container; Escape cancels too.
export function confirmDestroy(name, opener) {
    const dialog = $("[data-confirm-destroy]");
    $("[data-confirm-name]", dialog).textContent = name;
    dialog.dataset.container = name;
    return new Promise(resolve => {
        const confirm = $("[data-action=confirm-destroy]", dialog);
        const cancel = $("[data-action=cancel-destroy]", dialog);
        const finish = answer => {
            confirm.removeEventListener("click", onConfirm);
            cancel.removeEventListener("click", onCancel);
            dialog.removeEventListener("close", onClose);
            if (dialog.open)
                dialog.close();
            const back = opener && opener.isConnected ? opener : $(`[data-container="${CSS.escape(name)}"] [data-verb=Destroy]`);
            if (back)
                back.focus();
            resolve(answer);
        };
        const onConfirm = () => finish(true);
        const onCancel = () => finish(false);
        const onClose = () => finish(false);
        confirm.addEventListener("click", onConfirm);
        cancel.addEventListener("click", onCancel);
        dialog.addEventListener("close", onClose);
        dialog.showModal();
        cancel.focus();
    });
}

export async function act(name, verb, where, opener) {
    if (verb.confirm && !await confirmDestroy(name, opener))
        return;
    const c = findContainer(name);
    if (!c)
        return;
    if (verb.method === "Stop" && busyVerb.get(name) === "Start")
        startCancelled.add(name);
    else if (verb.method === "Start")
        startCancelled.delete(name);
    busyVerb.set(name, verb.method);
    rowError.delete(name);
    render();
    try {
        // No "i" flag: a challenge comes back as an answer, never as a prompt
        // this page cannot show.
        await client.call(c.path, CONTAINER_IF, verb.method, []);
        toast({ kind: "success", title: `${name} ${verb.done}` });
    } catch (error) {
        const described = describeError(error);
        if (verb.method === "Start" && startCancelled.has(name)) {
            // A Stop came while this Start ran, and ended it: what the user asked.
            toast({ kind: "info", title: `${name}: the start was cancelled`, text: described.text });
        } else {
            rowError.set(name, described);
            toast({ kind: "danger", title: `Could not ${verb.doing} ${name}`, text: described.text });
        }
    } finally {
        if (verb.method === "Start")
            startCancelled.delete(name);
        if (busyVerb.get(name) === verb.method)
            busyVerb.delete(name);
        render();
    }
    if (verb.method === "Destroy" && where === "details" && !rowError.has(name))
        cockpit.location.go([]);
}
