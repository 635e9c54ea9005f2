"""The command line of the book runner: ``python -m gdln.book list|run|build|archive|bounds``.

``build --results archive`` shows each chapter's archived full-mode run (``results/<chapter>/``) where one
stands; ``archive CHAPTER --full-build DIR`` archives the full-mode run published in build folder DIR,
fingerprinted by the quick-mode run of the same code in the default build folder (or ``--quick-build``).
``bounds CHAPTER --seeds 0 1 2`` runs the chapter in quick mode once per seed (in scratch build folders)
and declares the quick-mode guards of its larger-run claims and declared deviations
(``results/bounds/CHAPTER.json``, :mod:`gdln.book.bounds`).

Before any chapter executes, ``run`` and ``build`` check every value (``--mode``, ``--seed`` and ``--device``
given twice, once as a flag and once as ``-p``, with different values are refused), that ``--device cuda``
names a GPU this machine has, each chapter's quick-mode guards, and the size of the run against this machine
(:mod:`gdln.book.budget`: memory, and time against ``--max-hours``; ``--no-size-check`` skips it); ``build``
also checks that the build folder is named ``_build``.

Exit status: 0 success; 2 a rejected parameter value (before the kernel starts or by the chapter itself)
or another usage error; 1 a chapter that failed or a file that could not be read or written; 130 an
interrupt (SIGINT). After 1, 2 or 130 the previous results of the chapter stay published.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gdln.book.provenance import build_dir
from gdln.book.runner import DEFAULTS, ChapterError, chapters, parse_value, run, select
from gdln.book import archive, bounds, budget
from gdln.book.site import RESULTS, check_build_dir, render, stage
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
        p.add_argument("--mode", default=None, help="quick (CPU, minutes; the default) or full (larger runs than quick mode)")
        p.add_argument("--seed", default=None, help=f"random seed (non-negative integer; default {DEFAULTS['seed']})")
        p.add_argument("--device", default=None, help="auto (the default), cpu, cuda or cuda:N")
        p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                       help="a chapter parameter; VALUE is read as YAML (3, 0.5, true, text)")
        p.add_argument("--force", action="store_true", help="execute even when the cache is up to date")
        p.add_argument("--build-dir", type=Path, default=None, help="default: $GDLN_BUILD_DIR or <repo>/_build (relative: to the current folder)")
        p.add_argument("--no-size-check", action="store_true",
                       help="run even when the estimated memory or time of a chapter exceeds this machine's limits")
        p.add_argument("--max-hours", type=float, default=None,
                       help="refuse a chapter estimated to take longer (default: $GDLN_MAX_HOURS or "
                            f"{budget.DEFAULT_MAX_HOURS:g})")
        if cmd == "build":
            p.add_argument("--results", default="build", choices=RESULTS,
                           help="build: show this build's runs; archive: each chapter's archived full-mode run "
                                "where it is current or verified by its fingerprint (results/<chapter>/), "
                                "this build's elsewhere")
    a = sub.add_parser("archive", help="archive a chapter's full-mode run into results/<chapter>/", parents=[common])
    a.add_argument("chapters", nargs="+", help="chapter names")
    a.add_argument("--full-build", type=Path, required=True, help="build folder holding the published full-mode run")
    a.add_argument("--quick-build", type=Path, default=None,
                   help="build folder holding the quick-mode run of the same code (default: the default build folder)")
    b = sub.add_parser("bounds", help="declare quick-mode guards from several seeds into results/bounds/", parents=[common])
    b.add_argument("chapters", nargs="+", help="chapter names")
    b.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="chapter seeds (at least two)")
    args = parser.parse_args(argv)
    try:
        root = args.root.resolve()
        available = chapters(root)
        if args.command == "list":
            print("\n".join(available))
            return 0
        names = select(args.chapters, available)
        if args.command == "bounds":
            for name in names:
                path = bounds.declare(name, args.seeds, root=root)
                print(f"[gdln.book] {name}: {len(bounds.load(name, path.parent))} guard(s) declared in {path}")
            return 0
        if args.command == "archive":
            for name in names:
                entry = archive.archive(name, args.full_build.resolve(), (args.quick_build or build_dir()).resolve(),
                                        log=print)
                print(f"[gdln.book] {name}: archived into {entry.folder}")
            return 0
        params = _parameters(args)
        if args.command == "build":  # before any chapter runs: rendering would refuse it after hours of work
            check_build_dir(args.build_dir)
        run(names, params, root=root, build=args.build_dir, force=args.force, size_check=not args.no_size_check,
            max_hours=args.max_hours)
        if args.command == "build":
            render(stage(names, root=root, build=args.build_dir, results=args.results), root=root,
                   build=args.build_dir)
    except KeyboardInterrupt as err:  # SIGINT: one line, the previous results stay published
        print(f"interrupted: {err or 'previous results kept'}", file=sys.stderr, flush=True)
        return 130
    except (ValueError, OSError, ChapterError) as err:
        # a rejected parameter value is rc 2 whether the CLI or the chapter itself rejected it (ParameterError)
        print(f"error: {err}", file=sys.stderr)
        return 2 if isinstance(err, ValueError) else 1
    return 0


def _parameters(args: argparse.Namespace) -> dict:
    """The parameters of ``run``/``build``: the flags, then ``-p`` pairs; one given twice with two values is refused
    (``--mode full -p mode quick`` would otherwise run quick mode without a word)."""
    params: dict = {}
    given: dict[str, str] = {}
    for key, text in (("mode", args.mode), ("seed", args.seed), ("device", args.device)):
        if text is not None:
            params[key], given[key] = parse_value(text) if key == "seed" else text, f"--{key} {text}"
    for key, text in args.parameter:
        value = parse_value(text)
        if key in params and (params[key] != value or type(params[key]) is not type(value)):
            raise ValueError(f"parameter {key} is given twice, as {given[key]} and as -p {key} {text}; "
                             "expected one value: give it once")
        params[key], given[key] = value, f"-p {key} {text}"
    for key, default in DEFAULTS.items():
        params.setdefault(key, default)
    return params
