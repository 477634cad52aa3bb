/* The container page's read-only sections: overview, network, mounts and
 * limits, from the container object's properties, in words. */
import { element } from "../dom.js";
import { descriptionList, lines, localTime, stateLabel, yesNo } from "./pf.js";

/* ------------------------------------------------------------ owners --- */

// uid -> user name, from /etc/passwd (world-readable; a tenant's bridge reads it too).
const userNames = new Map();
let passwdAsked = false;

export function namesKnown() {
    return userNames.size;
}

export function ownerName(uid, rerender) {
    if (!passwdAsked) {
        passwdAsked = true;
        cockpit.file("/etc/passwd").read()
                .then(text => {
                    for (const line of (text || "").split("\n")) {
                        const [name, , id] = line.split(":");
                        if (name && /^\d+$/.test(id || ""))
                            userNames.set(Number(id), name);
                    }
                    rerender();
                })
                .catch(() => {});
    }
    const name = userNames.get(uid);
    return name ? `${name} (${uid})` : `uid ${uid}`;
}

/* ------------------------------------------------------------ words --- */

// systemd's Result values, as a user reads them.
const RESULTS = {
    "exit-code": "its main process (systemd-nspawn) exited with an error",
    signal: "its main process was killed by a signal",
    "core-dump": "its main process dumped core",
    timeout: "it did not start or stop in time",
    watchdog: "its watchdog timed out",
    resources: "systemd could not set up its resources",
    "start-limit-hit": "it was started too often in a short time",
    protocol: "its main process broke the service protocol",
    "oom-kill": "it ran out of memory and was killed",
    "exec-condition": "a start condition failed",
};

export function resultInWords(result) {
    return RESULTS[result] ? `${RESULTS[result]} (${result})` : result || "unknown";
}

export function portsInWords(ports) {
    return (ports || []).map(([protocol, host, container]) => `${host} → ${container}/${protocol || "tcp"}`);
}

export function source(c) {
    if (c.Flake)
        return ["Flake", c.Flake];
    if (c.ConfigFile)
        return ["Configuration file", c.ConfigFile];
    if (c.Config)
        return ["Configuration", "a Nix expression"];
    return null;
}

/* ------------------------------------------------------------ sections --- */

export function overview(c, rerender) {
    const stopped = !c.Timestamp || ["stopped", "failed"].includes(c.State);
    const src = source(c);
    return descriptionList([
        ["State", stateLabel(c.State), "State"],
        ["Owner", ownerName(c.Owner || 0, rerender), "Owner"],
        ["Addresses", lines(c.Addresses || []) || "None", "Addresses"],
        ["Forwarded ports", lines(portsInWords(c.ForwardPorts)) || "None", "ForwardPorts"],
        ["Unit", c.Unit, "Unit"],
        ["Unit result", c.State === "failed" ? resultInWords(c.UnitResult) : null, "UnitResult"],
        ["Started at", stopped ? "—" : localTime(c.Timestamp), "Timestamp"],
        ["Main process", c.Leader ? String(c.Leader) : null, "Leader"],
        ["System", c.SystemPath || null, "SystemPath"],
        src ? [src[0], src[1], "Source"] : [null, null],
        ["Operating system", c.OSRelease && c.OSRelease.PRETTY_NAME ? c.OSRelease.PRETTY_NAME : null, "OSRelease"],
        ["Declarative", yesNo(c.Declarative), "Declarative"],
        ["Starts at boot", yesNo(c.AutoStart), "AutoStart"],
        ["Ephemeral", yesNo(c.Ephemeral), "Ephemeral"],
        ["Start timeout", c.TimeoutStartSec, "TimeoutStartSec"],
        ["Broken configuration", c.Broken || null, "Broken"],
    ], "Overview");
}

function veths(extra) {
    return Object.entries(extra || {}).map(([name, settings]) => {
        const parts = Object.entries(settings).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`);
        return parts.length ? `${name}: ${parts.join(", ")}` : name;
    });
}

export function network(c) {
    return descriptionList([
        ["Private network", yesNo(c.PrivateNetwork), "PrivateNetwork"],
        ["Addresses", lines(c.Addresses || []), "Addresses"],
        ["Host address", c.HostAddress, "HostAddress"],
        ["Local address", c.LocalAddress, "LocalAddress"],
        ["Host bridge", c.HostBridge, "HostBridge"],
        ["Host interface", c.HostInterface, "HostInterface"],
        ["MAC address", c.LocalMacAddress, "LocalMacAddress"],
        ["Forwarded ports", lines(portsInWords(c.ForwardPorts)), "ForwardPorts"],
        ["Interfaces", lines(c.Interfaces || []), "Interfaces"],
        ["Macvlans", lines(c.Macvlans || []), "Macvlans"],
        ["Extra veths", lines(veths(c.ExtraVeths)), "ExtraVeths"],
        ["Network namespace", c.NetworkNamespace, "NetworkNamespace"],
        ["Copies the host's resolv.conf", c.CopyResolvConf === undefined ? null : yesNo(c.CopyResolvConf), "CopyResolvConf"],
    ], "Network");
}

export function mounts(c) {
    const binds = (c.BindMounts || []).map(([mountPoint, hostPath, readOnly]) =>
        `${hostPath || mountPoint} → ${mountPoint} (${readOnly ? "read-only" : "read-write"})`);
    return element("div", {},
                   element("h3", { className: "detail-subtitle", text: "Bind mounts" }),
                   descriptionList(binds.map((text, i) => [`Bind mount ${i + 1}`, text, `BindMount${i}`]), "Bind mounts"),
                   element("h3", { className: "detail-subtitle", text: "tmpfs" }),
                   descriptionList((c.Tmpfs || []).map((path, i) => [`tmpfs ${i + 1}`, path, `Tmpfs${i}`]), "tmpfs mounts"));
}

export function limits(c) {
    const devices = (c.AllowedDevices || []).map(([node, modifier]) => modifier ? `${node} (${modifier})` : node);
    return descriptionList([
        ["Memory maximum", c.MemoryMax, "MemoryMax"],
        ["Memory high", c.MemoryHigh, "MemoryHigh"],
        ["CPU weight", c.CPUWeight, "CPUWeight"],
        ["CPU quota", c.CPUQuota, "CPUQuota"],
        ["Tasks maximum", c.TasksMax, "TasksMax"],
        ["IO weight", c.IOWeight, "IOWeight"],
        ["Private users", c.PrivateUsers && c.PrivateUsers !== "no" ? c.PrivateUsers : null, "PrivateUsers"],
        ["Additional capabilities", lines(c.AdditionalCapabilities || []), "AdditionalCapabilities"],
        ["Allowed devices", lines(devices), "AllowedDevices"],
        ["/dev/net/tun", c.EnableTun ? "Yes" : null, "EnableTun"],
        ["Extra nspawn flags", lines(c.ExtraFlags || []), "ExtraFlags"],
    ], "Limits");
}
