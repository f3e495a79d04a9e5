"""The viewer in a real browser: JupyterLab + headless Chromium (Debian's), driven by Playwright.

All at 1280x800, the laptop the viewer must fit:

1. JupyterLab is started on loopback by ``scripts/browser/jupyterlab.py`` and a notebook that
   builds the election viewer is opened **with the file browser open** and run. The picture,
   the step controls and the what-if controls must all be inside the viewport at once; the
   header must not wrap; no two texts of the picture overlap (bounding boxes), every text
   sits in a server card or the legend (messages are marks, never edge labels) and fits its
   card; the legend is there; every button changes the picture or says why not; playing
   steps and pausing keeps the frame; run names are not cut.
2. The standalone HTML from ``distlab replay election`` is opened from disk: it loads in
   under a second without any network request, steps, plays, and passes the same layout
   checks; its JavaScript renderer draws every frame exactly as ``distlab.viz.svg`` does in
   the notebook (the same look in both).

Screenshots go to the test's temporary folder, and to ``$DISTLAB_SCREENSHOTS`` when set. Chromium comes from Debian (``apt-get install
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
            viewport={"width": 1280, "height": 800})
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



def _keep(tmp_path: Path, name: str) -> Path:
    """Where a screenshot goes: the test's folder, copied to $DISTLAB_SCREENSHOTS when set."""
    return tmp_path / name


def _copy_out(path: Path) -> None:
    import shutil

    target = os.environ.get("DISTLAB_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


# The layout checks, run in the page: texts of the ring picture never overlap each other,
# every text belongs to a card, a client or the legend, and a card's text fits in its card.
LAYOUT_JS = """(sel) => {
  const svg = document.querySelector(sel);
  const texts = [...svg.querySelectorAll('text')];
  const box = (e) => e.getBoundingClientRect();
  const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  const overlaps = [];
  for (let i = 0; i < texts.length; i++) {
    for (let j = i + 1; j < texts.length; j++) {
      if (hit(box(texts[i]), box(texts[j]))) { overlaps.push([texts[i].textContent, texts[j].textContent]); }
    }
  }
  const stray = texts.filter(t => !t.closest('g.server, g.other, g.legend')).map(t => t.textContent);
  const outside = texts.filter(t => t.closest('g.server')).filter(t => {
    const rects = t.closest('g.server').querySelectorAll('rect');
    const r = box(rects[rects.length - 1]), b = box(t);
    return b.left < r.left - 1 || b.right > r.right + 1 || b.top < r.top - 1 || b.bottom > r.bottom + 1;
  }).map(t => t.textContent);
  return {overlaps, stray, outside, texts: texts.length,
          legend: svg.querySelectorAll('g.legend text').length, marks: svg.querySelectorAll('g.mark').length};
}"""

IN_VIEW_JS = """(sels) => sels.map(s => {
  const e = document.querySelector(s);
  if (!e) { return [s, 'missing']; }
  const r = e.getBoundingClientRect();
  const ok = r.width > 0 && r.height > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth;
  return [s, ok ? 'ok' : `out: ${Math.round(r.left)},${Math.round(r.top)} - ${Math.round(r.right)},${Math.round(r.bottom)}`];
})"""


def _check_layout(page, selector: str) -> dict:
    report = page.evaluate(LAYOUT_JS, selector)
    assert report["overlaps"] == [], f"overlapping texts: {report['overlaps'][:5]}"
    assert report["stray"] == [], f"texts outside cards and legend (edge labels?): {report['stray'][:5]}"
    assert report["outside"] == [], f"card lines that do not fit their card: {report['outside'][:5]}"
    assert report["legend"] >= 15, "the legend is missing"
    return report


def _in_view(page, selectors: list[str]) -> None:
    bad = [(s, why) for s, why in page.evaluate(IN_VIEW_JS, selectors) if why != "ok"]
    assert bad == [], f"not inside the 1280x800 viewport: {bad}"


def _open_file_browser(page) -> None:
    panel = page.locator("#filebrowser")
    if not (panel.count() and panel.first.is_visible()):
        page.locator('.jp-SideBar [data-id="filebrowser"]').first.click()
    panel.first.wait_for(state="visible", timeout=30_000)
    assert panel.first.bounding_box()["width"] > 150


def _state(page) -> tuple[str, str, str]:
    return (page.locator(".distlab-picture").inner_html(), page.locator(".distlab-status").inner_text(),
            page.locator(".distlab-label").inner_text())


def _click_and_see(page, selector: str, *, changes: str | None = None, says: str | None = None) -> str:
    """Click a button; the picture must change, or the status line must say why not."""
    before = _state(page)
    page.locator(selector).first.click()
    page.wait_for_function(
        """([old, pic, st]) => document.querySelector('.distlab-picture').innerHTML !== pic ||
           document.querySelector('.distlab-status').innerText !== st""",
        arg=[None, before[0], before[1]], timeout=30_000)
    page.wait_for_timeout(150)
    after = _state(page)
    if says is not None:
        assert says in after[1], f"{selector}: expected the status to say {says!r}, got {after[1]!r}"
    if changes == "picture":
        assert after[0] != before[0], f"{selector} did not change the picture (status {after[1]!r})"
    return after[1]


def test_widget_in_jupyterlab_fits_1280x800_and_every_button_answers(browser, tmp_path):
    _write_notebook(tmp_path / "viewer.ipynb")
    with lab_helpers.start_lab(tmp_path, python=sys.executable) as lab:
        page = browser.new_page()
        try:
            page.goto(lab.url("lab/tree/viewer.ipynb"), wait_until="domcontentloaded", timeout=60_000)
            cell = page.locator(".jp-Notebook .jp-CodeCell").first
            cell.wait_for(timeout=60_000)
            _open_file_browser(page)
            _run_cell(page, cell, lab)
            page.locator(".dl-viewer").first.wait_for(timeout=30_000)
            page.wait_for_timeout(500)
            # The whole widget in view: scroll the notebook so the viewer's top is at the top.
            page.evaluate("() => document.querySelector('.dl-viewer').scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)
            assert page.locator("#filebrowser").first.is_visible()
            controls = [".distlab-picture svg", ".distlab-spacetime svg", ".distlab-pane", ".distlab-back",
                        ".distlab-step", ".distlab-next", ".distlab-play", ".distlab-slider", ".distlab-label",
                        ".distlab-explanation", ".distlab-server", ".distlab-crash", ".distlab-restart",
                        ".distlab-groups", ".distlab-partition", ".distlab-heal", ".distlab-runs",
                        ".distlab-message", ".distlab-deliver", ".distlab-drop", ".distlab-status"]
            _in_view(page, controls)
            height = page.evaluate("() => document.querySelector('.dl-viewer').getBoundingClientRect().height")
            assert height <= 640, f"the widget is {height:.0f} px tall"
            # The header is one line.
            tops = page.evaluate("""() => [...document.querySelectorAll('.dl-bar > *')]
                                   .map(e => Math.round(e.getBoundingClientRect().top + e.getBoundingClientRect().height / 2))""")
            assert max(tops) - min(tops) <= 3, f"the header wraps: {tops}"
            label = page.locator(".distlab-label")
            assert "frame 1 / 161" in label.inner_text()
            _check_layout(page, ".distlab-picture svg")
            shot = _keep(tmp_path, "notebook-frame-1.png")
            page.screenshot(path=str(shot))
            # Buttons. Each changes the picture, or the status line says why not.
            _click_and_see(page, ".distlab-back", says="first frame")
            _click_and_see(page, ".distlab-step", changes="picture")
            assert "frame 2 / 161" in label.inner_text()
            _click_and_see(page, ".distlab-next", changes="picture")
            # Play steps; pause keeps the frame (no jump back to frame 1).
            page.locator(".distlab-play").click()
            start = label.inner_text()
            page.wait_for_function("(old) => document.querySelector('.distlab-label').innerText !== old",
                                   arg=start, timeout=30_000)
            page.wait_for_timeout(900)
            page.locator(".distlab-play").click()
            page.wait_for_function("() => document.querySelector('.distlab-status').innerText.includes('paused')",
                                   timeout=30_000)
            paused = label.inner_text()
            page.wait_for_timeout(1200)
            assert label.inner_text() == paused and "frame 1 /" not in paused
            frame_no = int(paused.split("frame ", 1)[1].split(" /", 1)[0])
            assert frame_no > 3
            # Early election frames: many messages in flight, no label overlaps.
            page.locator(".distlab-slider [role=slider]").first.focus()
            for _ in range(frame_no - 6):
                page.keyboard.press("ArrowLeft")
            page.wait_for_function("() => document.querySelector('.distlab-label').innerText.includes('frame 6 /')",
                                   timeout=30_000)
            page.wait_for_timeout(300)
            report = _check_layout(page, ".distlab-picture svg")
            assert report["marks"] >= 20, report
            page.locator(".distlab-picture g.mark").nth(3).hover()  # the detail is the tooltip and the list
            assert page.locator(".distlab-pane li").count() >= 20
            _keep_shot = _keep(tmp_path, "notebook-frame-6.png")
            page.screenshot(path=str(_keep_shot))
            # What-if controls, at frame 4: server 5 has not booted yet.
            page.locator(".distlab-slider [role=slider]").first.focus()
            page.keyboard.press("ArrowLeft")
            page.keyboard.press("ArrowLeft")
            page.wait_for_function("() => document.querySelector('.distlab-label').innerText.includes('frame 4 /')",
                                   timeout=30_000)
            page.locator(".distlab-server select").select_option(label="server 5")
            _click_and_see(page, ".distlab-crash", says="has not started yet")
            _click_and_see(page, ".distlab-heal", says="not partitioned")
            _click_and_see(page, ".distlab-partition", says="type the groups")
            page.locator(".distlab-server select").select_option(label="server 1")
            _click_and_see(page, ".distlab-restart", says="cannot restart server 1")
            _click_and_see(page, ".distlab-crash", changes="picture")
            assert "new branch 1" in page.locator(".distlab-status").inner_text()
            _click_and_see(page, ".distlab-restart", changes="picture")
            page.locator(".distlab-groups input").fill("1,2 | 3,4,5")
            _click_and_see(page, ".distlab-partition", changes="picture")
            _click_and_see(page, ".distlab-heal", changes="picture")
            _click_and_see(page, ".distlab-deliver", changes="picture")
            _click_and_see(page, ".distlab-drop", changes="picture")
            _check_layout(page, ".distlab-picture svg")
            # Run names are not cut: the chosen one fits its box.
            fits = page.evaluate("""() => {
                const s = document.querySelector('.distlab-runs select');
                const c = document.createElement('canvas').getContext('2d');
                c.font = getComputedStyle(s).font;
                const text = s.options[s.selectedIndex].text;
                return [text, c.measureText(text).width, s.clientWidth];
            }""")
            assert fits[0].replace("\xa0", " ").startswith("6: drop message") and fits[1] + 20 <= fits[2], fits
            _in_view(page, controls)
            page.screenshot(path=str(_keep(tmp_path, "notebook-after-actions.png")))
        finally:
            page.close()
    for name in ("notebook-frame-1.png", "notebook-frame-6.png", "notebook-after-actions.png"):
        assert (tmp_path / name).stat().st_size > 10_000
        _copy_out(tmp_path / name)


def test_standalone_html_loads_fast_offline_and_steps(browser, tmp_path):
    import time

    from distlab.cli import main as distlab

    out = tmp_path / "run.html"
    assert distlab(["replay", "election", "--servers", "5", "--seed", "7", "--out", str(out)]) == 0
    assert out.stat().st_size <= 300_000
    page = browser.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        started = time.monotonic()
        page.goto(out.as_uri())
        page.locator("#picture svg").wait_for(timeout=15_000)
        wall = time.monotonic() - started
        loaded = page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd")
        assert wall < 1.0 and loaded < 1000, (wall, loaded)
        assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
        assert page.get_attribute("body", "data-frame") == "0"
        assert "frame 1 / 161" in page.locator("#label").inner_text()
        _in_view(page, ["#picture svg", "#spacetime svg", "#pane", "#back", "#step", "#next", "#play", "#slider",
                        "#label", "#explanation", "#status"])
        _check_layout(page, "#picture svg")
        first = page.locator("#picture").inner_html()
        page.locator("#back").click()
        assert "first frame" in page.locator("#status").inner_text()
        page.locator("#step").click()
        assert page.get_attribute("body", "data-frame") == "1" and page.locator("#picture").inner_html() != first
        page.locator("#slider").fill("6")  # the slider counts from 1, like the label
        assert page.get_attribute("body", "data-frame") == "5" and "frame 6 /" in page.locator("#label").inner_text()
        report = _check_layout(page, "#picture svg")
        assert report["marks"] >= 20
        page.locator("#pane li[data-msg]").nth(2).hover()
        assert page.locator("#picture .mark.dl-hot").count() == 1
        page.screenshot(path=str(tmp_path / "export-frame-6.png"))
        page.locator("#next").click()
        assert int(page.get_attribute("body", "data-frame")) > 5
        page.locator("#play").click()
        page.wait_for_function("() => document.body.getAttribute('data-frame') !== String(%s)"
                               % page.get_attribute("body", "data-frame"), timeout=5_000)
        page.locator("#play").click()
        held = page.get_attribute("body", "data-frame")
        page.wait_for_timeout(900)
        assert page.get_attribute("body", "data-frame") == held and "paused" in page.locator("#status").inner_text()
        page.locator("button[data-tab=sync]").click()
        assert "Sync view" in page.locator("#pane").inner_text()
        page.locator("#slider").fill("161")
        page.locator("#step").click()
        assert "last frame" in page.locator("#status").inner_text()
        assert errors == []
    finally:
        page.close()
    _copy_out(tmp_path / "export-frame-6.png")


@pytest.mark.parametrize("kind", ["election", "sync"])
def test_the_page_draws_every_frame_as_the_notebook_does(browser, tmp_path, kind):
    from distlab.viz.html import export_html
    from distlab.viz.runs import Run, Scenario, parse_histories
    from distlab.viz.svg import RunPicture

    servers = 5 if kind == "election" else 3
    run = Run(Scenario(kind, servers, 7, histories=parse_histories("random", 5, 7) if kind == "election" else None))
    picture = RunPicture(run.timeline)
    out = export_html(run.timeline, tmp_path / "run.html", "same look")
    page = browser.new_page()
    try:
        page.goto(out.as_uri())
        page.locator("#picture svg").wait_for(timeout=15_000)
        drawn = page.evaluate("""(n) => { const p = window.distlabViewer.picture, out = [];
            for (let i = 0; i < n; i++) { out.push([p.ring(i), p.spacetime(i), p.inflightHtml(i)]); } return out; }""",
                              len(run.timeline))
    finally:
        page.close()
    for i, (ring, spacetime, rows) in enumerate(drawn):
        assert ring == picture.ring_svg(i), f"frame {i}: the ring differs"
        assert spacetime == picture.spacetime_svg(i), f"frame {i}: the space-time diagram differs"
        assert rows == picture.inflight_html(i), f"frame {i}: the message list differs"
