#!/usr/bin/env python3
"""Fails when a relative link in the Markdown docs leads nowhere.

Checks every `[text](target)` and `![alt](target)` outside code in README.md,
CONTRIBUTING.md, CHANGELOG.md and docs/*.md: the file or directory must exist,
and a `#fragment` must be a heading of the target (GitHub's anchors).
Web links (scheme://, mailto:) are not fetched.

usage: links.py SOURCE_DIR
"""
import re
import sys
from pathlib import Path

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def prose(text):
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchors(markdown):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to '-', repeats numbered."""
    seen = {}
    result = set()
    for heading in re.findall(r"^#+\s+(.*?)\s*$", FENCE.sub("", markdown), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def main():
    source = Path(sys.argv[1]).resolve()
    documents = [source / name for name in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")]
    documents += sorted((source / "docs").glob("*.md"))
    problems = []
    checked = 0
    for document in documents:
        if not document.exists():
            problems.append(f"{document.relative_to(source)}: missing")
            continue
        for target in LINK.findall(prose(document.read_text())):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue
            checked += 1
            path, _, fragment = target.partition("#")
            resolved = (document.parent / path).resolve() if path else document
            where = f"{document.relative_to(source)}: ({target})"
            if not resolved.exists():
                problems.append(f"{where}: no such file")
            elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved.read_text()):
                problems.append(f"{where}: no heading #{fragment} in {resolved.relative_to(source)}")
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"doc_links: {checked} relative links in {len(documents)} documents, all resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
