// The Cockpit page's scenarios, one per run, in Debian's chromium driven by
// playwright-core. tests/sandbox/browser_test.py runs this inside the sandbox,
// against cockpit-ws on loopback and the real service, and checks the
// service's side of each scenario itself, through busctl.
//
//   node page_scenarios.mjs SCENARIO PORT [ARGS...]   (browser_common.mjs runs it)
import {
    STEP_MS, busctl, expectAxeClean, expectNoOverflow, expectToast, expectWithinViewport, pageUrl, runScenarios, useTheme,
    useViewport,
} from "./browser_common.mjs";

let url = ""; // the page, on the PORT the scenario was given
const row = name => `tr[data-container="${name}"]`;
const button = (name, verb) => `${row(name)} button[data-verb="${verb}"]`;
const createDialog = "[data-create-dialog]";
const destroyDialog = "[data-confirm-destroy]";

async function openPage(page, path = "") {
    await page.goto(path ? url + "#/" + path : url);
    await page.waitForSelector("body[data-loaded=true]", { timeout: STEP_MS });
}

async function rowInState(page, name, state) {
    await page.waitForSelector(`${row(name)}[data-state="${state}"]`, { timeout: STEP_MS });
}

async function dialogOpen(page, selector, open = true) {
    await page.waitForFunction(([s, o]) => document.querySelector(s).open === o, [selector, open], { timeout: STEP_MS });
}

async function focusedIs(page, selector, what) {
    await page.waitForFunction(s => document.activeElement && document.activeElement.matches(s), selector, { timeout: STEP_MS })
            .catch(async () => {
                const got = await page.evaluate(() => document.activeElement && document.activeElement.outerHTML.slice(0, 120));
                throw new Error(`${what}: the focus is on ${got}, not ${selector}`);
            });
}

// Opens the Create modal from the list's button: the modal has the focus, on its name.
async function openCreate(page) {
    await page.click("[data-action=show-create]");
    await dialogOpen(page, createDialog);
    await focusedIs(page, "[data-input=name]", "the Create modal opened");
}

async function fillCreate(page, name, fields) {
    await openCreate(page);
    await page.fill("[data-input=name]", name);
    if (fields.source && fields.source !== "SystemPath")
        await page.check(`[data-input=source-${fields.source}]`);
    await page.fill(`[data-input=${fields.source || "SystemPath"}]`, fields.value);
    if (fields.privateNetwork === false)
        await page.uncheck("[data-input=PrivateNetwork]");
    for (const [protocol, host, inside] of fields.ports || []) {
        await page.click("[data-action=add-ports]");
        const last = "[data-port-row]:last-child";
        await page.selectOption(`${last} [data-port=protocol]`, protocol);
        await page.fill(`${last} [data-port=host]`, String(host));
        await page.fill(`${last} [data-port=inside]`, String(inside));
    }
    if (fields.removePorts) {
        await page.click("[data-port-row]:last-child button[aria-label^='Remove port']");
        await focusedIs(page, "[data-action=add-ports]", "after removing a port row");
    }
    for (const [key, value] of Object.entries(fields.limits || {}))
        await page.fill(`[data-input=${key}]`, value);
    if (fields.autoStart)
        await page.check("[data-input=AutoStart]");
    if (fields.axe)
        await expectAxeClean(page, "the filled Create modal");
    await page.click("[data-action=create]");
}

// The row of a created container, or the form's error (as the failure).
async function createdOrError(page, name) {
    const first = await page.waitForSelector(`${row(name)}, [data-create-form] [data-error-for]:not([hidden])`, { timeout: STEP_MS });
    if (await first.getAttribute("data-error-for"))
        throw new Error(`Create says (${await first.getAttribute("data-error-for")}): ${await first.textContent()}`);
}

async function fieldErrorTied(page, input, field) {
    const tied = await page.$eval(input, (node, f) => node.getAttribute("aria-invalid") === "true" &&
        (node.getAttribute("aria-describedby") || "").split(" ").includes(`err-${f}`), field);
    if (!tied)
        throw new Error(`the error of ${field} is not tied to ${input} (aria-invalid, aria-describedby)`);
}

// Each returns nothing on success and throws on failure.
const scenarios = {
    // A container that busctl creates, starts, stops and destroys while the
    // page is open: its row follows each step, with no reload and no action
    // of the page's own.
    async "follows-busctl"(page, name, systemPath) {
        await openPage(page);
        const loadedAt = await page.evaluate(() => performance.timeOrigin);
        const call = (...words) => busctl("call", "org.nixos.Containers", "/org/nixos/Containers",
                                          "org.nixos.Containers", ...words);
        call("Create", "sa{sv}", name, "1", "SystemPath", "s", systemPath);
        await rowInState(page, name, "stopped");
        call("Start", "s", name);
        await rowInState(page, name, "running");
        call("Stop", "s", name);
        await rowInState(page, name, "stopped");
        call("Destroy", "s", name);
        await page.waitForSelector(row(name), { state: "detached", timeout: STEP_MS });
        if (await page.evaluate(() => performance.timeOrigin) !== loadedAt)
            throw new Error("the page was reloaded");
    },

    // Create from the modal with a memory limit and AutoStart (the pool's
    // addresses: left empty; a port row added and removed again, as a
    // non-root caller's container, user-namespaced, cannot forward ports):
    // the row appears, a toast says so, the modal closes and the focus is
    // back on its button.
    async "create"(page, name, systemPath) {
        await openPage(page);
        await fillCreate(page, name, {
            value: systemPath, ports: [["udp", 5353, 53]], limits: { MemoryMax: "256M" }, autoStart: true, axe: true,
            removePorts: true,
        });
        await createdOrError(page, name);
        await dialogOpen(page, createDialog, false);
        await expectToast(page, "success", `${name} created`);
        await focusedIs(page, "[data-action=show-create]", "after Create");
    },

    // A system path the service refuses, on a phone: its own message beside
    // the field, tied to the input, and the long store path wraps inside the
    // screen; a failure toast too.
    async "bad-system-path"(page, name, badPath) {
        await useViewport(page, "phone");
        await openPage(page);
        await fillCreate(page, name, { value: badPath });
        const error = await page.waitForSelector("[data-error-for=source]:not([hidden])", { timeout: STEP_MS });
        const text = await error.textContent();
        if (!text.startsWith(`SystemPath '${badPath}'`) || (await error.getAttribute("data-error-kind")) !== "InvalidArgument")
            throw new Error(`the field says '${text}'`);
        process.stdout.write(`the field says: ${text}\n`);
        await fieldErrorTied(page, "[data-input=SystemPath]", "source");
        await expectWithinViewport(page, "[data-error-for=source]", "the error with a long store path");
        await expectNoOverflow(page, "the Create modal on a phone");
        await expectToast(page, "danger", `Could not create ${name}`);
        await expectAxeClean(page, "the Create modal with a field error, phone");
        // Escape closes the modal, and the focus goes back to its button.
        await page.keyboard.press("Escape");
        await dialogOpen(page, createDialog, false);
        await focusedIs(page, "[data-action=show-create]", "after Escape");
        if (await page.$(row(name)))
            throw new Error("a row appeared");
    },

    // A build from a configuration, by the sandbox's real Nix: the build's
    // output streams into the form (BuildOutput, sent to this page's
    // connection alone), and its failure is the service's BuildFailed, shown
    // for the whole form. The configuration makes the stand-in nixpkgs'
    // builder fail (tests/sandbox/payload/nixpkgs).
    async "build-output"(page, name, expectedLine) {
        await openPage(page);
        await fillCreate(page, name, { source: "Config", value: "payload.fail = true;" });
        await page.waitForFunction(line => document.querySelector("[data-build-output]").textContent.includes(line),
                                   expectedLine, { timeout: STEP_MS });
        const error = await page.waitForSelector("[data-error-for=form]:not([hidden])", { timeout: STEP_MS });
        if ((await error.getAttribute("data-error-kind")) !== "BuildFailed")
            throw new Error(`the form says '${await error.textContent()}'`);
        process.stdout.write(`the build output: ${await page.textContent("[data-build-output]")}\n`);
    },

    // The form's own checks, before any call, tied to the input.
    async "bad-name"(page) {
        await openPage(page);
        await fillCreate(page, "web_1", { value: "/nix/store/x" });
        const error = await page.waitForSelector("[data-error-for=name]:not([hidden])", { timeout: STEP_MS });
        process.stdout.write(`the field says: ${await error.textContent()}\n`);
        await fieldErrorTied(page, "[data-input=name]", "name");
        if ((await error.getAttribute("role")) !== "alert")
            throw new Error("the field's error is not announced (role=alert)");
    },

    // Start from the page: the button is busy, the row follows the unit to
    // running live, and a toast says it started.
    async "start"(page, name) {
        await openPage(page);
        await rowInState(page, name, "stopped");
        const label = await page.getAttribute(button(name, "Start"), "aria-label");
        if (label !== `Start ${name}`)
            throw new Error(`the Start button is named '${label}'`);
        await page.click(button(name, "Start"));
        await rowInState(page, name, "running");
        await page.waitForSelector(`${button(name, "Start")}[data-busy=false]:disabled`, { timeout: STEP_MS });
        await page.waitForSelector(`${button(name, "Stop")}:enabled`, { timeout: STEP_MS });
        await expectToast(page, "success", `${name} started`);
    },

    async "stop"(page, name) {
        await openPage(page);
        await rowInState(page, name, "running");
        await page.click(button(name, "Stop"));
        await rowInState(page, name, "stopped");
        await page.waitForSelector(`${button(name, "Start")}:enabled`, { timeout: STEP_MS });
        await expectToast(page, "success", `${name} stopped`);
    },

    // A start that does not end (the payload never reports READY): Stop
    // stays enabled while Start runs (the other buttons do not), and ends it.
    async "stop-during-start"(page, name) {
        await openPage(page);
        await rowInState(page, name, "stopped");
        await page.click(button(name, "Start"));
        await page.waitForSelector(`${button(name, "Start")}[data-busy=true]`, { timeout: STEP_MS });
        await rowInState(page, name, "starting");
        await page.waitForSelector(`${button(name, "Stop")}:enabled`, { timeout: STEP_MS });
        for (const verb of ["Restart", "Reload", "Destroy", "Start"])
            if (await page.$(`${button(name, verb)}:enabled`))
                throw new Error(`${verb} is enabled while Start runs`);
        await page.click(button(name, "Stop"));
        await rowInState(page, name, "stopped");
        // The Start call answered: its button is no longer busy.
        await page.waitForSelector(`${button(name, "Start")}[data-busy=false]:enabled`, { timeout: STEP_MS });
        await expectToast(page, "success", `${name} stopped`);
        await expectToast(page, "info", `${name}: the start was cancelled`);
    },

    // Destroy asks in a PatternFly modal with a heading and the focus on
    // Cancel: Enter twice keeps the container, Escape cancels; confirming
    // removes the row. On a phone, in the dark theme.
    async "destroy"(page, name) {
        await useTheme(page, "dark");
        await useViewport(page, "phone");
        await openPage(page);
        await rowInState(page, name, "stopped");
        await page.click(button(name, "Destroy"));
        await dialogOpen(page, destroyDialog);
        const heading = await page.textContent(`${destroyDialog} h1`);
        if (heading.trim() !== `Destroy ${name}?`)
            throw new Error(`the dialog's heading is '${heading}'`);
        await focusedIs(page, "[data-action=cancel-destroy]", "the Destroy dialog opened");
        await expectAxeClean(page, "the Destroy dialog, phone, dark");
        await page.keyboard.press("Enter");
        await dialogOpen(page, destroyDialog, false);
        await page.keyboard.press("Enter");
        // The second Enter, on the row's Destroy again, asks again: still Cancel first.
        await dialogOpen(page, destroyDialog);
        await focusedIs(page, "[data-action=cancel-destroy]", "the Destroy dialog opened again");
        await page.keyboard.press("Escape");
        await dialogOpen(page, destroyDialog, false);
        await focusedIs(page, `${button(name, "Destroy")}`, "after the dialog");
        await rowInState(page, name, "stopped");
        await page.click(button(name, "Destroy"));
        await page.click("[data-action=confirm-destroy]");
        await page.waitForSelector(row(name), { state: "detached", timeout: STEP_MS });
        await expectToast(page, "success", `${name} destroyed`);
    },

    // Start as a user polkit answers for. "refused": the service said so in
    // advance (GetPermissions): the button is disabled with the reason, and
    // a click does nothing; "click": the click's answer shows in the row and
    // in a toast that stays.
    async "start-outcome"(page, name, expected, how = "click") {
        await openPage(page);
        await rowInState(page, name, "stopped");
        if (expected === "running") {
            await page.click(button(name, "Start"));
            await rowInState(page, name, "running");
            return;
        }
        const reasonWanted = expected === "denied" ? /^Not authorized/ : /^Needs an administrator's password/;
        if (how === "refused") {
            const start = await page.waitForSelector(`${button(name, "Start")}[aria-disabled=true]`, { timeout: STEP_MS });
            const reason = await start.getAttribute("aria-description");
            process.stdout.write(`the button says: ${reason}\n`);
            if (!reasonWanted.test(reason || ""))
                throw new Error(`the disabled Start's reason is '${reason}'`);
            await start.click({ force: true }); // aria-disabled: playwright would wait for it to be enabled
            if (await page.$(`${button(name, "Start")}[data-busy=true]`))
                throw new Error("a refused Start was called");
            await expectAxeClean(page, `the list as ${expected}`);
            await rowInState(page, name, "stopped");
            return;
        }
        await page.click(button(name, "Start"));
        const error = await page.waitForSelector(`${row(name)} [data-row-error="${expected}"]`, { timeout: STEP_MS });
        const text = await error.textContent();
        process.stdout.write(`the row says: ${text}\n`);
        const want = expected === "denied" ? /^Not authorized/ : /^Authentication is required/;
        if (!want.test(text))
            throw new Error(`the row says '${text}'`);
        await expectToast(page, "danger", `Could not start ${name}`);
        await rowInState(page, name, "stopped");
    },

    // A delegated user: Create (private network by default) and Start, all
    // from the page; then "mine" is its default filter (root's OTHER is
    // hidden until "all"), the owner column names the users, and root's
    // container's buttons are refused in advance when the service can say.
    async "tenant-create-start"(page, name, systemPath, other, permissions) {
        await openPage(page);
        await fillCreate(page, name, { value: systemPath });
        await createdOrError(page, name);
        await page.click(button(name, "Start"));
        await rowInState(page, name, "running");
        const addresses = await page.textContent(`${row(name)} [data-cell=addresses]`);
        if (!/10\.233\./.test(addresses))
            throw new Error(`no pool address in the row: '${addresses}'`);
        await page.waitForFunction(() => document.querySelector("[data-filter=owner]").value === "mine", null, { timeout: STEP_MS });
        if (await page.isVisible(row(other)))
            throw new Error(`${other} (root's) is shown under "mine"`);
        const owner = await page.textContent(`${row(name)} [data-cell=owner]`);
        if (owner !== "nc-tenant (you)")
            throw new Error(`the owner of ${name} reads '${owner}'`);
        await page.selectOption("[data-filter=owner]", "all");
        await page.waitForSelector(row(other), { timeout: STEP_MS });
        await page.waitForFunction(o => document.querySelector(`tr[data-container="${o}"] [data-cell=owner]`).textContent === "root",
                                   other, { timeout: STEP_MS });
        if (permissions === "yes") {
            await page.waitForSelector(`${button(other, "Stop")}[aria-disabled=true]`, { timeout: STEP_MS });
            await page.waitForSelector(`${button(name, "Stop")}:enabled:not([aria-disabled])`, { timeout: STEP_MS });
        }
        // The name filter and the state filter.
        await page.fill("[data-filter=name]", name);
        await page.waitForSelector(row(other), { state: "detached", timeout: STEP_MS });
        await page.fill("[data-filter=name]", "");
        await page.selectOption("[data-filter=state]", "running");
        await page.waitForSelector(row(name), { timeout: STEP_MS });
        await page.selectOption("[data-filter=state]", "failed");
        await page.waitForSelector(row(name), { state: "detached", timeout: STEP_MS });
        await page.selectOption("[data-filter=state]", "");
        await useTheme(page, "dark");
        await useViewport(page, "phone");
        await openPage(page);
        await page.waitForSelector(row(name), { timeout: STEP_MS });
        await expectNoOverflow(page, "the tenant's list on a phone");
        await expectAxeClean(page, "the tenant's list, phone, dark");
    },

    // A failed unit: the row says failed and why (the unit's Result), on a phone too.
    async "failed-reason"(page, name, result) {
        await openPage(page);
        await rowInState(page, name, "failed");
        await page.waitForSelector(`${row(name)} [data-unit-result="${result}"]`, { timeout: STEP_MS });
        await useViewport(page, "phone");
        await expectWithinViewport(page, `${row(name)} [data-unit-result]`, "the failed row's reason");
        await expectNoOverflow(page, "the list on a phone");
    },

    // Rollback from the row: enabled only with an older generation, and
    // the row's button goes back to disabled once the oldest is current.
    async "rollback"(page, name) {
        await openPage(page);
        await page.waitForSelector(`${button(name, "Rollback")}:enabled`, { timeout: STEP_MS });
        await page.click(button(name, "Rollback"));
        await page.waitForSelector(`${button(name, "Rollback")}[data-busy=false]:disabled`, { timeout: STEP_MS });
        if (await page.$(`${row(name)} [data-row-error]`))
            throw new Error(await page.textContent(`${row(name)} [data-row-error]`));
        await expectToast(page, "success", `${name} rolled back`);
    },

    // Edit from the row: the modal is prefilled (the name fixed), says what
    // a change does when the service can tell (SpecKeys), and sends only the
    // changed keys (the bus checks the rest stayed).
    async "edit"(page, name, memory, effects) {
        await openPage(page);
        await page.click(button(name, "Edit"));
        await dialogOpen(page, createDialog);
        const title = await page.textContent("[data-create-title]");
        if (title !== `Edit ${name}`)
            throw new Error(`the Edit modal's title is '${title}'`);
        if (await page.inputValue("[data-input=name]") !== name || !await page.$eval("[data-input=name]", n => n.readOnly))
            throw new Error("the name is not prefilled and fixed");
        const system = await page.inputValue("[data-input=SystemPath]");
        if (!system.startsWith("/nix/store/"))
            throw new Error(`SystemPath is prefilled with '${system}'`);
        if (effects === "yes") {
            const effect = await page.waitForSelector("[data-effect-for=MemoryMax]:not([hidden])", { timeout: STEP_MS });
            process.stdout.write(`MemoryMax: ${await effect.textContent()}\n`);
        }
        await expectAxeClean(page, "the Edit modal");
        await page.fill("[data-input=MemoryMax]", memory);
        await page.check("[data-input=AutoStart]");
        await page.click("[data-action=create]");
        await dialogOpen(page, createDialog, false);
        await expectToast(page, "success", `${name} updated`);
    },

    // The theme follows Cockpit's shell style live: its storage key, changed
    // by another frame, and the system's colour scheme for "auto".
    async "theme"(page) {
        await useTheme(page, "dark");
        await openPage(page);
        const dark = () => page.evaluate(() => document.documentElement.classList.contains("pf-v6-theme-dark"));
        const waitDark = want => page.waitForFunction(w => document.documentElement.classList.contains("pf-v6-theme-dark") === w,
                                                      want, { timeout: STEP_MS });
        if (!await dark())
            throw new Error("shell:style dark: the page is light");
        await expectAxeClean(page, "the list, desktop, dark");
        const other = await page.context().newPage();
        await other.goto(url);
        await other.evaluate(() => localStorage.setItem("shell:style", "light"));
        await waitDark(false);
        await other.evaluate(() => localStorage.setItem("shell:style", "auto"));
        await page.emulateMedia({ colorScheme: "light" });
        await waitDark(false);
        await page.emulateMedia({ colorScheme: "dark" });
        await waitDark(true);
        await other.close();
    },

    // Every view of the shell at both widths and in both themes: no
    // horizontal overflow, axe-core clean; Create, Edit and Destroy modals
    // included, each closed by Escape with the focus back where it was.
    async "a11y"(page, edit, destroy, combos = "all") {
        const all = [["light", "desktop"], ["dark", "desktop"], ["light", "phone"], ["dark", "phone"]];
        const chosen = combos === "all" ? all : all.filter(([t, v]) => combos.split(",").includes(`${t}-${v}`));
        for (const [theme, viewport] of chosen) {
            const what = `${viewport}, ${theme}`;
            await page.emulateMedia({ colorScheme: theme });
            await useViewport(page, viewport);
            await openPage(page);
            await page.evaluate(style => localStorage.setItem("shell:style", style), theme);
            await openPage(page);
            if (await page.evaluate(() => document.documentElement.classList.contains("pf-v6-theme-dark")) !== (theme === "dark"))
                throw new Error(`${what}: the theme is not ${theme}`);
            await page.waitForSelector("tr[data-container]", { timeout: STEP_MS });
            await expectNoOverflow(page, `the list, ${what}`);
            if (viewport === "phone") {
                // A card per container (the stacked table), its buttons on the screen.
                if (await page.isVisible("[data-containers] thead"))
                    throw new Error(`${what}: the table is not stacked into cards`);
                await expectWithinViewport(page, "tr[data-container] [data-verb=Destroy]", `the row's last button, ${what}`);
            }
            await expectAxeClean(page, `the list, ${what}`);
            // A user the service refuses Create in advance sees why instead.
            const refused = await page.getAttribute("[data-action=show-create]", "aria-description");
            if (refused) {
                process.stdout.write(`Create: ${refused}\n`);
            } else {
                await openCreate(page);
                await expectNoOverflow(page, `the Create modal, ${what}`);
                await expectAxeClean(page, `the Create modal, ${what}`);
                await page.keyboard.press("Escape");
                await dialogOpen(page, createDialog, false);
                await focusedIs(page, "[data-action=show-create]", `after the Create modal, ${what}`);
            }
            if (edit) {
                await openPage(page, `${edit}/edit`);
                await dialogOpen(page, createDialog);
                await expectAxeClean(page, `the Edit modal, ${what}`);
                await page.keyboard.press("Escape");
                await dialogOpen(page, createDialog, false);
                await openPage(page);
            }
            if (destroy) {
                await page.click(button(destroy, "Destroy"));
                await dialogOpen(page, destroyDialog);
                await expectAxeClean(page, `the Destroy dialog, ${what}`);
                await page.keyboard.press("Escape");
                await dialogOpen(page, destroyDialog, false);
            }
        }
    },

    // The README's screenshots: DIR/cockpit-desktop-light.png,
    // cockpit-desktop-dark.png and cockpit-phone.png.
    async "screenshots"(page, dir) {
        for (const [file, theme, viewport] of [["cockpit-desktop-light.png", "light", "desktop"],
            ["cockpit-desktop-dark.png", "dark", "desktop"], ["cockpit-phone.png", "light", "phone"]]) {
            await page.emulateMedia({ colorScheme: theme });
            await useViewport(page, viewport);
            await openPage(page);
            await page.evaluate(style => localStorage.setItem("shell:style", style), theme);
            await openPage(page);
            await page.waitForSelector("tr[data-container]", { timeout: STEP_MS });
            await page.screenshot({ path: `${dir}/${file}`, fullPage: viewport === "phone" });
        }
    },
};

runScenarios(Object.fromEntries(Object.entries(scenarios).map(([scenario, run]) => [
    scenario, (page, port, ...args) => {
        url = pageUrl(port);
        return run(page, ...args);
    },
])), "page_scenarios.mjs");
