"""``distlab grade`` and ``distlab labs build`` — argument parsing and output only."""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
from pathlib import Path
from typing import Callable, Iterator

from distlab.grading.notebook import NotebookError, describe_unopened, dumps_notebook, make_lab, read_notebook
from distlab.grading.report import (gradescope, gradescope_batch, junit, plain, report_file_name, summary_csv,
                                    table, to_json, write_atomically)
from distlab.grading.runner import SubmissionResult, grade_notebook, grade_path
from distlab.grading.sandbox import Limits, available_user

ROOT = Path(__file__).resolve().parents[3]

GRADE_HELP = """\
Grade one lab notebook, or a whole class: a folder holding one notebook (alice.ipynb) or one
sub-folder with one notebook (alice/lab5.ipynb) per student.

Learner code runs in a sandboxed process; scores are computed by the grader afterwards.
Nothing in the class folder is trusted: symbolic links are not followed, FIFOs, sockets and
devices are not opened, and an entry that cannot be graded safely (a link, a hidden entry, a
file that is not a notebook, a folder with no or several notebooks, two students handing in
the same file) is listed with 0 points and the reason, never left out.
"""

GRADE_EPILOG = """\
report formats (--format):
  table       readable text, one line per part; failures come with a replay command
  json        one JSON array, one object per submission, every seed's result
  gradescope  Gradescope's results.json; for a folder, on stdout one JSON document
              {"submissions": [{"student", "path", "results"}, ...]}, and with --out one
              <student>.results.json per student
  junit       JUnit XML, one test case per part
With --out, a folder also gets summary.csv (one row per student). Names and learner output
are shown escaped (\\x1b, \\r, ...) in every format: they are data, never commands.

exit status:
  0  graded (whatever the scores)
  1  a single notebook could not be graded (unreadable, not a notebook, unknown lab),
     or the grader itself failed on some submission
  2  bad arguments, or a path the grader will not open (a link, a FIFO, a device)

examples:
  distlab grade submissions/ --jobs 2 --format gradescope --out results/
  distlab grade submissions/alice.ipynb --part vote_order --seed 12   (replay one failure)
"""

LABS_HELP = """\
Generate the learners' lab notebooks in labs/ from the solution notebooks in solutions/:
every solution region becomes a stub that raises NotImplementedError with the cell's hint,
instructor-only cells are dropped and outputs are cleared. Never edit labs/ by hand.
"""

LABS_EPILOG = """\
examples:
  distlab labs build           write labs/ from solutions/
  distlab labs build --check   only check: exit 1 if labs/ is not what build would write
"""


def _grade_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distlab grade", description=GRADE_HELP, epilog=GRADE_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="one notebook, or a class folder (a notebook or a sub-folder per student)")
    parser.add_argument("--lab", type=int, help="the lab number (default: read from each notebook's metadata)")
    parser.add_argument("--format", choices=("table", "json", "gradescope", "junit"), default="table",
                        help="report format (default: table; see below)")
    parser.add_argument("--out", type=Path, metavar="FOLDER",
                        help="write the reports into this folder instead of printing them")
    parser.add_argument("--jobs", type=int, default=1, help="how many submissions to grade at once (default: 1)")
    parser.add_argument("--part", help="grade only this part of one notebook (with --seed: replay one failure)")
    parser.add_argument("--seed", type=int, help="run only this seed of --part")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds one call of learner code may take (default: 10)")
    parser.add_argument("--part-budget", type=float, default=30.0, metavar="SECONDS",
                        help="seconds one part of one submission may take in all, enforced while it runs (default 30)")
    parser.add_argument("--memory-mb", type=int, default=768,
                        help="memory limit of learner code in MB (default: 768)")
    return parser


def _refusal(path: Path) -> str:
    """Why the grader will not grade ``path`` itself ("" if it will): it must not be a link
    (grade what it points to instead) nor a FIFO, socket or device."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return f"{path}: no such file or folder"
    except OSError as error:
        return f"{path}: cannot read it: {error.strerror}"
    if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
        return ""
    reason = describe_unopened(path, info.st_mode)
    return reason + ("; pass the file it points to instead" if stat.S_ISLNK(info.st_mode) else "")


@contextlib.contextmanager
def _stdout_kept_for_the_report() -> Iterator[None]:
    """While grading, file descriptor 1 (inherited by every worker process) goes to stderr, so
    nothing but the report can reach stdout: `--format json` prints exactly one document."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no stdout at all
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[int, int, SubmissionResult], None] | None]:
    """A progress bar with an ETA on stderr, for batches on a terminal only (none otherwise)."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: the batch forks worker processes
    with tqdm(total=None, unit="submission", file=sys.stderr, dynamic_ncols=True, leave=False) as bar:
        def progress(done: int, total: int, result: SubmissionResult) -> None:
            bar.total = total
            bar.update(done - bar.n)
            bar.set_postfix_str(plain(result.student)[:24])  # names are data: escaped

        yield progress


def _grader_failed(result: SubmissionResult) -> bool:
    return result.error.startswith("grader error")


def grade_main(argv: list[str] | None = None) -> int:
    parser = _grade_parser()
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.timeout <= 0 or args.memory_mb < 128 or args.part_budget <= 0:
        parser.error("need --jobs >= 1, --timeout > 0, --part-budget > 0, --memory-mb >= 128")
    if args.seed is not None and not args.part:
        parser.error("--seed replays one seed of one part: give --part too")
    path = Path(args.path)
    refusal = _refusal(path)
    if refusal:
        parser.error(plain(refusal))  # a link's target is the student's text
    is_folder = path.is_dir()
    if args.part and is_folder:
        parser.error("--part grades one notebook: give a notebook, not a folder")
    limits = Limits(memory_mb=args.memory_mb, call_timeout_s=args.timeout, part_budget_s=args.part_budget)

    try:
        with _stdout_kept_for_the_report(), _progress_bar(is_folder and sys.stderr.isatty()) as progress:
            if args.part:
                results = [grade_notebook(path, lab=args.lab, limits=limits, only_part=args.part,
                                          only_seed=args.seed)]
            else:
                results = grade_path(path, lab=args.lab, jobs=args.jobs, limits=limits, progress=progress)
    except OSError as error:  # the class folder itself cannot be listed
        print(f"distlab grade: {path}: cannot read it: {error.strerror or error}", file=sys.stderr)
        return 2
    if not results:
        print(f"distlab grade: no notebooks in {plain(path)}", file=sys.stderr)
        return 2

    if args.out:
        _write_reports(args.out, args.format, results, is_folder)
        print(f"distlab grade: {len(results)} submission(s) graded; reports in {plain(args.out)}")
    else:
        sys.stdout.write(_report(args.format, results, is_folder))
    if not is_folder and results[0].error:
        return 1
    return 1 if any(_grader_failed(r) for r in results) else 0


def _sandbox_note() -> str:
    where = available_user()  # a user name, or a sentence about the sandbox
    return where if where.startswith("learner code") else f"learner code ran as {where}"


def _report(fmt: str, results: list[SubmissionResult], is_folder: bool) -> str:
    if fmt == "table":
        return table(results) + f"({_sandbox_note()})\n"
    if fmt == "json":
        return to_json(results)
    if fmt == "junit":
        return junit(results)
    return gradescope_batch(results) if is_folder else gradescope(results[0])


def _write_reports(out: Path, fmt: str, results: list[SubmissionResult], is_folder: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "gradescope" and is_folder:
        taken = {"summary.csv"}
        for r in results:
            write_atomically(out / report_file_name(r.student, ".results.json", taken), gradescope(r))
    elif fmt == "gradescope":
        write_atomically(out / "results.json", gradescope(results[0]))
    else:
        suffix = {"table": "txt", "json": "json", "junit": "xml"}[fmt]
        write_atomically(out / f"grades.{suffix}", _report(fmt, results, is_folder))
    if is_folder:
        write_atomically(out / "summary.csv", summary_csv(results))


def labs_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="distlab labs", description=LABS_HELP, epilog=LABS_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("build",), help="build: generate labs/ from solutions/")
    parser.add_argument("--check", action="store_true", help="fail if labs/ is not what build would write")
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions",
                        help="folder of solution notebooks (default: solutions/)")
    parser.add_argument("--labs", type=Path, default=ROOT / "labs",
                        help="folder of generated lab notebooks (default: labs/)")
    args = parser.parse_args(argv)
    solutions = sorted(args.solutions.glob("*.ipynb"))
    if not solutions:
        print(f"distlab labs build: no notebooks in {args.solutions}", file=sys.stderr)
        return 2
    stale = []
    for source in solutions:
        try:
            lab = dumps_notebook(make_lab(read_notebook(source), where=str(source)))
        except NotebookError as error:
            print(f"distlab labs build: {error}", file=sys.stderr)
            return 2
        target = args.labs / source.name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != lab:
            stale.append(target)
            if not args.check:
                write_atomically(target, lab)
    expected = {s.name for s in solutions}
    extra = [p for p in sorted(args.labs.glob("*.ipynb")) if p.name not in expected]
    if args.check:
        if stale or extra:
            for p in stale:
                print(f"stale: {p} (run `distlab labs build`)", file=sys.stderr)
            for p in extra:
                print(f"not generated from solutions/: {p}", file=sys.stderr)
            return 1
        print(f"labs/ is up to date ({len(solutions)} notebooks)")
        return 0
    for p in extra:
        print(f"warning: {p} has no solution notebook", file=sys.stderr)
    print(f"distlab labs build: {len(stale)} of {len(solutions)} lab notebooks written")
    return 0
