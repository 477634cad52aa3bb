/* What the service would allow this user, asked in advance (GetPermissions:
 * polkit's answer without interaction), so that a button the service would
 * refuse is disabled and explained before the click.
 *
 * permission(name, method) -> "yes" | "challenge" | "no" | "unknown"
 * ("unknown" until the service has answered, or when it cannot say: the
 * click then decides). Asked once per container, and again when its Owner
 * changes; an answer re-renders the page (setPermissionsRender). Name "" is
 * the manager's own verbs ({"Create": ...}). */
import { MANAGER_IF, MANAGER_PATH, client, findContainer } from "./bus.js";

const UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod";

// name -> { owner, answers: {method: answer} | null }
const cache = new Map();
// False once the service said it has no GetPermissions: an older service.
let supported = true;
let rerender = () => {};

export function setPermissionsRender(fn) {
    rerender = fn;
}

export const REFUSAL = {
    no: "Not authorized",
    challenge: "Needs an administrator's password: use nixos-container in a terminal",
};

// The service asks polkit one check at a time and counts them against the
// caller's pending authorizations: a long list is asked a few at a time.
const MAX_IN_FLIGHT = 2;
const LIMITS_EXCEEDED = "org.nixos.Containers.Error.LimitsExceeded";
const waiting = [];
let inFlight = 0;

function ask(name, entry) {
    waiting.push([name, entry]);
    next();
}

function next() {
    while (inFlight < MAX_IN_FLIGHT && waiting.length) {
        const [name, entry] = waiting.shift();
        if (cache.get(name) !== entry)
            continue;
        inFlight++;
        client.call(MANAGER_PATH, MANAGER_IF, "GetPermissions", [name], { type: "s" })
                .then(([answers]) => {
                    entry.answers = answers || {};
                })
                .catch(error => {
                    if (error && error.name === UNKNOWN_METHOD)
                        supported = false;
                    if (error && error.name === LIMITS_EXCEEDED)
                        setTimeout(() => ask(name, entry), 1000);
                    else
                        entry.answers = {};
                })
                .finally(() => {
                    inFlight--;
                    next();
                    if (cache.get(name) === entry && entry.answers)
                        rerender();
                });
    }
}

export function permission(name, method) {
    if (!supported)
        return "unknown";
    const c = name ? findContainer(name) : null;
    if (name && !c)
        return "unknown";
    const owner = c ? c.Owner : -1;
    let entry = cache.get(name);
    if (!entry || entry.owner !== owner) {
        entry = { owner, answers: null };
        cache.set(name, entry);
        ask(name, entry);
    }
    const answer = entry.answers && entry.answers[method];
    return ["yes", "challenge", "no"].includes(answer) ? answer : "unknown";
}

// A container that went away: a new one of the same name is asked again.
export function forgetPermissions(name) {
    cache.delete(name);
}

// The reason a verb's button is disabled for this user, or "".
export function refusal(name, method) {
    return REFUSAL[permission(name, method)] || "";
}
