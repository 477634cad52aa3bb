import "./containers.css";

/* NixOS containers in Cockpit: a client of org.nixos.Containers and nothing else.
 *
 * Everything shown comes from the service's objects (client.proxies over its
 * ObjectManager, so rows follow PropertiesChanged and InterfacesAdded/Removed
 * without polling); every action is one method call on the system bus, made
 * as the logged-in user. Nothing is retried as superuser: polkit decides, and
 * its answer is shown. */
"use strict";

import { containers, client } from "./bus.js";
import { setRender } from "./actions.js";
import { clearErrors, form, showSourceInput, submitCreate } from "./create.js";
import { initDetails, leaveDetails, renderDetails } from "./detail/index.js";
import { $ } from "./dom.js";
import { renderList } from "./list.js";

/* ------------------------------------------------------------ routing --- */

function currentView() {
    const path = cockpit.location.path;
    if (path.length === 1 && path[0] === "create")
        return { view: "create" };
    if (path.length >= 1)
        return { view: "details", name: path[0] };
    return { view: "list" };
}

function render() {
    const { view, name } = currentView();
    document.getElementById("app").dataset.page = view;
    for (const section of document.querySelectorAll("[data-view]"))
        section.hidden = section.dataset.view !== view && !(view === "create" && section.dataset.view === "list");
    renderList();
    if (view === "details")
        renderDetails(name, cockpit.location.path.slice(1));
    else
        leaveDetails();
}

function showConnectionProblem(problem) {
    const line = $("[data-connection]");
    line.hidden = false;
    line.textContent = "The containers service cannot be reached: " + (problem.message || problem.problem || problem);
}

function init() {
    form.addEventListener("submit", submitCreate);
    form.addEventListener("change", event => {
        if (event.target.name === "source")
            showSourceInput();
    });
    $("[data-action=show-create]").addEventListener("click", () => cockpit.location.go(["create"]));
    $("[data-action=cancel-create]").addEventListener("click", () => { clearErrors(); cockpit.location.go([]) });
    $("[data-action=back]").addEventListener("click", () => cockpit.location.go([]));
    initDetails(() => currentView().name);
    showSourceInput();

    for (const signal of ["added", "changed", "removed"])
        containers.addEventListener(signal, render);
    cockpit.addEventListener("locationchanged", render);
    client.addEventListener("close", (event, options) => showConnectionProblem(options));
    containers.wait()
            .then(() => {
                document.body.dataset.loaded = "true";
                render();
            })
            .catch(showConnectionProblem);
    render();
}

setRender(render);
init();
