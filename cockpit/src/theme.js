/* Cockpit's style, followed live: the shell keeps it in localStorage
 * "shell:style" ("auto", "light" or "dark"; auto follows the system's
 * prefers-color-scheme), and PatternFly 6 draws its dark theme under the
 * class pf-v6-theme-dark on <html>. */

const STYLE_KEY = "shell:style";
const systemDark = window.matchMedia("(prefers-color-scheme: dark)");

function shellStyle() {
    try {
        return localStorage.getItem(STYLE_KEY) || "auto";
    } catch {
        // A page without storage (a sandboxed frame) follows the system.
        return "auto";
    }
}

export function isDark(style = shellStyle()) {
    return style === "dark" || (style !== "light" && systemDark.matches);
}

export function applyTheme(style) {
    document.documentElement.classList.toggle("pf-v6-theme-dark", isDark(style));
}

export function initTheme() {
    applyTheme();
    // Another frame of the shell (its menu) changed the style.
    window.addEventListener("storage", event => {
        if (event.key === null || event.key === STYLE_KEY)
            applyTheme();
    });
    // The shell also tells its frames directly.
    window.addEventListener("cockpit-style", event => applyTheme(event.detail && event.detail.style));
    systemDark.addEventListener("change", () => applyTheme());
}
