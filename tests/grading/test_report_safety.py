"""Reports treat student names and learner text as data: no format can be forged, broken or
turned into commands by what a student controls (file names, output, failure messages)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from distlab.grading.cli import _progress_bar
from distlab.grading.parts import Outcome
from distlab.grading.report import (gradescope, gradescope_batch, gradescope_results, junit, plain,
                                    replay_command, report_file_name, summary_csv, table, to_json,
                                    write_atomically)
from distlab.grading.runner import PartResult, SeedResult, SubmissionResult

HOSTILE_NAMES = [
    "alice\r\x1b[2Kbob: lab 5  10 / 10",
    "eve\nmallory: lab 5  8 / 8",
    "=cmd|' /C calc'!A0",
    "+SUM(1,1)",
    "-2+3",
    "@SUM(A1:A9)",
    "\tleading tab",
    "\rleading CR",
    "<script>alert(\"x\")</script> & ]]> '\"",
    "nul\x00byte",
    "bell\x07bs\x08del\x7fcsi\x9b31m",
    "rtl\u202egnp.exe\u2066isolate\u2069",
    "undecodable\udcff\udc80",
    "separators\u2028\u2029",
    "nonchar\ufffe\uffff",
    "José 李",
]
HOSTILE_TEXT = ("boom\x1b[31m ]]> <b>&amp;</b> \x00 \udcff \r overwritten \x0b\x0c\x1c\x85\u2028\n"
                "\ttrace line 2 \u202e <![CDATA[ x ]]>")

# What a terminal, a bidi renderer, an XML parser or a UTF-8 encoder would act on or choke on.
TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                             "\u2028\u2029\ud800-\udfff\ufffe\uffff]")

# Gradescope's results.json, as documented in "Autograder Specifications" (see
# ../shared/reference/autograder-pitfalls.md, section 3.2): every key the format has, and its type.
NUMBER = (int, float)
TOP_LEVEL_FIELDS = {
    "score": NUMBER, "execution_time": NUMBER, "output": str, "output_format": str,
    "test_output_format": str, "test_name_format": str, "visibility": str, "stdout_visibility": str,
    "extra_data": dict, "tests": list, "leaderboard": list,
}
TEST_FIELDS = {
    "score": NUMBER, "max_score": NUMBER, "status": str, "name": str, "name_format": str, "number": str,
    "output": str, "output_format": str, "tags": list, "visibility": str, "extra_data": dict,
}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "simple_format", "html", "md", "ansi"}


def check_gradescope_results(data: dict) -> None:
    """Fail on any key Gradescope does not document, any wrong type, or an inconsistent status."""
    assert isinstance(data, dict)
    for key, value in data.items():
        assert key in TOP_LEVEL_FIELDS, f"results.json has an undocumented key {key!r}"
        assert isinstance(value, TOP_LEVEL_FIELDS[key]) and not isinstance(value, bool), (key, value)
    assert "score" in data or all("score" in t for t in data.get("tests", []))
    for key in ("output_format", "test_output_format", "test_name_format"):
        assert data.get(key, "text") in FORMATS
    for key in ("visibility", "stdout_visibility"):
        assert data.get(key, "visible") in VISIBILITIES
    for entry in data.get("leaderboard", []):
        assert set(entry) <= {"name", "value", "order"} and entry.get("order", "asc") in ("asc", "desc")
    for test in data.get("tests", []):
        for key, value in test.items():
            assert key in TEST_FIELDS, f"a test has an undocumented key {key!r}"
            assert isinstance(value, TEST_FIELDS[key]) and not isinstance(value, bool), (key, value)
        assert test.get("visibility", "visible") in VISIBILITIES
        assert test.get("output_format", "text") in FORMATS and test.get("name_format", "text") in FORMATS
        assert test["status"] in ("passed", "failed")
        if test["max_score"] > 0:  # Gradescope's default rule, which our status must agree with
            assert (test["status"] == "passed") == (test["score"] >= test["max_score"]), test
        assert all(isinstance(tag, str) for tag in test.get("tags", []))


def part(name: str, points: float, got: float, seeds: list[tuple[int, bool, bool]], message: str = "") -> PartResult:
    return PartResult(name, f"{name} title", points, got, rule="the rule <&> \x1b[1m",
                      message=message,
                      seeds=[SeedResult(seed, hidden, Outcome.ok() if ok else Outcome.fail(HOSTILE_TEXT, HOSTILE_TEXT))
                             for seed, hidden, ok in seeds])


def hostile_result(name: str) -> SubmissionResult:
    return SubmissionResult(name, f"class/{name}.ipynb", 5, parts=[
        part("vote_order", 2.0, 1.0, [(12, False, False), (99, True, True)]),  # a public seed failed
        part("check_leader", 2.0, 1.0, [(12, False, True), (99, True, False)]),  # only a hidden seed failed
        part("handle_notification", 4.0, 4.0, [(12, False, True), (99, True, True)]),
        part("broken", 1.0, 0.0, [], message=HOSTILE_TEXT),  # the cell did not load
    ], seconds=1.5)


def skipped_result(name: str) -> SubmissionResult:
    result = SubmissionResult(name, f"class/{name}.ipynb", None, error=f"class/{name}.ipynb is a symbolic link "
                                                                         f"(to {HOSTILE_TEXT}); not followed")
    result.skipped = True
    return result


@pytest.fixture(scope="module")
def results() -> list[SubmissionResult]:
    return ([hostile_result(name) for name in HOSTILE_NAMES] + [skipped_result(name) for name in HOSTILE_NAMES[:3]]
            + [SubmissionResult("no-lab", "class/no-lab.ipynb", None, error=f"cannot tell which lab: {HOSTILE_TEXT}")])


# ---------------------------------------------------------------- escaping ---------------
def test_plain_shows_every_unsafe_character_as_a_visible_escape():
    assert plain("alice\r\x1b[2Kbob") == "alice\\r\\x1b[2Kbob"
    assert plain("a\u202eb\udcffc\x9b\x7f\x00") == "a\\u202eb\\udcffc\\x9b\\x7f\\x00"
    assert plain("x\ny\tz", multiline=True) == "x\ny\tz" and plain("x\ny\tz") == "x\\ny\\tz"
    assert plain("José 李 ok") == "José 李 ok"
    for name in HOSTILE_NAMES:
        assert not TERMINAL_UNSAFE.search(plain(name)) and "\n" not in plain(name)
        plain(name).encode("utf-8")  # never a lone surrogate


# ---------------------------------------------------------------- table ------------------
def test_the_table_shows_hostile_names_and_text_escaped(results):
    out = table(results)
    out.encode("utf-8")
    assert not TERMINAL_UNSAFE.search(out), repr(TERMINAL_UNSAFE.search(out))
    # One heading per submission, and no forged heading: "bob: lab 5 10 / 10" never starts a line.
    headings = [line for line in out.split("\n") if line and not line.startswith(" ")]
    assert len(headings) == len(results)
    assert not any(line.startswith(("bob:", "mallory:")) for line in out.split("\n"))
    assert "alice\\r\\x1b[2Kbob: lab 5  10 / 10: lab 5  6 / 9" in out
    assert "NOT GRADED: class/=cmd|' /C calc'!A0.ipynb is a symbolic link" in out
    assert "boom\\x1b[31m" in out and "\\r overwritten" in out


def test_a_replay_command_reproduces_the_exact_file_name_in_a_shell(tmp_path):
    name = "al ice\x1b[2K\udcff'$(touch pwned)"
    result = hostile_result(name)
    command = replay_command(result, result.parts[0])
    assert not TERMINAL_UNSAFE.search(command)
    word = command.split(" ", 2)[2].rsplit(" --part", 1)[0]
    if shutil.which("bash"):
        printed = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, cwd=tmp_path, timeout=30)
        assert printed.stdout == os.fsencode(result.path)
        assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------- JUnit ------------------
def test_junit_is_well_formed_xml_for_hostile_names_and_output(results):
    text = junit(results)
    root = ET.fromstring(text.encode("utf-8"))
    cases = root.iter("testcase")
    expected = sum(len(r.parts) or 1 for r in results)
    suite = root.find("testsuite")
    assert int(suite.get("tests")) == expected == len(list(cases))
    classnames = {case.get("classname") for case in root.iter("testcase")}
    for name in HOSTILE_NAMES:
        assert plain(name) + ".lab5" in classnames
    failures = [f.text or "" for f in root.iter("failure")]
    assert int(suite.get("failures")) == len(failures)
    assert any("]]>" in text and "<b>&amp;</b>" in text and "\\x1b[31m" in text for text in failures)
    assert any(text.startswith("not graded: ") for text in failures)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_junit_parses_for_each_hostile_name_alone(name):
    ET.fromstring(junit([hostile_result(name), skipped_result(name)]).encode("utf-8"))


# ---------------------------------------------------------------- CSV --------------------
def test_summary_csv_neutralises_formulas_and_keeps_numbers(results):
    text = summary_csv(results)
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == len(results) + 1 and len(text.splitlines()) == len(results) + 1  # no cell spans lines
    header = rows[0]
    for row, result in zip(rows[1:], results):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
            assert not TERMINAL_UNSAFE.search(cell)
        student = row[0]
        assert student in (plain(result.student), "'" + plain(result.student))
        assert float(row[header.index("score")]) == result.score
        assert float(row[header.index("max_score")]) == result.max_score
        assert row[header.index("graded")] == ("no" if getattr(result, "skipped", False) else "yes")
    students = [row[0] for row in rows[1:]]
    assert "'=cmd|' /C calc'!A0" in students and "'-2+3" in students and "'@SUM(A1:A9)" in students
    assert "\\tleading tab" in students  # escaped, so no longer a leading tab
    # numbers are written as numbers (unquoted), so spreadsheets add them up
    assert re.search(r",9\.0,|,9,", text.split("\n")[1])


# ---------------------------------------------------------------- JSON -------------------
def test_json_keeps_the_data_exact_and_the_text_inert(results):
    text = to_json(results)
    text.encode("utf-8")
    assert not TERMINAL_UNSAFE.search(text.replace("\n", ""))
    data = json.loads(text)
    assert [entry["student"] for entry in data] == [r.student for r in results]  # lossless
    assert data[0]["parts"][0]["seeds"][0]["message"] == HOSTILE_TEXT
    assert [entry["skipped"] for entry in data].count(True) == 3


# ---------------------------------------------------------------- Gradescope -------------
def test_gradescope_results_follow_the_documented_format(results):
    for result in results:
        text = gradescope(result)
        text.encode("utf-8")
        data = json.loads(text)
        check_gradescope_results(data)
        for test in data["tests"]:
            assert test["output_format"] == "text" and test["name_format"] == "text"  # never HTML
            assert not TERMINAL_UNSAFE.search(test["output"] + test["name"])
        if result.error:
            assert data["output_format"] == "text" and not TERMINAL_UNSAFE.search(data["output"])


def test_a_failed_public_seed_shows_failed_though_the_test_counts_for_nothing():
    tests = {t["name"]: t for t in gradescope_results(hostile_result("ann"))["tests"]}
    public = {name.split(":")[0]: t for name, t in tests.items() if name.endswith("(public seeds)")}
    graded = {name.split(":")[0]: t for name, t in tests.items() if not name.endswith("(public seeds)")}
    assert all(t["score"] == 0 and t["max_score"] == 0 and t["visibility"] == "visible" for t in public.values())
    assert public["vote_order"]["status"] == "failed"  # a public seed failed
    assert public["check_leader"]["status"] == "passed"  # only a hidden one did
    assert public["check_leader"]["output"] == "public checks passed"
    assert public["handle_notification"]["status"] == "passed"
    assert public["broken"]["status"] == "failed"  # nothing ran
    assert [graded[p]["status"] for p in ("vote_order", "check_leader", "handle_notification", "broken")] == \
        ["failed", "failed", "passed", "failed"]
    assert all(t["visibility"] == "after_published" for t in graded.values())
    # what students see before publishing never tells the hidden seed's failure
    assert "99" not in public["check_leader"]["output"]


def test_a_submission_that_was_not_graded_has_one_failed_test_saying_why():
    data = gradescope_results(skipped_result("carol"))
    check_gradescope_results(data)
    assert data["score"] == 0 and data["output"].startswith("not graded: ")
    assert [t["status"] for t in data["tests"]] == ["failed"]
    assert data["extra_data"]["skipped"] is True


def test_the_checker_rejects_undocumented_keys_and_wrong_types():
    good = gradescope_results(hostile_result("ann"))
    check_gradescope_results(good)
    for bad in ({**good, "scor": 1}, {**good, "score": "8"}, {**good, "tests": [{**good["tests"][0], "passed": True}]},
                {**good, "tests": [{**good["tests"][0], "max_score": True}]},
                {**good, "tests": [{**good["tests"][1], "status": "ok"}]}):
        with pytest.raises(AssertionError):
            check_gradescope_results(bad)


def test_several_submissions_make_one_gradescope_document(results):
    data = json.loads(gradescope_batch(results))
    assert set(data) == {"submissions"} and len(data["submissions"]) == len(results)
    for entry, result in zip(data["submissions"], results):
        assert set(entry) == {"student", "path", "results"} and entry["student"] == plain(result.student)
        check_gradescope_results(entry["results"])


# ---------------------------------------------------------------- files ------------------
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_reports_are_written_0644_less_the_umask(tmp_path, umask, mode):
    target = tmp_path / "out" / "grades.json"
    target.parent.mkdir()
    target.write_text("old")
    target.chmod(0o600)
    old = os.umask(umask)
    try:
        write_atomically(target, "new ✓\n")
    finally:
        os.umask(old)
    assert target.read_text(encoding="utf-8") == "new ✓\n"
    assert target.stat().st_mode & 0o777 == mode
    assert sorted(p.name for p in target.parent.iterdir()) == ["grades.json"]  # no temporary left


def test_report_file_names_are_escaped_unique_and_never_hidden():
    taken: set[str] = {"summary.csv"}
    names = [report_file_name(s, ".results.json", taken) for s in
             ["ann", "ann", ".hidden", "a/b", "x\x1b[2K\udcff", "", "summary"]]
    assert len(set(names)) == len(names)
    assert names[:2] == ["ann.results.json", "ann~2.results.json"]
    assert all("/" not in n and not n.startswith(".") and not TERMINAL_UNSAFE.search(n) for n in names)
    assert len(report_file_name("\x1b" * 300, ".results.json", set()).encode()) < 255


def test_the_progress_bar_shows_names_escaped(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    with _progress_bar(True) as progress:
        progress(1, 2, hostile_result("alice\r\x1b[2Kbob"))
        progress(2, 2, hostile_result("carol"))
    shown = err.getvalue()
    assert "2/2" in shown and "alice\\r\\x1b[2Kbob" in shown and "\x1b[2Kbob" not in shown
    with _progress_bar(False) as progress:
        assert progress is None
