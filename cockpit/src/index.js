import "@patternfly/patternfly/patternfly.css";
import "./page.css";

/* NixOS containers in Cockpit: a client of org.nixos.Containers and nothing else.
 *
 * Everything shown comes from the service's objects (client.proxies over its
 * ObjectManager, so rows follow PropertiesChanged and InterfacesAdded/Removed
 * without polling); every action is one method call on the system bus, made
 * as the logged-in user. Nothing is retried as superuser: polkit decides, and
 * its answer is shown (in advance where GetPermissions can say). */
"use strict";

import { containers, client } from "./bus.js";
import { setRender } from "./actions.js";
import { closeModal, initModal, modalState, openModal } from "./create.js";
import { initDetails, leaveDetails, renderDetails } from "./detail/index.js";
import { $ } from "./dom.js";
import { initFilters, initOwners, renderList } from "./list.js";
import { refusal, setPermissionsRender } from "./permissions.js";
import { initTheme } from "./theme.js";

/* ------------------------------------------------------------ routing --- */

// [] the list; ["create"] the list under the Create modal; [name, ...rest]
// the container's page, with [name, "edit"] under the Edit modal.
function currentView() {
    const path = cockpit.location.path;
    if (path.length === 1 && path[0] === "create")
        return { view: "list", modal: "create" };
    if (path.length >= 1)
        return { view: "details", name: path[0], rest: path.slice(1), modal: path[1] === "edit" ? "edit" : null };
    return { view: "list" };
}

// Focus goes back to what opened the modal, or to where the user lands.
function modalClosed(was, back) {
    const route = currentView();
    const stillOpen = route.modal === was.kind && (was.kind === "create" || route.name === was.name);
    if (stillOpen)
        cockpit.location.go(was.kind === "edit" ? [was.name] : []);
    const target = back || (was.kind === "create" ? $("[data-action=show-create]") : null);
    if (target)
        setTimeout(() => target.focus());
}

// Create, refused in advance when the service can say (GetPermissions("")).
function renderCreateButton() {
    const button = $("[data-action=show-create]");
    const reason = refusal("", "Create");
    button.classList.toggle("pf-m-aria-disabled", Boolean(reason));
    for (const attribute of ["aria-disabled", "aria-description", "title"])
        button.removeAttribute(attribute);
    if (reason) {
        button.setAttribute("aria-disabled", "true");
        button.setAttribute("aria-description", reason);
        button.setAttribute("title", reason);
    }
}

function render() {
    const route = currentView();
    renderCreateButton();
    document.getElementById("app").dataset.page = route.view;
    for (const section of document.querySelectorAll("main [data-view]"))
        section.hidden = section.dataset.view !== route.view;
    renderList();
    if (route.view === "details")
        renderDetails(route.name, route.rest);
    else
        leaveDetails();
    if (route.modal)
        openModal(route.modal, route.name || "", { closed: modalClosed });
    else if (modalState().kind !== "closed")
        closeModal();
}

function showConnectionProblem(problem) {
    const line = $("[data-connection]");
    line.hidden = false;
    line.textContent = "The containers service cannot be reached: " + (problem.message || problem.problem || problem);
}

function init() {
    initTheme();
    initModal();
    initFilters(render);
    initOwners(render);
    setPermissionsRender(render);
    $("[data-action=show-create]").addEventListener("click", () => {
        if (!refusal("", "Create"))
            cockpit.location.go(["create"]);
    });
    const back = $("[data-action=back]");
    if (back)
        back.addEventListener("click", () => cockpit.location.go([]));
    initDetails(() => currentView().name);

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
