"""`make lab` opens the course, rendered: its first page is course/README.md as a Markdown preview.

The test reads JupyterLab's options from `make -n lab` (the command line `make lab` would run),
starts JupyterLab with them on a free loopback port (scripts/browser/jupyterlab.py), opens the
server's root address in Debian's Chromium as a learner's browser would, and checks that the
page it lands on is the course's contents drawn as HTML, not the Launcher and not Markdown
source in an editor.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.viz.test_browser import browser, lab_helpers  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser


def make_lab_options() -> list[str]:
    """The `--LabApp.*` options of `make lab`'s `jupyter lab` command line."""
    dry_run = subprocess.run(["make", "-n", "-s", "lab"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    command = next(line for line in dry_run.replace("\\\n", " ").splitlines() if "jupyter lab" in line)
    return [word for word in shlex.split(command) if word.startswith("--LabApp.")]


def test_make_lab_lands_on_the_course_rendered(browser, tmp_path):  # noqa: F811
    options = make_lab_options()
    assert any(re.fullmatch(r"--LabApp\.default_url=/lab/tree/course/README\.md", o) for o in options)
    with lab_helpers.start_lab(ROOT, python=sys.executable, extra_args=options) as lab:
        page = browser.new_page()
        try:
            page.goto(lab.url(""), wait_until="domcontentloaded", timeout=60_000)
            rendered = page.locator(".jp-MainAreaWidget .jp-RenderedMarkdown h1")
            rendered.first.wait_for(timeout=60_000)
            assert rendered.first.inner_text().strip().startswith("The distlab course")
            assert "/lab/tree/course/README.md" in page.url
            # The chapter table is drawn as a table with links, and nothing shows the source.
            table = page.locator(".jp-RenderedMarkdown table")
            assert "Distributed locks (分布式锁)" in table.first.inner_text()
            assert page.locator(".jp-RenderedMarkdown a[href*='01-distributed-locks']").count() >= 1
            assert page.locator(".jp-MainAreaWidget .jp-FileEditor").count() == 0
            assert page.locator(".jp-Launcher").count() == 0
            page.screenshot(path=str(tmp_path / "make-lab-first-page.png"))
        finally:
            page.close()
    assert (tmp_path / "make-lab-first-page.png").stat().st_size > 10_000
