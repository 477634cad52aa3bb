/* A container's own page: a header (breadcrumb, name, state, its verbs, Edit)
 * and tabs routed by [name, tab]: overview, network, mounts, limits,
 * generations, logs, usage, terminal.
 *
 * Its contract with index.js (the router):
 *   initDetails(currentName)   once, at start
 *   renderDetails(name, rest)  on every render while the route is [name, ...rest]
 *                              (cheap and idempotent: a section is rebuilt only
 *                              when what it shows changed; streams and the
 *                              terminal live until their tab is left)
 *   leaveDetails()             on every render of another view (ends streams) */
// The same file the page's index.js imports: esbuild bundles it once.
import "@patternfly/patternfly/patternfly.css";
import "./detail.css";
import { findContainer } from "../bus.js";
import { actionButtons, rowError } from "../actions.js";
import { $, element } from "../dom.js";
import { permission } from "../permissions.js";
import { generations, generationsKey, probeSwitchGeneration } from "./generations.js";
import { logView } from "./logs.js";
import { alert, button, stateLabel } from "./pf.js";
import { limits, mounts, namesKnown, network, overview, resultInWords } from "./sections.js";
import { terminalView } from "./terminal.js";
import { usageView } from "./usage.js";

export const TABS = [
    ["overview", "Overview"], ["network", "Network"], ["mounts", "Mounts"], ["limits", "Limits"],
    ["generations", "Generations"], ["logs", "Logs"], ["usage", "Usage"], ["terminal", "Terminal"],
];
const STATIC = { overview, network, mounts, limits };
const FAILED_LOG_LINES = 30;

// What is on the screen now, so that a render changes only what changed.
const shown = {
    name: null,
    root: null,
    parts: null,
    tab: null,
    contentKey: null,
    live: null, // { key, view } of the logs, usage or terminal tab
    failed: null, // { key, view } of a failed container's last lines
};

function rerender() {
    if (shown.name)
        renderDetails(shown.name, [shown.tab]);
}

/* ------------------------------------------------------------ skeleton --- */

function tabList(name) {
    const list = element("ul", { className: "pf-v6-c-tabs__list", role: "tablist", "aria-label": `Sections of ${name}` });
    const buttons = {};
    for (const [key, title] of TABS) {
        const tab = element("button", {
            type: "button",
            className: "pf-v6-c-tabs__link",
            role: "tab",
            id: `detail-tab-${key}`,
            "aria-controls": "detail-panel",
            "data-tab": key,
        }, element("span", { className: "pf-v6-c-tabs__item-text", text: title }));
        tab.addEventListener("click", () => cockpit.location.go([name, key]));
        list.append(element("li", { className: "pf-v6-c-tabs__item", role: "presentation" }, tab));
        buttons[key] = tab;
    }
    // Arrow keys move between tabs (and open them), as in every tab list.
    list.addEventListener("keydown", event => {
        const keys = TABS.map(([key]) => key);
        const at = keys.indexOf(event.target.dataset.tab);
        if (at < 0)
            return;
        const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: keys.length - 1 }[event.key];
        if (next === undefined)
            return;
        event.preventDefault();
        const key = keys[(next + keys.length) % keys.length];
        buttons[key].focus();
        cockpit.location.go([name, key]);
    });
    const node = element("div", { className: "pf-v6-c-tabs pf-m-page-insets detail-tabs" });
    node.append(scrollButton(list, -1), list, scrollButton(list, 1));
    // Scroll buttons only while the list is wider than its place (a phone), as PatternFly's own tabs.
    const update = () => {
        const scrollable = list.scrollWidth > list.clientWidth + 1;
        node.classList.toggle("pf-m-scrollable", scrollable);
        const [back, forward] = node.querySelectorAll(".pf-v6-c-tabs__scroll-button button");
        back.disabled = !scrollable || list.scrollLeft <= 0;
        forward.disabled = !scrollable || list.scrollLeft + list.clientWidth >= list.scrollWidth - 1;
    };
    list.addEventListener("scroll", update, { passive: true });
    new ResizeObserver(update).observe(list);
    return { node, buttons };
}

// Mouse users' way along a tab list that scrolls (keys move the focus, touch swipes).
function scrollButton(list, direction) {
    const control = element("button", {
        type: "button",
        className: "pf-v6-c-button pf-m-plain",
        "aria-label": direction < 0 ? "Scroll back" : "Scroll forward",
        tabindex: "-1",
        disabled: true,
    }, element("span", { className: "pf-v6-c-button__icon", "aria-hidden": "true", text: direction < 0 ? "‹" : "›" }));
    control.addEventListener("click", () => list.scrollBy({ left: direction * list.clientWidth * 0.7, behavior: "smooth" }));
    return element("div", { className: "pf-v6-c-tabs__scroll-button" }, control);
}

function skeleton(name) {
    const back = element("a", { className: "pf-v6-c-breadcrumb__link", href: "#/", "data-action": "back-to-list", text: "Containers" });
    back.addEventListener("click", event => {
        event.preventDefault();
        cockpit.location.go([]);
    });
    const breadcrumb = element("nav", { className: "pf-v6-c-breadcrumb", "aria-label": "Breadcrumb" },
                               element("ol", { className: "pf-v6-c-breadcrumb__list" },
                                       element("li", { className: "pf-v6-c-breadcrumb__item" }, back),
                                       element("li", { className: "pf-v6-c-breadcrumb__item" },
                                               element("span", { className: "pf-v6-c-breadcrumb__item-divider", "aria-hidden": "true", text: "›" }),
                                               element("span", { className: "pf-v6-c-breadcrumb__link pf-m-current", "aria-current": "page", text: name }))));
    const state = element("span", { className: "detail-state" });
    const actions = element("div", { className: "detail-actions", "data-details-actions": "" });
    const edit = button("Edit", { "data-action": "edit", "aria-label": `Edit ${name}` });
    edit.addEventListener("click", () => cockpit.location.go([name, "edit"]));
    const error = element("div", { className: "detail-error", "data-details-error": "" });
    const tabs = tabList(name);
    const panel = element("section", { className: "pf-v6-c-tab-content detail-panel", id: "detail-panel", role: "tabpanel", tabindex: "0" });
    const header = element("header", { className: "detail-header" },
                           breadcrumb,
                           element("div", { className: "detail-title" },
                                   element("h2", { className: "detail-name", "data-details-name": "", text: name }), state),
                           element("div", { className: "detail-toolbar" }, actions, edit),
                           error);
    const root = element("div", { className: "detail-page", "data-detail": name }, header, tabs.node, panel);
    return { root, parts: { state, actions, edit, error, tabs, panel } };
}

/* ------------------------------------------------------------ header --- */

// The verb buttons again, keeping the focus on the one it was on.
function renderActions(c) {
    const box = shown.parts.actions;
    const focused = box.contains(document.activeElement) ? document.activeElement.dataset.verb : null;
    box.replaceChildren(actionButtons(c, "details"));
    for (const verb of box.querySelectorAll("button[data-verb]")) {
        if (!verb.getAttribute("aria-label"))
            verb.setAttribute("aria-label", `${verb.textContent} ${c.Name}`);
        verb.classList.add("pf-v6-c-button", "pf-m-secondary");
        if (verb.dataset.verb === "Destroy")
            verb.classList.add("pf-m-danger");
    }
    if (focused)
        box.querySelector(`button[data-verb="${focused}"]`)?.focus();
}

function renderHeader(c) {
    const { state, edit, error } = shown.parts;
    if (state.dataset.state !== c.State) {
        state.dataset.state = c.State;
        state.replaceChildren(stateLabel(c.State));
    }
    renderActions(c);
    edit.disabled = Boolean(c.Declarative);
    edit.title = c.Declarative ? "A declarative container is edited in the NixOS configuration." : "";
    const problem = rowError.get(c.Name);
    const key = problem ? problem.text : "";
    if (error.dataset.key !== key) {
        error.dataset.key = key;
        error.replaceChildren(problem ? alert("danger", problem.text) : "");
        if (problem)
            error.firstChild.dataset.rowError = problem.kind;
    }
}

/* ------------------------------------------------------------ panels --- */

function stopLive() {
    if (shown.live)
        shown.live.view.close();
    shown.live = null;
}

function stopFailed() {
    if (shown.failed)
        shown.failed.view.close();
    shown.failed = null;
}

// A failed container's overview starts with the unit's last lines, under why it failed.
function failedBox(c) {
    if (c.State !== "failed") {
        stopFailed();
        return null;
    }
    const key = `${c.Name}/${c.UnitResult}/${(c.Generations || []).length}`;
    if (!shown.failed || shown.failed.key !== key) {
        stopFailed();
        const view = logView(c.Name, { lines: FAILED_LOG_LINES, follow: false, label: `Last log lines of ${c.Name}` });
        shown.failed = {
            key,
            view,
            node: element("div", { className: "detail-failed", "data-failed-logs": c.Name },
                          alert("danger", `${c.Name} failed: ${resultInWords(c.UnitResult)}`, view.node)),
        };
    }
    return shown.failed.node;
}

function liveView(c, tab) {
    if (tab === "logs")
        return { key: `logs/${c.Name}`, make: () => logView(c.Name) };
    if (tab === "usage")
        return { key: `usage/${c.Name}/${c.State}/${c.Unit}`, make: () => usageView(c) };
    return { key: `terminal/${c.Name}`, make: () => terminalView(c.Name) };
}

function terminalOffer(c) {
    const answer = permission(c.Name, "OpenShell");
    if (answer === "no")
        return [false, "You are not allowed to open a shell in this container."];
    if (answer === "challenge")
        return [false, "A shell in this container needs an administrator's authentication, which this page cannot ask for."];
    if (c.State !== "running")
        return [false, "The container is not running: start it to open a shell."];
    return [true, ""];
}

function renderPanel(c, tab) {
    const panel = shown.parts.panel;
    panel.setAttribute("aria-labelledby", `detail-tab-${tab}`);
    panel.dataset.panel = tab;
    if (STATIC[tab] || tab === "generations") {
        stopLive();
        if (tab !== "overview")
            stopFailed();
        const failed = tab === "overview" ? failedBox(c) : null;
        const data = tab === "generations" ? generationsKey(c) : JSON.stringify([c.data || {}, namesKnown()]);
        const contentKey = `${tab}/${data}/${shown.failed ? shown.failed.key : ""}`;
        if (contentKey === shown.contentKey)
            return;
        shown.contentKey = contentKey;
        const body = tab === "generations" ? generations(c, rerender) : STATIC[tab](c, rerender);
        panel.replaceChildren(...[failed, body].filter(Boolean));
        return;
    }
    stopFailed();
    shown.contentKey = null;
    const { key, make } = liveView(c, tab);
    if (!shown.live || shown.live.key !== key) {
        stopLive();
        const view = make();
        shown.live = { key, view };
        panel.replaceChildren(view.node);
        if (view.attached)
            view.attached();
    }
    if (tab === "terminal")
        shown.live.view.offer(...terminalOffer(c));
}

/* ------------------------------------------------------------ contract --- */

export function renderDetails(name, rest) {
    const view = $("[data-view=details]");
    if (shown.name !== name || !shown.root || !view.contains(shown.root)) {
        leaveDetails();
        Object.assign(shown, { name }, skeleton(name));
        view.replaceChildren(shown.root);
    }
    const tab = TABS.some(([key]) => key === rest[0]) ? rest[0] : "overview";
    view.dataset.container = name;
    const c = findContainer(name);
    shown.tab = tab;
    for (const [key, tabButton] of Object.entries(shown.parts.tabs.buttons)) {
        const current = key === tab;
        tabButton.setAttribute("aria-selected", current ? "true" : "false");
        tabButton.tabIndex = current ? 0 : -1;
        tabButton.parentElement.classList.toggle("pf-m-current", current);
    }
    if (!c) {
        view.dataset.state = "gone";
        stopLive();
        stopFailed();
        shown.contentKey = null;
        shown.parts.actions.replaceChildren();
        shown.parts.panel.replaceChildren(alert("warning", `There is no container named ${name}.`));
        return;
    }
    view.dataset.state = c.State;
    renderHeader(c);
    renderPanel(c, tab);
}

export function leaveDetails() {
    stopLive();
    stopFailed();
    shown.name = null;
    shown.contentKey = null;
}

export function initDetails(currentName) { // eslint-disable-line no-unused-vars
    probeSwitchGeneration(rerender);
}
