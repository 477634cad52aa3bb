/* CPU, memory and tasks of the container's unit, read from systemd's own
 * unit object on the system bus every 2 s while the tab is open, and drawn
 * over the last 5 minutes as inline SVG.
 *
 * usageView(c) -> { node, close() } */
import { element } from "../dom.js";
import { alert, bytes, unsetU64 } from "./pf.js";

export const SAMPLE_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000;
const KEEP = WINDOW_MS / SAMPLE_MS + 1;
const SVG = "http://www.w3.org/2000/svg";

let systemd = null;
function systemdClient() {
    if (!systemd) {
        systemd = cockpit.dbus("org.freedesktop.systemd1", { bus: "system" });
        systemd.addEventListener("close", () => { systemd = null });
    }
    return systemd;
}

function svg(tag, attributes) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attributes))
        node.setAttribute(key, String(value));
    return node;
}

// One metric: its heading, its current value in words and a graph of the window.
function metric(key, title) {
    const value = element("p", { className: "detail-usage-value", "data-usage-value": key, text: "—" });
    const graph = svg("svg", {
        class: "detail-usage-graph", viewBox: "0 0 300 60", preserveAspectRatio: "none",
        role: "img", "aria-label": `${title} over the last 5 minutes`, "data-usage-graph": key,
    });
    const area = svg("path", { class: "detail-usage-area", d: "" });
    const line = svg("polyline", { class: "detail-usage-line", points: "" });
    graph.append(svg("line", { class: "detail-usage-axis", x1: 0, y1: 59.5, x2: 300, y2: 59.5 }), area, line);
    const card = element("section", { className: "pf-v6-c-card pf-m-compact detail-usage-card", "aria-label": title },
                         element("div", { className: "pf-v6-c-card__title" },
                                 element("h3", { className: "pf-v6-c-card__title-text", text: title })),
                         element("div", { className: "pf-v6-c-card__body detail-usage-body" }, value, graph));
    return {
        card,
        show(text, samples, scale) {
            value.textContent = text;
            const now = Date.now();
            const points = samples.filter(([, v]) => v !== null)
                    .map(([t, v]) => [300 - (now - t) / WINDOW_MS * 300, 58 - Math.min(1, v / scale) * 56]);
            line.setAttribute("points", points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "));
            area.setAttribute("d", points.length
                ? `M${points[0][0].toFixed(1)},59 ` + points.map(([x, y]) => `L${x.toFixed(1)},${y.toFixed(1)}`).join(" ") +
                  ` L${points[points.length - 1][0].toFixed(1)},59 Z`
                : "");
            graph.dataset.points = String(points.length);
        },
    };
}

function niceScale(max, floor) {
    let scale = floor;
    while (scale < max)
        scale *= 2;
    return scale;
}

export function usageView(c) {
    const unit = c.Unit;
    const cpu = metric("cpu", "CPU");
    const memory = metric("memory", "Memory");
    const tasks = metric("tasks", "Tasks");
    const problem = element("div", { "data-usage-problem": "" });
    const node = element("div", { className: "detail-usage", "data-usage": c.Name },
                         problem,
                         element("div", { className: "detail-usage-cards" }, cpu.card, memory.card, tasks.card));
    const samples = { cpu: [], memory: [], tasks: [] };
    let previous = null; // [time, CPUUsageNSec]
    let path = null;
    let timer = null;
    let closed = false;

    function record(key, time, value) {
        samples[key].push([time, value]);
        if (samples[key].length > KEEP)
            samples[key].shift();
    }

    function showProblem(text) {
        problem.replaceChildren(alert("warning", text));
    }

    async function sample() {
        const bus = systemdClient();
        if (!path)
            [path] = await bus.call("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "LoadUnit", [unit]);
        const [props] = await bus.call(path, "org.freedesktop.DBus.Properties", "GetAll", ["org.freedesktop.systemd1.Service"]);
        if (closed)
            return;
        const get = name => props[name] ? props[name].v : undefined;
        const time = Date.now();
        const nsec = get("CPUUsageNSec");
        if (unsetU64(nsec)) {
            record("cpu", time, null);
            cpu.show("Not measured (CPU accounting is off for this unit)", samples.cpu, 100);
            node.dataset.cpu = "unset";
        } else {
            if (previous && time > previous[0])
                record("cpu", time, Math.max(0, (nsec - previous[1]) / 1e6 / (time - previous[0]) * 100));
            previous = [time, nsec];
            const last = samples.cpu.length ? samples.cpu[samples.cpu.length - 1][1] : null;
            const peak = Math.max(0, ...samples.cpu.map(([, v]) => v || 0));
            cpu.show(last === null ? "Measuring…" : `${last.toFixed(1)} % of one CPU`, samples.cpu, niceScale(peak, 100));
            node.dataset.cpu = "measured";
            node.dataset.cpuNsec = String(nsec);
        }
        const current = get("MemoryCurrent");
        const max = get("MemoryMax");
        if (unsetU64(current)) {
            memory.show("Not measured (no memory accounting for this unit)", samples.memory, 1);
            node.dataset.memory = "unset";
        } else {
            record("memory", time, current);
            const limit = unsetU64(max) ? null : max;
            const peak = Math.max(...samples.memory.map(([, v]) => v || 0));
            memory.show(limit ? `${bytes(current)} of ${bytes(limit)}` : bytes(current), samples.memory,
                        limit || niceScale(peak, 64 * 1024 * 1024));
            node.dataset.memory = String(current);
        }
        const count = get("TasksCurrent");
        if (unsetU64(count)) {
            tasks.show("Not measured (no task accounting for this unit)", samples.tasks, 1);
            node.dataset.tasks = "unset";
        } else {
            record("tasks", time, count);
            tasks.show(`${count} ${count === 1 ? "task" : "tasks"}`, samples.tasks,
                       niceScale(Math.max(...samples.tasks.map(([, v]) => v || 0)), 8));
            node.dataset.tasks = String(count);
        }
        if (running)
            problem.replaceChildren();
    }

    function tick() {
        sample()
                .catch(error => showProblem(`Usage cannot be read from systemd: ${error.message || error}`))
                .finally(() => {
                    if (!closed)
                        timer = window.setTimeout(tick, SAMPLE_MS);
                });
    }

    const running = Boolean(unit) && ["running", "starting"].includes(c.State);
    if (!running)
        showProblem("The container is not running.");
    tick();
    return {
        node,
        close() {
            closed = true;
            window.clearTimeout(timer);
        },
    };
}
