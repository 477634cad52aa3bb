#!/usr/bin/env python3
"""Writes docs/api.md from the contract: interfaces/*.xml (methods, their
arguments, doc text and errors, signals, properties, the error catalogue)
and the spec keys' rows as spec-key-rows prints them.

    gen_api_doc.py --interfaces DIR --keys ROWS.json [--out FILE]
"""
import argparse
import json
import re
import sys
import textwrap
import xml.etree.ElementTree as ET

DOC = "{http://www.freedesktop.org/dbus/1.0/doc.dtd}"
MANAGER = "org.nixos.Containers"
CONTAINER = "org.nixos.Containers.Container"
FILES = [(MANAGER, "/org/nixos/Containers"), (CONTAINER, "/org/nixos/Containers/container/NAME")]


def escape(text):
    """Markdown-safe running text: no HTML, no emphasis, no table breaks;
    `code spans` of the doc text are kept as they are."""
    parts = text.split("`")
    for index in range(0, len(parts), 2):
        part = parts[index].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        parts[index] = re.sub(r"([*_|\\])", r"\\\1", part)
    return "`".join(parts)


# "Key type: ..." or "Key type, Key type: ...": a line of Create's key list.
ITEM = re.compile(r"^[A-Z]\w* [a-z{}()]+[:,]")


def doc_blocks(text):
    """Doc text as Markdown: lines at the left margin are paragraphs, an
    indented line starts a list item, a more indented one continues it."""
    lines = textwrap.dedent(text).strip("\n").splitlines()
    blocks, paragraph, items, item_indent = [], [], [], None

    def flush():
        nonlocal paragraph, items, item_indent
        if paragraph:
            blocks.append(escape(" ".join(paragraph)))
        if items:
            blocks.append("\n".join("- " + escape(" ".join(item)) for item in items))
        paragraph, items, item_indent = [], [], None

    for line in lines:
        if not line.strip():
            flush()
            continue
        indent = len(line) - len(line.lstrip())
        word = line.strip()
        if indent == 0:
            if items:
                flush()
            paragraph.append(word)
        elif ITEM.match(word) and (item_indent is None or indent <= item_indent):
            if paragraph:
                blocks.append(escape(" ".join(paragraph)))
                paragraph = []
            item_indent = indent
            items.append([word])
        elif items and indent > item_indent:
            items[-1].append(word)
        else:
            # Indented text that is no item: a paragraph between lists.
            if items:
                flush()
            paragraph.append(word)
    flush()
    return blocks


def doc_of(element, kind):
    found = element.find(f"{DOC}doc/{DOC}{kind}")
    if found is None:
        return ""
    return "".join(found.itertext())


def one_line(text):
    return " ".join(escape(word) for word in text.split())


def catalogue(comment):
    """The interface file's header comment: its text and its error list."""
    intro, errors, in_errors = [], [], False
    for line in textwrap.dedent(comment).strip("\n").splitlines():
        if line.strip().startswith("Error catalogue"):
            in_errors = True
            continue
        if in_errors and line.strip():
            name, _, meaning = line.strip().partition(" ")
            errors.append((name, meaning.strip()))
        elif not in_errors:
            intro.append(line)
    return "\n".join(intro), errors


def parse(path):
    with open(path, encoding="utf-8") as source:
        text = source.read()
    # The header comment lies outside the root element, where ElementTree keeps none.
    return ET.fromstring(text), re.findall(r"<!--(.*?)-->", text, re.S)


def signature(element, direction):
    return ", ".join(f"{arg.get('type')} {arg.get('name')}" for arg in element.findall("arg")
                     if arg.get("direction", "in" if element.tag == "method" else "out") == direction)


def interface_section(out, interface, path):
    out.append(f"## {interface}\n")
    out.append(f"Object: `{path}`\n")
    out.extend(block + "\n" for block in doc_blocks(doc_of(interface_element(interface), "description")))
    element = interface_element(interface)
    methods = element.findall("method")
    if methods:
        out.append("### Methods\n")
    for method in methods:
        ins, outs = signature(method, "in"), signature(method, "out")
        heading = f"`{method.get('name')}({ins})`" + (f" → `{outs}`" if outs else "")
        out.append(f"#### {heading}\n")
        out.extend(block + "\n" for block in doc_blocks(doc_of(method, "description")))
        errors = doc_of(method, "errors")
        if errors.strip():
            out.append(f"Errors: {one_line(errors)}\n")
    signals = element.findall("signal")
    if signals:
        out.append("### Signals\n")
    for signal in signals:
        out.append(f"#### `{signal.get('name')}({signature(signal, 'out')})`\n")
        out.extend(block + "\n" for block in doc_blocks(doc_of(signal, "description")))
    properties = element.findall("property")
    if properties:
        out.append("### Properties\n")
        out.append("| Property | Type | Access | Meaning |")
        out.append("|---|---|---|---|")
        for prop in properties:
            out.append(f"| `{prop.get('name')}` | `{prop.get('type')}` | {prop.get('access')} | "
                       f"{one_line(doc_of(prop, 'description'))} |")
        out.append("")


ELEMENTS = {}


def interface_element(name):
    return ELEMENTS[name]


def key_section(out, rows):
    properties = {prop.get("name"): prop for prop in interface_element(CONTAINER).findall("property")}
    out.append("## Spec keys\n")
    out.append("The keys of `Create`'s spec and `Update`'s changes, one row each in "
               "`service/core/spec_keys.cpp`; each is also a property of the container object "
               "and a key of `Inspect`'s JSON. *Default*: the value a container shows when the key "
               "is not given. *On change*: what an `Update` of that key asks of a running container. "
               "*Host access*: some values need `org.nixos.containers.host-access`. *Conf key*: the "
               "key in `NAME.conf` (blank: written by hand in `conf_file.cpp`).\n")
    out.append("| Key | Type | Default | On change | Host access | Conf key | Meaning |")
    out.append("|---|---|---|---|---|---|---|")
    for row in rows:
        prop = properties.get(row["name"])
        meaning = one_line(doc_of(prop, "description")) if prop is not None else "(no property)"
        notes = []
        if row["systemSource"]:
            notes.append("a system source")
        if row["secret"]:
            notes.append("secret: shown only to those who may update the container")
        if notes:
            meaning += " (" + "; ".join(notes) + ")"
        default = json.dumps(row["default"], separators=(", ", ": "), ensure_ascii=False)
        out.append(f"| `{row['name']}` | `{row['type']}` | `{default}` | {row['onChange']} | "
                   f"{'some values' if row['asksHost'] else 'no'} | "
                   f"{('`' + row['confKey'] + '`') if row['confKey'] else ''} | {meaning} |")
    out.append("")


def main():
    arguments = argparse.ArgumentParser()
    arguments.add_argument("--interfaces", required=True)
    arguments.add_argument("--keys", required=True)
    arguments.add_argument("--out")
    options = arguments.parse_args()

    intro, errors = "", []
    for interface, _ in FILES:
        root, comments = parse(f"{options.interfaces}/{interface}.xml")
        ELEMENTS[interface] = root.find(f"interface[@name='{interface}']")
        if interface == MANAGER and comments:
            intro, errors = catalogue(comments[0])
    with open(options.keys, encoding="utf-8") as keys:
        rows = json.load(keys)

    out = ["# The org.nixos.Containers D-Bus API\n",
           "<!-- Generated by tools/api-doc from interfaces/*.xml and the spec keys' rows; do not edit. "
           "Regenerate: cmake --build build --target api-doc -->\n"]
    out.extend(block + "\n" for block in doc_blocks(intro))
    out.append("## Errors\n")
    out.append("| Error | When |")
    out.append("|---|---|")
    out.extend(f"| `{name}` | {escape(meaning)} |" for name, meaning in errors)
    out.append("")
    for interface, path in FILES:
        interface_section(out, interface, path)
    key_section(out, rows)
    text = "\n".join(out).rstrip("\n") + "\n"
    if options.out:
        with open(options.out, "w", encoding="utf-8") as target:
            target.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
