"""Ship the course in the wheel: chapters (course/) and learner labs (labs/), never solutions/.

Everything else is in pyproject.toml. The notebooks stay at the top of the repository (the
layout the README describes); at build time they are copied into the package as
``distlab/course_files/{course,labs}/``, where :mod:`distlab.course` finds them once installed.
An editable install reads them from the repository instead.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = {"course": ("*.ipynb", "*.md"), "labs": ("*.ipynb",)}


class BuildPyWithCourse(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "distlab" / "course_files"
        for folder, patterns in SHIPPED.items():
            self.mkpath(str(target / folder))
            for pattern in patterns:
                for source in sorted((ROOT / folder).glob(pattern)):
                    self.copy_file(str(source), str(target / folder / source.name))


setup(cmdclass={"build_py": BuildPyWithCourse})
