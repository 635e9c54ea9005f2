"""Fault injection: every cached result and every claim belongs to the run that made it (issue 12).

Each test plays one or more faults against a tiny book in a temporary folder (synthetic chapters that
take a second to run; one reads the real MNIST test files) and then checks three things:

- **only complete runs are shown**: the Reproduction report of the book holds the claims of the run its
  provenance names, and no claim of a run that did not finish;
- **nothing good was lost**: the run published before the fault is still published (or the run of the
  fault itself, complete, when it got past its commit point);
- **the next run recovers**: a plain ``run`` afterwards succeeds and leaves a complete run.

The layers on top of the runs (issue 18) are tried the same way: the chapter archive (``results/<chapter>/``,
``python -m gdln.book archive``: killed at each of its renames, altered, damaged, judged with other
quick-mode parameters than its fingerprint's), the quick-mode guards (``results/bounds/``: a misspelled
claim id, broken JSON), the checks made before any chapter executes (a build folder not named ``_build``,
``--device cuda`` without a GPU, ``--mode full -p mode quick``, a size the machine cannot hold) and the
vendored JavaScript (its folders readable by others; an unreadable one refused at staging). Each checks that
nothing was lost and that the message names the value or the file.

The runs are started through the command line (``gdln.book.cli.main``) in processes forked from one
helper process that has imported gdln once (a fresh interpreter costs seconds of imports per run), so
that they can be killed (SIGKILL, SIGINT) at chosen moments. The suite prints a table of the faults
tried and survived at the end of the session.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import chapter_md as _chapter

from gdln.book import runner
from gdln.book.report import report_markdown
from gdln.book.site import stage
from gdln.data import loaders as data
from gdln.util.files import FILE_MODE, REPO_ROOT

# ---------------------------------------------------------------- the faults table

FAULTS: list[tuple[str, bool, str]] = []  # (fault, survived, what was checked)


class _Summary:
    """Prints the faults table at the end of the session (a plugin registered by the first test)."""

    def pytest_terminal_summary(self, terminalreporter):
        if not FAULTS:
            return
        tr = terminalreporter
        survived = sum(ok for _, ok, _ in FAULTS)
        tr.write_sep("=", f"faults tried: {len(FAULTS)} / survived: {survived}")
        width = max(len(f) for f, _, _ in FAULTS)
        tr.write_line(f"{'fault':<{width}}  survived  checked")
        for fault, ok, checked in FAULTS:
            tr.write_line(f"{fault:<{width}}  {'yes' if ok else 'NO':<8}  {checked}")


@pytest.fixture(scope="module", autouse=True)
def _faults_table(request):
    if not request.config.pluginmanager.has_plugin("gdln-faults"):
        request.config.pluginmanager.register(_Summary(), "gdln-faults")
    yield


class fault:
    """``with fault("name", "what is checked"):`` records one fault tried, and whether it was survived."""

    def __init__(self, name: str, checked: str):
        self.name, self.checked = name, checked

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        FAULTS.append((self.name, kind is None, self.checked))
        return False


# ---------------------------------------------------------------- a tiny book

COMMON = 'mode = "quick"\nseed = 0\ndevice = "auto"\n'

#: Writes one claim whose statement names the seed, without importing gdln (a kernel starts in a second).
ALPHA = _chapter("Alpha", COMMON + "pause = 0.0\nfail = False\n", """
    import json, os, time
    time.sleep(pause)
    if fail:
        raise RuntimeError("this chapter fails on purpose")
    """, """
    claims = [{"id": "alpha.seed", "ref": "none", "statement": f"written by the run with seed {seed}.",
               "measured": float(seed), "target": float(seed), "tolerance": 0.0, "kind": "abs", "passed": True,
               "status": "pass", "mode": mode, "note": ""}]
    if os.environ.get("GDLN_CLAIMS_DIR"):
        with open(os.path.join(os.environ["GDLN_CLAIMS_DIR"], "alpha.json"), "w") as f:
            json.dump(claims, f)
    time.sleep(pause)
    """)

#: Declares its parameter's validator in a Chapter(...) preamble: a bad value is rejected before any kernel.
GAMMA = _chapter("Gamma", COMMON + "steps = 3\n", """
    from gdln.book.chapter import Chapter
    from gdln.book.parameters import at_least
    ch = Chapter("gamma", mode, seed, device, show=False, steps=(steps, at_least(1)))
    ch.finish()
    """)

#: Checks its parameter in the kernel only: the runner learns of a bad value from the chapter itself.
DELTA = _chapter("Delta", COMMON + "steps = 3\n", """
    from gdln.book.parameters import at_least
    at_least(1).check("steps", steps)
    """)

#: Reads the real MNIST test files through gdln.data and claims a statistic of them.
MNIST = _chapter("Mnist", COMMON, """
    from gdln.book.claims import Claims
    from gdln.data import load_mnist
    x, y = load_mnist("test")
    claims = Claims("mnist", mode)
    claims.check("mnist.count", evidence="empirical", ref="none", statement=f"the test set has {len(y)} images.", measured=len(y),
                 target=10000, tolerance=0)
    claims.save()
    """)

#: Uses gdln's Claims with no GDLN_CLAIMS_DIR: run by plain papermill, it must write nothing anywhere.
EPSILON = _chapter("Epsilon", COMMON, """
    from gdln.book.claims import Claims
    claims = Claims("epsilon", mode)
    claims.check("epsilon.seed", evidence="empirical", ref="none", statement="the seed.", measured=seed, target=seed, tolerance=0)
    print("claims written to", claims.save())
    """)

#: Records one claim and shows its badge as gdln's Claims.check does (its plain-text form), without importing gdln
#: (a kernel starts in a second): its full run is archived. tests/test_archive.py archives a chapter using Claims.
ZETA = _chapter("Zeta", COMMON + "steps = 3\n", """
    import json, os
    from IPython.display import display
    measured = float((steps + seed) * (100 if mode == "full" else 1))
    claim = {"id": "zeta.size", "ref": "none", "statement": "the problem is large enough", "measured": measured,
             "target": 1.0, "tolerance": 0.0, "kind": "ge", "passed": True, "status": "pass", "mode": mode, "note": "",
             "evidence": "empirical"}
    display({"text/plain": f"[PASS] claim zeta.size (none): measured {measured:.3g}, criterion \u2265 1"}, raw=True)
    if os.environ.get("GDLN_CLAIMS_DIR"):
        with open(os.path.join(os.environ["GDLN_CLAIMS_DIR"], "zeta.json"), "w") as f:
            json.dump([claim], f)
    """)

CHAPTERS = {"alpha": ALPHA, "gamma": GAMMA, "delta": DELTA, "mnist": MNIST, "epsilon": EPSILON, "zeta": ZETA}

#: The helper process runs forked from: gdln imported once; commands and answers are JSON lines.
ZYGOTE = textwrap.dedent("""\
    import json, os, shutil, signal, sys, traceback
    import jupytext, nbclient, nbformat, papermill
    import gdln.book.cli as cli
    from gdln.book import archive, provenance, runner
    fixed = provenance.source_hash()  # one gdln hash for all runs of the suite (others may be editing the checkout)
    for module in (provenance, runner, archive):
        module.source_hash = lambda: fixed

    def arm(k, now=False):
        # SIGKILL this run just before the k-th rename, link or removal after the notebook was executed
        # (now: after the command started)
        state = {"on": now, "n": 0}
        real = papermill.execute_notebook
        def execute_notebook(*a, **kw):
            out = real(*a, **kw)
            state["on"] = True
            return out
        papermill.execute_notebook = execute_notebook
        def counted(fn):
            def wrapper(*a, **kw):
                if state["on"]:
                    state["n"] += 1
                    if state["n"] == k:
                        os.kill(os.getpid(), signal.SIGKILL)
                return fn(*a, **kw)
            return wrapper
        os.replace, os.symlink, shutil.rmtree = counted(os.replace), counted(os.symlink), counted(shutil.rmtree)

    for line in sys.stdin:
        cmd = json.loads(line)
        if "wait" in cmd:
            _, status = os.waitpid(cmd["wait"], 0)
            print(json.dumps({"rc": os.waitstatus_to_exitcode(status)}), flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            rc = 99
            try:
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                out = os.open(cmd["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(out, 1)
                os.dup2(out, 2)
                os.chdir(cmd["cwd"])
                for k in cmd.get("unset", []):
                    os.environ.pop(k, None)
                os.environ.update(cmd.get("env", {}))
                signal.signal(signal.SIGINT, signal.default_int_handler)
                if cmd.get("kill_at"):
                    arm(cmd["kill_at"], cmd.get("kill_now", False))
                rc = cli.main(cmd["argv"])
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(rc)
        print(json.dumps({"pid": pid}), flush=True)
    """)


def _without_root_bypass() -> list[str]:
    """A command prefix under which root obeys file modes (no CAP_DAC_OVERRIDE): read-only folders stay so."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        return []
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


#: Whether the runs can be shown a read-only folder (as root only without CAP_DAC_OVERRIDE, via setpriv).
READ_ONLY = os.geteuid() != 0 or shutil.which("setpriv") is not None
read_only = pytest.mark.skipif(not READ_ONLY, reason="root without setpriv: mode bits cannot make a folder read-only")


class Book:
    """The tiny book, its build folder, and runs of its command line (forked from the helper process)."""

    def __init__(self, root: Path):
        self.root, self.build = root, root / "_build"
        self.logs = root / "logs"
        self.logs.mkdir()
        (root / "zygote.py").write_text(ZYGOTE)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        for k in ("GDLN_DATA_DIR", "GDLN_CACHE_DIR", "GDLN_BUILD_DIR", "GDLN_CLAIMS_DIR", data.MANIFEST_ENV):
            env.pop(k, None)
        env["GDLN_CACHE_DIR"] = str(root / "cache")
        # as root, without the capability to ignore file modes: a read-only folder is read-only to the runs too
        self.zygote = subprocess.Popen([*_without_root_bypass(), sys.executable, str(root / "zygote.py")],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=root)
        self.n = 0

    def _ask(self, cmd: dict) -> dict:
        self.zygote.stdin.write(json.dumps(cmd) + "\n")
        self.zygote.stdin.flush()
        return json.loads(self.zygote.stdout.readline())

    def start(self, *args: str, env: dict | None = None, unset=(), cwd: Path | None = None, kill_at: int = 0,
              build: bool = True, kill_now: bool = False) -> "Run":
        self.n += 1
        out = self.logs / f"run{self.n}.txt"
        argv = [args[0], "--root", str(self.root), *(["--build-dir", str(self.build)] if build else []), *args[1:]]
        pid = self._ask({"argv": argv, "out": str(out), "cwd": str(cwd or self.root), "env": env or {},
                         "unset": list(unset), "kill_at": kill_at, "kill_now": kill_now})["pid"]
        return Run(self, pid, out)

    def run(self, *args: str, **kw) -> "Run":
        return self.start(*args, **kw).wait()

    def close(self):
        self.zygote.stdin.close()
        self.zygote.wait(timeout=30)

    # ------------------------------------------------------------ what is published, what the report shows

    def published(self, name: str = "alpha") -> dict | None:
        found = runner.published(self.build, name)
        return found[0] if found else None

    def report(self, names=("alpha",)) -> str:
        return report_markdown(list(names), self.build)

    def check(self, name: str = "alpha", *, expect: dict | None = None) -> dict | None:
        """Only claims of a complete run are shown: the report's claims are those of the published run."""
        record = self.published(name)
        text = self.report([name])
        claims_path = runner._paths(self.build, name)[2]
        if record is None:
            assert not claims_path.exists() and "not executed" in text, text
            return None
        if record["files"]["claims"] is None:  # a chapter that writes no claims: none shown
            assert not claims_path.exists() and not record["claims"], record
        else:
            assert json.loads(claims_path.read_text()) and record["claims"], record
        if name == "alpha":  # the statement names the seed that made the claim: it must be the record's
            seeds = [s for s in range(0, 100) if f"written by the run with seed {s}." in text]
            assert seeds == [record["parameters"]["seed"]], (seeds, record["parameters"])
        if expect is not None:
            assert record["run_id"] == expect["run_id"], (record["run_id"], expect["run_id"])
        self.no_kernel_left()
        return record

    def no_kernel_left(self, timeout: float = 20.0) -> None:
        """No process started for this build (a kernel of a killed run) is still running."""
        mark = f"GDLN_BUILD_DIR={self.build}".encode()
        deadline = time.monotonic() + timeout
        while True:
            alive = []
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    if mark in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                        alive.append(pid)
                except OSError:
                    pass
            if not alive or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert not alive, f"processes of this build still running: {alive}"

    def leftovers(self, name: str = "alpha") -> list[str]:
        runs = self.build / "runs" / name
        return sorted(p.name for p in runs.iterdir() if p.name != "current") if runs.is_dir() else []


class Run:
    def __init__(self, book: Book, pid: int, out: Path):
        self.book, self.pid, self.out, self.rc = book, pid, out, None

    def signal(self, sig) -> None:
        os.kill(self.pid, sig)

    def wait(self) -> "Run":
        self.rc = self.book._ask({"wait": self.pid})["rc"]
        return self

    @property
    def text(self) -> str:
        return self.out.read_text() if self.out.exists() else ""  # the forked run may not have opened it yet


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    (root / "book" / "_vendor" / "static").mkdir(parents=True)
    (root / "book" / "_vendor" / "static" / "x.js").write_text("//")
    (root / "book" / "intro.md").write_text("# Intro\n\nNo code.\n")
    (root / "book" / "report.md").write_text("# Report\n\n<!-- gdln:report -->\n")
    for name, text in CHAPTERS.items():
        (root / "book" / f"{name}.md").write_text(text)
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                   + "".join(f"  - file: {n}\n" for n in [*CHAPTERS, "report"]))
    b = Book(root)
    yield b
    b.close()


@pytest.fixture(scope="module")
def baseline(book):
    """A good run of alpha (seed 0), and how long a forced run of it takes."""
    first = book.run("run", "alpha")
    assert first.rc == 0, first.text
    started = time.monotonic()
    again = book.run("run", "alpha", "--force", "-p", "pause", "0.5")
    book.duration = time.monotonic() - started
    assert again.rc == 0, again.text
    good = book.run("run", "alpha")  # back to the default parameters
    assert good.rc == 0, good.text
    return book.check()


def _good(book: Book) -> dict:
    """Make sure alpha's default run is published (re-running it if a test changed it); return its record."""
    run = book.run("run", "alpha")
    assert run.rc == 0, run.text
    return book.check()


def _recovers(book: Book, name: str = "alpha", *args: str, env: dict | None = None) -> dict:
    run = book.run("run", name, *args, env=env)
    assert run.rc == 0, run.text
    record = book.check(name)
    assert record is not None
    assert len(book.leftovers(name)) <= 2, book.leftovers(name)  # killed runs' folders are collected
    return record


# ---------------------------------------------------------------- issue 12, item 1 and SIGKILL over a run

def test_sigkill_right_after_the_claims_of_a_forced_run_appear(book, baseline):
    """Issue item 1: the claims of a killed `--force --seed 5` run must not reach the report as the cached run's."""
    with fault("SIGKILL just after a --force --seed 5 run wrote its claims (issue 1)",
               "report keeps seed-0 claims and provenance; run says cached; build stages seed 0"):
        good = _good(book)
        before = set(book.build.glob("runs/alpha/*/alpha.json"))
        run = book.start("run", "alpha", "--force", "--seed", "5", "-p", "pause", "2.0")
        deadline = time.monotonic() + 60
        while not set(book.build.glob("runs/alpha/*/alpha.json")) - before:
            assert time.monotonic() < deadline, run.text
            time.sleep(0.02)
        run.signal(signal.SIGKILL)
        assert run.wait().rc == -signal.SIGKILL
        book.check(expect=good)
        again = book.run("run", "alpha")
        assert again.rc == 0 and "alpha: cached" in again.text, again.text
        book.check(expect=good)
        site = stage(["alpha"], root=book.root, build=book.build)
        assert "written by the run with seed 0." in (site / "report.md").read_text()
        assert "seed 5" not in (site / "report.md").read_text()


@pytest.mark.parametrize("fraction", [0.1, 0.35, 0.6, 0.85])
def test_sigkill_at_a_point_of_the_run(book, baseline, fraction):
    with fault(f"SIGKILL at {fraction:.0%} of a forced run (seed 7)",
               "previous run still published; report consistent; next run recovers"):
        good = _good(book)
        run = book.start("run", "alpha", "--force", "--seed", "7", "-p", "pause", "0.5")
        time.sleep(fraction * book.duration)
        run.signal(signal.SIGKILL)
        run.wait()
        record = book.check()  # the previous run, or (killed past its commit point) the new one, complete
        assert record["run_id"] == good["run_id"] or record["parameters"]["seed"] == 7, record
        _recovers(book)


@pytest.mark.parametrize("step", [1, 2, 3, 4])
def test_sigkill_while_publishing(book, baseline, step):
    """Killed just before the k-th file operation after the notebook ran: record, link, commit rename, cleanup."""
    what = {1: "before its record is renamed into place", 2: "before the new link is made",
            3: "before the link is renamed over `current` (the commit point)", 4: "while old run folders are removed"}
    with fault(f"SIGKILL {what[step]}", "previous run published, or the new one complete; next run recovers"):
        good = _good(book)
        book.build.joinpath("runs", "alpha", "left-by-a-killed-run").mkdir(exist_ok=True)  # something to remove
        run = book.run("run", "alpha", "--force", "--seed", "8", kill_at=step)
        record = book.check()
        if step <= 3:
            assert run.rc == -signal.SIGKILL and record["run_id"] == good["run_id"], run.text
        else:  # past the commit point: the new run is the published one, complete
            assert record["parameters"]["seed"] == 8, record
        _recovers(book)


def test_sigint_gives_one_line_and_keeps_the_previous_run(book, baseline):
    with fault("SIGINT during a run (issue 6)", "rc 130, one line, previous run published"):
        good = _good(book)
        run = book.start("run", "alpha", "--force", "--seed", "9", "-p", "pause", "3.0")
        deadline = time.monotonic() + 60
        while "executing" not in run.text:
            assert time.monotonic() < deadline, run.text
            time.sleep(0.05)
        time.sleep(1.0)
        run.signal(signal.SIGINT)
        assert run.wait().rc == 130, run.text
        lines = [line for line in run.text.splitlines() if "executing" not in line]
        assert len(lines) == 1 and lines[0].startswith("interrupted: alpha: previous results of alpha kept"), lines
        book.check(expect=good)
        assert book.leftovers() == [good["run_id"]]  # the interrupted run's folder is gone


def test_failing_chapter_keeps_the_previous_run(book, baseline):
    with fault("a chapter that raises", "rc 1 naming the cell, previous run published and said so"):
        good = _good(book)
        run = book.run("run", "alpha", "-p", "fail", "true")
        assert run.rc == 1 and "RuntimeError: this chapter fails on purpose" in run.text, run.text
        assert "previous results of alpha kept" in run.text
        assert (book.build / "executed" / "alpha.failed.ipynb").exists()
        book.check(expect=good)
        _recovers(book)


# ---------------------------------------------------------------- parameters (issue 6)

def test_bad_parameters_are_rejected_before_any_kernel_with_rc_2(book, baseline):
    with fault("-p steps -3 / -p pause .inf / -p seed -1 (issue 6)",
               "rc 2 before any kernel or run folder; previous run published"):
        good = _good(book)
        for args, message in [
                (("gamma", "-p", "steps", "-3"), "error: parameter steps=-3 is invalid; expected an integer >= 1"),
                (("alpha", "-p", "pause", ".inf"), "error: parameter pause=inf is invalid; expected a finite number"),
                (("alpha", "-p", "pause", "nan"), "error: parameter pause=nan is invalid; expected a finite number"),
                (("alpha", "--seed", "-1"), "error: parameter seed=-1 is invalid; expected a non-negative integer")]:
            run = book.run("run", *args)
            assert run.rc == 2 and message in run.text.splitlines(), run.text
            assert "executing" not in run.text, run.text
        assert not (book.build / "runs" / "gamma").exists()
        book.check(expect=good)


def test_a_value_rejected_by_the_chapter_itself_is_rc_2_with_the_same_message(book, baseline):
    with fault("a bad value only the chapter's own code rejects", "rc 2 and the very message of the CLI's check"):
        up_front = book.run("run", "gamma", "-p", "steps", "-3")
        inside = book.run("run", "delta", "-p", "steps", "-3")
        assert up_front.rc == inside.rc == 2, (up_front.text, inside.text)
        message = "error: parameter steps=-3 is invalid; expected an integer >= 1"
        assert message in up_front.text.splitlines() and message in inside.text.splitlines(), inside.text
        assert book.published("delta") is None
        assert book.run("run", "delta").rc == 0 and book.check("delta") is not None


# ---------------------------------------------------------------- tampered and stale results

def test_tampered_or_old_layout_results_are_not_reported(book, baseline):
    with fault("claims manifest truncated / replaced by another file / old-layout files",
               "report shows none of them; next run re-executes and recovers"):
        good = _good(book)
        claims = runner._paths(book.build, "alpha")[2]
        text = claims.read_text()
        claims.write_text(text[: len(text) // 2])  # truncated in place
        assert book.published() is None and book.check() is None
        _recovers(book)
        view = book.build / "claims" / "alpha.json"
        view.unlink()
        view.write_text(text.replace("seed 0.", "seed 3."))  # a plain file where the link was (issue 5's writer)
        assert book.published() is None and "seed 3" not in book.report()
        _recovers(book)
        # a build from before run folders: plain files, a record without run id or checksums
        shutil.rmtree(book.build / "runs" / "alpha")
        for view in runner._views(book.build, "alpha"):
            view.unlink()
        (book.build / "executed" / "alpha.ipynb").write_text("{}")
        (book.build / "claims" / "alpha.json").write_text(text)
        (book.build / "executed" / "alpha.hash.json").write_text(json.dumps({**good, "run_id": None}))
        assert book.published() is None and book.check() is None
        run = book.run("run", "alpha")
        assert run.rc == 0 and "executing" in run.text
        book.check()


def test_two_concurrent_runs_of_one_chapter(book, baseline):
    with fault("two concurrent runs of one chapter", "the second waits for the lock; both rc 0; one complete run"):
        _good(book)
        first = book.start("run", "alpha", "--force", "--seed", "11", "-p", "pause", "1.0")
        time.sleep(0.3)
        second = book.start("run", "alpha", "--force", "--seed", "12", "-p", "pause", "1.0")
        assert first.wait().rc == 0 and second.wait().rc == 0, (first.text, second.text)
        waited = [r for r in (first, second) if "waiting for the run of this chapter" in r.text]
        assert len(waited) == 1, (first.text, second.text)
        record = book.check()
        assert record["parameters"]["seed"] == (12 if waited[0] is second else 11)
        same = [book.start("run", "alpha", "--seed", "13") for _ in range(2)]  # the same run asked twice
        assert [r.wait().rc for r in same] == [0, 0]
        assert sum("alpha: executing" in r.text for r in same) == 1, [r.text for r in same]  # the other: cached
        assert book.check()["parameters"]["seed"] == 13
        _recovers(book)


# ---------------------------------------------------------------- the data (issue 2, 3, 4)

def _mnist_dir(root: Path) -> Path:
    try:
        shared = data._find(("mnist/t10k-images-idx3-ubyte.gz",), "MNIST", None)
    except data.DataMissingError as e:
        pytest.skip(f"MNIST not available: {e}")
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    for name in data.MNIST_FILES["test"]:
        shutil.copy(shared / "mnist" / name, root / "mnist" / name)
    return root


@pytest.fixture(scope="module")
def mnist(book):
    d = _mnist_dir(book.root / "data")
    run = book.run("run", "mnist", env={"GDLN_DATA_DIR": str(d)})
    assert run.rc == 0, run.text
    return d


def test_data_changed_under_a_cached_chapter(book, mnist):
    env = {"GDLN_DATA_DIR": str(mnist)}
    good = book.check("mnist")
    images = mnist / "mnist" / "t10k-images-idx3-ubyte.gz"
    original = images.read_bytes()
    with fault("the same MNIST bytes in another folder", "still cached: the data's identity is its content"):
        other = _mnist_dir(book.root / "data-copy")
        run = book.run("run", "mnist", env={"GDLN_DATA_DIR": str(other)})
        assert run.rc == 0 and "mnist: cached" in run.text, run.text
    with fault("a truncated MNIST .gz under a cached chapter (issues 2, 4)",
               "not cached; rc 1 naming the file and its expected checksum; previous run published"):
        images.write_bytes(original[: len(original) // 3])
        run = book.run("run", "mnist", env=env)
        assert run.rc == 1 and "the data of its last run changed" in run.text, run.text
        assert str(images) in run.text and data.EXPECTED["mnist/t10k-images-idx3-ubyte.gz"].digest in run.text
        assert "previous results of mnist kept" in run.text
        book.check("mnist", expect=good)
    with fault("GDLN_DATA_DIR pointing at a folder that does not exist (issue 2)",
               "not cached; rc 1 naming the folder; previous run published"):
        run = book.run("run", "mnist", env={"GDLN_DATA_DIR": str(book.root / "no-such-folder")})
        assert run.rc == 1 and "no-such-folder" in run.text and "MNIST (test) not found" in run.text, run.text
        book.check("mnist", expect=good)
    with fault("MNIST re-compressed under a cached chapter (other bytes, same content)",
               "not cached: executed again with the same claims; then recovers"):
        images.write_bytes(gzip.compress(gzip.decompress(original), compresslevel=1))
        run = book.run("run", "mnist", env=env)
        assert run.rc == 0 and "executing" in run.text, run.text
        record = book.check("mnist")
        assert record["run_id"] != good["run_id"]
        assert [f["sha256"] for s in record["data"]["sources"] for f in s["files"]][0] != \
            [f["sha256"] for s in good["data"]["sources"] for f in s["files"]][0]
        images.write_bytes(original)
        _recovers(book, "mnist", env=env)


def test_truncated_data_cache(book, mnist):
    env = {"GDLN_DATA_DIR": str(mnist)}
    with fault("the decoded MNIST cache truncated (issue 4)", "a one-line warning, recomputed, same claims"):
        [cache] = [Path(c["path"]) for c in book.published("mnist")["data"]["caches"]]
        cache.write_bytes(cache.read_bytes()[:1000])
        run = book.run("run", "mnist", "--force", env=env)
        assert run.rc == 0, run.text
        nb = (book.build / "executed" / "mnist.ipynb").read_text()
        assert f"warning: gdln.data: cache {cache} is unusable" in nb and "recomputing" in nb
        assert book.check("mnist") and stat.S_IMODE(cache.stat().st_mode) == FILE_MODE


@read_only
def test_read_only_cache_folder(book, mnist):
    env = {"GDLN_DATA_DIR": str(mnist)}
    with fault("a read-only cache folder (issue 4)", "the run succeeds, arrays kept in memory, one warning"):
        folder = book.root / "read-only-cache"
        shutil.copytree(book.root / "cache", folder)  # with the file hashes, without the MNIST cache:
        for c in folder.glob("mnist_test-*.npz"):     # the arrays must be decoded and cannot be saved
            c.unlink()
        folder.chmod(0o555)
        try:
            run = book.run("run", "mnist", "--force", env={**env, "GDLN_CACHE_DIR": str(folder)})
        finally:
            folder.chmod(0o755)
        assert run.rc == 0, run.text
        nb = (book.build / "executed" / "mnist.ipynb").read_text()
        assert f"cannot write the cache folder {folder} (Permission denied); keeping results in memory" in nb
        assert nb.count("warning: gdln.data") == 1
        book.check("mnist")


def test_relative_data_and_cache_dirs_are_the_callers(book, mnist):
    """Issue item 3: relative GDLN_DATA_DIR / GDLN_CACHE_DIR are taken from the caller's folder, and staging
    never copies a build or cache folder."""
    with fault("relative GDLN_DATA_DIR and GDLN_CACHE_DIR=_build/x (issue 3)",
               "data found, cache in the caller's folder, nothing of it staged"):
        caller = book.root / "caller"
        caller.mkdir()
        run = book.run("run", "mnist", "--force", cwd=caller,
                       env={"GDLN_DATA_DIR": os.path.relpath(mnist, caller), "GDLN_CACHE_DIR": "_build/x"})
        assert run.rc == 0, run.text
        assert list((caller / "_build" / "x").glob("mnist_test-*.npz"))
        assert not (book.root / "book" / "_build").exists()
        # a cache that an older version put inside book/ is never staged
        (book.root / "book" / "_build" / "x").mkdir(parents=True)
        (book.root / "book" / "_build" / "x" / "big.npz").write_bytes(b"0" * 1000)
        site = stage(["mnist"], root=book.root, build=book.build)
        assert not list(site.rglob("*.npz")), list(site.rglob("*.npz"))
        shutil.rmtree(book.root / "book" / "_build")


# ---------------------------------------------------------------- permissions and read-only folders

def test_files_are_written_0644(book, baseline):
    with fault("modes of the files of a run (issue 4)", "record, claims, notebook, cache: the mode open() gives"):
        good = _good(book)
        run_dir = book.build / "runs" / "alpha" / good["run_id"]
        for f in [run_dir / "record.json", run_dir / "alpha.json", run_dir / "alpha.ipynb"]:
            assert stat.S_IMODE(f.stat().st_mode) == FILE_MODE, f


@read_only
def test_read_only_build_folder(book, baseline):
    with fault("a read-only build folder", "rc 1 saying it cannot write; previous run published; then recovers"):
        good = _good(book)
        folders = [book.build / "runs" / "alpha", book.build / "executed", book.build / "claims"]
        for f in folders:
            f.chmod(0o555)
        try:
            run = book.run("run", "alpha", "--force", "--seed", "21")
            assert run.rc == 1, run.text
            assert "cannot write its run" in run.text and "previous results of alpha kept" in run.text
            book.check(expect=good)
            cached = book.run("run", "alpha")  # reading a read-only build is fine
            assert cached.rc == 0 and "alpha: cached" in cached.text, cached.text
        finally:
            for f in folders:
                f.chmod(0o755)
        _recovers(book)


# ---------------------------------------------------------------- outside the runner (issue 5)

def test_plain_papermill_writes_nothing_into_the_book(book, baseline, tmp_path):
    with fault("a chapter converted with jupytext and run by plain papermill with -p seed 1 (issue 5)",
               "no extra flags needed; nothing written into the build folder; report unchanged"):
        good = _good(book)
        before = {p: p.read_bytes() for p in book.build.rglob("*") if p.is_file() and "locks" not in p.parts}
        bin_dir = Path(sys.executable).parent
        env = {k: v for k, v in os.environ.items() if not k.startswith("GDLN_")}
        env.update(GDLN_BUILD_DIR=str(book.build), PYTHONPATH=str(REPO_ROOT))  # a Claims default would write here
        subprocess.run([str(bin_dir / "jupytext"), "--to", "ipynb", "-o", str(tmp_path / "eps.ipynb"),
                        str(book.root / "book" / "epsilon.md")], check=True, capture_output=True, env=env)
        proc = subprocess.run([str(bin_dir / "papermill"), str(tmp_path / "eps.ipynb"), str(tmp_path / "out.ipynb"),
                               "-p", "seed", "1", "--cwd", str(tmp_path)], capture_output=True, text=True, env=env,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "claims written to None" in (tmp_path / "out.ipynb").read_text()
        after = {p: p.read_bytes() for p in book.build.rglob("*") if p.is_file() and "locks" not in p.parts}
        assert after == before and not list(book.build.rglob("epsilon*"))
        book.check(expect=good)


def test_every_chapter_names_its_kernel_language():
    """Plain papermill needs no `-k python3 --language python`: the kernelspec of each chapter says python."""
    import yaml

    for source in sorted((REPO_ROOT / "book").glob("*.md")):
        text = source.read_text(encoding="utf-8")
        if "```{code-cell}" not in text:
            continue
        front = yaml.safe_load(text.split("---\n")[1])
        assert front["kernelspec"].get("language") == "python", source.name


# ---------------------------------------------------------------- the chapter archive (issue 18, items 4-6)

class Archive:
    """Chapter zeta's full runs (seed 0 and seed 1, in build folders of their own) and the results folder."""

    def __init__(self, book: Book):
        self.book, self.results = book, book.root / "results"
        self.env = {"GDLN_RESULTS_DIR": str(self.results)}
        self.full = {s: book.root / f"full{s}" / "_build" for s in (0, 1)}

    def archive(self, seed: int = 0, **kw) -> Run:
        return self.book.run("archive", "zeta", "--full-build", str(self.full[seed]), "--quick-build",
                             str(self.book.build), env=self.env, build=False, **kw)

    def entry(self):
        from gdln.book import archive

        return archive.load("zeta", self.results)

    def listing(self) -> list[str]:
        return sorted(p.name for p in self.results.iterdir())

    def good(self, seed: int = 0):
        """Zeta's entry archived from the full run of ``seed`` (re-archived when another stands); it is whole."""
        entry = self.entry()
        if entry is None or entry.damaged or entry.claims[0]["measured"] != (3 + seed) * 100:
            run = self.archive(seed)
            assert run.rc == 0, run.text
            entry = self.entry()
        assert entry.damaged is None and entry.claims[0]["measured"] == (3 + seed) * 100, entry
        assert self.listing() == ["zeta"], self.listing()
        return entry


@pytest.fixture(scope="module")
def archived(book):
    """Zeta run in quick mode (the fingerprint) in the book's build, in full mode with seeds 0 and 1, and archived."""
    a = Archive(book)
    quick = book.run("run", "zeta")
    assert quick.rc == 0, quick.text
    for seed, build in a.full.items():
        run = book.run("run", "zeta", "--mode", "full", "--seed", str(seed), "--build-dir", str(build), build=False)
        assert run.rc == 0, run.text
    a.good()
    return a


def _same_code(monkeypatch, entry, other: bool = False):
    """Judge in this process with the gdln hash of the helper that made the runs (or another one: other code)."""
    from gdln.book import archive

    made = entry.manifest["record"]["gdln_source_hash"]
    monkeypatch.setattr(archive, "source_hash", lambda: "0" * 64 if other else made)


@pytest.mark.parametrize("step", [1, 2, 3, 4])
def test_sigkill_while_archiving(book, archived, step, monkeypatch):
    """Killed before the k-th rename or removal of `archive`: the manifest into the new folder, the old entry
    aside (.zeta.replaced), the new entry into place (the commit point), the old entry removed."""
    what = {1: "before its manifest is renamed into place", 2: "before the old entry is moved aside",
            3: "before the new entry is renamed into place (the commit point)", 4: "before the old entry is removed"}
    with fault(f"SIGKILL of `archive` {what[step]} (issue 18, item 4)",
               "old entry or the new one, whole; a later load restores .replaced, removes temporary folders"):
        archived.good(seed=0)
        run = archived.archive(seed=1, kill_at=step, kill_now=True)
        assert run.rc == -signal.SIGKILL, run.text
        left = archived.listing()
        assert left != ["zeta"], left  # something was left to recover
        monkeypatch.setenv("GDLN_RESULTS_DIR", str(archived.results))
        _same_code(monkeypatch, archived.entry())
        site = stage(["zeta"], root=book.root, build=book.build, results="archive")  # make book RESULTS=archive
        page = (site / "zeta.ipynb").read_text()
        entry = archived.entry()
        assert archived.listing() == ["zeta"], archived.listing()  # recovered, temporary folders removed
        assert entry is not None and entry.damaged is None, entry
        assert entry.claims[0]["measured"] == (400.0 if step == 4 else 300.0)
        assert "shows the archived full-mode run" in page and ("400" if step == 4 else "300") in page, page[-3000:]
        again = archived.archive(seed=1)
        assert again.rc == 0, again.text
        assert archived.entry().claims[0]["measured"] == 400.0 and archived.listing() == ["zeta"]


def test_an_altered_archive_is_shown_damaged(book, baseline, archived, monkeypatch):
    with fault("claims.json of an archived run edited, then its checksums too (issue 18, item 5)",
               "shown as damaged with the reason, on the page and to the report; never absent, never verified"):
        entry = archived.good()
        monkeypatch.setenv("GDLN_RESULTS_DIR", str(archived.results))
        _same_code(monkeypatch, entry)
        claims = entry.folder / "claims.json"
        original = {p: p.read_bytes() for p in entry.folder.iterdir()}
        try:
            claims.write_text(claims.read_text().replace("300.0", "999.0"))
            from gdln.book import archive

            v = archive.verdict(book.build, "zeta")
            assert v.status == "damaged" and "claims.json does not match the SHA-256" in v.reason, v
            manifest = json.loads((entry.folder / "manifest.json").read_text())
            digest = archive.file_digests(claims)["sha256"]
            manifest["files"]["claims"] = manifest["record"]["files"]["claims"] = digest  # checksums made to match
            (entry.folder / "manifest.json").write_text(json.dumps(manifest))
            v = archive.verdict(book.build, "zeta")
            assert v.status == "damaged" and v.entry.claims == [], v
            assert "'zeta.size' is PASS 999 in claims.json but PASS 300 in the notebook" in v.reason, v.reason
            site = stage(["alpha", "zeta"], root=book.root, build=book.build, results="archive")
            page = (site / "zeta.ipynb").read_text()
            assert "shows the archived" not in page and "**damaged**" in page and "PASS 999 in claims.json" in page
            report = (site / "report.md").read_text()
            assert "<b>999</b>" not in report and "**damaged**" in report, report  # never judged: only named in the reason
            assert "written by the run with seed 0." in report  # the other chapters are not affected
        finally:
            for p, data in original.items():
                p.write_bytes(data)
        assert archived.entry().damaged is None


def test_a_broken_archive_manifest_is_damaged_not_absent(book, baseline, archived, monkeypatch):
    with fault("manifest.json of an archived run truncated / notebook.ipynb removed",
               "damaged, naming the file; other chapters staged; archive again recovers"):
        entry = archived.good()
        monkeypatch.setenv("GDLN_RESULTS_DIR", str(archived.results))
        _same_code(monkeypatch, entry)
        from gdln.book import archive

        manifest = entry.folder / "manifest.json"
        manifest.write_text(manifest.read_text()[:200])
        v = archive.verdict(book.build, "zeta")
        assert v.status == "damaged" and "manifest.json is not valid JSON" in v.reason, v
        (entry.folder / "notebook.ipynb").unlink()
        site = stage(["alpha", "zeta"], root=book.root, build=book.build, results="archive")
        assert "**damaged**" in (site / "zeta.ipynb").read_text()
        run = archived.archive()
        assert run.rc == 0, run.text
        assert archive.verdict(book.build, "zeta").status == "current"


def test_quick_parameters_other_than_the_fingerprints_are_not_stale(book, archived, monkeypatch):
    with fault("the quick build run with --seed 3 against a fingerprint of seed 0, code changed (issue 18, item 6)",
               "unverified, saying no run at the fingerprint's parameters exists; seed 0: verified; moved: stale, why"):
        from gdln.book import archive

        entry = archived.good()
        monkeypatch.setenv("GDLN_RESULTS_DIR", str(archived.results))
        _same_code(monkeypatch, entry, other=True)  # today's sources are not the run's
        try:
            run = book.run("run", "zeta", "--seed", "3")
            assert run.rc == 0, run.text
            v = archive.verdict(book.build, "zeta")
            assert v.status == "unverified" and "seed=3 (fingerprint: 0)" in v.reason, v
            assert "no quick-mode run at the fingerprint's parameters exists" in v.reason
            page = (stage(["zeta"], root=book.root, build=book.build, results="archive") / "zeta.ipynb").read_text()
            assert "**unverified**" in page and "stale" not in page and "shows the archived" not in page
        finally:
            run = book.run("run", "zeta")
            assert run.rc == 0, run.text
        assert archive.verdict(book.build, "zeta").status == "verified by fingerprint"
        manifest = entry.folder / "manifest.json"
        text = manifest.read_text()
        try:  # a fingerprint the numbers of today's code no longer meet
            m = json.loads(text)
            m["fingerprint"]["claims"]["zeta.size"] = 3.5
            manifest.write_text(json.dumps(m))
            v = archive.verdict(book.build, "zeta")
            assert v.status == "stale" and "moved its quick-mode numbers" in v.reason and "zeta.size 3.5 -> 3" in v.reason
        finally:
            manifest.write_text(text)


@read_only
def test_archive_into_a_read_only_results_folder(book, archived):
    with fault("`archive` into a results folder that cannot be written",
               "refused before any write, naming the folder; the old entry stands"):
        before = archived.good()
        archived.results.chmod(0o555)
        try:
            run = archived.archive(seed=1)
        finally:
            archived.results.chmod(0o755)
        assert run.rc == 1 and f"cannot write the results folder {archived.results}" in run.text, run.text
        assert archived.entry().manifest == before.manifest and archived.listing() == ["zeta"]


# ---------------------------------------------------------------- checked before any chapter executes (items 7-9)

def test_build_dir_not_named_build_is_refused_before_any_chapter(book, baseline):
    with fault("`build --build-dir out` (not named _build) (issue 18, item 7)",
               "rc 2 naming the folder before any chapter executes"):
        out = book.root / "out"
        run = book.run("build", "alpha", "--force", "--build-dir", str(out), build=False)
        assert run.rc == 2 and f"build directory {out} is invalid; expected a folder named _build" in run.text, run.text
        assert "executing" not in run.text and not (out / "runs").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_is_rc_2_before_the_kernel(book, baseline):
    with fault("`--device cuda` / `cuda:1` on a machine without a GPU (issue 18, item 8)",
               "rc 2 before any kernel, naming the value; previous run published"):
        good = _good(book)
        for device in ("cuda", "cuda:1"):
            run = book.run("run", "alpha", "--force", "--device", device)
            assert run.rc == 2, run.text
            assert f"error: parameter device={device!r} is invalid; expected a device this machine has" in run.text
            assert "executing" not in run.text
        book.check(expect=good)


def test_mode_given_twice_is_refused(book, baseline):
    with fault("`--mode full -p mode quick` (issue 18, item 8)", "rc 2 naming both values; nothing executed"):
        good = _good(book)
        for args, message in [(("--mode", "full", "-p", "mode", "quick"), "as --mode full and as -p mode quick"),
                              (("--seed", "2", "-p", "seed", "3"), "as --seed 2 and as -p seed 3")]:
            run = book.run("run", "alpha", *args)
            assert run.rc == 2 and "is given twice" in run.text and message in run.text, run.text
            assert "executing" not in run.text
        same = book.run("run", "alpha", "--seed", "0", "-p", "seed", "0")  # the same value twice is one value
        assert same.rc == 0 and "alpha: cached" in same.text, same.text
        book.check(expect=good)


def test_a_size_the_machine_cannot_hold_is_refused_with_the_estimate(book, baseline):
    from gdln.book import budget

    with fault("routing with -p M 100000, -p n_h 1000000; --max-hours 1e-6 (issue 18, item 9)",
               "rc 2 before any kernel, naming the value, the estimate, the limit and the largest value that fits"):
        limit = budget._bytes(budget.memory_limit(__import__("torch").device("cpu"))[0])
        for name, value in (("M", "100000"), ("n_h", "1000000")):
            run = book.run("run", "routing", "--root", str(REPO_ROOT), "--device", "cpu", "-p", name, value)
            assert run.rc == 2, run.text
            assert f"error: chapter 'routing' with {name}={value} is too large for this machine" in run.text, run.text
            assert f"of memory" in run.text and f"more than {limit}, this machine's" in run.text, run.text
            assert f"at most {name}=" in run.text and "--no-size-check" in run.text
            assert "executing" not in run.text
        run = book.run("run", "routing", "--root", str(REPO_ROOT), "--device", "cpu", "--max-hours", "1e-6")
        assert run.rc == 2 and "peak rate" in run.text and "more than the limit of" in run.text, run.text
        assert not (book.build / "runs" / "routing").exists()


# ---------------------------------------------------------------- the quick-mode guards (item 11)

def _guards(book: Book, text: str) -> dict:
    folder = book.root / "bounds"
    folder.mkdir(exist_ok=True)
    (folder / "zeta.json").write_text(text)
    return {"GDLN_BOUNDS_DIR": str(folder)}


def test_a_misspelled_guard_id_is_an_error_naming_the_file(book, archived):
    with fault("a guard file naming 'zeta.sise' (a misspelled claim id) (issue 18, item 11)",
               "rc 1 before any kernel, naming the file and the id it meant; previous run published"):
        good = book.check("zeta")
        env = _guards(book, json.dumps({"zeta.sise": {"expected": 3.0, "tolerance": 0.1}}))
        run = book.run("run", "zeta", "--force", env=env)
        assert run.rc == 1, run.text
        assert f"{book.root / 'bounds' / 'zeta.json'}: the guard 'zeta.sise' names no claim" in run.text, run.text
        assert "did you mean 'zeta.size'?" in run.text and "executing" not in run.text
        book.check("zeta", expect=good)


def test_broken_json_in_a_guard_file_is_an_error_naming_it(book, archived):
    with fault("a guard file that is not valid JSON (issue 18, item 11)",
               "rc 1 before any kernel, naming the file, line and column; previous run published"):
        good = book.check("zeta")
        env = _guards(book, '{"zeta.size": {"expected": 3.0, "tolerance": 0.1,}}')
        run = book.run("run", "zeta", "--force", env=env)
        assert run.rc == 1, run.text
        assert f"{book.root / 'bounds' / 'zeta.json'}: the quick-mode guards are not valid JSON" in run.text, run.text
        assert "line 1 column" in run.text and "executing" not in run.text
        book.check("zeta", expect=good)


# ---------------------------------------------------------------- the vendored JavaScript (item 12)

def _fetch_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gdln_vendor_fetch", REPO_ROOT / "book" / "_vendor" / "fetch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vendored_folders_are_readable_by_other_users(tmp_path, monkeypatch):
    import hashlib
    import io
    import tarfile

    with fault("book/_vendor/fetch.py run by one user, the book built by another (issue 18, item 12)",
               "static/ and every folder in it 0755, files 0644 (mkdtemp made them 0700)"):
        fetch = _fetch_module()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name in ("package/es5/tex-chtml.js", "package/es5/ui/menu.js"):
                info = tarfile.TarInfo(name)
                info.size = 2
                tar.addfile(info, io.BytesIO(b"//"))
        data = buf.getvalue()
        (tmp_path / "cache").mkdir()
        (tmp_path / "cache" / fetch.tarball_name("mathjax", "0.0.0")).write_bytes(data)
        monkeypatch.setattr(fetch, "HERE", tmp_path)
        monkeypatch.setattr(fetch, "CACHE", tmp_path / "cache")
        monkeypatch.setattr(fetch, "STATIC", tmp_path / "static")
        monkeypatch.setattr(fetch, "PACKAGES", [("mathjax", "0.0.0", hashlib.sha256(data).hexdigest(),
                                                  {"es5/tex-chtml.js": "mathjax/tex-chtml.js", "es5/ui": "mathjax/ui"})])
        old = os.umask(0o022)
        try:
            for _ in range(2):  # a first vendoring, then one that replaces it
                assert fetch.main() == 0
        finally:
            os.umask(old)
        static = tmp_path / "static"
        for path in [static, *static.rglob("*")]:
            want = 0o755 if path.is_dir() else 0o644
            assert stat.S_IMODE(path.stat().st_mode) == want, (path, oct(path.stat().st_mode))
        assert (static / "mathjax" / "ui" / "menu.js").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "static"]  # no temporary folder left


@read_only
def test_staging_refuses_an_unreadable_vendor_folder(book, baseline):
    with fault("a vendored folder another user cannot read (issue 18, item 12)",
               "build stops with rc 1 naming the folder, rather than a site without MathJax"):
        _good(book)
        folder = book.root / "book" / "_vendor" / "static" / "mathjax"
        folder.mkdir(exist_ok=True)
        (folder / "tex-chtml.js").write_text("//")
        folder.chmod(0o000)
        try:
            run = book.run("build", "alpha")
        finally:
            folder.chmod(0o755)
        assert run.rc == 1 and f"{folder}: cannot be read" in run.text and "make vendor" in run.text, run.text
