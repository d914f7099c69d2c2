"""Layer size: files and unpacked bytes of what the Lambda layer ships (the wagate package + its deps).

    python bench/layer_size.py [--rev REV ...] [--deps DIR]

The wagate package is counted from git (`layers/core/wagate` at each REV, default HEAD), so old
revisions compare without a checkout. The dependencies are what SAM would install from
layers/core/requirements.txt; they need the network, so they are counted only from a directory you
filled yourself, e.g.
    pip install -t /tmp/layer -r layers/core/requirements.txt \\
        --platform manylinux2014_aarch64 --only-binary=:all: --python-version 3.12
The wagate package is counted without .pyc (SAM copies it as source); the dependencies with them.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "layers/core/wagate"


def package_size(rev: str) -> tuple[int, int]:
    """(files, bytes) of the wagate package at a git revision."""
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "-l", rev, PACKAGE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    sizes = [int(line.split()[3]) for line in listing.splitlines() if line.split()[3] != "-"]
    return len(sizes), sum(sizes)


def directory_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]  # pip's .pyc too: SAM's layer has them
    return len(files), sum(p.stat().st_size for p in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", action="append", help="git revision(s) to measure (default: HEAD)")
    parser.add_argument("--deps", type=Path, help="a directory the layer's requirements were installed into")
    args = parser.parse_args()
    revs = args.rev or ["HEAD"]
    for rev in revs:
        files, size = package_size(rev)
        print(f"wagate package at {rev}: {files} files, {size / 1000:.1f} kB")
    deps_files, deps_size = directory_size(args.deps) if args.deps else (0, 0)
    if args.deps:
        print(f"dependencies in {args.deps}: {deps_files} files, {deps_size / 1e6:.1f} MB")
        packages = sorted((directory_size(p)[1], p.name) for p in args.deps.iterdir() if p.is_dir())
        for size, name in packages[::-1][:5]:
            print(f"    {name}: {size / 1e6:.1f} MB")
    files, size = package_size(revs[-1])
    print(
        f"layer_size: {files + deps_files} files, {(size + deps_size) / 1e6:.2f} MB unpacked at {revs[-1]}"
        f"{'' if args.deps else ' (wagate package only: no --deps)'} (target: only what Lambda runs)"
    )


if __name__ == "__main__":
    main()
