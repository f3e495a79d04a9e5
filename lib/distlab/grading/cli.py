"""``distlab grade`` and ``distlab labs build`` — argument parsing and output only."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from distlab.grading.notebook import NotebookError, dumps_notebook, make_lab, read_notebook
from distlab.grading.report import gradescope, junit, summary_csv, table, to_json, write_atomically
from distlab.grading.runner import grade_notebook, grade_path
from distlab.grading.sandbox import Limits, available_user

ROOT = Path(__file__).resolve().parents[3]


def grade_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="distlab grade", description="Grade lab notebooks.")
    parser.add_argument("path", help="one notebook, or a folder (a notebook or a sub-folder per student)")
    parser.add_argument("--lab", type=int, help="the lab (default: read from the notebook's metadata)")
    parser.add_argument("--format", choices=("table", "json", "gradescope", "junit"), default="table")
    parser.add_argument("--out", type=Path, help="write reports into this folder instead of printing")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once")
    parser.add_argument("--part", help="grade only this part (with --seed: replay one failure)")
    parser.add_argument("--seed", type=int, help="run only this seed of --part")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds one call of learner code may take")
    parser.add_argument("--memory-mb", type=int, default=768, help="memory limit of learner code")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.timeout <= 0 or args.memory_mb < 128:
        parser.error("need --jobs >= 1, --timeout > 0, --memory-mb >= 128")
    if args.seed is not None and not args.part:
        parser.error("--seed replays one seed of one part: give --part too")
    limits = Limits(memory_mb=args.memory_mb, call_timeout_s=args.timeout)
    path = Path(args.path)
    if not path.exists():
        parser.error(f"{path}: no such file or folder")

    if path.is_file() and (args.part or args.seed is not None):
        results = [grade_notebook(path, lab=args.lab, limits=limits, only_part=args.part, only_seed=args.seed)]
    else:
        def progress(done: int, total: int, result) -> None:
            if total > 1 and sys.stderr.isatty():
                bar = "#" * (30 * done // total)
                print(f"\r[{bar:<30}] {done}/{total} {result.student[:20]:<20}", end="", file=sys.stderr, flush=True)

        results = grade_path(path, lab=args.lab, jobs=args.jobs, limits=limits, progress=progress)
        if len(results) > 1 and sys.stderr.isatty():
            print(file=sys.stderr)
    if not results:
        print(f"distlab grade: no notebooks in {path}", file=sys.stderr)
        return 2

    if args.format == "table":
        text = table(results) + f"(learner code ran as {available_user()})\n"
    elif args.format == "json":
        text = to_json(results)
    elif args.format == "junit":
        text = junit(results)
    else:
        text = "".join(gradescope(r) for r in results) if args.out is None else ""
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        if args.format == "gradescope":
            for r in results:
                name = "results.json" if len(results) == 1 else f"{r.student}.results.json"
                write_atomically(args.out / name, gradescope(r))
        else:
            suffix = {"table": "txt", "json": "json", "junit": "xml"}[args.format]
            write_atomically(args.out / f"grades.{suffix}", text)
        if len(results) > 1:
            write_atomically(args.out / "summary.csv", summary_csv(results))
        print(f"distlab grade: {len(results)} submission(s) graded; reports in {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def labs_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="distlab labs", description="Generate labs/ from solutions/.")
    parser.add_argument("action", choices=("build",))
    parser.add_argument("--check", action="store_true", help="fail if labs/ is not what build would write")
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    parser.add_argument("--labs", type=Path, default=ROOT / "labs")
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
