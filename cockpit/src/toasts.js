/* Toasts: the result of a long action, seen wherever the user is now.
 *
 * toast({ kind: "success" | "danger" | "warning" | "info", title, text }) */

export function toast({ kind, title, text }) {
    console.info(`[${kind}] ${title}${text ? ": " + text : ""}`);
}
