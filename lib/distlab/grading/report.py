"""Grading results in the formats instructors use.

- ``table``: a terminal table, one line per part, failures explained with the replay command;
- ``json``: everything, as one JSON document;
- ``gradescope``: Gradescope's ``results.json`` (score, tests with name / score / max_score /
  output / visibility, execution_time); hidden seeds are shown only after publishing;
- ``junit``: JUnit XML, one test case per part (for CI-based classroom tools);
- for a folder: ``summary.csv`` (one row per student) next to the chosen format.

Reports are written by the grader only, atomically (a temporary file renamed into place),
after every learner process is gone.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable
from xml.sax.saxutils import escape, quoteattr

from distlab.grading.runner import PartResult, SubmissionResult

__all__ = ["table", "to_json", "gradescope", "junit", "summary_csv", "write_atomically", "replay_command"]


def replay_command(result: SubmissionResult, part: PartResult) -> str:
    failure = part.first_failure()
    seed = f" --seed {failure.seed}" if failure else ""
    return f"distlab grade {result.path} --part {part.part}{seed}"


def _failure_text(result: SubmissionResult, part: PartResult, show_hidden: bool = True) -> str:
    if part.message:
        return part.message
    failure = part.first_failure()
    if failure is None:
        return ""
    if failure.hidden and not show_hidden:
        return f"a hidden check failed ({part.passed} of {len(part.seeds)} passed); rule: {part.rule}"
    text = f"seed {failure.seed}: {failure.outcome.message}"
    if failure.outcome.excerpt:
        text += "\n" + failure.outcome.excerpt
    return text + f"\nreplay: {replay_command(result, part)}"


def table(results: Iterable[SubmissionResult]) -> str:
    out = io.StringIO()
    for result in results:
        head = f"{result.student}: lab {result.lab if result.lab is not None else '?'}  " \
               f"{result.score:g} / {result.max_score:g}"
        out.write(head + (f"   ({result.error})" if result.error else "") + "\n")
        for part in result.parts:
            checks = f"{part.passed}/{len(part.seeds)} seeds" if part.seeds else "not run"
            out.write(f"  {part.part:<22} {part.points:>5g} / {part.max_points:<4g} {checks}\n")
            text = _failure_text(result, part)
            if text:
                out.write("".join(f"      {line}\n" for line in text.splitlines()))
    return out.getvalue()


def to_json(results: Iterable[SubmissionResult]) -> str:
    data = []
    for result in results:
        data.append({
            "student": result.student, "path": result.path, "lab": result.lab, "score": result.score,
            "max_score": result.max_score, "error": result.error, "seconds": round(result.seconds, 3),
            "parts": [{
                "part": p.part, "title": p.title, "points": p.points, "max_points": p.max_points,
                "message": p.message, "property": p.rule,
                "seeds": [{"seed": s.seed, "hidden": s.hidden, "passed": s.outcome.passed,
                           "message": s.outcome.message, "excerpt": s.outcome.excerpt} for s in p.seeds],
                "replay": replay_command(result, p) if p.first_failure() else "",
            } for p in result.parts],
        })
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def gradescope(result: SubmissionResult) -> str:
    """Gradescope's results.json for one submission."""
    tests = []
    for part in result.parts:
        public = [s for s in part.seeds if not s.hidden]
        public_ok = all(s.outcome.passed for s in public) if public else False
        tests.append({
            "name": f"{part.part}: {part.title} (public seeds)",
            "score": 0, "max_score": 0, "visibility": "visible",
            "output": "public checks passed" if public_ok else _failure_text(result, part, show_hidden=False),
        })
        tests.append({
            "name": f"{part.part}: {part.title}", "score": part.points, "max_score": part.max_points,
            "visibility": "after_published",
            "output": (f"{part.passed} of {len(part.seeds)} seeds passed. Rule: {part.rule}\n"
                       + _failure_text(result, part)).strip(),
        })
    data = {"score": result.score, "execution_time": round(result.seconds, 2), "tests": tests}
    if result.error:
        data["output"] = result.error
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def junit(results: Iterable[SubmissionResult]) -> str:
    results = list(results)
    cases = []
    failures = 0
    for result in results:
        for part in result.parts:
            name = quoteattr(f"{part.part}")
            classname = quoteattr(f"{result.student}.lab{result.lab}")
            body = ""
            if part.points < part.max_points:
                failures += 1
                body = f"<failure message={quoteattr(part.rule)}>{escape(_failure_text(result, part))}</failure>"
            cases.append(f'    <testcase classname={classname} name={name} time="0">{body}</testcase>')
    head = (f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="distlab" '
            f'tests="{len(cases)}" failures="{failures}">\n')
    return head + "\n".join(cases) + "\n  </testsuite>\n</testsuites>\n"


def summary_csv(results: Iterable[SubmissionResult]) -> str:
    results = list(results)
    parts = sorted({p.part for r in results for p in r.parts})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student", "lab", "score", "max_score", *parts, "error"])
    for r in results:
        by_part = {p.part: p.points for p in r.parts}
        writer.writerow([r.student, r.lab, r.score, r.max_score, *[by_part.get(p, "") for p in parts], r.error])
    return out.getvalue()


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
