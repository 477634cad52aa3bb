/* Toasts: the result of a long action, seen wherever the user is now, in
 * PatternFly's toast alert group (top right, announced through aria-live).
 * A success goes after a while; a failure stays until it is closed.
 *
 * toast({ kind: "success" | "danger" | "warning" | "info", title, text }) */
import { $, element } from "./dom.js";

const ICONS = { success: "✓", danger: "!", warning: "⚠", info: "i" };
const SPOKEN = { success: "Success", danger: "Error", warning: "Warning", info: "Information" };
const SUCCESS_MS = 8000;
const MAX_SHOWN = 5;

export function toast({ kind, title, text }) {
    const group = $("[data-toasts]");
    if (!group)
        return null;
    const item = element("li", { className: "pf-v6-c-alert-group__item" });
    const close = element("button", {
        type: "button",
        className: "pf-v6-c-button pf-m-plain",
        "aria-label": `Close: ${title}`,
        "data-action": "close-toast",
    }, element("span", { className: "pf-v6-c-button__icon", "aria-hidden": "true", text: "✕" }));
    close.addEventListener("click", () => item.remove());
    const alert = element("div", { className: `pf-v6-c-alert pf-m-${kind}`, "data-toast": kind },
                          element("div", { className: "pf-v6-c-alert__icon", "aria-hidden": "true", text: ICONS[kind] || "i" }),
                          element("p", { className: "pf-v6-c-alert__title" },
                                  element("span", { className: "pf-v6-screen-reader", text: `${SPOKEN[kind] || kind}: ` }),
                                  title),
                          element("div", { className: "pf-v6-c-alert__action" }, close),
                          text ? element("div", { className: "pf-v6-c-alert__description" }, element("p", { text })) : null);
    item.append(alert);
    group.append(item);
    while (group.children.length > MAX_SHOWN) {
        // The oldest success goes first; failures are kept for the user to close.
        const oldest = [...group.children].find(li => !li.querySelector("[data-toast=danger]")) || group.firstElementChild;
        oldest.remove();
    }
    if (kind !== "danger")
        setTimeout(() => item.remove(), SUCCESS_MS);
    return item;
}
