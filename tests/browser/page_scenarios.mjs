// The Cockpit page's scenarios, one per run, in Debian's chromium driven by
// playwright-core. tests/sandbox/browser_test.py runs this inside the sandbox,
// against cockpit-ws on loopback and the real service, and checks the
// service's side of each scenario itself, through busctl.
//
//   node page_scenarios.mjs SCENARIO PORT [ARGS...]   (browser_common.mjs runs it)
import { STEP_MS, busctl, pageUrl, runScenarios } from "./browser_common.mjs";

let url = ""; // the page, on the PORT the scenario was given
const row = name => `tr[data-container="${name}"]`;
const button = (name, verb) => `${row(name)} button[data-verb="${verb}"]`;

async function openPage(page) {
    await page.goto(url);
    await page.waitForSelector("body[data-loaded=true]", { timeout: STEP_MS });
}

async function rowInState(page, name, state) {
    await page.waitForSelector(`${row(name)}[data-state="${state}"]`, { timeout: STEP_MS });
}

async function fillCreate(page, name, fields) {
    await page.click("[data-action=show-create]");
    await page.fill("[data-input=name]", name);
    if (fields.source && fields.source !== "SystemPath")
        await page.check(`[data-input=source-${fields.source}]`);
    await page.fill(`[data-input=${fields.source || "SystemPath"}]`, fields.value);
    if (fields.privateNetwork === false)
        await page.uncheck("[data-input=PrivateNetwork]");
    await page.click("[data-action=create]");
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

    // Create from the form: the row appears, the form closes.
    async "create"(page, name, systemPath) {
        await openPage(page);
        await fillCreate(page, name, { value: systemPath });
        await rowInState(page, name, "stopped");
        await page.waitForSelector("[data-view=create]", { state: "hidden", timeout: STEP_MS });
    },

    // Start from the page: the button is busy, the row follows the unit to
    // running live, and shows the planned address.
    async "start"(page, name) {
        await openPage(page);
        await rowInState(page, name, "stopped");
        await page.click(button(name, "Start"));
        await rowInState(page, name, "running");
        await page.waitForSelector(`${button(name, "Start")}[data-busy=false]:disabled`, { timeout: STEP_MS });
        await page.waitForSelector(`${button(name, "Stop")}:enabled`, { timeout: STEP_MS });
    },

    async "stop"(page, name) {
        await openPage(page);
        await rowInState(page, name, "running");
        await page.click(button(name, "Stop"));
        await rowInState(page, name, "stopped");
        await page.waitForSelector(`${button(name, "Start")}:enabled`, { timeout: STEP_MS });
    },

    // Destroy asks first; cancelling keeps the container, confirming removes
    // the row.
    async "destroy"(page, name) {
        await openPage(page);
        await rowInState(page, name, "stopped");
        await page.click(button(name, "Destroy"));
        await page.click("[data-action=cancel-destroy]");
        await page.waitForSelector("[data-confirm-destroy]", { state: "hidden", timeout: STEP_MS });
        await rowInState(page, name, "stopped");
        await page.click(button(name, "Destroy"));
        await page.click("[data-action=confirm-destroy]");
        await page.waitForSelector(row(name), { state: "detached", timeout: STEP_MS });
    },

    // A system path the service refuses: its own message, beside the field.
    async "bad-system-path"(page, name, badPath) {
        await openPage(page);
        await fillCreate(page, name, { value: badPath });
        const error = await page.waitForSelector("[data-error-for=source]:not([hidden])", { timeout: STEP_MS });
        const text = await error.textContent();
        if (!text.startsWith(`SystemPath '${badPath}'`) || (await error.getAttribute("data-error-kind")) !== "InvalidArgument")
            throw new Error(`the field says '${text}'`);
        process.stdout.write(`the field says: ${text}\n`);
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

    // The form's own checks, before any call.
    async "bad-name"(page) {
        await openPage(page);
        await fillCreate(page, "web_1", { value: "/nix/store/x" });
        const error = await page.waitForSelector("[data-error-for=name]:not([hidden])", { timeout: STEP_MS });
        process.stdout.write(`the field says: ${await error.textContent()}\n`);
    },

    // Start as a user polkit answers for: the row shows the outcome.
    async "start-outcome"(page, name, expected) {
        await openPage(page);
        await rowInState(page, name, "stopped");
        await page.click(button(name, "Start"));
        if (expected === "running") {
            await rowInState(page, name, "running");
            return;
        }
        const error = await page.waitForSelector(`${row(name)} [data-row-error="${expected}"]`, { timeout: STEP_MS });
        const text = await error.textContent();
        process.stdout.write(`the row says: ${text}\n`);
        const want = expected === "denied" ? /^Not authorized/ : /^Authentication is required/;
        if (!want.test(text))
            throw new Error(`the row says '${text}'`);
        await rowInState(page, name, "stopped");
    },

    // A delegated user: Create (private network by default) and Start, all
    // from the page.
    async "tenant-create-start"(page, name, systemPath) {
        await openPage(page);
        await fillCreate(page, name, { value: systemPath });
        await rowInState(page, name, "stopped");
        await page.click(button(name, "Start"));
        await rowInState(page, name, "running");
        const addresses = await page.textContent(`${row(name)} [data-cell=addresses]`);
        if (!/10\.233\./.test(addresses))
            throw new Error(`no pool address in the row: '${addresses}'`);
    },

    // A failed unit: the row says failed and why (the unit's Result).
    async "failed-reason"(page, name, result) {
        await openPage(page);
        await rowInState(page, name, "failed");
        await page.waitForSelector(`${row(name)} [data-unit-result="${result}"]`, { timeout: STEP_MS });
    },

    // The container page: every property, live.
    async "details"(page, name) {
        await openPage(page);
        await page.click(`${row(name)} [data-open="${name}"]`);
        await page.waitForSelector(`[data-view=details][data-container="${name}"][data-state=running]`, { timeout: STEP_MS });
        for (const property of ["Name", "State", "Unit", "Leader", "Addresses", "PrivateNetwork", "SystemPath"]) {
            const cell = await page.waitForSelector(`[data-property="${property}"]`, { timeout: STEP_MS });
            process.stdout.write(`${property}: ${await cell.textContent()}\n`);
        }
        const leader = await page.textContent("[data-property=Leader]");
        if (!/^[1-9][0-9]*$/.test(leader))
            throw new Error(`Leader is '${leader}'`);
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
    },

    // The container page's terminal: a root shell through OpenShell (the
    // CLI's root-login, spawned by the bridge as this user on a pty).
    async "terminal"(page, name) {
        await openPage(page);
        await page.click(`${row(name)} [data-open="${name}"]`);
        await page.waitForSelector(`[data-view=details][data-container="${name}"][data-state=running]`, { timeout: STEP_MS });
        await page.click("[data-action=connect-terminal]");
        await page.waitForSelector("[data-terminal-input]:enabled", { timeout: STEP_MS });
        // Typed before the shell runs, a line can be flushed by its terminal
        // setup: wait for its prompt, as a user would.
        await page.waitForFunction(() => /Connected to container[^]*#\s*$/.test(
            document.querySelector("[data-terminal-output]").textContent), null, { timeout: STEP_MS });
        await page.fill("[data-terminal-input]", "echo term-$((6*7)) $(id -u)");
        await page.press("[data-terminal-input]", "Enter");
        await page.waitForFunction(() => document.querySelector("[data-terminal-output]").textContent.includes("term-42 0"),
                                   null, { timeout: STEP_MS });
        process.stdout.write(`the terminal shows: ${await page.textContent("[data-terminal-output]")}\n`);
    },

    // Only a screenshot, for the README.
    async "screenshot"(page) {
        await page.setViewportSize({ width: 1100, height: 520 });
        await openPage(page);
        await page.waitForSelector("tr[data-container]", { timeout: STEP_MS });
    },
};

runScenarios(Object.fromEntries(Object.entries(scenarios).map(([scenario, run]) => [
    scenario, (page, port, ...args) => {
        url = pageUrl(port);
        return run(page, ...args);
    },
])), "page_scenarios.mjs");
