#!/usr/bin/env python3
"""ctest_summary.py: one line per tier from a ctest run, and the no-skip rule.

  ctest_summary.py --junit FILE --tests JSON --run NAME --tiers a,b,c [--counts FILE]

FILE is what `ctest --output-junit FILE` wrote; JSON is what
`ctest --show-only=json-v1` printed with the same selection (it carries the
labels). A test's tier is its most specific label (harness, chaos, browser, sandbox,
nixos, bus, netlink, unit, in that order).

Prints "NAME TIER: N passed, N failed, N skipped" per tier and exits 1 when a
test failed, when a test was skipped or disabled (each one named: a skipped
test proves nothing, so scripts/test.sh counts it as a failure), when a tier
of --tiers ran zero tests, or when a test has no tier. --counts FILE gets the
line "PASSED FAILED SKIPPED" for the caller's total, where FAILED also counts
each of those problems that is not a failed or skipped test (an empty tier,
missing results), so that the closing line never reads "0 failed" for them.
"""
import argparse
import json
import sys
import xml.etree.ElementTree as ET

TIER_ORDER = ["harness", "chaos", "browser", "sandbox", "nixos", "bus", "netlink", "unit"]


def tier_of(labels):
    for tier in TIER_ORDER:
        if tier in labels:
            return tier
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--junit", required=True)
    ap.add_argument("--tests", required=True)
    ap.add_argument("--run", required=True, help="name of the run, printed before each tier")
    ap.add_argument("--tiers", required=True, help="comma-separated tiers that must each run tests")
    ap.add_argument("--counts")
    a = ap.parse_args()

    problems = []
    extra = 0  # problems that are not a failed or skipped test
    with open(a.tests) as f:
        listed = json.load(f)["tests"]
    labels = {}
    for t in listed:
        for p in t.get("properties", []):
            if p["name"] == "LABELS":
                labels[t["name"]] = p["value"]
    try:
        cases = ET.parse(a.junit).getroot().iter("testcase")
    except (OSError, ET.ParseError) as e:
        cases = []
        problems.append(f"no readable ctest results in {a.junit}: {e}")
        extra += 1

    expected = [t for t in a.tiers.split(",") if t]
    counts = {t: [0, 0, 0] for t in expected}
    seen = set()
    for case in cases:
        name = case.get("name")
        seen.add(name)
        status = case.get("status")
        tier = tier_of(labels.get(name, []))
        if tier is None:
            problems.append(f"{name}: no tier label ({', '.join(TIER_ORDER)})")
            extra += 1
            tier = "unlabelled"
        c = counts.setdefault(tier, [0, 0, 0])
        if status == "run":
            c[0] += 1
        elif status == "fail":
            c[1] += 1
            problems.append(f"{tier}: {name} failed")
        else:  # notrun (SKIP_RETURN_CODE, SKIP_REGULAR_EXPRESSION, missing binary) or disabled
            c[2] += 1
            skipped = case.find("skipped")
            why = skipped.get("message") if skipped is not None else status
            problems.append(f"{tier}: {name} was skipped ({why}); a skipped test is a failure here")
    for t in listed:
        if t["name"] not in seen and results_exist(a.junit):
            problems.append(f"{t['name']}: listed by ctest but has no result")
            extra += 1

    total = [0, 0, 0]
    for tier in expected + sorted(set(counts) - set(expected)):
        p, f, s = counts[tier]
        print(f"{a.run} {tier}: {p} passed, {f} failed, {s} skipped")
        if tier in expected and p + f == 0:
            problems.append(f"{tier}: the tier ran zero tests")
            extra += 1
        total = [total[0] + p, total[1] + f, total[2] + s]
    for problem in problems:
        print(f"{a.run}: FAIL: {problem}")
    if a.counts:
        with open(a.counts, "w") as f:
            f.write(f"{total[0]} {total[1] + extra} {total[2]}\n")
    return 1 if problems else 0


def results_exist(path):
    try:
        ET.parse(path)
        return True
    except (OSError, ET.ParseError):
        return False


if __name__ == "__main__":
    sys.exit(main())
