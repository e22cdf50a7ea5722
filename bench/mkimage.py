#!/usr/bin/env python3
"""Write an OCI image layout with one image made of the given layer directories.

    mkimage.py OUT_LAYOUT TAG gzip|zstd LAYER_DIR...

Each LAYER_DIR becomes one layer, in order: GNU tar (numeric owners, sorted names, the
directory's own entries as they are on disk, so `.wh.*` files are whiteouts and hard links stay
hard links) compressed with pigz or zstd (all cores). The config lists the diff IDs; the
manifest and index are plain OCI. No registry, no network: `skopeo copy oci:OUT:TAG docker://…`
pushes the result.
"""
import hashlib
import json
import os
import subprocess
import sys

MEDIA = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
COMPRESSOR = {"gzip": ["pigz", "-n", "-6"], "zstd": ["zstd", "-q", "-T0", "-3"]}


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def put_blob(layout, path):
    """Move PATH into the layout's blob store; return (digest, size)."""
    hexd = sha256_file(path)
    dest = os.path.join(layout, "blobs", "sha256", hexd)
    os.replace(path, dest)
    return "sha256:" + hexd, os.path.getsize(dest)


def put_json(layout, obj):
    tmp = os.path.join(layout, "blobs", "tmp.json")
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    return put_blob(layout, tmp)


def main():
    out, tag, comp, *layers = sys.argv[1:]
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    descriptors, diff_ids = [], []
    for i, src in enumerate(layers):
        tar = os.path.join(out, "blobs", f"layer{i}.tar")
        subprocess.run(
            ["tar", "--numeric-owner", "--sort=name", "--xattrs", "-C", src, "-cf", tar, "."],
            check=True,
        )
        diff_ids.append("sha256:" + sha256_file(tar))
        packed = tar + "." + comp
        with open(tar, "rb") as fin, open(packed, "wb") as fout:
            subprocess.run(COMPRESSOR[comp], stdin=fin, stdout=fout, check=True)
        os.remove(tar)
        digest, size = put_blob(out, packed)
        descriptors.append({"mediaType": MEDIA[comp], "digest": digest, "size": size})
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    cdigest, csize = put_json(out, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": cdigest,
            "size": csize,
        },
        "layers": descriptors,
    }
    mdigest, msize = put_json(out, manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": mdigest,
                "size": msize,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


if __name__ == "__main__":
    main()
