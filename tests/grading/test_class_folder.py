"""A hostile class folder: links, FIFOs, devices, sockets, hard links, deep and huge files and
hostile names neither hang nor fool the grader, and nobody in the folder vanishes from the report.

Walking the folder and reading notebooks are tested directly (no learner code runs); a few
end-to-end cases run ``distlab grade`` in a subprocess with a timeout, so a hang fails the test
instead of stalling the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from distlab.grading import submissions
from distlab.grading.cli import grade_main, labs_main
from distlab.grading.notebook import MAX_NOTEBOOK_BYTES, MAX_NOTEBOOK_NESTING, NotebookError, read_notebook
from distlab.grading.runner import grade_notebook, grade_path
from distlab.grading.submissions import find_submissions

from tests.grading.test_report_safety import TERMINAL_UNSAFE, check_gradescope_results

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = ROOT / "solutions" / "lab5-election.ipynb"  # 8 / 8
STUB = ROOT / "labs" / "lab5-election.ipynb"  # 0 / 8, quickly
# (a file name cannot hold "/", so these differ a little from the report tests' names)
ANSI_NAME = "mal\r\x1b[2Klory: lab 5  8 of 8"
FORMULA_NAME = "=cmd|' -C calc'!A0"
XML_NAME = "<x> & ]]> \"q\" 'a'"
GRADE = "import sys; from distlab.grading.cli import grade_main; sys.exit(grade_main(sys.argv[1:]))"


def grade_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``distlab grade ARGS`` in a subprocess: a hang is a failed test, not a stuck suite."""
    return subprocess.run([sys.executable, "-c", GRADE, *args], capture_output=True, text=True,
                          errors="surrogateescape", timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL)


def copy(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    return target


def by_student(found) -> dict[str, submissions.Submission]:
    """``{student: submission}``; a name claimed twice (olga) must be held back both times."""
    result: dict[str, submissions.Submission] = {}
    for submission in found:
        if submission.student in result:
            assert submission.problem and result[submission.student].problem, submission
        result[submission.student] = submission
    return result


@pytest.fixture
def hostile_class(tmp_path: Path) -> Path:
    """A class folder with one of every trick; ``ann`` and ``ben`` are the honest ones."""
    root = tmp_path / "class"
    root.mkdir()
    copy(SOLUTION, root / "ann.ipynb")
    copy(STUB, root / "ben" / "work" / "lab5.ipynb")  # nested: fine
    (root / "ben" / ".ipynb_checkpoints").mkdir()
    copy(STUB, root / "ben" / ".ipynb_checkpoints" / "lab5-checkpoint.ipynb")  # ignored
    os.mkfifo(root / "ben" / "pipe")  # a FIFO that is not notebook-named: ignored, never opened
    os.symlink("/etc", root / "ben" / "etc")  # a link to a folder: not followed
    os.symlink("ann.ipynb", root / "carol.ipynb")  # another student's notebook
    os.symlink(SOLUTION, root / "dave.ipynb")  # the instructor's solution
    os.symlink("/etc/shadow", root / "erin.ipynb")
    os.symlink("/dev/zero", root / "fred.ipynb")
    os.symlink(ROOT / "solutions", root / "gail")  # a folder link
    os.mkfifo(root / "hank.ipynb")  # a top-level FIFO named like a student
    (root / "ivy").mkdir()
    os.symlink(SOLUTION, root / "ivy" / "lab5.ipynb")  # a link inside a student folder
    (root / "jack").mkdir()
    os.mkfifo(root / "jack" / "lab5.ipynb")  # a FIFO inside a student folder
    copy(SOLUTION, root / "kim.ipynb")
    os.link(root / "kim.ipynb", root / "lee.ipynb")  # the same file, twice
    (root / "mia").mkdir()
    copy(STUB, root / "mia" / "a.ipynb")
    copy(STUB, root / "mia" / "b.ipynb")  # two notebooks
    (root / "ned").mkdir()  # none
    (root / "notes.txt").write_text("not a submission")
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    copy(STUB, root / "olga.ipynb")
    copy(STUB, root / "olga" / "lab5.ipynb")  # two entries claim olga
    copy(SOLUTION, root / f"{ANSI_NAME}.ipynb")
    copy(STUB, root / f"{FORMULA_NAME}.ipynb")
    copy(STUB, root / f"{XML_NAME}.ipynb")
    with open(os.path.join(os.fsencode(root), b"undecodable\xff.ipynb"), "wb") as fh:
        fh.write(STUB.read_bytes())
    return root


# ---------------------------------------------------------------- walking the folder -----
def test_every_entry_of_a_hostile_class_is_listed_once_with_its_fate(hostile_class):
    found = by_student(find_submissions(hostile_class))
    graded = {name for name, s in found.items() if not s.problem}
    assert graded == {"ann", "ben", ANSI_NAME, FORMULA_NAME, XML_NAME, "undecodable\udcff"}
    assert found["ben"].notebook == hostile_class / "ben" / "work" / "lab5.ipynb"
    held_back = {
        "carol": "is a symbolic link (to ann.ipynb); the grader does not follow links",
        "dave": f"is a symbolic link (to {SOLUTION})",
        "erin": "is a symbolic link (to /etc/shadow)",
        "fred": "is a symbolic link (to /dev/zero)",
        "gail": f"is a symbolic link (to {ROOT / 'solutions'})",
        "hank": "is a FIFO (named pipe), not a regular file; the grader does not open it",
        "ivy": f"expected one notebook, found 0; not notebooks the grader opens: {hostile_class}/ivy/lab5.ipynb "
               f"(a symbolic link to {SOLUTION}, not followed)",
        "jack": "expected one notebook, found 0; not notebooks the grader opens: "
                f"{hostile_class}/jack/lab5.ipynb (a FIFO (named pipe), not opened)",
        "kim": f"is the same file as lee's notebook ({hostile_class}/lee.ipynb) (hard links to one file)",
        "lee": f"is the same file as kim's notebook ({hostile_class}/kim.ipynb)",
        "mia": "expected one notebook, found 2",
        "ned": "expected one notebook, found 0",
        "notes.txt": "is not a notebook",
        ".DS_Store": "is a hidden entry",
        "olga": "several entries are student olga's",
    }
    assert set(found) == graded | set(held_back)
    for name, reason in held_back.items():
        assert reason in found[name].problem, (name, found[name].problem)
        assert found[name].skipped
    assert str(found["carol"].notebook) == f"{hostile_class}/carol.ipynb"  # where the entry is, for the report


def test_a_folder_walk_opens_nothing_and_never_hangs(hostile_class):
    """Run in a subprocess: opening a FIFO would block forever; the walk must take no time."""
    code = ("import sys, time; from distlab.grading.submissions import find_submissions\n"
            "t = time.monotonic(); found = find_submissions(sys.argv[1]); print(len(found), time.monotonic() - t)")
    done = subprocess.run([sys.executable, "-c", code, str(hostile_class)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    count, seconds = done.stdout.split()
    assert int(count) == len(os.listdir(hostile_class)) and float(seconds) < 5


def test_sockets_and_devices_are_listed_not_opened(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(root / "sam.ipynb"))
        try:
            os.mknod(root / "tom.ipynb", 0o600 | 0o020000, os.makedev(1, 5))  # a character device (/dev/zero's)
            device = True
        except (PermissionError, OSError):  # no CAP_MKNOD here
            device = False
        found = by_student(find_submissions(root))
    finally:
        server.close()
    assert "is a socket, not a regular file" in found["sam"].problem
    if device:
        assert "is a character device, not a regular file" in found["tom"].problem


def test_depth_and_entry_limits_hold_a_student_folder_back(tmp_path, monkeypatch):
    root = tmp_path / "c"
    deep = root / "deep"
    for _ in range(submissions.MAX_DEPTH + 1):
        deep = deep / "d"
    copy(STUB, deep / "lab5.ipynb")
    shallow = root / "shallow"
    for _ in range(submissions.MAX_DEPTH - 1):
        shallow = shallow / "d"
    copy(STUB, shallow / "lab5.ipynb")
    monkeypatch.setattr(submissions, "MAX_ENTRIES", 50)
    wide = root / "wide"
    wide.mkdir()
    for n in range(60):
        (wide / f"f{n}.txt").write_text("")
    copy(STUB, wide / "lab5.ipynb")
    found = by_student(find_submissions(root))
    assert f"folders nested more than {submissions.MAX_DEPTH} deep" in found["deep"].problem
    assert found["shallow"].problem == "" and found["shallow"].notebook == shallow / "lab5.ipynb"
    assert "holds more than 50 files and folders" in found["wide"].problem


def test_one_notebook_path_is_its_own_submission(tmp_path):
    fifo = tmp_path / "x.ipynb"
    os.mkfifo(fifo)
    assert find_submissions(SOLUTION) == [("lab5-election", SOLUTION, "")]
    [(student, where, problem)] = find_submissions(fifo)
    assert student == "x" and "FIFO" in problem
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        find_submissions(tmp_path / "nowhere")


# ---------------------------------------------------------------- reading a notebook -----
def test_reading_refuses_links_fifos_and_devices_without_blocking(tmp_path):
    os.symlink(SOLUTION, tmp_path / "link.ipynb")
    os.mkfifo(tmp_path / "fifo.ipynb")
    code = ("import sys; from distlab.grading.notebook import read_notebook, NotebookError\n"
            "for path in sys.argv[1:]:\n"
            "    try: read_notebook(path); print('READ', path)\n"
            "    except NotebookError as error: print(error)\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "link.ipynb"), str(tmp_path / "fifo.ipynb"),
                           "/dev/zero", "/dev/null"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    lines = done.stdout.splitlines()
    assert len(lines) == 4 and not any(line.startswith("READ") for line in lines), done.stdout + done.stderr
    assert "is a symbolic link (to " in lines[0] and "does not follow links" in lines[0]
    assert "is a FIFO (named pipe), not a regular file" in lines[1]
    assert "/dev/zero is a character device" in lines[2] and "/dev/null is a character device" in lines[3]


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    huge = tmp_path / "huge.ipynb"
    with open(huge, "wb") as fh:
        fh.truncate(50 * MAX_NOTEBOOK_BYTES)  # sparse: a gigabyte that costs no disk
    started = time.monotonic()
    with pytest.raises(NotebookError, match="is too large for a notebook"):
        read_notebook(huge)
    assert time.monotonic() - started < 1


def test_a_deeply_nested_notebook_is_a_clear_error_and_fast(tmp_path):
    deep = tmp_path / "deep.ipynb"
    deep.write_text('{"cells": [], "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(NotebookError, match=f"nested more than {MAX_NOTEBOOK_NESTING} levels deep"):
        read_notebook(deep)
    big = tmp_path / "big.ipynb"  # 20 MB of open brackets: still quick
    big.write_bytes(b"[" * MAX_NOTEBOOK_BYTES)
    started = time.monotonic()
    with pytest.raises(NotebookError, match="levels deep"):
        read_notebook(big)
    assert time.monotonic() - started < 5
    # brackets inside strings are text, not nesting
    ok = json.loads(SOLUTION.read_text())
    ok["metadata"]["note"] = "[" * 10_000 + '\\"{' * 1000
    (tmp_path / "ok.ipynb").write_text(json.dumps(ok))
    assert read_notebook(tmp_path / "ok.ipynb")["metadata"]["note"] == ok["metadata"]["note"]


MALFORMED = {
    "not-utf8": (b'{"cells": []}\xff', "the file is not UTF-8 text (byte 0xff at offset 13)"),
    "not-json": (b'{"cells": [ oops', "invalid JSON at line 1"),
    "not-a-notebook": (b'[1, 2, 3]', "not a notebook: no list of cells"),
    "bad-cell": (b'{"cells": [42]}', "cell 0 is not a notebook cell"),
    "bad-source": (b'{"cells": [{"cell_type": "code", "source": [1, 2]}]}', "cell 0: its source is not text"),
    "bad-metadata": (b'{"cells": [], "metadata": {"distlab": [5]}}', '"distlab" is not a JSON object'),
    "huge-number": (b'{"cells": [], "n": ' + b"9" * 10_000 + b"}", "not a notebook: invalid JSON"),
    "too-deep": (b"[" * 5000 + b"]" * 5000, "levels deep"),
    "empty": (b"", "invalid JSON"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_notebook_is_the_submissions_fault_and_says_why(tmp_path, name):
    data, reason = MALFORMED[name]
    path = tmp_path / f"{name}.ipynb"
    path.write_bytes(data)
    with pytest.raises(NotebookError) as error:
        read_notebook(path)
    assert reason in str(error.value) and str(path) in str(error.value)
    result = grade_notebook(path, lab=5)
    assert result.score == 0 and reason in result.error and "grader error" not in result.error


def test_a_class_of_only_bad_entries_grades_quickly_and_lists_everyone(hostile_class):
    for name in ("ann.ipynb", f"{ANSI_NAME}.ipynb", f"{FORMULA_NAME}.ipynb", f"{XML_NAME}.ipynb", "olga.ipynb"):
        (hostile_class / name).unlink()
    os.unlink(os.path.join(os.fsencode(hostile_class), b"undecodable\xff.ipynb"))
    shutil.rmtree(hostile_class / "olga")
    (hostile_class / "ben" / "work" / "lab5.ipynb").write_bytes(b'{"cells": [ oops')
    for name, (data, _) in MALFORMED.items():
        (hostile_class / f"bad-{name}.ipynb").write_bytes(data)
    started = time.monotonic()
    results = {r.student: r for r in grade_path(hostile_class, lab=5)}
    assert time.monotonic() - started < 30  # nothing here reaches a sandbox
    assert len(results) == len(find_submissions(hostile_class))
    for student, result in results.items():
        assert result.score == 0 and result.error, student
        assert "grader error" not in result.error, result.error
        assert [p.points for p in result.parts] == [0, 0, 0], student  # each of lab 5's parts, with 0
    assert "invalid JSON" in results["ben"].error
    assert getattr(results["carol"], "skipped", False) and not getattr(results["ben"], "skipped", False)


# ---------------------------------------------------------------- distlab grade ----------
@pytest.fixture
def small_hostile_class(tmp_path: Path) -> Path:
    """Two real notebooks (one with a hostile name) among things that are never opened."""
    root = tmp_path / "class"
    copy(SOLUTION, root / f"{ANSI_NAME}.ipynb")
    copy(STUB, root / f"{FORMULA_NAME}.ipynb")
    os.symlink(SOLUTION, root / "dave.ipynb")
    os.symlink("/dev/zero", root / "fred.ipynb")
    os.mkfifo(root / "hank.ipynb")
    (root / "kim.ipynb").write_bytes(SOLUTION.read_bytes())
    os.link(root / "kim.ipynb", root / "lee.ipynb")
    (root / "deep.ipynb").write_text("[" * 100_000 + "]" * 100_000)
    return root


@pytest.mark.slow  # grades two notebooks in the sandbox
def test_grading_a_hostile_class_prints_one_json_document(small_hostile_class):
    done = grade_cli(str(small_hostile_class), "--lab", "5", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = {entry["student"]: entry for entry in json.loads(done.stdout)}  # the whole of stdout
    assert set(data) == {ANSI_NAME, FORMULA_NAME, "dave", "fred", "hank", "kim", "lee", "deep"}
    assert data[ANSI_NAME]["score"] == 8 and not data[ANSI_NAME]["error"]
    assert data[FORMULA_NAME]["score"] == 0 and not data[FORMULA_NAME]["skipped"]
    for name in ("dave", "fred", "hank", "kim", "lee"):
        assert data[name]["score"] == 0 and data[name]["skipped"] and data[name]["error"], name
    assert "nested more than" in data["deep"]["error"] and "grader error" not in data["deep"]["error"]
    assert not TERMINAL_UNSAFE.search(done.stdout.replace("\n", ""))


@pytest.mark.slow  # grades two notebooks in the sandbox
def test_grading_a_hostile_class_for_gradescope(small_hostile_class, tmp_path):
    done = grade_cli(str(small_hostile_class), "--lab", "5", "--format", "gradescope")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert set(document) == {"submissions"} and len(document["submissions"]) == 8
    for entry in document["submissions"]:
        assert set(entry) == {"student", "path", "results"}
        check_gradescope_results(entry["results"])
    scores = {e["student"]: e["results"]["score"] for e in document["submissions"]}
    assert scores["mal\\r\\x1b[2Klory: lab 5  8 of 8"] == 8 and scores["hank"] == 0


@pytest.mark.slow  # grades two notebooks in the sandbox
def test_grading_a_hostile_class_into_a_folder(small_hostile_class, tmp_path):
    out = tmp_path / "reports"
    old = os.umask(0o022)
    try:
        done = grade_cli(str(small_hostile_class), "--lab", "5", "--format", "junit", "--out", str(out))
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["grades.xml", "summary.csv"]
    for report in out.iterdir():
        assert report.stat().st_mode & 0o777 == 0o644
    suite = ET.parse(out / "grades.xml").getroot().find("testsuite")
    assert int(suite.get("tests")) == 8 * 3
    summary = (out / "summary.csv").read_text()
    assert "'=cmd|' -C calc'!A0" in summary and len(summary.splitlines()) == 9
    assert not TERMINAL_UNSAFE.search(summary.replace("\r\n", ""))


@pytest.mark.parametrize("kind", ["symlink", "fifo", "device"])
def test_grading_a_single_link_fifo_or_device_is_refused(tmp_path, kind):
    path = tmp_path / "x.ipynb"
    if kind == "symlink":
        os.symlink(SOLUTION, path)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    done = grade_cli(str(path), timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    expected = {"symlink": "is a symbolic link", "fifo": "is a FIFO", "device": "is a character device"}[kind]
    assert expected in done.stderr, done.stderr


def test_a_single_notebook_that_cannot_be_graded_exits_1_with_its_report(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("[" * 100_000)
    done = grade_cli(str(bad), "--format", "json", timeout=60)
    assert done.returncode == 1
    [entry] = json.loads(done.stdout)
    assert entry["student"] == "bad" and "nested more than" in entry["error"]


@pytest.mark.parametrize("main, words", [(grade_main, "symbolic links are not followed"),
                                         (labs_main, "Generate the learners' lab notebooks")])
def test_help_is_plain_words_and_exits_0(capsys, main, words):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ") and words in " ".join(out.split())
