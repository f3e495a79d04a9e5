"""Finding the submissions in a class folder, trusting nothing in it.

A class folder holds one notebook (``alice.ipynb``) or one sub-folder (``alice/``, with one
notebook somewhere inside) per student. Everything in it is the students' doing, so:

- only real folders are walked (``os.scandir``, ``lstat``): a symbolic link is never followed,
  whether it points to a file or a folder, and FIFOs, sockets and devices are never opened;
- a student folder is searched at most :data:`MAX_DEPTH` folders deep and at most
  :data:`MAX_ENTRIES` entries wide; Jupyter's ``.ipynb_checkpoints`` are ignored;
- two submissions that are the same file (hard links: the same ``st_dev`` and ``st_ino``) are
  both held back, each naming the other;
- nobody vanishes: every top-level entry becomes a :class:`Submission`. One that cannot be
  graded (a link, a FIFO, a device, a socket, a hidden entry, a file that is not a notebook, a
  folder with no or several notebooks, a shared file) carries the ``problem`` that says why,
  and the grader gives it 0 without opening anything.
"""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

from distlab.grading.notebook import describe_unopened, file_kind, link_target

__all__ = ["Submission", "find_submissions", "MAX_DEPTH", "MAX_ENTRIES", "NOTEBOOK_SUFFIX"]

NOTEBOOK_SUFFIX = ".ipynb"
MAX_DEPTH = 8  # folders within a student folder
MAX_ENTRIES = 10_000  # files and folders within a student folder
CHECKPOINTS = ".ipynb_checkpoints"  # Jupyter's autosaved copies: never the submission
ZIP_METADATA = "__MACOSX"  # macOS's resource forks, left by unpacking a zip made on a Mac
LISTED = 5  # how many entries a message names before "and N more"


class Submission(NamedTuple):
    """One student's entry in a class folder.

    ``notebook`` is where the entry is (always set, for the report); it is graded only when
    ``problem`` is empty. A non-empty ``problem`` says why the entry gets 0 without being
    opened. (A 3-tuple, so ``student, notebook, problem = submission`` works.)
    """

    student: str
    notebook: Path
    problem: str = ""

    @property
    def skipped(self) -> bool:
        return bool(self.problem)


def find_submissions(path: str | Path) -> list[Submission]:
    """The submissions in ``path``: one notebook, or a class folder (see the module docstring).

    Raises FileNotFoundError if ``path`` does not exist, and OSError if a class folder cannot
    be listed; everything wrong *inside* a class folder is a submission's ``problem``.
    """
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file or folder") from None
    if stat.S_ISDIR(info.st_mode):
        return _class_folder(path)
    problem = "" if stat.S_ISREG(info.st_mode) else describe_unopened(path, info.st_mode)
    return [Submission(_student_name(path.name), path, problem)]


def _student_name(entry_name: str) -> str:
    return entry_name[: -len(NOTEBOOK_SUFFIX)] if entry_name.endswith(NOTEBOOK_SUFFIX) else entry_name


def _class_folder(root: Path) -> list[Submission]:
    with os.scandir(root) as listing:
        entries = sorted(listing, key=lambda entry: entry.name)
    found: list[Submission] = []
    identity: dict[int, tuple[int, int]] = {}  # index in found -> (st_dev, st_ino) of its notebook
    for entry in entries:
        path = Path(entry.path)
        student = _student_name(entry.name)
        if entry.name.startswith("."):
            found.append(Submission(entry.name, path, f"{path} is a hidden entry (its name starts with a dot); "
                                                      f"not graded"))
            continue
        if entry.name == ZIP_METADATA:
            found.append(Submission(entry.name, path, f"{path} is macOS metadata left by unpacking a zip; "
                                                      f"not a submission"))
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as error:
            found.append(Submission(student, path, f"{path}: cannot read it: {error.strerror}"))
            continue
        if stat.S_ISDIR(info.st_mode):
            notebook, problem, notebook_info = _student_folder(path)
            found.append(Submission(entry.name, notebook or path, problem))
            if notebook_info is not None:
                identity[len(found) - 1] = (notebook_info.st_dev, notebook_info.st_ino)
        elif not stat.S_ISREG(info.st_mode):
            found.append(Submission(student, path, describe_unopened(path, info.st_mode)))
        elif not entry.name.endswith(NOTEBOOK_SUFFIX):
            found.append(Submission(student, path, f"{path} is not a notebook (a notebook's name ends in "
                                                   f"{NOTEBOOK_SUFFIX}); not graded"))
        else:
            found.append(Submission(student, path, ""))
            identity[len(found) - 1] = (info.st_dev, info.st_ino)
    _hold_back_shared_files(found, identity)
    _hold_back_name_clashes(found)
    return found


def _student_folder(folder: Path) -> tuple[Path | None, str, os.stat_result | None]:
    """``(notebook, problem, its lstat)``: the one notebook in a student folder, or why not.

    A notebook-named entry that is not a regular file (a link, a FIFO...) makes the folder
    ambiguous, so nothing is graded; other links are only mentioned when no notebook is found.
    """
    notebooks: list[tuple[Path, os.stat_result]] = []
    unopened: list[str] = []  # notebook-named entries that are not regular files
    notes: list[str] = []  # what else was not looked into, for the message if no notebook is found
    count = 0
    stack = [(folder, 0)]
    while stack:
        current, depth = stack.pop()
        try:
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            return None, f"{folder}: cannot list {current}: {error.strerror}", None
        count += len(entries)
        if count > MAX_ENTRIES:
            return None, (f"{folder}: holds more than {MAX_ENTRIES:,} files and folders; not searched "
                          f"(expected one notebook)"), None
        for entry in reversed(entries):  # reversed: the stack then visits folders in name order
            path = Path(entry.path)
            named_notebook = entry.name.endswith(NOTEBOOK_SUFFIX)
            if entry.name == CHECKPOINTS:
                continue
            if entry.name.startswith(".") or entry.name == ZIP_METADATA:
                # .git, .DS_Store, macOS's ._lab.ipynb copies: never the submission
                if named_notebook:
                    notes.append(f"{path} (hidden, not graded)")
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError as error:
                notes.append(f"{path} (cannot read it: {error.strerror})")
                continue
            if stat.S_ISDIR(info.st_mode):
                if depth + 1 > MAX_DEPTH:
                    return None, (f"{folder}: folders nested more than {MAX_DEPTH} deep ({path}); not "
                                  f"searched (expected one notebook)"), None
                stack.append((path, depth + 1))
            elif stat.S_ISREG(info.st_mode):
                if named_notebook:
                    notebooks.append((path, info))
            else:
                target = link_target(path) if stat.S_ISLNK(info.st_mode) else ""
                what = f"{file_kind(info.st_mode)}{f' to {target}' if target else ''}"
                why = "not followed" if stat.S_ISLNK(info.st_mode) else "not opened"
                (unopened if named_notebook else notes).append(f"{path} ({what}, {why})")
    notebooks.sort()
    if len(notebooks) == 1 and not unopened:
        return notebooks[0][0], "", notebooks[0][1]
    problem = f"{folder}: expected one notebook, found {len(notebooks)}"
    if notebooks:
        problem += ": " + _listed(str(path) for path, _ in notebooks)
    if unopened:
        problem += "; not notebooks the grader opens: " + _listed(unopened)
    if notes and not notebooks:
        problem += "; not looked into: " + _listed(notes)
    return None, problem, None


def _listed(items) -> str:
    items = list(items)
    more = f" and {len(items) - LISTED} more" if len(items) > LISTED else ""
    return ", ".join(items[:LISTED]) + more


def _hold_back_shared_files(found: list[Submission], identity: dict[int, tuple[int, int]]) -> None:
    """Two students handing in the same file (a hard link) get 0 until an instructor decides."""
    sharing: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, key in identity.items():
        sharing[key].append(index)
    for indexes in sharing.values():
        if len(indexes) < 2:
            continue
        for index in indexes:
            others = [found[other] for other in indexes if other != index]
            names = " and ".join(f"{other.student}'s notebook ({other.notebook})" for other in others)
            mine = found[index]
            found[index] = mine._replace(problem=(
                f"{mine.notebook} is the same file as {names} (hard links to one file); "
                f"not graded: an instructor decides"))


def _hold_back_name_clashes(found: list[Submission]) -> None:
    """``alice.ipynb`` and ``alice/`` both claim student alice: neither is graded."""
    by_student: dict[str, list[int]] = defaultdict(list)
    for index, submission in enumerate(found):
        by_student[submission.student].append(index)
    for student, indexes in by_student.items():
        if len(indexes) < 2:
            continue
        where = " and ".join(str(found[index].notebook) for index in indexes)
        for index in indexes:
            found[index] = found[index]._replace(problem=(
                f"several entries are student {student}'s ({where}); not graded: an instructor decides"))
