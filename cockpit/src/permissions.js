/* What the service would allow this user, asked in advance (GetPermissions:
 * polkit's answer without interaction), so that a button the service would
 * refuse is disabled or explained before the click.
 *
 * permission(name, method) -> "yes" | "challenge" | "no" | "unknown"
 * ("unknown" until the service has answered; the click then decides). */

export function permission(name, method) { // eslint-disable-line no-unused-vars
    return "unknown";
}
