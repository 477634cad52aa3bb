/* The service on the bus, shared by every view: its names, the client, the
 * container proxies (client.proxies over its ObjectManager, so everything
 * follows PropertiesChanged and InterfacesAdded/Removed without polling), and
 * how a failed call reads. */

export const BUS_NAME = "org.nixos.Containers";
export const MANAGER_PATH = "/org/nixos/Containers";
export const MANAGER_IF = "org.nixos.Containers";
export const CONTAINER_IF = "org.nixos.Containers.Container";
export const SERVICE_ERROR = "org.nixos.Containers.Error.";
export const ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied";
export const AUTH_REQUIRED = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired";
// The service's own name rule (service/core/validation.cpp, validateName).
export const MAX_NAME_LENGTH = 64;
export const SOURCES = ["SystemPath", "Config", "Flake"];

export const client = cockpit.dbus(BUS_NAME, { bus: "system" });
export const containers = client.proxies(CONTAINER_IF, MANAGER_PATH);

/* ------------------------------------------------------------ errors --- */

// The text a user sees for a failed call: polkit's two answers in the words
// Cockpit users know, the service's named errors with their own message.
export function describeError(error) {
    const name = error && error.name ? error.name : "";
    const message = error && error.message ? error.message : String(error);
    if (name === ACCESS_DENIED)
        return { kind: "denied", text: "Not authorized: " + message };
    if (name === AUTH_REQUIRED)
        return {
            kind: "challenge",
            text: "Authentication is required for this action. Polkit wants your password, " +
                  "which this page does not ask for: use nixos-container in a terminal, or ask an administrator.",
        };
    if (name.startsWith(SERVICE_ERROR))
        return { kind: name.slice(SERVICE_ERROR.length), text: message };
    if (error && error.problem)
        return { kind: error.problem, text: "Cannot reach the containers service: " + message };
    return { kind: "error", text: message };
}

/* ------------------------------------------------------------ values --- */

export function containerOf(proxy) {
    return proxy && proxy.valid !== false ? proxy : null;
}

export function sortedContainers() {
    return Object.values(containers)
            .filter(p => containerOf(p) && typeof p.Name === "string")
            .sort((a, b) => a.Name.localeCompare(b.Name));
}

export function findContainer(name) {
    return sortedContainers().find(c => c.Name === name) || null;
}
