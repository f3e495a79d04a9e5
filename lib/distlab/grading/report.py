"""Grading results in the formats instructors use.

- ``table``: a terminal table, one line per part, failures explained with the replay command;
- ``json``: everything, as one JSON document (an array, one object per submission);
- ``gradescope``: Gradescope's ``results.json`` (score, tests with name / score / max_score /
  status / output / visibility, execution_time); hidden seeds are shown only after publishing;
- ``junit``: JUnit XML, one test case per part (for CI-based classroom tools);
- for a folder: ``summary.csv`` (one row per student) next to the chosen format.

Printed to stdout, every format is exactly one document: for a folder, ``json`` is one array
and ``gradescope`` is ``{"submissions": [{"student", "path", "results": <results.json>}, ...]}``
(one notebook: its ``results.json`` object itself).

Student names (file and folder names) and learner text (failure messages, excerpts, output)
are data, never markup or terminal commands:

- table, JUnit, CSV and Gradescope show control characters, ANSI escapes, bidirectional
  overrides, lone surrogates (from undecodable file names) and XML-forbidden characters as
  visible escapes (``\\x1b``, ``\\r``, ``\\u202e``, ``\\udcff``), so no name can forge, hide or
  overwrite a line; multi-line text keeps only its newlines and tabs;
- JUnit XML is always well-formed, CSV cells that a spreadsheet would run as a formula
  (starting with ``=``, ``+``, ``-``, ``@``, tab or CR) get a leading ``'`` (OWASP's advice),
  and Gradescope text is declared ``text`` so it is never rendered as HTML;
- ``json`` keeps the data exact, with every character a terminal or a browser could act on
  written as a JSON ``\\u`` escape.

Submissions that were not graded (links, FIFOs, devices, hidden entries, folders with no or
several notebooks, shared files: see :mod:`distlab.grading.submissions`) appear in every
format, with 0 points and the reason.

Reports are written by the grader only, atomically (a temporary file renamed into place, mode
0644 less the umask), after every learner process is gone.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shlex
import tempfile
from pathlib import Path
from typing import Any, Iterable
from xml.sax.saxutils import escape, quoteattr

from distlab.grading.runner import PartResult, SubmissionResult

__all__ = ["table", "to_json", "gradescope", "gradescope_results", "gradescope_batch", "junit",
           "summary_csv", "write_atomically", "replay_command", "plain", "is_skipped", "report_file_name",
           "REPORT_MODE"]

REPORT_MODE = 0o644

# Characters that are commands to a terminal, reorder text (bidi controls), cannot be encoded
# (lone surrogates) or are forbidden in XML 1.0: C0 and C1 controls, DEL, the bidi embeddings,
# overrides, isolates and marks, the Unicode line and paragraph separators, U+FFFE and U+FFFF.
_UNSAFE = (r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
           r"\ud800-\udfff\ufffe\uffff")
_UNSAFE_CHAR = re.compile(f"[{_UNSAFE}]")
_UNSAFE_IN_LINES = re.compile(f"[{_UNSAFE}]".replace(r"\x00-\x1f", r"\x00-\x08\x0b-\x1f"))  # keeps \t \n
_JSON_UNSAFE = re.compile(f"[{_UNSAFE}]".replace(r"\x00-\x1f", ""))  # json.dumps escapes C0 itself
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escaped(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def plain(text: Any, multiline: bool = False) -> str:
    """``text`` with every unsafe character shown as an escape (``\\x1b``, ``\\r``, ``\\u202e``);
    ``multiline`` keeps newlines and tabs. Safe for a terminal, XML 1.0 and UTF-8."""
    return (_UNSAFE_IN_LINES if multiline else _UNSAFE_CHAR).sub(_escaped, str(text))


def _dumps(data: Any) -> str:
    """JSON with every character a terminal or browser could act on as a ``\\uXXXX`` escape
    (lossless: json.loads gives the same strings back)."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def is_skipped(result: SubmissionResult) -> bool:
    """Whether the submission was held back without being graded (a link, a FIFO, ...)."""
    return bool(getattr(result, "skipped", False))


def _shell_word(text: str) -> str:
    """``text`` quoted for a POSIX shell; with unsafe characters, as bash's exact ``$'...'``."""
    if not _UNSAFE_CHAR.search(text):
        return shlex.quote(text)
    out = []
    for byte in os.fsencode(text):  # the file name's real bytes, also when not UTF-8
        char = chr(byte)
        out.append(char if 0x20 <= byte < 0x7f and char not in "\\'" else f"\\x{byte:02x}")
    return "$'" + "".join(out) + "'"


def replay_command(result: SubmissionResult, part: PartResult) -> str:
    failure = part.first_failure()
    seed = f" --seed {failure.seed}" if failure else ""
    return f"distlab grade {_shell_word(result.path)} --part {_shell_word(part.part)}{seed}"


def _failure_text(result: SubmissionResult, part: PartResult, show_hidden: bool = True) -> str:
    """Why the part lost points (and, first, any note on which cell was graded)."""
    text = _failure_reason(result, part, show_hidden)
    return f"note: {part.note}\n{text}".rstrip("\n") if part.note else text


def _failure_reason(result: SubmissionResult, part: PartResult, show_hidden: bool) -> str:
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


def _lines(text: str) -> list[str]:
    # split on "\n" only: str.splitlines would also break at \r, \x0b, \x1c..., hiding them
    return [plain(line, multiline=True) for line in text.split("\n")] if text else []


def _part_passed(part: PartResult) -> bool:
    return bool(part.seeds) and not part.message and part.passed == len(part.seeds)


def table(results: Iterable[SubmissionResult]) -> str:
    out = io.StringIO()
    for result in results:
        lab = result.lab if result.lab is not None else "?"
        head = f"{plain(result.student)}: lab {lab}  {result.score:g} / {result.max_score:g}"
        if is_skipped(result):
            head += f"   NOT GRADED: {plain(result.error)}"
        elif result.error:
            head += f"   ({plain(result.error)})"
        out.write(head + "\n")
        for part in result.parts:
            if is_skipped(result):
                out.write(f"  {plain(part.part):<22} {part.points:>5g} / {part.max_points:<4g} not graded\n")
                continue
            checks = f"{part.passed}/{len(part.seeds)} seeds" if part.seeds else "not run"
            out.write(f"  {plain(part.part):<22} {part.points:>5g} / {part.max_points:<4g} {checks}\n")
            out.write("".join(f"      {line}\n" for line in _lines(_failure_text(result, part))))
    return out.getvalue()


def to_json(results: Iterable[SubmissionResult]) -> str:
    data = []
    for result in results:
        data.append({
            "student": result.student, "path": result.path, "lab": result.lab, "score": result.score,
            "max_score": result.max_score, "error": result.error, "skipped": is_skipped(result),
            "seconds": round(result.seconds, 3),
            "parts": [{
                "part": p.part, "title": p.title, "points": p.points, "max_points": p.max_points,
                "message": p.message, "property": p.rule, "cell": p.cell, "note": p.note,
                "seeds": [{"seed": s.seed, "hidden": s.hidden, "passed": s.outcome.passed,
                           "message": s.outcome.message, "excerpt": s.outcome.excerpt} for s in p.seeds],
                "replay": replay_command(result, p) if p.first_failure() else "",
            } for p in result.parts],
        })
    return _dumps(data)


def _gradescope_test(name: str, score: float, max_score: float, passed: bool, output: str,
                     visibility: str) -> dict[str, Any]:
    return {"name": plain(name), "name_format": "text", "score": score, "max_score": max_score,
            "status": "passed" if passed else "failed", "output": plain(output, multiline=True),
            "output_format": "text", "visibility": visibility}


def gradescope_results(result: SubmissionResult) -> dict[str, Any]:
    """Gradescope's results.json for one submission, as a dict.

    Each part is two tests: "(public seeds)", visible and worth 0 (its status says whether the
    public checks passed: Gradescope would show a 0/0 test as passed otherwise), and the graded
    test with all seeds, shown after publishing. Every text is declared ``text``, never HTML.
    """
    tests = []
    for part in result.parts:
        public = [s for s in part.seeds if not s.hidden]
        public_ok = bool(public) and not part.message and all(s.outcome.passed is True for s in public)
        tests.append(_gradescope_test(
            f"{part.part}: {part.title} (public seeds)", 0.0, 0.0, public_ok,
            ("public checks passed" + (f"\nnote: {part.note}" if part.note else "")) if public_ok
            else _failure_text(result, part, show_hidden=False), "visible"))
        tests.append(_gradescope_test(
            f"{part.part}: {part.title}", part.points, part.max_points, _part_passed(part),
            (f"{part.passed} of {len(part.seeds)} seeds passed. Rule: {part.rule}\n"
             + _failure_text(result, part)).strip(), "after_published"))
    if result.error and not result.parts:  # nothing ran: one failed test says why
        tests.append(_gradescope_test("submission", 0.0, result.max_score, False, result.error, "visible"))
    data: dict[str, Any] = {
        "score": result.score, "execution_time": round(result.seconds, 2),
        "output_format": "text", "tests": tests,
        "extra_data": {"lab": result.lab, "skipped": is_skipped(result)},
    }
    if result.error:
        data["output"] = plain(("not graded: " if is_skipped(result) else "") + result.error, multiline=True)
    return data


def gradescope(result: SubmissionResult) -> str:
    """Gradescope's results.json for one submission."""
    return _dumps(gradescope_results(result))


def gradescope_batch(results: Iterable[SubmissionResult]) -> str:
    """Several submissions' results.json in one JSON document (for stdout)."""
    return _dumps({"submissions": [{"student": plain(r.student), "path": plain(r.path),
                                    "results": gradescope_results(r)} for r in results]})


def _xml_attr(text: Any) -> str:
    return quoteattr(plain(text))


def junit(results: Iterable[SubmissionResult]) -> str:
    results = list(results)
    cases = []
    failures = 0
    for result in results:
        classname = _xml_attr(f"{result.student}.lab{result.lab}")
        prefix = "not graded: " if is_skipped(result) else ""
        if not result.parts:
            failures += 1
            message = prefix + (result.error or "nothing was graded")
            cases.append(f'    <testcase classname={classname} name="submission" time="0">'
                         f'<failure message={_xml_attr(message)}>{escape(plain(message, True))}</failure>'
                         f'</testcase>')
            continue
        for part in result.parts:
            body = ""
            if part.points < part.max_points or not _part_passed(part):
                failures += 1
                text = prefix + _failure_text(result, part)
                body = (f"<failure message={_xml_attr(prefix + part.rule)}>"
                        f"{escape(plain(text, multiline=True))}</failure>")
            cases.append(f'    <testcase classname={classname} name={_xml_attr(part.part)} time="0">'
                         f'{body}</testcase>')
    head = (f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="distlab" '
            f'tests="{len(cases)}" failures="{failures}">\n')
    return head + "\n".join(cases) + "\n  </testsuite>\n</testsuites>\n"


def _csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: numbers stay numbers, formulas are neutralised."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = plain(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def summary_csv(results: Iterable[SubmissionResult]) -> str:
    results = list(results)
    parts = sorted({p.part for r in results for p in r.parts})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_csv_cell(h) for h in ["student", "lab", "score", "max_score", *parts, "graded", "error"]])
    for r in results:
        by_part = {p.part: p.points for p in r.parts}
        writer.writerow([_csv_cell(cell) for cell in [
            r.student, r.lab, r.score, r.max_score, *[by_part.get(p) for p in parts],
            "no" if is_skipped(r) else "yes", r.error]])
    return out.getvalue()


def report_file_name(student: str, suffix: str, taken: set[str]) -> str:
    """A file name for a student's report: escaped, no path separators, not hidden, unique
    within ``taken`` (which it is added to)."""
    base = plain(student).replace("/", "\\x2f")[:120] or "unnamed"  # escapes lengthen; names stop at 255 bytes
    if base.startswith("."):
        base = "_" + base
    name, n = f"{base}{suffix}", 1
    while name in taken:
        n += 1
        name = f"{base}~{n}{suffix}"
    taken.add(name)
    return name


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place (readers see the
    old report or the new one, never half of one); mode 0644 less the umask, not mkstemp's 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), REPORT_MODE & ~_umask())
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
