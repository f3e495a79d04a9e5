"""The viewer in a real browser: JupyterLab + headless Chromium (Debian's), driven by Playwright.

1. JupyterLab is started on loopback by ``scripts/browser/jupyterlab.py``; a notebook that
   builds the election viewer is opened in Chromium and run; clicking "step" must change the
   picture and the frame label.
2. The standalone HTML from ``distlab replay election`` is opened from disk; moving the
   slider must change the frame.

Screenshots go to the test's temporary folder. Chromium comes from Debian (``apt-get install
chromium``, see ``scripts/browser/ensure-chromium.sh``) and is driven through
``executable_path``; Playwright never downloads a browser. Outside CI a missing Chromium or
Playwright skips these tests; in CI (``CI`` set) it fails them.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser


def _load_lab_helpers():
    path = ROOT / "scripts" / "browser" / "jupyterlab.py"
    spec = importlib.util.spec_from_file_location("distlab_browser_lab", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lab_helpers = _load_lab_helpers()


def _need(what: str, fix: str) -> None:
    message = f"{what} is missing ({fix}); run scripts/browser/ensure-chromium.sh"
    if os.environ.get("CI"):
        pytest.fail(message + " — in CI the browser tests must run")
    pytest.skip(message)


def _install_in_ci() -> None:
    """In CI, install what is missing with the project's own script (apt-get + pip), once."""
    import subprocess

    if os.environ.get("CI"):
        subprocess.run(["sh", str(ROOT / "scripts" / "browser" / "ensure-chromium.sh"), sys.executable],
                       check=False, timeout=900)
        importlib.invalidate_caches()


@pytest.fixture(scope="module")
def browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _install_in_ci()
    if lab_helpers.chromium_path() is None:
        _install_in_ci()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("the playwright Python package", "pip install playwright")
    executable = lab_helpers.chromium_path()
    if executable is None:
        _need("Chromium", "apt-get install chromium")
    profile = tempfile.mkdtemp(prefix="distlab-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=lab_helpers.CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 1000})
        try:
            yield context
        finally:
            context.close()


NOTEBOOK_SOURCE = """from distlab.viz import view
viewer = view("election", servers=5, seed=7)
viewer"""


def _write_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Fast Leader Election, step by step"),
                nbformat.v4.new_code_cell(NOTEBOOK_SOURCE)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


def _run_cell(page, cell, lab, timeout_s: float = 120.0) -> None:
    """Run ``cell`` once its kernel is connected, and wait for the viewer to be drawn.

    A cell run before the notebook's kernel is connected is lost (or brings up JupyterLab's
    "Select Kernel" dialog), so the test first waits, through the server's REST API, for an
    idle kernel with a browser connection; a dialog, if any, is accepted (its default is the
    notebook's own kernel) and the run retried.
    """
    import time

    lab.wait_for_kernel()
    page.wait_for_timeout(500)
    picture = page.locator(".distlab-picture svg")
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    deadline = time.monotonic() + timeout_s
    next_try = 0.0
    while time.monotonic() < deadline:
        if picture.count() and picture.first.is_visible():
            return
        if dialog.count() and dialog.first.is_visible():
            dialog.first.click()
            next_try = 0.0
        busy = "[*]" in cell.locator(".jp-InputPrompt").inner_text()
        if not busy and not page.locator(".jp-OutputArea-output").count() and time.monotonic() >= next_try:
            cell.locator(".cm-content").click()
            page.keyboard.press("Shift+Enter")
            next_try = time.monotonic() + 20
        page.wait_for_timeout(250)
    raise AssertionError("the viewer was not drawn in the notebook")


def test_widget_in_jupyterlab_steps_when_clicked(browser, tmp_path):
    _write_notebook(tmp_path / "viewer.ipynb")
    with lab_helpers.start_lab(tmp_path, python=sys.executable) as lab:
        page = browser.new_page()
        try:
            page.goto(lab.url("lab/tree/viewer.ipynb"), wait_until="domcontentloaded", timeout=60_000)
            cell = page.locator(".jp-Notebook .jp-CodeCell").first
            cell.wait_for(timeout=60_000)
            _run_cell(page, cell, lab)
            label = page.locator(".distlab-label")
            assert "frame 1 /" in label.inner_text()
            before = page.locator(".distlab-picture").inner_html()
            page.screenshot(path=str(tmp_path / "lab-frame-1.png"), full_page=True)
            page.locator(".distlab-step").click()
            page.wait_for_function(
                "() => document.querySelector('.distlab-label').innerText.includes('frame 2 /')", timeout=30_000)
            page.wait_for_function(
                "(old) => document.querySelector('.distlab-picture').innerHTML !== old", arg=before, timeout=30_000)
            after = page.locator(".distlab-picture").inner_html()
            assert after != before and "server 2 · LOOKING" in after
            page.screenshot(path=str(tmp_path / "lab-frame-2.png"), full_page=True)
        finally:
            page.close()
    assert (tmp_path / "lab-frame-1.png").stat().st_size > 10_000
    assert (tmp_path / "lab-frame-2.png").stat().st_size > 10_000


def test_standalone_html_slider_changes_the_frame(browser, tmp_path):
    from distlab.cli import main as distlab

    out = tmp_path / "run.html"
    assert distlab(["replay", "election", "--servers", "5", "--seed", "7", "--out", str(out)]) == 0
    page = browser.new_page()
    try:
        page.goto(out.as_uri())
        page.locator("#picture svg").wait_for(timeout=15_000)
        assert page.get_attribute("body", "data-frame") == "0"
        first = page.locator("#picture").inner_html()
        first_text = page.locator("#explanation").inner_text()
        page.screenshot(path=str(tmp_path / "html-frame-1.png"), full_page=True)
        page.locator("#slider").fill("60")  # moves the range input and fires 'input'
        assert page.get_attribute("body", "data-frame") == "60"
        assert "frame 61 /" in page.locator("#label").inner_text()
        assert page.locator("#picture").inner_html() != first
        assert page.locator("#explanation").inner_text() != first_text
        page.screenshot(path=str(tmp_path / "html-frame-61.png"), full_page=True)
        page.locator("#step").click()
        assert page.get_attribute("body", "data-frame") == "61"
        page.locator("#next").click()
        assert int(page.get_attribute("body", "data-frame")) > 61
    finally:
        page.close()
    assert (tmp_path / "html-frame-61.png").stat().st_size > 10_000
