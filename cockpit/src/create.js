/* The Create form. */
import { MANAGER_IF, MANAGER_PATH, MAX_NAME_LENGTH, SOURCES, client, describeError } from "./bus.js";
import { $ } from "./dom.js";

export const form = $("[data-create-form]");

function selectedSource() {
    return form.elements.source.value;
}

export function showSourceInput() {
    for (const source of SOURCES)
        form.elements[source].hidden = source !== selectedSource();
}

function setFieldError(field, text) {
    const target = $(`[data-error-for="${field}"]`, form);
    target.textContent = text || "";
    target.hidden = !text;
    const box = $(`[data-field="${field}"]`, form);
    if (box)
        box.classList.toggle("has-error", Boolean(text));
}

export function clearErrors() {
    for (const field of ["name", "source", "PrivateNetwork", "form"])
        setFieldError(field, "");
}

// The checks the service makes first, so that most mistakes are caught
// before a call; the service's own answer still decides (see fieldOf).
function validateLocally(name, source, value) {
    const errors = {};
    if (name === "")
        errors.name = "A name is required.";
    else if (name.length > MAX_NAME_LENGTH)
        errors.name = `The name is ${name.length} characters long; the limit is ${MAX_NAME_LENGTH}.`;
    else if (!/^[A-Za-z0-9-]+$/.test(name))
        errors.name = "Use only letters, digits and '-'.";
    else if (name.startsWith("-") || name.endsWith("-"))
        errors.name = "The name cannot start or end with '-'.";
    if (value.trim() === "")
        errors.source = "Say which system the container runs.";
    else if (source === "SystemPath" && !value.startsWith("/"))
        errors.source = "SystemPath must be an absolute path.";
    return errors;
}

// The service's messages begin with what they are about ("name 'x' …",
// "SystemPath '/…' has no init"): that decides the field shown beside.
function fieldOf(message) {
    if (/^name\b/.test(message))
        return "name";
    for (const source of SOURCES)
        if (message.startsWith(source))
            return "source";
    if (message.startsWith("PrivateNetwork"))
        return "PrivateNetwork";
    return "form";
}

function appendBuildOutput(line) {
    const output = $("[data-build-output]");
    output.hidden = false;
    output.textContent += line + "\n";
    output.scrollTop = output.scrollHeight;
}

export async function submitCreate(event) {
    event.preventDefault();
    clearErrors();
    const name = form.elements.name.value.trim();
    const source = selectedSource();
    const value = form.elements[source].value;
    const local = validateLocally(name, source, value);
    for (const [field, text] of Object.entries(local))
        setFieldError(field, text);
    if (Object.keys(local).length)
        return;

    const spec = {
        [source]: { t: "s", v: value.trim() },
        PrivateNetwork: { t: "b", v: form.elements.PrivateNetwork.checked },
    };
    const submit = $("[data-action=create]", form);
    submit.disabled = true;
    submit.dataset.busy = "true";
    submit.textContent = source === "SystemPath" ? "Creating…" : "Building…";
    const output = $("[data-build-output]");
    output.textContent = "";
    output.hidden = true;
    // BuildOutput is sent to the caller alone: this page's connection.
    const subscription = client.subscribe({ interface: MANAGER_IF, member: "BuildOutput" },
                                          (path, iface, signal, [container, line]) => {
                                              if (container === name)
                                                  appendBuildOutput(line);
                                          });
    try {
        await client.call(MANAGER_PATH, MANAGER_IF, "Create", [name, spec], { type: "sa{sv}" });
        form.reset();
        showSourceInput();
        cockpit.location.go([]);
    } catch (error) {
        const described = describeError(error);
        setFieldError(described.kind === "InvalidArgument" ? fieldOf(described.text) : "form", described.text);
        $(`[data-error-for="${described.kind === "InvalidArgument" ? fieldOf(described.text) : "form"}"]`, form)
                .dataset.errorKind = described.kind;
    } finally {
        subscription.remove();
        submit.disabled = false;
        submit.dataset.busy = "false";
        submit.textContent = "Create";
    }
}
