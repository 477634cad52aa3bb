// What every browser scenario file shares: the page's address, the
// viewports and themes the tier covers, axe-core, and the runner that
// launches Debian's chromium, runs one scenario and keeps a screenshot of a
// failure.
//
//   runScenarios(scenarios)   node FILE.mjs SCENARIO PORT [ARGS...]
//
// Exit status 0 when the scenario held. Every wait is on a DOM condition
// (never a sleep) and ends at STEP_MS. On failure a screenshot of the page
// is kept in $SCREENSHOT_DIR (SCENARIO-failed.png), and with
// SCREENSHOT=FILE one is taken at the end in any case.
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

export const STEP_MS = Number(process.env.STEP_MS || 30000);

// The two screens the page must serve: a laptop and a phone.
export const VIEWPORTS = {
    desktop: { width: 1280, height: 800 },
    phone: { width: 390, height: 844 },
};

export function pageUrl(port, path = "") {
    return `http://127.0.0.1:${port}/cockpit/@localhost/nixos-containers/index.html${path ? "#/" + path : ""}`;
}

export function busctl(...words) {
    return execFileSync("busctl", ["--timeout=60", ...words], { encoding: "utf8" });
}

// Cockpit's shell keeps its style in localStorage ("shell:style": auto, light
// or dark); a page follows it. Call before the page loads.
export async function useTheme(page, theme) {
    await page.addInitScript(style => localStorage.setItem("shell:style", style), theme);
    await page.emulateMedia({ colorScheme: theme === "dark" ? "dark" : "light" });
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

// axe-core's WCAG 2 A and AA rules on the page as it is now; throws with each
// violation (rule, impact, the nodes' selectors) when there is one.
export async function expectAxeClean(page, what) {
    // Evaluated through the devtools protocol: the page's CSP (Cockpit's:
    // no inline scripts) forbids a <script> tag with it.
    if (!await page.evaluate(() => Boolean(window.axe)))
        await page.evaluate(axeSource);
    const result = await page.evaluate(() => window.axe.run(document, {
        runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    }));
    if (result.violations.length) {
        const lines = result.violations.map(v =>
            `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")}`);
        throw new Error(`axe-core, ${what}: ${lines.join(" | ")}`);
    }
}

export function runScenarios(scenarios, file) {
    const [scenario, port, ...args] = process.argv.slice(2);
    const run = scenarios[scenario];
    if (!run || !port) {
        process.stderr.write(`usage: ${file} {${Object.keys(scenarios).join(",")}} PORT [ARGS...]\n`);
        process.exit(2);
    }
    main(scenario, run, port, args).catch(error => {
        process.stderr.write(`${scenario}: ${error.stack || error}\n`);
        process.exit(1);
    });
}

async function main(scenario, run, port, args) {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
        // Root in the sandbox's namespaces: chromium's own sandbox cannot nest.
        args: ["--no-sandbox", "--disable-dev-shm-usage"],
    });
    // A context of its own, so that a scenario can open a second frame of
    // the same origin (the shell's other frames share its localStorage).
    const context = await browser.newContext({ viewport: VIEWPORTS.desktop });
    const page = await context.newPage();
    const problems = [];
    page.on("console", message => {
        if (message.type() === "error")
            problems.push(message.text());
    });
    page.on("pageerror", error => problems.push(String(error)));
    let failed = null;
    try {
        await run(page, port, ...args);
        // A CSP violation or a script error is a failure even when the
        // scenario's DOM conditions held.
        const fatal = problems.filter(p => /Content Security Policy|Uncaught|TypeError|ReferenceError/.test(p));
        if (fatal.length)
            throw new Error("page errors: " + fatal.join(" | "));
    } catch (error) {
        failed = error;
    }
    const dir = process.env.SCREENSHOT_DIR;
    if (failed && dir) {
        mkdirSync(dir, { recursive: true });
        await page.screenshot({ path: join(dir, `${scenario}-failed.png`), fullPage: true }).catch(() => {});
    }
    if (process.env.SCREENSHOT)
        await page.screenshot({ path: process.env.SCREENSHOT });
    await browser.close();
    if (failed) {
        process.stderr.write(`${scenario}: ${failed.stack || failed}\n`);
        if (problems.length)
            process.stderr.write(`console: ${problems.join("\n  ")}\n`);
        process.exit(1);
    }
}

export async function useViewport(page, name) {
    await page.setViewportSize(VIEWPORTS[name]);
}

// Nothing wider than the viewport: no horizontal scrolling (the phone's test).
export async function expectNoOverflow(page, what) {
    const [scroll, width] = await page.evaluate(() => [document.scrollingElement.scrollWidth, window.innerWidth]);
    if (scroll > width)
        throw new Error(`${what}: the page is ${scroll} px wide in a ${width} px viewport`);
}

// The element's box lies within the viewport's width (a long text wraps).
export async function expectWithinViewport(page, selector, what) {
    const box = await page.$eval(selector, node => {
        const r = node.getBoundingClientRect();
        return { left: r.left, right: r.right, width: window.innerWidth };
    });
    if (box.left < 0 || box.right > box.width)
        throw new Error(`${what}: ${selector} spans ${box.left}..${box.right} in a ${box.width} px viewport`);
}

// A toast (PatternFly's alert group) of KIND whose text includes TEXT.
export async function expectToast(page, kind, text) {
    await page.waitForFunction(([k, t]) => [...document.querySelectorAll(`[data-toasts] [data-toast="${k}"]`)]
        .some(node => node.textContent.includes(t)), [kind, text], { timeout: STEP_MS });
}
