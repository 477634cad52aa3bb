/* PatternFly 6 markup the container page builds again and again: description
 * lists, labels, alerts, buttons, tables. Values are shown in words, never as
 * raw JSON; an empty list says "None". */
import { element } from "../dom.js";

export const NONE = "None";

// One term and its description; `value` is a string or a node.
export function pair(term, value, key) {
    return element("div", { className: "pf-v6-c-description-list__group", "data-field": key },
                   element("dt", { className: "pf-v6-c-description-list__term" },
                           element("span", { className: "pf-v6-c-description-list__text", text: term })),
                   element("dd", { className: "pf-v6-c-description-list__description" },
                           element("div", { className: "pf-v6-c-description-list__text", "data-value": key },
                                   typeof value === "string" ? document.createTextNode(value) : value)));
}

// rows: [term, value, key]; rows whose value is null or "" are left out.
export function descriptionList(rows, label) {
    const shown = rows.filter(([, value]) => value !== null && value !== undefined && value !== "");
    if (!shown.length)
        return element("p", { className: "detail-none", "data-none": label, text: NONE });
    return element("dl", {
        className: "pf-v6-c-description-list pf-m-horizontal pf-m-fluid pf-m-compact pf-m-2-col-on-lg",
        "aria-label": label,
    }, ...shown.map(([term, value, key]) => pair(term, value, key)));
}

// A list of strings as one line each (a value of several parts).
export function lines(items) {
    if (!items.length)
        return null;
    if (items.length === 1)
        return items[0];
    return element("ul", { className: "detail-lines" }, ...items.map(item => element("li", { text: item })));
}

const STATE_COLOUR = { running: "green", failed: "red", starting: "blue", stopping: "orange", stopped: "grey" };

export function stateLabel(state) {
    return element("span", { className: `pf-v6-c-label pf-m-${STATE_COLOUR[state] || "grey"}`, "data-state-label": state },
                   element("span", { className: "pf-v6-c-label__content" },
                           element("span", { className: "pf-v6-c-label__text", text: state || "unknown" })));
}

export function label(text, colour = "grey") {
    return element("span", { className: `pf-v6-c-label pf-m-compact pf-m-${colour}` },
                   element("span", { className: "pf-v6-c-label__content" },
                           element("span", { className: "pf-v6-c-label__text", text })));
}

export function alert(kind, title, ...body) {
    const words = { danger: "Danger alert:", warning: "Warning alert:", info: "Info alert:", success: "Success alert:" };
    return element("div", { className: `pf-v6-c-alert pf-m-inline pf-m-${kind}`, "data-alert": kind },
                   element("p", { className: "pf-v6-c-alert__title" },
                           element("span", { className: "pf-v6-screen-reader", text: words[kind] + " " }),
                           title),
                   body.length ? element("div", { className: "pf-v6-c-alert__description" }, ...body) : null);
}

export function button(text, attributes = {}, variant = "secondary") {
    return element("button", { type: "button", className: `pf-v6-c-button pf-m-${variant}`, ...attributes },
                   element("span", { className: "pf-v6-c-button__text", text }));
}

export function setButtonText(node, text) {
    node.querySelector(".pf-v6-c-button__text").textContent = text;
}

export function table(label, headers, rows) {
    return element("table", { className: "pf-v6-c-table pf-m-grid-md pf-m-compact", "aria-label": label },
                   element("thead", { className: "pf-v6-c-table__thead" },
                           element("tr", { className: "pf-v6-c-table__tr" },
                                   ...headers.map(h => element("th", { className: "pf-v6-c-table__th pf-m-wrap", scope: "col", text: h })))),
                   element("tbody", { className: "pf-v6-c-table__tbody" }, ...rows));
}

export function cell(header, ...children) {
    return element("td", { className: "pf-v6-c-table__td", "data-label": header }, ...children);
}

/* ------------------------------------------------------------ values --- */

// systemd's and the service's "unset" for a 64-bit value: 2^64-1 (a JS
// number rounds it to 2^64).
export function unsetU64(value) {
    // The bridge may hand 2^64-1 over as -1.
    return typeof value !== "number" || value < 0 || value >= 2 ** 64 - 4096;
}

export function localTime(usec) {
    if (!usec)
        return "—";
    return new Date(usec / 1000).toLocaleString();
}

export function bytes(n) {
    if (typeof cockpit.format_bytes === "function")
        return cockpit.format_bytes(n, 1024);
    return `${n} B`;
}

export function yesNo(value) {
    return value ? "Yes" : "No";
}
