"""The command line of the book runner: ``python -m gdln.book list|run|build``.

Exit status: 0 success; 2 a rejected parameter value (before the kernel starts or by the chapter itself)
or another usage error; 1 a chapter that failed or a file that could not be read or written; 130 an
interrupt (SIGINT). After 1, 2 or 130 the previous results of the chapter stay published.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gdln.book.runner import DEFAULTS, ChapterError, chapters, parse_value, run, select
from gdln.book.site import render, stage
from gdln.util.files import REPO_ROOT

__all__ = ["main"]

# ---------------------------------------------------------------- command line

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gdln.book", description="Execute the chapters of the book (cached) and build the HTML book.")
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=REPO_ROOT,
                        help="the book to use: a folder with _toc.yml and book/ (default: this checkout)")
    sub.add_parser("list", help="list the chapters in toc order", parents=[common])
    for cmd, text in [("run", "execute chapters (cached)"), ("build", "execute chapters, then build the HTML book")]:
        p = sub.add_parser(cmd, help=text, parents=[common])
        p.add_argument("chapters", nargs="*", help="chapter names (default: all, in toc order)")
        p.add_argument("--mode", default=DEFAULTS["mode"], help="quick (CPU, minutes) or full (paper scale)")
        p.add_argument("--seed", default=str(DEFAULTS["seed"]), help="random seed (non-negative integer)")
        p.add_argument("--device", default=DEFAULTS["device"], help="auto, cpu, cuda or cuda:N")
        p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                       help="a chapter parameter; VALUE is read as YAML (3, 0.5, true, text)")
        p.add_argument("--force", action="store_true", help="execute even when the cache is up to date")
        p.add_argument("--build-dir", type=Path, default=None, help="default: $GDLN_BUILD_DIR or <repo>/_build (relative: to the current folder)")
    args = parser.parse_args(argv)
    try:
        root = args.root.resolve()
        available = chapters(root)
        if args.command == "list":
            print("\n".join(available))
            return 0
        names = select(args.chapters, available)
        params = {"mode": args.mode, "seed": parse_value(args.seed), "device": args.device}
        params.update({k: parse_value(v) for k, v in args.parameter})
        run(names, params, root=root, build=args.build_dir, force=args.force)
        if args.command == "build":
            render(stage(names, root=root, build=args.build_dir), root=root, build=args.build_dir)
    except KeyboardInterrupt as err:  # SIGINT: one line, the previous results stay published
        print(f"interrupted: {err or 'previous results kept'}", file=sys.stderr, flush=True)
        return 130
    except (ValueError, OSError, ChapterError) as err:
        # a rejected parameter value is rc 2 whether the CLI or the chapter itself rejected it (ParameterError)
        print(f"error: {err}", file=sys.stderr)
        return 2 if isinstance(err, ValueError) else 1
    return 0

