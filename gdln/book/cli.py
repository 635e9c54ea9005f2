"""The command line of the book runner: ``python -m gdln.book list|run|build``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gdln.book.runner import DEFAULTS, ChapterError, chapters, parse_value, run, select
from gdln.book.site import render, stage

__all__ = ["main"]

# ---------------------------------------------------------------- command line

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gdln.book", description="Execute the chapters of the book (cached) and build the HTML book.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the chapters in toc order")
    for cmd, text in [("run", "execute chapters (cached)"), ("build", "execute chapters, then build the HTML book")]:
        p = sub.add_parser(cmd, help=text)
        p.add_argument("chapters", nargs="*", help="chapter names (default: all, in toc order)")
        p.add_argument("--mode", default=DEFAULTS["mode"], help="quick (CPU, minutes) or full (paper scale)")
        p.add_argument("--seed", default=str(DEFAULTS["seed"]), help="random seed (non-negative integer)")
        p.add_argument("--device", default=DEFAULTS["device"], help="auto, cpu, cuda or cuda:N")
        p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                       help="a chapter parameter; VALUE is read as YAML (3, 0.5, true, text)")
        p.add_argument("--force", action="store_true", help="execute even when the cache is up to date")
        p.add_argument("--build-dir", type=Path, default=None, help="default: $GDLN_BUILD_DIR or ./_build")
    args = parser.parse_args(argv)
    try:
        available = chapters()
        if args.command == "list":
            print("\n".join(available))
            return 0
        names = select(args.chapters, available)
        params = {"mode": args.mode, "seed": parse_value(args.seed), "device": args.device}
        params.update({k: parse_value(v) for k, v in args.parameter})
        run(names, params, build=args.build_dir, force=args.force)
        if args.command == "build":
            render(stage(names, build=args.build_dir), build=args.build_dir)
    except (ValueError, FileNotFoundError, ChapterError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2 if isinstance(err, ValueError) else 1
    return 0

