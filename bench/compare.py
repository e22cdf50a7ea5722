#!/usr/bin/env python3
"""Compare hoist's medians between two tables printed by bench/run.sh (before and after a
change, same machine, same images).

    compare.py BEFORE AFTER [THRESHOLD_PERCENT]

BEFORE and AFTER are files holding run.sh's table (its `results/table.md`, or its whole
output). Prints one markdown row per comparison and image both tables have: hoist's median
before and after, the change in percent (negative: faster), each table's ratio against its
peer, and a mark on rows whose hoist median moved by more than THRESHOLD_PERCENT (default 5) —
the rows to rerun before calling a change slower or faster.
"""
import sys


def rows(path):
    """{(comparison, image, comp): (hoist s, ratio text)} of one table."""
    out = {}
    with open(path) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 8 or not cells[0].startswith("hoist "):
                continue
            try:
                hoist = float(cells[5])
            except ValueError:  # the header
                continue
            out[(cells[0], cells[1], cells[2])] = (hoist, cells[7].strip("*"))
    return out


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    before, after = rows(sys.argv[1]), rows(sys.argv[2])
    threshold = float(sys.argv[3]) if len(sys.argv) == 4 else 5.0
    print("| comparison | image | comp | hoist before s | hoist after s | change | ratio before | ratio after | |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|")
    for key in sorted(before.keys() & after.keys()):
        (b, rb), (a, ra) = before[key], after[key]
        change = (a - b) / b * 100
        mark = f"moved > {threshold:g} %" if abs(change) > threshold else ""
        print(f"| {key[0]} | {key[1]} | {key[2]} | {b:.3f} | {a:.3f} | {change:+.1f} % | {rb} | {ra} | {mark} |")


if __name__ == "__main__":
    main()
