/* The container's journal through the service (OpenLogs, by the CLI's
 * `nixos-container logs` on the bridge's PATH), so a tenant reads its own
 * container's lines without access to the system journal.
 *
 * logView(name, { lines, follow, label }) -> { node, close() } */
import { element } from "../dom.js";
import { alert, button, setButtonText } from "./pf.js";

// The DOM keeps at most this many lines; older ones are dropped.
export const MAX_LINES = 5000;

export function logView(name, { lines = 200, follow = true, label = `Logs of ${name}` } = {}) {
    const region = element("div", {
        className: "detail-log",
        role: "log",
        "aria-label": label,
        "aria-live": follow ? "polite" : "off",
        tabindex: "0",
        "data-log": name,
    });
    const status = element("p", { className: "detail-log-status", role: "status", "data-log-status": "" });
    const problem = element("div", { "data-log-problem": "" });
    let following = follow;
    const toggle = follow
        ? button("Pause", { "data-action": "log-follow", "aria-pressed": "true" })
        : null;
    const node = element("div", { className: "detail-log-view" },
                         toggle ? element("div", { className: "detail-toolbar" }, toggle, status) : status,
                         problem, region);
    if (toggle)
        toggle.addEventListener("click", () => {
            following = !following;
            toggle.setAttribute("aria-pressed", following ? "true" : "false");
            setButtonText(toggle, following ? "Pause" : "Follow");
            if (following)
                region.scrollTop = region.scrollHeight;
        });

    const argv = ["nixos-container", "logs", name, "-n", String(lines)];
    if (follow)
        argv.push("-f");
    const channel = cockpit.channel({ payload: "stream", spawn: argv, err: "message", binary: true });
    const decoder = new TextDecoder("utf-8");
    let partial = "";
    let count = 0;
    status.textContent = follow ? "Following…" : "Loading…";

    function append(text) {
        const parts = (partial + text).split("\n");
        partial = parts.pop();
        if (!parts.length)
            return;
        const fragment = document.createDocumentFragment();
        for (const line of parts)
            fragment.append(element("div", { className: "detail-log-line", text: line }));
        region.append(fragment);
        count += parts.length;
        while (count > MAX_LINES) {
            region.firstChild.remove();
            count--;
        }
        if (following)
            region.scrollTop = region.scrollHeight;
    }

    channel.addEventListener("message", (event, data) => append(decoder.decode(data, { stream: true })));
    channel.addEventListener("close", (event, options) => {
        append(decoder.decode() + (partial ? "\n" : ""));
        const failed = options.problem || options["exit-status"] || options["exit-signal"];
        if (failed && options.problem !== "cancelled") {
            // The CLI's own words, without its name in front.
            const text = (options.message || "").trim().replace(/^nixos-container: /, "") || cockpit.message(options);
            problem.replaceChildren(alert("danger", "The logs cannot be shown",
                                          element("p", { "data-log-refusal": "", text })));
            status.textContent = "";
        } else {
            status.textContent = count ? "" : "No entries.";
        }
        if (toggle)
            toggle.disabled = true;
        node.dataset.ended = "true";
    });

    return {
        node,
        close() {
            if (channel.valid)
                channel.close("cancelled");
        },
    };
}
