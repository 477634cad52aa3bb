/* The list of containers: a PatternFly table that stacks into cards below
 * 768 px (pf-m-grid-md), with the filters of its toolbar (name, state,
 * owner) and each row's actions. */
import { sortedContainers } from "./bus.js";
import { actionButtons, errorLine } from "./actions.js";
import { $, element } from "./dom.js";
import { forgetPermissions, refusal } from "./permissions.js";

const STATE_COLOR = { running: "green", starting: "orange", stopping: "orange", failed: "red", stopped: "grey" };

/* ------------------------------------------------------------ owners --- */

// The page's own user (cockpit.user()), and other owners' names from the
// passwd database, asked once per uid.
let me = null; // { id, name }
const ownerNames = new Map([[0, "root"]]);
const asked = new Set();
let rerender = () => {};

export function initOwners(render) {
    rerender = render;
    cockpit.user().then(user => {
        me = { id: Number(user.id), name: user.name };
        ownerNames.set(me.id, me.name);
        rerender();
    }).catch(() => {});
}

export function pageUser() {
    return me;
}

function ownerName(uid) {
    if (ownerNames.has(uid))
        return ownerNames.get(uid);
    if (!asked.has(uid)) {
        asked.add(uid);
        cockpit.spawn(["getent", "passwd", String(uid)], { err: "ignore" })
                .then(out => {
                    const name = out.split(":")[0];
                    if (name) {
                        ownerNames.set(uid, name);
                        rerender();
                    }
                })
                .catch(() => {});
    }
    return String(uid);
}

/* ------------------------------------------------------------ filters --- */

// "mine" is the default for a user who owns some containers (a delegated
// user), until the user picks a filter itself.
let ownerChosen = false;

export function initFilters(render) {
    for (const input of document.querySelectorAll("[data-filter]"))
        input.addEventListener("input", () => {
            if (input.dataset.filter === "owner")
                ownerChosen = true;
            render();
        });
}

function applyDefaultOwner(list) {
    if (ownerChosen || !me || me.id === 0)
        return;
    const owns = list.some(c => c.Owner === me.id);
    $("[data-filter=owner]").value = owns ? "mine" : "all";
}

function matches(c) {
    const name = $("[data-filter=name]").value.trim().toLowerCase();
    const state = $("[data-filter=state]").value;
    const owner = $("[data-filter=owner]").value;
    return (!name || c.Name.toLowerCase().includes(name)) &&
        (!state || c.State === state) &&
        (owner !== "mine" || (me && c.Owner === me.id));
}

/* ------------------------------------------------------------ rows --- */

function portsText(ports) {
    return (ports || []).map(([protocol, host, inside]) =>
        `${host}→${inside || host}/${protocol}`).join(", ");
}

function stateLabel(c) {
    return element("span", { className: `pf-v6-c-label pf-m-${STATE_COLOR[c.State] || "grey"} pf-m-compact state`, "data-state": c.State },
                   element("span", { className: "pf-v6-c-label__content" },
                           element("span", { className: "pf-v6-c-label__text", text: c.State })));
}

function editButton(c) {
    const reason = c.Declarative ? "Declared in the host's NixOS configuration: edit it there" : refusal(c.Name, "Update");
    const button = element("button", {
        type: "button",
        className: "pf-v6-c-button pf-m-secondary pf-m-small" + (reason ? " pf-m-aria-disabled" : ""),
        "data-verb": "Edit",
        "aria-label": `Edit ${c.Name}`,
        "aria-disabled": reason ? "true" : null,
        "aria-description": reason || null,
        "data-refused": reason ? "true" : null,
        title: reason || null,
    }, element("span", { className: "pf-v6-c-button__text", text: "Edit" }));
    button.addEventListener("click", () => {
        if (button.getAttribute("aria-disabled") !== "true")
            cockpit.location.go([c.Name, "edit"]);
    });
    return button;
}

function td(label, cell, ...children) {
    return element("td", { className: "pf-v6-c-table__td", "data-label": label, "data-cell": cell }, ...children);
}

function row(c) {
    const name = element("a", { href: `#/${encodeURIComponent(c.Name)}`, className: "name-link", "data-open": c.Name, text: c.Name });
    name.addEventListener("click", event => {
        event.preventDefault();
        cockpit.location.go([c.Name]);
    });
    const nameCell = td("Name", "name", name);
    if (c.Declarative)
        nameCell.append(" ", element("span", { className: "pf-v6-c-label pf-m-compact pf-m-outline", "data-declarative": "true" },
                                     element("span", { className: "pf-v6-c-label__content" },
                                             element("span", { className: "pf-v6-c-label__text", text: "declarative" }))));
    const stateCell = td("State", "state", stateLabel(c));
    if (c.State === "failed" && c.UnitResult)
        stateCell.append(element("span", { className: "reason", "data-unit-result": c.UnitResult, text: c.UnitResult }));
    const actions = actionButtons(c, "row");
    actions.prepend(editButton(c));
    const actionsCell = td("Actions", "actions", actions, errorLine(c.Name));
    actionsCell.classList.add("pf-m-action");
    const mine = me && c.Owner === me.id;
    return element("tr", { className: "pf-v6-c-table__tr", "data-container": c.Name, "data-state": c.State, "data-owner": c.Owner },
                   nameCell, stateCell,
                   td("Owner", "owner", element("span", { "data-owner-name": "", text: ownerName(c.Owner) + (mine ? " (you)" : "") })),
                   td("Addresses", "addresses", (c.Addresses || []).join(", ")),
                   td("Forwarded ports", "ports", portsText(c.ForwardPorts)),
                   actionsCell);
}

let shownBefore = new Set();

export function renderList() {
    const all = sortedContainers();
    applyDefaultOwner(all);
    const now = new Set(all.map(c => c.Name));
    for (const name of shownBefore)
        if (!now.has(name))
            forgetPermissions(name);
    shownBefore = now;
    const shown = all.filter(matches);
    $("[data-empty]").hidden = all.length > 0;
    $("[data-no-match]").hidden = !(all.length > 0 && shown.length === 0);
    $("[data-containers]").hidden = shown.length === 0;
    $("[data-filter-count]").textContent = all.length ? `${shown.length} of ${all.length}` : "";
    // Keep the focus where it was across the redraw (a row's button).
    const focused = document.activeElement;
    const focusKey = focused && focused.closest("tr[data-container]") && focused.dataset.verb
        ? [focused.closest("tr[data-container]").dataset.container, focused.dataset.verb] : null;
    $("[data-rows]").replaceChildren(...shown.map(row));
    if (focusKey) {
        const again = $(`tr[data-container="${CSS.escape(focusKey[0])}"] [data-verb="${focusKey[1]}"]`);
        if (again)
            again.focus();
    }
}
