#!/usr/bin/env python3
"""Mark issue 13's speed and memory targets met or not from one bench/run.sh results directory.

    targets.py RESULTS_DIR [--disk]

RESULTS_DIR is run.sh's `$WORK/results` (hyperfine JSON and peak-RSS files, as table.py reads
them). --disk: the run measured stores on a disk (run.sh --dir), so target 1's bar against
containerd 2.1 is 1.5x instead of tmpfs's 2.5x. Every ratio is peer median / hoist median of
one comparison (one hyperfine invocation), so > 1 means hoist is faster; a target over "the
better of" two peers takes the smaller ratio. An image without the rows a target needs is
listed as "not measured", never as met.

Targets (issue 13):
  1. hoist pull >= 2.5x (tmpfs) / 1.5x (disk) faster than the better containerd 2.1 setup
     (pull-ctr21, pull-ctr21p), and within 1.3x of the floor (floor row: hoist / floor <= 1.3).
  2. hoist pull + export >= 4x faster than skopeo + umoci (export) and >= 3x faster than
     crane export | tar -x (export-crane).
  5. compressing push >= 1.5x faster than skopeo 1.2x copy dir:→docker: hoist load + push
     (loadpush-skopeo122) or hoist copy dir:→docker (copydir-skopeo122), the better of the two.
  6. peak RSS of every hoist command < 100 MB.
"""
import glob
import json
import os
import sys

from table import CASES, peak_mb


def load(results):
    """{(case, image): (hoist median, peer median)} and {(case, image): hoist peak RSS MB}."""
    medians, rss = {}, {}
    for path in sorted(glob.glob(os.path.join(results, "*.json"))):
        stem = os.path.basename(path)[: -len(".json")]
        matching = [c for c in CASES if stem.startswith(c + "-")]
        if not matching:
            continue
        case = max(matching, key=len)
        image = stem[len(case) + 1:]
        try:
            with open(path) as f:
                got = {r["command"]: r["median"] for r in json.load(f)["results"]}
        except (ValueError, KeyError):
            continue
        if got.get("hoist") and got.get("peer"):
            medians[(case, image)] = (got["hoist"], got["peer"])
        peak = peak_mb(os.path.join(results, stem + ".hoist.rss"))
        if peak is not None:
            rss[(case, image)] = peak
    return medians, rss


# target 5's two ways of a compressing push: hoist load + push, or hoist copy dir:→docker
FIVE = ("loadpush-skopeo122", "copydir-skopeo122")


def best(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def ratio(medians, case, image):
    pair = medians.get((case, image))
    return pair[1] / pair[0] if pair else None


def verdict(checks):
    """checks: [(label, value or None, bar, at_most)] -> (met?, text); a value must reach its
    bar (at least, or at most when at_most)."""
    parts, met = [], True
    for label, value, bar, at_most in checks:
        if value is None:
            return None, f"{label}: not measured"
        ok = value <= bar if at_most else value >= bar
        met = met and ok
        sign = "≤" if at_most else "≥"
        parts.append(f"{label} {value:.2f} ({sign} {bar:g}{'' if ok else ' ✗'})")
    return met, ", ".join(parts)


def main():
    args = [a for a in sys.argv[1:] if a != "--disk"]
    if len(args) != 1:
        sys.exit(__doc__)
    disk = "--disk" in sys.argv[1:]
    medians, rss = load(args[0])
    images = sorted({image for _, image in medians})
    bar1 = 1.5 if disk else 2.5
    print("| target | image | verdict | ratios |")
    print("|---|---|---|---|")
    for image in images:
        floor = ratio(medians, "floor", image)
        ctr = [r for r in (ratio(medians, c, image) for c in ("pull-ctr21", "pull-ctr21p")) if r]
        rows = {
            "1": [("containerd 2.1", min(ctr) if ctr else None, bar1, False),
                  ("hoist÷floor", 1 / floor if floor else None, 1.3, True)],
            "2": [("skopeo+umoci", ratio(medians, "export", image), 4, False),
                  ("crane export", ratio(medians, "export-crane", image), 3, False)],
            "5": [("skopeo 1.2x", best(ratio(medians, c, image) for c in FIVE), 1.5, False)],
        }
        for target, checks in rows.items():
            if target == "5" and checks[0][1] is None:
                continue  # only the uncompressed images are pushed compressing
            met, text = verdict(checks)
            mark = "not measured" if met is None else ("met" if met else "**not met**")
            print(f"| {target} | {image} | {mark} | {text} |")
    over = sorted((peak, case, image) for (case, image), peak in rss.items() if peak >= 100)
    if rss:
        worst = max(rss.values())
        mark = "met" if not over else "**not met**"
        detail = "; ".join(f"{c} {i} {p:.0f} MB" for p, c, i in over) or f"highest {worst:.0f} MB"
        print(f"| 6 | every row | {mark} | {detail} |")


if __name__ == "__main__":
    main()
