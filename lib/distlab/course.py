"""Where the course's notebooks are, and ``distlab course init DIR`` to copy them out.

In a checkout of the repository the chapters are ``course/`` and the learner labs ``labs/`` at
its top. An installed wheel carries copies of both as package data (``distlab/course_files/``,
put there by setup.py at build time); the solutions are never shipped.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["CourseNotFound", "source_tree", "course_files", "init_course"]

PACKAGE = Path(__file__).resolve().parent
FOLDERS = ("course", "labs")


class CourseNotFound(FileNotFoundError):
    """Neither a repository checkout nor an installed copy of the notebooks was found."""


def source_tree() -> Path | None:
    """The repository root when distlab runs from a checkout (editable install), else None."""
    root = PACKAGE.parents[1]
    if (root / "pyproject.toml").is_file() and all((root / f).is_dir() for f in FOLDERS):
        return root
    return None


def course_files() -> Path:
    """The folder holding ``course/`` and ``labs/``: the checkout's, or the installed copy."""
    for candidate in (source_tree(), PACKAGE / "course_files"):
        if candidate is not None and all((candidate / f).is_dir() for f in FOLDERS):
            return candidate
    raise CourseNotFound("the course notebooks are not installed with this distlab "
                         f"(looked in {PACKAGE / 'course_files'}); reinstall it from a wheel")


def init_course(destination: str | Path, force: bool = False) -> list[Path]:
    """Copy the chapters and the labs into ``destination/course`` and ``destination/labs``.

    The chapters link to ``../labs/``, so both folders keep their names side by side. An
    existing file is left alone (and reported) unless ``force``; returns the files written.
    """
    source, destination = course_files(), Path(destination)
    planned = [(path, destination / folder / path.name)
               for folder in FOLDERS for path in sorted((source / folder).iterdir())
               if path.suffix in (".ipynb", ".md") and path.is_file()]
    existing = [target for _, target in planned if target.exists()]
    if existing and not force:
        raise FileExistsError(f"{len(existing)} file(s) already there, e.g. {existing[0]}; "
                              "use --force to overwrite them")
    for path, target in planned:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return [target for _, target in planned]
