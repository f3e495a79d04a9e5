"""``distlab bench grade`` — how long grading takes.

Grades each solution notebook once (every part, public and hidden seeds, each part in its
own sandboxed worker), then a batch of ``--batch`` copies of one lab with ``--jobs``
workers at once. Targets: one lab graded in <= 10 s; a class of 30 with ``--jobs 2`` in
<= 3 minutes.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from distlab.bench import print_report
from distlab.grading.runner import grade_notebook, grade_path

ROOT = Path(__file__).resolve().parents[3]
TARGET_S = 10.0
BATCH_TARGET_S = 180.0


def main(argv: list[str] | None = None) -> int:
    from distlab.cli import plain  # the docstring without its reST markup

    parser = argparse.ArgumentParser(prog="distlab bench grade", description=plain(__doc__))
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    parser.add_argument("--batch", type=int, default=30, help="copies graded as one class")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    notebooks = sorted(args.solutions.glob("*.ipynb"))
    if not notebooks:
        parser.error(f"no solution notebooks in {args.solutions}")
    rows, summary, slowest = [], {"benchmark": "grade"}, 0.0
    for notebook in notebooks:
        started = time.perf_counter()
        result = grade_notebook(notebook)
        seconds = time.perf_counter() - started
        slowest = max(slowest, seconds)
        rows.append((notebook.stem, f"{result.score:g}/{result.max_score:g}", round(seconds, 2)))
        summary[f"seconds_{notebook.stem}"] = round(seconds, 2)
    # A class: copies of the slowest-to-grade lab's solution, graded --jobs at a time.
    sample = max(notebooks, key=lambda n: summary[f"seconds_{n.stem}"])
    with tempfile.TemporaryDirectory() as folder:
        for n in range(args.batch):
            shutil.copy(sample, Path(folder) / f"student{n:02d}.ipynb")
        started = time.perf_counter()
        results = grade_path(folder, jobs=args.jobs)
        batch_s = time.perf_counter() - started
    full = sum(1 for r in results if r.score == r.max_score)
    rows.append((f"batch: {args.batch} x {sample.stem}, --jobs {args.jobs}", f"{full}/{len(results)} full", round(batch_s, 2)))
    summary.update({"batch": args.batch, "jobs": args.jobs, "batch_seconds": round(batch_s, 2),
                    "slowest_lab_seconds": round(slowest, 2), "target_seconds": TARGET_S,
                    "batch_target_seconds": BATCH_TARGET_S,
                    "meets_target": slowest <= TARGET_S and batch_s <= BATCH_TARGET_S})
    print_report("distlab bench grade: seconds to grade", ("notebook", "score", "seconds"), rows, summary)
    return 0
