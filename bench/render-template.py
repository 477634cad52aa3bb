#!/usr/bin/env python3
"""render-template.py — the module's container@.service, rendered from the
reference module (nixos-containers.nix) into real files, for the side-by-side
benchmark (bench/template-vs-service.sh).

    render-template.py MODULE.nix OUT_STORE_DIR UNIT_DIR CONTAINERS_DIR CONF_DIR

Without Nix: the script bodies are read out of the module's own text (its
containerInit, preStartScript, startScript and postStartScript, and
serviceDirectives), with the module's `dummyConfig` (the one its template
uses: no extraVeths, no capabilities, no tmpfs, not ephemeral) applied to
their antiquotations. An antiquotation this renderer does not know is an
error, never skipped: if the module changes, the rendering fails loudly.

The NixOS systemd module turns script/preStart/postStart into
"#!${runtimeShell}\\nset -e\\nTEXT" scripts (makeJobScript) run as
ExecStart=/ExecStartPre=/ExecStartPost=, `environment` into Environment=,
`path` into PATH. That is done here the same way. What has to be mapped on a
Debian host (and only that) is, and says so in the unit:
  - pkgs.runtimeShell: a static bash in the store (the container runs
    containerInit, so the shell must be visible inside, as on NixOS);
  - path = [ iproute2 ] (+ NixOS's default coreutils, grep, sed, systemd):
    Debian's /usr/sbin:/usr/bin:/sbin:/bin, then a store path with `ip`
    (busybox) for containerInit inside the container, where /usr is empty;
  - config.systemd.package: /usr (Debian's systemd-nspawn);
  - root=/var/lib/containers/%i: CONTAINERS_DIR/%i;
  - EnvironmentFile=-/etc/containers/%i.conf: CONF_DIR/%i.conf;
  - /nix: not mapped here; the benchmark binds a directory at /nix inside
    the sandbox (with the store at /nix/store), so /nix/var/nix/... and
    --bind-ro=/nix/store in the start script stay as they are.
  - ExecReload= (nixos-container run ... switch-to-configuration) is left
    out: no nixos-container here, and the benchmark does not reload.
OUT_STORE_DIR is the directory bound at /nix/store; the scripts go into
OUT_STORE_DIR/<hash>-container-template/ and are named by /nix/store paths.
Prints the unit's path.
"""
import hashlib
import os
import re
import shutil
import stat
import sys

# The module's dummyConfig (see the module): what its generic template sees.
DUMMY = {
    "extraVeths": {},
    "additionalCapabilities": [],
    "ephemeral": False,
    "timeoutStartSec": "1min",
    "allowedDevices": [],
    "hostAddress": None,
    "hostAddress6": None,
    "localAddress": None,
    "localAddress6": None,
    "tmpfs": None,
}


class RenderError(Exception):
    pass


# ------------------------------------------------------------ Nix strings
def skip_string(src, i):
    """src[i] starts a "..." string; index after its end."""
    assert src[i] == '"'
    i += 1
    while src[i] != '"':
        if src[i] == "\\":
            i += 2
        elif src.startswith("${", i):
            i = skip_antiquotation(src, i)
        else:
            i += 1
    return i + 1


def skip_antiquotation(src, i):
    """src[i:i+2] == '${'; index after the matching '}'."""
    depth = 0
    while True:
        if src.startswith("''", i):
            _, i = parse_indented(src, i)
            continue
        c = src[i]
        if c == '"':
            i = skip_string(src, i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1


def parse_indented(src, i):
    """src[i:i+2] == "''": ([literal or ('expr', text)] parts, index after)."""
    assert src.startswith("''", i)
    i += 2
    parts, lit = [], []
    while True:
        if src.startswith("'''", i):
            lit.append("''")
            i += 3
        elif src.startswith("''$", i):
            lit.append("$")
            i += 3
        elif src.startswith("''\\", i):
            lit.append({"n": "\n", "r": "\r", "t": "\t"}.get(src[i + 3], src[i + 3]))
            i += 4
        elif src.startswith("''", i):
            parts.append("".join(lit))
            return parts, i + 2
        elif src.startswith("${", i):
            end = skip_antiquotation(src, i)
            parts.append("".join(lit))
            lit = []
            parts.append(("expr", src[i + 2:end - 1]))
            i = end
        else:
            lit.append(src[i])
            i += 1


def strip_indentation(parts):
    """Nix's rule: drop the least indentation of the non-blank lines, and
    a first line that is empty. Antiquotations count as text."""
    marks = {}
    text = []
    for part in parts:
        if isinstance(part, tuple):
            key = "\x00%d\x00" % len(marks)
            marks[key] = part[1]
            text.append(key)
        else:
            text.append(part)
    s = "".join(text)
    lines = s.split("\n")
    if lines and lines[0].strip(" ") == "":
        lines = lines[1:]
    indents = [len(l) - len(l.lstrip(" ")) for l in lines if l.strip(" ") != ""]
    n = min(indents) if indents else 0
    lines = [l[n:] if l.strip(" ") != "" else l.lstrip(" ") for l in lines]
    return "\n".join(lines), marks


# ------------------------------------------------------------- evaluation
class Module:
    def __init__(self, src, values):
        self.src = src
        self.values = values  # runtimeShell, containerInit, ...

    def string_after(self, anchor, start=0):
        i = self.src.find(anchor, start)
        if i < 0:
            raise RenderError("the module has no '%s'" % anchor)
        j = self.src.find("''", i + len(anchor))
        parts, _ = parse_indented(self.src, j)
        return parts

    def render(self, parts, env=None):
        text, marks = strip_indentation(parts)
        for key, expr in marks.items():
            text = text.replace(key, self.evaluate(expr, env or {}))
        return text

    def condition(self, cond):
        c = " ".join(cond.split()).strip("()").strip()
        if c == 'config.nixpkgs.localSystem.system == "x86_64-linux"':
            return True
        m = re.fullmatch(r"(!?)cfg\.(\w+)", c)
        if m and isinstance(DUMMY.get(m.group(2)), bool):
            return DUMMY[m.group(2)] != (m.group(1) == "!")
        m = re.fullmatch(r"cfg\.(\w+) != null", c)
        if m and m.group(1) in DUMMY:
            return DUMMY[m.group(1)] is not None
        raise RenderError("unknown condition: %s" % c)

    def evaluate(self, expr, env):
        e = " ".join(expr.split())
        if e in env:
            return env[e]
        if e == "pkgs.runtimeShell":
            return self.values["runtimeShell"]
        if e == "config.systemd.package":
            return "/usr"
        if e == "containerInit cfg":
            return self.values["containerInit"]
        # Every list built from cfg.extraVeths is empty in dummyConfig.
        if re.fullmatch(r"concatStringsSep .* cfg\.extraVeths ?\)?", e):
            assert DUMMY["extraVeths"] == {}
            return ""
        m = re.fullmatch(r'if cfg\.(additionalCapabilities|tmpfs) != null && cfg\.\1 != \[\] then .* else ""', e)
        if m:
            return "" if not DUMMY[m.group(1)] else self.fail(e)
        m = re.fullmatch(r"optionalString (\(.*?\)|!?cfg\.\w+) (.*)", e)
        if m:
            value = self.operand(expr)
            return value if self.condition(m.group(1)) else ""
        m = re.fullmatch(r'ipcall cfg "([^"]*)" "([^"]*)" "(\w+)"', e)
        if m:
            ipcmd, variable, attribute = m.groups()
            if DUMMY[attribute] is not None:
                self.fail(e)
            # ipcall's first branch: the attribute is null, the variable decides.
            parts = self.string_after("ipcall = cfg: ipcmd: variable: attribute:")
            return self.render(parts, {"ipcmd": ipcmd, "variable": variable})
        return self.fail(e)

    def operand(self, expr):
        """The string operand of `optionalString COND OPERAND`."""
        s = expr.strip()
        i = len("optionalString")
        while s[i] == " " or s[i] == "\n":
            i += 1
        if s[i] == "(":
            depth = 0
            while True:
                if s[i] == "(":
                    depth += 1
                elif s[i] == ")":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
        else:
            while s[i] not in " \n":
                i += 1
        rest = s[i:].strip()
        if rest.startswith("''"):
            parts, _ = parse_indented(rest, 0)
            return self.render(parts)
        if rest.startswith('"') and rest.endswith('"') and "${" not in rest:
            return rest[1:-1]
        raise RenderError("unknown operand: %s" % rest)

    def fail(self, e):
        raise RenderError("the renderer does not know ${%s}" % e)

    def service_directives(self):
        """serviceConfig of the template: Key = value; pairs of serviceDirectives."""
        start = self.src.index("serviceDirectives = cfg: {")
        end = self.src.index("\n  };", start)
        body = self.src[start:end]
        out = []
        for m in re.finditer(r"^    (\w+) = (.*?);\n(?=    \w+ = |\s*$)", body + "\n", re.S | re.M):
            key, value = m.group(1), " ".join(m.group(2).split())
            if key == "ExecReload":
                out.append("# ExecReload= left out: it runs nixos-container, which is not here")
                continue
            if value == "true":
                out.append("%s=yes" % key)
            elif re.fullmatch(r'"[^"$]*"', value):
                out.append("%s=%s" % (key, value[1:-1]))
            elif re.fullmatch(r"cfg\.(\w+)", value) and isinstance(DUMMY.get(value[4:]), str):
                out.append("%s=%s" % (key, DUMMY[value[4:]]))
            elif value == 'lib.optional cfg.ephemeral "containers/%i"':
                if DUMMY["ephemeral"]:
                    out.append("%s=containers/%%i" % key)
            elif value.startswith("map ") and value.endswith("cfg.allowedDevices"):
                if DUMMY["allowedDevices"]:
                    self.fail(value)
            else:
                self.fail(value)
        return out


def store_path(store, name, content):
    digest = hashlib.sha256(content.encode()).hexdigest()
    alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
    h = "".join(alphabet[int(c, 16) * 2 % 32] for c in digest[:32])
    return os.path.join(store, "%s-%s" % (h, name)), "/nix/store/%s-%s" % (h, name)


def write_exec(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


def main():
    if len(sys.argv) != 6:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        sys.exit(2)
    module_path, store, unit_dir, containers_dir, conf_dir = sys.argv[1:]
    src = open(module_path).read()

    # Tools the container needs from the store: bash (pkgs.runtimeShell)
    # and ip (pkgs.iproute2; here busybox's ip applet: /usr is empty inside).
    for tool in ("/bin/bash-static", "/bin/busybox"):
        if not os.path.exists(tool):
            raise RenderError("%s is missing (apt-get install bash-static busybox-static)" % tool)
    tools_host, tools = store_path(store, "container-tools", "bash-static+busybox-ip")
    if os.path.exists(tools_host):
        shutil.rmtree(tools_host)
    os.makedirs(tools_host + "/bin")
    shutil.copy("/bin/bash-static", tools_host + "/bin/bash")
    shutil.copy("/bin/busybox", tools_host + "/bin/busybox")
    os.symlink("busybox", tools_host + "/bin/ip")

    out_host, out = store_path(store, "container-template", src)
    if os.path.exists(out_host):
        shutil.rmtree(out_host)
    os.makedirs(out_host)
    values = {"runtimeShell": tools + "/bin/bash", "containerInit": out + "/container-init"}
    m = Module(src, values)

    write_exec(out_host + "/container-init", m.render(m.string_after('pkgs.writeScript "container-init"')))
    job = "#!%s\nset -e\n%s" % (values["runtimeShell"], "%s")
    scripts = {
        "pre-start": m.render(m.string_after("preStartScript = cfg:")),
        "start": m.render(m.string_after("startScript = cfg:")),
        "post-start": m.render(m.string_after("\n    in\n", m.src.index("postStartScript = (cfg:"))),
    }
    for name, text in scripts.items():
        write_exec("%s/%s" % (out_host, name), job % text)
    os.chmod(out_host, 0o755)

    # The unit, from the module's `unit` attribute set.
    description = re.search(r'description = "(Container \'%i\')";', src).group(1)
    requires = re.search(r'unitConfig\.RequiresMountsFor = "/var/lib/containers/%i";', src)
    if not requires or 'root = "/var/lib/containers/%i";' not in src or 'INSTANCE = "%i";' not in src:
        raise RenderError("the module's unit attribute set is not as expected")
    if "path = [ pkgs.iproute2 ];" not in src:
        raise RenderError("the module's unit path is not [ pkgs.iproute2 ]")
    root = os.path.join(containers_dir, "%i")
    lines = [
        "# Rendered by bench/render-template.py from %s" % os.path.abspath(module_path),
        "# (the module's container@.service; mappings for Debian: see the renderer).",
        "[Unit]",
        "Description=%s" % description,
        "RequiresMountsFor=%s" % root,
        "",
        "[Service]",
        "Environment=PATH=/usr/sbin:/usr/bin:/sbin:/bin:%s/bin" % tools,
        "Environment=root=%s" % root,
        "Environment=INSTANCE=%i",
        "ExecStartPre=%s/pre-start" % out,
        "ExecStart=%s/start" % out,
        "ExecStartPost=%s/post-start" % out,
    ]
    for line in m.service_directives():
        if line.startswith("EnvironmentFile="):
            if line != "EnvironmentFile=-/etc/containers/%i.conf":
                raise RenderError("unexpected %s" % line)
            line = "EnvironmentFile=-%s/%%i.conf" % conf_dir
        lines.append(line)
    unit = os.path.join(unit_dir, "container@.service")
    with open(unit, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(unit)


if __name__ == "__main__":
    try:
        main()
    except RenderError as error:
        print("render-template: %s" % error, file=sys.stderr)
        sys.exit(1)
