#!/usr/bin/env python3
"""Print the benchmark table from bench/run.sh's results directory.

    table.py RESULTS_DIR OCI_CACHE_DIR

RESULTS_DIR holds, per CASE-IMAGE:COMP, hyperfine's JSON (commands named `hoist` and `peer`)
and the peak-RSS files (`/usr/bin/time -f %M` lines, KiB). Ratio = peer median / hoist median,
so > 1 means hoist is faster.
"""
import glob
import json
import os
import sys

CASES = {
    "pull": ("hoist pull", "ctr image pull (native)"),
    "export": ("hoist pull + export", "skopeo copy + umoci unpack"),
    "no-unpack": ("hoist pull --no-unpack", "skopeo copy docker→oci"),
    "push": ("hoist push", "skopeo copy oci→docker"),
    "loadpush": ("hoist load + push (compressing)", "skopeo copy dir:→docker (uncompressed source)"),
    "floor": ("hoist pull", "floor: each layer blob → pigz -d / zstd -d → tar -x"),
    "pull-ctr21": ("hoist pull", "containerd 2.1 transfer pull (native)"),
    "pull-ctr21p": ("hoist pull", "containerd 2.1 pull, 64 MiB layer fetch buffer"),
    "no-unpack-crane": ("hoist pull --no-unpack", "crane pull --format oci"),
    "export-crane": ("hoist pull + export", "crane export → tar -x"),
    "export-remote-crane": ("hoist export docker:// (nothing stored)", "crane export → tar -x"),
    "unpack": ("hoist export oci: (a layout → rootfs)", "umoci unpack (Debian 12)"),
    "unpack-umoci06": ("hoist export oci: (a layout → rootfs)", "umoci 0.6 unpack"),
    "push-skopeo122": ("hoist push", "skopeo 1.2x copy oci→docker"),
    "loadpush-skopeo122": ("hoist load + push (compressing)", "skopeo 1.2x copy dir:→docker"),
    "copydir-skopeo122": ("hoist copy dir:→docker (compressing)", "skopeo 1.2x copy dir:→docker"),
}


def image_size(oci, name, comp):
    with open(os.path.join(oci, f"{name}-{comp}", "index.json")) as f:
        mdigest = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(oci, f"{name}-{comp}", "blobs", "sha256", mdigest[7:])) as f:
        layers = json.load(f)["layers"]
    return sum(layer["size"] for layer in layers) / 1e6, len(layers)


def peak_mb(path):
    try:
        with open(path) as f:
            values = [int(line) for line in f if line.strip().isdigit()]
    except FileNotFoundError:
        return None
    return max(values) / 1024 if values else None


def fmt(value, spec):
    return "—" if value is None else format(value, spec)


def main():
    results, oci = sys.argv[1:]
    rows = []
    for path in sorted(glob.glob(os.path.join(results, "*.json"))):
        stem = os.path.basename(path)[: -len(".json")]
        # the longest case name the stem starts with (`pull-ctr21p-…` before `pull-…`)
        case = max((c for c in CASES if stem.startswith(c + "-")), key=len)
        image = stem[len(case) + 1:]
        name, comp = image.split(":")
        try:
            with open(path) as f:
                medians = {r["command"]: r["median"] for r in json.load(f)["results"]}
        except (ValueError, KeyError):  # a comparison still running, or hyperfine failed early
            continue
        size, layers = image_size(oci, name, comp)
        hoist, peer = medians.get("hoist"), medians.get("peer")
        rows.append((
            list(CASES).index(case), name, comp, size, layers, case, hoist, peer,
            peer / hoist if hoist and peer else None,
            peak_mb(os.path.join(results, stem + ".hoist.rss")),
            peak_mb(os.path.join(results, stem + ".peer.rss")),
        ))
    print("| comparison (hoist vs peer) | image | comp | MB | layers | hoist s | peer s | "
          "peer÷hoist | hoist MB/s | hoist RSS MB | peer RSS MB |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for _, name, comp, size, layers, case, hoist, peer, ratio, hrss, prss in sorted(rows):
        what = "%s vs %s" % CASES[case]
        rate = size / hoist if hoist else None
        print(f"| {what} | {name} | {comp} | {size:.0f} | {layers} | {fmt(hoist, '.3f')} | "
              f"{fmt(peer, '.3f')} | **{fmt(ratio, '.2f')}** | {fmt(rate, '.0f')} | "
              f"{fmt(hrss, '.0f')} | {fmt(prss, '.0f')} |")


if __name__ == "__main__":
    main()
