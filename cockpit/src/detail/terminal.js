/* A real terminal (xterm.js) on a pty channel: the CLI's root-login, which
 * asks the service for the container's shell (OpenShell) as this user.
 * Bytes in both directions (xterm.js decodes UTF-8 across chunks), the pty
 * follows the terminal's size.
 *
 * terminalView(name, { allowed, reason }) -> { node, close() } */
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import { element } from "../dom.js";
import { button, setButtonText } from "./pf.js";

// xterm.js's colours, from the page's theme (PatternFly's tokens, read once per terminal).
function themeColours(host) {
    const style = getComputedStyle(host);
    const token = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    return {
        background: token("--pf-t--global--background--color--secondary--default", "#f2f2f2"),
        foreground: token("--pf-t--global--text--color--regular", "#151515"),
        cursor: token("--pf-t--global--text--color--regular", "#151515"),
        selectionBackground: token("--pf-t--global--color--brand--default", "#0066cc") + "66",
    };
}

export function terminalView(name, { allowed = true, reason = "" } = {}) {
    const connect = button("Connect", { "data-action": "connect-terminal", "aria-label": `Connect a root shell in ${name}` });
    const status = element("p", { className: "detail-terminal-status", role: "status", "data-terminal-status": "disconnected",
                                   text: "Disconnected." });
    const host = element("div", { className: "detail-terminal", "data-terminal": name });
    const why = element("p", { className: "detail-hint", "data-terminal-reason": "", id: `detail-terminal-why-${name}` });
    const node = element("div", { className: "detail-terminal-view" },
                         element("div", { className: "detail-toolbar" }, connect, status), why, host);

    // Whether Connect is offered (the container runs, the service would allow it).
    function offer(allowedNow, reasonNow) {
        why.textContent = reasonNow;
        why.hidden = !reasonNow;
        if (reasonNow)
            connect.setAttribute("aria-describedby", why.id);
        else
            connect.removeAttribute("aria-describedby");
        if (!channel)
            connect.disabled = !allowedNow;
    }

    let term = null;
    let fit = null;
    let channel = null;
    let observer = null;
    // The theme (PatternFly's class on <html>, set by the page from Cockpit's style) may change.
    const themeWatch = new MutationObserver(() => {
        if (term)
            term.options.theme = themeColours(host);
    });
    themeWatch.observe(document.documentElement, { attributes: true, attributeFilter: ["class"] });
    const encoder = new TextEncoder();

    function setStatus(state, text) {
        status.dataset.terminalStatus = state;
        status.textContent = text;
        node.dataset.connected = state === "connected" ? "true" : "false";
    }

    function ensureTerminal() {
        if (term)
            return;
        term = new Terminal({
            fontFamily: "\"Red Hat Mono\", \"DejaVu Sans Mono\", monospace",
            fontSize: 14,
            scrollback: 2000,
            screenReaderMode: false,
            theme: themeColours(host),
        });
        fit = new FitAddon();
        term.loadAddon(fit);
        term.open(host);
        const textarea = host.querySelector("textarea");
        if (textarea)
            textarea.setAttribute("aria-label", `Terminal of ${name}`);
        fit.fit();
        term.onData(data => {
            if (channel)
                channel.send(encoder.encode(data));
        });
        term.onBinary(data => {
            if (channel)
                channel.send(Uint8Array.from(data, ch => ch.charCodeAt(0) & 255));
        });
        term.onResize(({ rows, cols }) => {
            if (channel)
                channel.control({ window: { rows, cols } });
            host.dataset.size = `${rows} ${cols}`;
        });
        host.dataset.size = `${term.rows} ${term.cols}`;
        observer = new ResizeObserver(() => {
            try {
                fit.fit();
            } catch (e) { /* hidden: no size to fit */ }
        });
        observer.observe(host);
    }

    function disconnect(text = "Disconnected.") {
        if (channel) {
            const old = channel;
            channel = null;
            if (old.valid)
                old.close();
        }
        setButtonText(connect, "Connect");
        connect.setAttribute("aria-label", `Connect a root shell in ${name}`);
        setStatus("disconnected", text);
    }

    function open() {
        ensureTerminal();
        term.reset();
        channel = cockpit.channel({
            payload: "stream",
            spawn: ["nixos-container", "root-login", name],
            pty: true,
            binary: true,
            err: "out",
            environ: ["TERM=xterm-256color"],
            window: { rows: term.rows, cols: term.cols },
        });
        const mine = channel;
        mine.addEventListener("message", (event, data) => term.write(data));
        mine.addEventListener("close", (event, options) => {
            if (channel !== mine)
                return;
            const why = options.problem ? ` (${options.message || cockpit.message(options)})` : "";
            term.write("\r\n[disconnected]\r\n");
            disconnect("Disconnected" + why + ".");
        });
        setButtonText(connect, "Disconnect");
        connect.setAttribute("aria-label", `Disconnect the shell in ${name}`);
        setStatus("connected", "Connected.");
        term.focus();
    }

    offer(allowed, reason);
    connect.addEventListener("click", () => (channel ? disconnect() : open()));

    return {
        node,
        close() {
            disconnect();
            themeWatch.disconnect();
            if (observer)
                observer.disconnect();
            if (term)
                term.dispose();
            term = null;
        },
        offer,
        // Once the node is in the page: the terminal needs its size.
        attached() {
            ensureTerminal();
        },
        // The test reads what the terminal shows through the DOM; this is for people.
        focus() {
            if (term)
                term.focus();
        },
    };
}
