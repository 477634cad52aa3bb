/* The verbs a container's row and page offer: their buttons, the call, and
 * what the page remembers while one runs or after one failed. */
import { CONTAINER_IF, client, describeError, findContainer } from "./bus.js";
import { $, element } from "./dom.js";

let render = () => {};
// index.js hands in the function that redraws the current view.
export function setRender(fn) {
    render = fn;
}

// The row verbs, in button order: the progress label while the call runs, and
// when the button makes sense (the service still has the last word).
export const VERBS = [
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

// What the page remembers between renders, per container name.
export const busyVerb = new Map(); // name -> method in flight
export const rowError = new Map(); // name -> { text, kind }

export function actionButtons(c, where) {
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

export function errorLine(name) {
    const error = rowError.get(name);
    if (!error)
        return null;
    return element("p", { className: "row-error", "data-row-error": error.kind, role: "alert", text: error.text });
}

/* ------------------------------------------------------------ actions --- */

export function confirmDestroy(name) {
    const dialog = $("[data-confirm-destroy]");
    $("[data-confirm-name]", dialog).textContent = name;
    return new Promise(resolve => {
        dialog.addEventListener("close", () => resolve(dialog.returnValue === "destroy"), { once: true });
        dialog.showModal();
    });
}

export async function act(name, verb, where) {
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
