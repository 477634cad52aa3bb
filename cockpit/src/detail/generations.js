/* The container's generations (its profile's systems): a table, and "Switch
 * to" one of them: SwitchGeneration where the service has it, else Rollback
 * to the previous one only. Asks first; the result is a toast. */
import { CONTAINER_IF, MANAGER_IF, MANAGER_PATH, client, describeError } from "../bus.js";
import { element } from "../dom.js";
import { permission } from "../permissions.js";
import { toast } from "../toasts.js";
import { button, cell, label, localTime, table } from "./pf.js";

// Whether the manager has SwitchGeneration: asked once (Introspect); null until known.
let switchSupported = null;
export function probeSwitchGeneration(rerender) {
    client.call(MANAGER_PATH, "org.freedesktop.DBus.Introspectable", "Introspect", [])
            .then(([xml]) => { switchSupported = /<method name="SwitchGeneration"/.test(xml) })
            .catch(() => { switchSupported = false })
            .finally(rerender);
}

let busy = null; // "name/number" while a switch runs

// Why a switch to this generation is not offered, or "" when it is.
function refusal(c, method) {
    if (c.Declarative)
        return "A declarative container's generations belong to the NixOS configuration.";
    const answer = permission(c.Name, method);
    if (answer === "no")
        return "You are not allowed to switch this container's generation.";
    if (answer === "challenge")
        return "Switching needs an administrator's authentication, which this page cannot ask for.";
    return "";
}

function confirmSwitch(name, number) {
    const dialog = element("dialog", { className: "detail-dialog", "aria-labelledby": "detail-switch-title" });
    const cancel = button("Cancel", { value: "cancel", "data-action": "cancel-switch" }, "link");
    const ok = button("Switch", { value: "switch", "data-action": "confirm-switch" }, "primary");
    dialog.append(element("div", { className: "pf-v6-c-modal-box pf-m-sm" },
                          element("header", { className: "pf-v6-c-modal-box__header" },
                                  element("h2", { className: "pf-v6-c-modal-box__title", id: "detail-switch-title",
                                                  text: `Switch ${name} to generation ${number}?` })),
                          element("div", { className: "pf-v6-c-modal-box__body",
                                           text: "Its profile points at that system again; a running container reloads into it." }),
                          element("footer", { className: "pf-v6-c-modal-box__footer" }, ok, cancel)));
    document.body.append(dialog);
    return new Promise(resolve => {
        ok.addEventListener("click", () => dialog.close("switch"));
        cancel.addEventListener("click", () => dialog.close("cancel"));
        dialog.addEventListener("close", () => {
            resolve(dialog.returnValue === "switch");
            dialog.remove();
        }, { once: true });
        dialog.showModal();
        cancel.focus();
    });
}

async function switchTo(c, number, viaRollback, rerender) {
    const name = c.Name;
    if (!await confirmSwitch(name, number))
        return;
    busy = `${name}/${number}`;
    rerender();
    try {
        if (viaRollback)
            await client.call(c.path, CONTAINER_IF, "Rollback", []);
        else
            await client.call(MANAGER_PATH, MANAGER_IF, "SwitchGeneration", [name, number]);
        toast({ kind: "success", title: `${name} is on generation ${number}` });
    } catch (error) {
        toast({ kind: "danger", title: `${name} stays on its generation`, text: describeError(error).text });
    } finally {
        busy = null;
        rerender();
    }
}

export function generationsKey(c) {
    return JSON.stringify([c.Generations, c.Declarative, switchSupported, busy,
                           permission(c.Name, "SwitchGeneration"), permission(c.Name, "Rollback")]);
}

export function generations(c, rerender) {
    const gens = c.Generations || [];
    if (!gens.length)
        return element("p", { className: "detail-none", "data-none": "Generations", text: "None" });
    const currentIndex = gens.findIndex(([, , , current]) => current);
    const method = switchSupported ? "SwitchGeneration" : "Rollback";
    const why = refusal(c, method);
    const rows = gens.map(([number, system, created, current], index) => {
        let action = null;
        if (!current) {
            const viaRollback = !switchSupported;
            const reachable = !viaRollback || index === currentIndex - 1;
            const reason = why || (reachable ? "" : "Only the previous generation can be reached (Rollback).");
            const inFlight = busy === `${c.Name}/${number}`;
            action = button(inFlight ? "Switching…" : "Switch to", {
                "data-action": "switch-generation",
                "data-generation": number,
                "aria-label": inFlight ? undefined : `Switch to generation ${number} of ${c.Name}`,
                "aria-describedby": reason ? `detail-gen-why-${number}` : undefined,
                disabled: Boolean(reason) || Boolean(busy),
            });
            action.addEventListener("click", () => switchTo(c, number, viaRollback, rerender));
            if (reason)
                action = element("span", {}, action,
                                 element("span", { className: "detail-hint", id: `detail-gen-why-${number}`, text: reason }));
        }
        return element("tr", { className: "pf-v6-c-table__tr", "data-generation-row": number, "data-current": current ? "true" : "false" },
                       cell("Generation", String(number)),
                       cell("Created", localTime(created)),
                       cell("System", element("span", { className: "detail-path", text: system })),
                       cell("Current", current ? label("current", "green") : ""),
                       cell("Action", action || ""));
    });
    return table(`Generations of ${c.Name}`, ["Generation", "Created", "System", "Current", "Action"], rows);
}
