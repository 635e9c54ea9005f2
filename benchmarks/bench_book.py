"""Time `make book` for a few chapters in quick mode: from a clean build folder, then unchanged.

    python benchmarks/bench_book.py                      # framework + xor (targets: <= 120 s, <= 20 s)
    python benchmarks/bench_book.py --chapters race      # other chapters

Builds into a temporary folder (GDLN_BUILD_DIR), so the repository's _build is left alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"clean": 120.0, "unchanged": 20.0}


def make_book(chapters: list[str], build: Path) -> float:
    env = {**os.environ, "GDLN_BUILD_DIR": str(build)}
    started = time.perf_counter()
    subprocess.run(["make", "--no-print-directory", "book", f"CHAPTERS={' '.join(chapters)}"], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", nargs="+", default=["framework", "xor"])
    args = parser.parse_args()
    subprocess.run(["make", "--no-print-directory", "env", "vendor"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        build = Path(tmp) / "_build"
        times = {"clean": make_book(args.chapters, build), "unchanged": make_book(args.chapters, build)}
    cores = os.cpu_count()
    print(f"make book, chapters {' + '.join(args.chapters)}, quick mode, {cores} cores, "
          f"{platform.processor() or platform.machine()}, Python {sys.version.split()[0]}")
    print(f"| build | wall time | target |\n|---|---|---|")
    for k, t in times.items():
        print(f"| {k} | {t:.1f} s | <= {TARGETS[k]:.0f} s{'' if t <= TARGETS[k] else ' (MISSED)'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
