/* Small DOM helpers: the page builds its nodes itself (no framework). */

export const $ = (selector, root = document) => root.querySelector(selector);

export function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) {
        if (key === "text")
            node.textContent = value;
        else if (key === "className")
            node.className = value;
        else if (value !== undefined && value !== null && value !== false)
            node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children)
        if (child)
            node.append(child);
    return node;
}
