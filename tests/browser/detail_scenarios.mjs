// The container page's scenarios (cockpit/src/detail): its header and tabs,
// sections, generations, logs, usage and terminal, one scenario per run, in
// Debian's chromium driven by playwright-core. tests/sandbox/browser_detail_test.py
// runs this inside the sandbox against cockpit-ws and the real service, and
// checks the service's side itself.
//
//   node detail_scenarios.mjs SCENARIO PORT [ARGS...]   (browser_common.mjs runs it)
//
// Each scenario covers both widths and the dark theme in one browser, and
// runs axe-core on every tab it shows.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { STEP_MS, VIEWPORTS, busctl, expectAxeClean, pageUrl, runScenarios } from "./browser_common.mjs";

let port = 0;
const say = text => process.stdout.write(text + "\n");
const wait = (page, selector, options = {}) => page.waitForSelector(selector, { timeout: STEP_MS, ...options });

async function openTab(page, name, tab = "") {
    await page.goto(pageUrl(port, tab ? `${name}/${tab}` : name));
    await wait(page, "body[data-loaded=true]");
    await wait(page, `[data-view=details][data-container="${name}"]:not([data-state=gone])`);
    if (tab)
        await wait(page, `#detail-panel[data-panel="${tab}"]`);
}

async function clickTab(page, tab) {
    await page.click(`[role=tab][data-tab="${tab}"]`);
    await wait(page, `[role=tab][data-tab="${tab}"][aria-selected=true]`);
    await wait(page, `#detail-panel[data-panel="${tab}"]`);
}

// PatternFly's dark theme, as the page's theme module sets it from Cockpit's style.
async function dark(page, on) {
    await page.evaluate(on => document.documentElement.classList.toggle("pf-v6-theme-dark", on), on);
    // Colours change through CSS transitions: judge them once they have ended.
    await page.waitForFunction(() => document.getAnimations().every(a => a.playState !== "running"), null,
                               { timeout: STEP_MS });
}

// The page is never wider than the screen (the tab list scrolls on its own).
async function noOverflow(page, what) {
    const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    if (scroll > width)
        throw new Error(`${what}: the page is ${scroll} px wide in a ${width} px window`);
}

// axe-core put in the page as DevTools would (Cockpit's CSP refuses an inline
// <script>, which addScriptTag makes); expectAxeClean then finds it there.
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
async function axeClean(page, what) {
    if (!await page.evaluate(() => Boolean(window.axe)))
        await page.evaluate(axeSource);
    await expectAxeClean(page, what);
}

// Each tab axe-clean at both widths, light and dark.
async function axeEverywhere(page, what, check = async () => {}) {
    for (const [size, viewport] of Object.entries(VIEWPORTS)) {
        await page.setViewportSize(viewport);
        for (const theme of [false, true]) {
            await dark(page, theme);
            await check(size);
            await noOverflow(page, `${what} at ${size}`);
            await axeClean(page, `${what} at ${size}${theme ? ", dark" : ""}`);
        }
    }
    await dark(page, false);
    await page.setViewportSize(VIEWPORTS.desktop);
}

async function value(page, key) {
    const node = await wait(page, `#detail-panel [data-value="${key}"]`);
    return (await node.textContent()).trim();
}

function expect(what, got, want) {
    const ok = want instanceof RegExp ? want.test(got) : got === want;
    if (!ok)
        throw new Error(`${what} is '${got}', expected ${want}`);
    say(`${what}: ${got}`);
}

async function panelText(page) {
    return page.textContent("#detail-panel");
}

function noJson(what, text) {
    if (/[[{]"|"[\]}]|\[\[/.test(text))
        throw new Error(`${what} shows raw JSON: ${text}`);
}

async function logText(page, selector = "[role=log]") {
    return page.evaluate(s => (document.querySelector(s) || {}).textContent || "", selector);
}

async function logHas(page, text, selector = "#detail-panel [role=log]") {
    await page.waitForFunction(([s, t]) => (document.querySelector(s) || {}).textContent?.includes(t), [selector, text],
                               { timeout: STEP_MS });
}

// `nixos-container run NAME -- SYSTEM/bin/sh -c "printf TEXT >/dev/console"`: a line in its journal.
function consoleLine(cli, name, system, text) {
    execFileSync(cli, ["run", name, "--", `${system}/bin/sh`, "-c", `printf '${text}\\n' >/dev/console`]);
}

function processes(pattern) {
    try {
        return execFileSync("pgrep", ["-f", pattern], { encoding: "utf8" }).trim();
    } catch {
        return "";
    }
}

// What xterm.js shows (its DOM renderer's rows), non-breaking spaces as spaces.
function screenText() {
    return [...document.querySelectorAll(".xterm-rows > div")].map(row => row.textContent.replace(/\u00a0/g, " ")).join("\n");
}

async function terminalText(page) {
    return page.evaluate(screenText);
}

async function terminalShows(page, pattern, timeout = STEP_MS) {
    await page.waitForFunction(source => new RegExp(source, "m").test(
        [...document.querySelectorAll(".xterm-rows > div")].map(row => row.textContent.replace(/\u00a0/g, " ")).join("\n")),
                               pattern.source, { timeout });
}

// Lines ending with the shell's prompt.
async function promptCount(page) {
    return (await terminalText(page)).split("\n").filter(line => /#\s*$/.test(line)).length;
}

const scenarios = {
    // The header, the tabs (by mouse and keyboard, routed), the read-only
    // sections in words, at both widths and dark, axe-clean on every tab.
    async "sections"(page, name, systemPath, timestamp, hostData) {
        await openTab(page, name);
        await wait(page, "[data-view=details] nav.pf-v6-c-breadcrumb a[data-action=back-to-list]");
        expect("the heading", (await page.textContent("[data-details-name]")).trim(), name);
        expect("the state label", (await page.textContent(".detail-state")).trim(), "running");
        for (const verb of ["Start", "Stop", "Restart", "Reload", "Rollback", "Destroy"])
            await wait(page, `[data-details-actions] button[data-verb="${verb}"][aria-label="${verb} ${name}"]`);
        await wait(page, "[data-action=edit]:enabled");
        expect("the current tab", await page.getAttribute("[role=tab][aria-selected=true]", "data-tab"), "overview");

        // Overview: in words, no empty row, no JSON.
        expect("State", await value(page, "State"), "running");
        expect("Owner", await value(page, "Owner"), "root (0)");
        expect("Forwarded ports", await value(page, "ForwardPorts"), "8080 → 80/tcp");
        expect("Addresses", await value(page, "Addresses"), /^\d+\.\d+\.\d+\.\d+/);
        expect("Unit", await value(page, "Unit"), new RegExp(name));
        const local = await page.evaluate(usec => new Date(Number(usec) / 1000).toLocaleString(), timestamp);
        expect("Started at (local time)", await value(page, "Timestamp"), local);
        expect("System", await value(page, "SystemPath"), systemPath);
        expect("Declarative", await value(page, "Declarative"), "No");
        if (await page.$("#detail-panel [data-value=UnitResult]"))
            throw new Error("a running container shows a unit result");
        const emptyRows = await page.$$eval("#detail-panel .pf-v6-c-description-list__text",
                                            nodes => nodes.filter(n => !n.textContent.trim()).length);
        if (emptyRows)
            throw new Error(`${emptyRows} empty rows in the overview`);
        noJson("the overview", await panelText(page));
        await axeEverywhere(page, "overview");

        // The keyboard: the current tab has the focus, arrows move and open.
        await page.focus("[role=tab][data-tab=overview]");
        await page.keyboard.press("ArrowRight");
        await wait(page, "#detail-panel[data-panel=network]");
        expect("the focused tab", await page.evaluate(() => document.activeElement.dataset.tab), "network");
        expect("the route", await page.evaluate(() => cockpit.location.path.join("/")), `${name}/network`);
        expect("Private network", await value(page, "PrivateNetwork"), "Yes");
        expect("Network's forwarded ports", await value(page, "ForwardPorts"), "8080 → 80/tcp");
        noJson("the network section", await panelText(page));
        await axeEverywhere(page, "network");

        await page.keyboard.press("ArrowRight");
        await wait(page, "#detail-panel[data-panel=mounts]");
        expect("the bind mount", await value(page, "BindMount0"), `${hostData} → /data (read-only)`);
        expect("the tmpfs", await value(page, "Tmpfs0"), "/scratch");
        await axeEverywhere(page, "mounts");

        await clickTab(page, "limits");
        expect("MemoryMax", await value(page, "MemoryMax"), "512M");
        expect("TasksMax", await value(page, "TasksMax"), "200");
        noJson("the limits section", await panelText(page));
        await axeEverywhere(page, "limits");

        // At 390 px: the tabs scroll inside their list, the page does not.
        await page.setViewportSize(VIEWPORTS.phone);
        await clickTab(page, "terminal");
        await noOverflow(page, "the terminal tab at phone width");
        const scrolls = await page.$eval(".pf-v6-c-tabs__list", list => list.scrollWidth > list.clientWidth);
        if (!scrolls)
            throw new Error("eight tabs fit in 390 px?");
        // Its scroll buttons: back is disabled at the start, forward scrolls on.
        await page.$eval(".pf-v6-c-tabs__list", list => list.scrollTo({ left: 0 }));
        await wait(page, ".detail-tabs.pf-m-scrollable [aria-label='Scroll back']:disabled");
        await page.click("[aria-label='Scroll forward']");
        await page.waitForFunction(() => document.querySelector(".pf-v6-c-tabs__list").scrollLeft > 0, null,
                                   { timeout: STEP_MS });
        await wait(page, "[aria-label='Scroll back']:enabled");
        await axeClean(page, "the scrolled tab list at phone width");
        say("the tab list scrolls at 390 px, by its buttons too");
        await page.setViewportSize(VIEWPORTS.desktop);

        // Edit opens the route page-list's modal listens to; the breadcrumb goes back.
        await clickTab(page, "overview");
        await page.click("[data-action=edit]");
        await page.waitForFunction(n => cockpit.location.path.join("/") === `${n}/edit`, name, { timeout: STEP_MS });
        await page.goto(pageUrl(port, name));
        await wait(page, "body[data-loaded=true]");
        await page.click("a[data-action=back-to-list]");
        await page.waitForFunction(() => cockpit.location.path.length === 0, null, { timeout: STEP_MS });
    },

    // A container with nothing mounted or limited: its sections say None.
    async "sections-none"(page, name) {
        await openTab(page, name, "mounts");
        await wait(page, "#detail-panel [data-none='Bind mounts']");
        await wait(page, "#detail-panel [data-none='tmpfs mounts']");
        await clickTab(page, "limits");
        await wait(page, "#detail-panel [data-none=Limits]");
        await clickTab(page, "overview");
        expect("Started at, stopped", await value(page, "Timestamp"), "—");
        await axeEverywhere(page, "empty sections");
    },

    // A container's page as its owner (a tenant): the owner by name.
    async "owner"(page, name, owner) {
        await openTab(page, name);
        expect("Owner", await value(page, "Owner"), new RegExp(owner));
        await axeEverywhere(page, "the overview as its owner");
    },

    // A failed start: the overview opens on why, in words, and the unit's last lines.
    async "failed-overview"(page, name, result, line) {
        await openTab(page, name);
        const box = await wait(page, `[data-failed-logs="${name}"] .pf-v6-c-alert.pf-m-danger`);
        expect("the alert", (await box.$eval(".pf-v6-c-alert__title", n => n.textContent)).trim(),
               new RegExp(`failed: .*\\(${result}\\)`));
        await logHas(page, line, `[data-failed-logs="${name}"] [role=log]`);
        const order = await page.$eval("#detail-panel", panel => [...panel.children].map(n => n.className).join(" "));
        if (!order.startsWith("detail-failed"))
            throw new Error(`the last lines are not first: ${order}`);
        const count = await page.$$eval(`[data-failed-logs="${name}"] .detail-log-line`, lines => lines.length);
        if (count < 1 || count > 30)
            throw new Error(`${count} lines shown, expected 1..30`);
        say(`last lines (${count}): ${await logText(page, `[data-failed-logs="${name}"] [role=log]`)}`);
        expect("Unit result", await value(page, "UnitResult"), new RegExp(`\\(${result}\\)`));
        await axeEverywhere(page, "a failed container's overview");
    },

    // The Logs tab: a line printed before, then one printed while it is open
    // (live); Pause and Follow; the stream ends when the tab is left.
    async "logs"(page, name, cli, system, before, after) {
        await openTab(page, name, "logs");
        await logHas(page, before);
        await axeEverywhere(page, "the logs tab");
        consoleLine(cli, name, system, after);
        await logHas(page, after);
        const mono = await page.$eval("#detail-panel [role=log]", n => getComputedStyle(n).fontFamily);
        expect("the log's font", mono, /mono/i);
        await page.click("[data-action=log-follow]");
        await wait(page, "[data-action=log-follow][aria-pressed=false]");
        await page.click("[data-action=log-follow]");
        await wait(page, "[data-action=log-follow][aria-pressed=true]");
        const pattern = `nixos-container logs ${name} -n`;
        if (!processes(pattern))
            throw new Error("no logs process while the tab is open");
        await clickTab(page, "overview");
        const deadline = Date.now() + 10000;
        while (processes(pattern)) {
            if (Date.now() > deadline)
                throw new Error("the logs process outlived its tab");
            await page.waitForTimeout(200);
        }
        say("the stream ended with its tab");
    },

    // A user the service refuses: its refusal, in words.
    async "logs-denied"(page, name, words) {
        await openTab(page, name, "logs");
        const refusal = await wait(page, "#detail-panel [data-log-refusal]");
        expect("the refusal", (await refusal.textContent()).trim(), new RegExp(words));
        await axeEverywhere(page, "the logs tab, refused");
    },

    // Usage: CPU, memory and tasks of the unit, every 2 s, graphs of the last
    // minutes. Prints the values shown, for the Python to compare with systemd.
    async "usage"(page, name) {
        await openTab(page, name, "usage");
        // CPU is a difference: its third point takes four samples (8 s).
        await page.waitForFunction(() => Number(document.querySelector("[data-usage-graph=cpu]")?.dataset.points) >= 3,
                                   null, { timeout: STEP_MS });
        const shown = await page.$eval("[data-usage]", node => ({ ...node.dataset }));
        for (const key of ["cpu", "memory", "tasks"])
            say(`${key}: ${await page.textContent(`[data-usage-value=${key}]`)}`);
        expect("CPU", await page.textContent("[data-usage-value=cpu]"), /^\d+\.\d % of one CPU$/);
        for (const key of ["memory", "tasks"]) {
            if (shown[key] === "unset") {
                expect(key, await page.textContent(`[data-usage-value=${key}]`), /^Not measured/);
                continue;
            }
            const points = Number(await page.getAttribute(`[data-usage-graph=${key}]`, "data-points"));
            if (points < 3 || !(Number(shown[key]) > 0))
                throw new Error(`${key}: ${shown[key]}, its graph has ${points} points`);
        }
        await axeEverywhere(page, "the usage tab");
        say(`USAGE memory=${shown.memory} tasks=${shown.tasks} cpu=${shown.cpu} nsec=${shown.cpuNsec}`);
    },

    // Generations: the table, Switch to (cancel keeps it, confirm switches).
    async "generations"(page, name, count, target, system) {
        await openTab(page, name, "generations");
        const rows = await page.$$("#detail-panel tr[data-generation-row]");
        expect("rows", String(rows.length), count);
        await wait(page, "#detail-panel tr[data-current=true] .pf-v6-c-label");
        noJson("the generations", await panelText(page));
        await axeEverywhere(page, "the generations tab");
        const switchButton = `#detail-panel tr[data-generation-row="${target}"] [data-action=switch-generation]`;

        // Another container comes and goes (every container's change renders the page): the
        // table is not rebuilt, the focus stays on its button.
        await page.focus(switchButton);
        await page.$eval(switchButton, node => { node.dataset.probe = "same node" });
        const call = (...words) => busctl("call", "org.nixos.Containers", "/org/nixos/Containers",
                                          "org.nixos.Containers", ...words);
        call("Create", "sa{sv}", "gx", "1", "SystemPath", "s", system);
        await wait(page, 'tr[data-container="gx"]', { state: "attached" });
        call("Destroy", "s", "gx");
        await wait(page, 'tr[data-container="gx"]', { state: "detached" });
        expect("the focus after two renders", await page.evaluate(() => document.activeElement.dataset.probe || ""),
               "same node");

        await page.click(switchButton);
        await wait(page, "dialog[open] [data-action=cancel-switch]");
        expect("the dialog's focus", await page.evaluate(() => document.activeElement.dataset.action), "cancel-switch");
        await axeClean(page, "the switch dialog");
        await page.click("[data-action=cancel-switch]");
        await wait(page, "dialog.detail-dialog", { state: "detached" });
        await wait(page, `#detail-panel tr[data-generation-row="${target}"][data-current=false]`);
        await page.click(switchButton);
        await page.click("[data-action=confirm-switch]");
        await wait(page, `#detail-panel tr[data-generation-row="${target}"][data-current=true]`);
        say(`generation ${target} is current`);
    },

    // A declarative container: Edit and the generations' switch disabled, with the reason.
    async "declarative"(page, name, target) {
        await openTab(page, name, "generations");
        await wait(page, "[data-action=edit]:disabled");
        const row = `#detail-panel tr[data-generation-row="${target}"]`;
        await wait(page, `${row} [data-action=switch-generation]:disabled`);
        expect("the reason", (await page.textContent(`${row} .detail-hint`)).trim(), /declarative/i);
        await clickTab(page, "overview");
        expect("Declarative", await value(page, "Declarative"), "Yes");
        await axeEverywhere(page, "a declarative container");
    },

    // A user the service refuses: the generation stays.
    async "generations-denied"(page, name, target) {
        await openTab(page, name, "generations");
        // The service's GetPermissions says so before any click: disabled, saying why.
        const switchButton = `#detail-panel tr[data-generation-row="${target}"] [data-action=switch-generation]`;
        await wait(page, `${switchButton}:disabled`);
        const why = await page.textContent(`#detail-gen-why-${target}`);
        if (!/not allowed/.test(why))
            throw new Error(`the refused switch says "${why}", not that it is not allowed`);
        say(`disabled: ${why}`);
        await wait(page, `#detail-panel tr[data-generation-row="${target}"][data-current=false]`);
        await axeEverywhere(page, "the generations tab, refused");
    },

    // The terminal: a real one (xterm.js) on a pty: output, Ctrl-C, line
    // editing with arrows, the size following the page, Disconnect.
    async "terminal"(page, name) {
        await openTab(page, name, "terminal");
        await wait(page, ".xterm-rows");
        await page.click("[data-action=connect-terminal]");
        await wait(page, "[data-terminal-status=connected]");
        if (!await page.evaluate(() => document.activeElement?.classList.contains("xterm-helper-textarea")))
            throw new Error("the focus is not in the terminal");
        await terminalShows(page, /#\s*$/);
        await page.keyboard.type("echo term-$((6*7)) $(id -u)\n");
        await terminalShows(page, /^term-42 0/);
        // The payload's /bin/sh edits no lines: bash (the host's /usr, bound) does.
        await page.keyboard.type("exec bash --norc --noprofile\n");
        await terminalShows(page, /^bash-[0-9.]+#\s*$/);

        // Ctrl-C reaches the shell's foreground job.
        await page.keyboard.type("sleep 30\n");
        await terminalShows(page, /sleep 30\s*$/);
        const prompts = await promptCount(page);
        const interrupted = Date.now();
        await page.keyboard.press("Control+C");
        await page.waitForFunction(n => [...document.querySelectorAll(".xterm-rows > div")]
                .filter(row => /#\s*$/.test(row.textContent.replace(/\u00a0/g, " "))).length > n, prompts, { timeout: 10000 });
        say(`Ctrl-C: the prompt is back after ${Date.now() - interrupted} ms`);

        // Escape sequences: arrows edit the line.
        await page.keyboard.type("echo abc");
        await page.keyboard.press("ArrowLeft");
        await page.keyboard.press("ArrowLeft");
        await page.keyboard.type("X");
        await page.keyboard.press("Enter");
        // The cursor was after "c": two steps left is before "b".
        await terminalShows(page, /^aXbc\s*$/);
        // UTF-8 across the pty's reads: 4000 two-byte characters, once shifted by one byte, so that
        // some read ends inside one. xterm.js decodes the bytes as one stream: no U+FFFD.
        await page.keyboard.type("for s in '' x; do printf \"$s\"; printf '\\303\\251%.0s' $(seq 4000); echo; done; echo utf8-done\n");
        await terminalShows(page, /^utf8-done\s*$/);
        const shown = await terminalText(page);
        if (shown.includes("\ufffd") || !shown.includes("ééééé"))
            throw new Error(`UTF-8 split across reads shows wrongly: ${shown.slice(-400)}`);
        say("4000 é twice, split across reads: no U+FFFD");
        await axeEverywhere(page, "the terminal, connected");

        // A smaller window: the pty follows.
        const before = await page.getAttribute("[data-terminal]", "data-size");
        await page.setViewportSize(VIEWPORTS.phone);
        await page.waitForFunction(old => document.querySelector("[data-terminal]").dataset.size !== old, before,
                                   { timeout: STEP_MS });
        const size = await page.getAttribute("[data-terminal]", "data-size");
        await page.keyboard.type("stty size\n");
        await terminalShows(page, new RegExp(`^${size}\\s*$`));
        say(`stty size after the resize: ${size}`);
        await noOverflow(page, "the terminal at phone width");

        await page.click("[data-action=connect-terminal]");
        await wait(page, "[data-terminal-status=disconnected]");
        await wait(page, "[data-action=connect-terminal]:enabled");
        if (processes(`nixos-container root-login ${name}`))
            throw new Error("root-login outlived Disconnect");
    },

    // A user the service would refuse a shell: Connect is disabled, saying why.
    async "terminal-denied"(page, name) {
        await openTab(page, name, "terminal");
        // GetPermissions says so before any click: Connect disabled, saying why.
        await wait(page, "[data-action=connect-terminal]:disabled");
        const why = await page.textContent("[data-terminal-reason]");
        if (!/not allowed/.test(why))
            throw new Error(`the refused terminal says "${why}", not that it is not allowed`);
        say(`Connect is disabled: ${why}`);
        await axeEverywhere(page, "the terminal, refused");
    },
};

runScenarios(Object.fromEntries(Object.entries(scenarios).map(([scenario, run]) => [
    scenario, (page, givenPort, ...args) => {
        port = givenPort;
        return run(page, ...args);
    },
])), "detail_scenarios.mjs");
