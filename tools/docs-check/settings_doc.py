#!/usr/bin/env python3
"""Fails when the settings the service reads and the ones its docs name differ.

The service's settings are the NIXOS_CONTAINERS_* variables
service/core/settings.cpp reads; a literal ending in '_' that a name is
appended to is a prefix completed by each unit limit key of
service/core/unit_limits.cpp (TENANT_ + TasksMax -> TENANT_TASKS_MAX), as
settings.cpp's environmentName does. The man page must
give each one a `.TP`/`.B NAME` entry with a "Default:", name no other, and
docs/settings.md's table must name the same set. Where settings.h initialises
the setting with a literal (a path, a count, a tenant limit), both documents
must give that literal as the default.

usage: settings_doc.py SOURCE_DIR
"""
import re
import sys
from pathlib import Path

VARIABLE = re.compile(r"NIXOS_CONTAINERS_[A-Z0-9][A-Z0-9_]*")


def environment_name(key):
    """settings.cpp's environmentName: TasksMax -> TASKS_MAX, CPUQuota -> CPU_QUOTA."""
    name = ""
    for i, c in enumerate(key):
        if i > 0 and c.isupper() and (
            key[i - 1].islower() or (i + 1 < len(key) and key[i + 1].islower() and key[i - 1].isupper())
        ):
            name += "_"
        name += c.upper()
    return name


def read_by_service(source):
    code = (source / "service/core/settings.cpp").read_text()
    code = re.sub(r"//[^\n]*", "", code)  # comments may name variables the code does not read
    # A literal ending in '_' is a prefix only where a name is appended to it;
    # alone ("NIXOS_CONTAINERS_") it picks the service's variables out of environ.
    literals = set(re.findall(r'"(NIXOS_CONTAINERS_[A-Z0-9_]*[A-Z0-9])"', code))
    prefixes = set(re.findall(r'"(NIXOS_CONTAINERS_[A-Z0-9_]*_)"\s*\+', code))
    limit_keys = re.findall(r'^\s*\{"(\w+)", &ContainerSpec::', (source / "service/core/unit_limits.cpp").read_text(),
                            re.MULTILINE)
    if not limit_keys:
        sys.exit("settings_doc: found no unit limit keys in service/core/unit_limits.cpp")
    variables = set(literals)
    for prefix in prefixes:
        variables.update(prefix + environment_name(key) for key in limit_keys)
    return variables


def literal_defaults(source, variables):
    """NAME -> the default settings.h gives it, where that is a literal."""
    code = (source / "service/core/settings.cpp").read_text()
    header = (source / "service/core/settings.h").read_text()
    initial = {}
    for member, value in re.findall(r"^\s*[\w:<>, ]+? (\w+) = ([^;]+);", header, re.MULTILINE):
        text = re.fullmatch(r'\{?"([^"]*)"\}?|(\d+)', value.strip())
        if text:
            initial[member] = text.group(1) if text.group(1) is not None else text.group(2)
    defaults = {}
    for variable in variables:
        # The member the variable sets: the first settings.X after its name.
        at = code.find(f'"{variable}"')
        member = re.search(r"settings\.(\w+)", code[at:at + 400]) if at >= 0 else None
        if member and member.group(1) in initial:
            defaults[variable] = initial[member.group(1)]
    limits = re.search(r"tenantLimits = \{(.*?)\};", header, re.DOTALL)
    for key, value in re.findall(r'\{"(\w+)", "([^"]*)"\}', limits.group(1) if limits else ""):
        defaults["NIXOS_CONTAINERS_TENANT_" + environment_name(key)] = value
    return defaults


def first_word_after_default(text):
    text = re.sub(r"^\.[A-Z]+ ?", "", text, flags=re.MULTILINE).replace("\\-", "-").replace("`", "")
    found = re.search(r"Default:\s*(\S+)", " ".join(text.split()))
    return found.group(1).rstrip(".,") if found else None


def man_page_entries(page):
    """NAME -> the entry's text, for each `.TP` followed by `.B NAME`."""
    lines = page.read_text().splitlines()
    entries = {}
    for i, line in enumerate(lines[:-1]):
        heading = re.fullmatch(r"\.B (NIXOS_CONTAINERS_[A-Z0-9_]+)", lines[i + 1])
        if line == ".TP" and heading:
            body = []
            for rest in lines[i + 2:]:
                if rest.startswith((".TP", ".SH")):
                    break
                body.append(rest)
            entries[heading.group(1)] = "\n".join(body)
    return entries


def main():
    source = Path(sys.argv[1])
    page = source / "docs/nixos-containersd.8"
    read = read_by_service(source)
    entries = man_page_entries(page)
    named_on_page = set(VARIABLE.findall(page.read_text()))
    rows = dict(re.findall(r"^\| `(NIXOS_CONTAINERS_[A-Z0-9_]+)` \|.*\| ([^|]*) \|$",
                           (source / "docs/settings.md").read_text(), re.MULTILINE))
    table = set(rows)
    problems = []
    problems += [f"{page}: no entry for {v}, which settings.cpp reads" for v in sorted(read - set(entries))]
    problems += [f"{page}: names {v}, which settings.cpp does not read" for v in sorted(named_on_page - read)]
    problems += [f"{page}: {v} has no 'Default:'" for v, body in sorted(entries.items()) if "Default:" not in body]
    problems += [f"docs/settings.md: no row for {v}" for v in sorted(read - table)]
    problems += [f"docs/settings.md: a row for {v}, which settings.cpp does not read" for v in sorted(table - read)]
    for variable, value in sorted(literal_defaults(source, read).items()):
        if variable in entries and first_word_after_default(entries[variable]) != value:
            problems.append(f"{page}: {variable}'s default is not {value}, as settings.h says")
        if variable in rows and rows[variable].strip().strip("`") != value:
            problems.append(f"docs/settings.md: {variable}'s default is not {value}, as settings.h says")
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"settings_doc: {len(read)} settings in the man page and docs/settings.md, "
          f"{len(literal_defaults(source, read))} of them with the default settings.h gives")
    return 0


if __name__ == "__main__":
    sys.exit(main())
