/* The list of containers. */
import { sortedContainers } from "./bus.js";
import { actionButtons, errorLine } from "./actions.js";
import { $, element } from "./dom.js";

function portsText(ports) {
    return (ports || []).map(([protocol, host, inside]) =>
        `${host}→${inside || host}/${protocol}`).join(", ");
}


function stateBadge(c) {
    const badge = element("span", { className: "state state-" + c.State, "data-state": c.State, text: c.State });
    return badge;
}

export function renderList() {
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
