"""A run as one self-contained HTML file: inline SVG frames, a slider and buttons in plain JS.

The file needs no network and no Python: every frame's picture is an SVG string inside the
page (JSON in a ``<script type="application/json">`` block), and about sixty lines of
JavaScript show one at a time. Keys: left/right arrows step, space plays.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from distlab.viz.frames import Timeline
from distlab.viz.graph import Layout, render_many
from distlab.viz.syncview import SYNC_CSS, sync_view_html

__all__ = ["frame_title", "export_html", "html_document"]


def frame_title(frame: Any, total: int) -> str:
    return f"t = {frame.time} ms · frame {frame.index + 1} of {total}"


_CSS = """
body { font: 14px Helvetica, Arial, sans-serif; margin: 16px; color: #0f172a; }
h1 { font-size: 18px; margin: 0 0 8px 0; }
.controls { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; margin: 6px 0; }
.controls button { font-size: 13px; padding: 3px 10px; cursor: pointer; }
#slider { width: 420px; }
#explanation { min-height: 2.6em; background: #f1f5f9; border-left: 4px solid #dc2626; padding: 6px 10px; margin: 6px 0; }
#notes { color: #475569; font-size: 12px; white-space: pre-wrap; }
#picture svg { max-width: 100%; height: auto; }
.legend span { display: inline-block; padding: 1px 8px; margin-right: 4px; border-radius: 4px; font-size: 12px; }
"""

_JS = r"""
(function () {
  var frames = JSON.parse(document.getElementById('frames').textContent);
  var slider = document.getElementById('slider');
  var label = document.getElementById('label');
  var timer = null;
  slider.max = frames.length - 1;
  function show(i) {
    i = Math.max(0, Math.min(frames.length - 1, i));
    var f = frames[i];
    slider.value = i;
    document.getElementById('picture').innerHTML = f.svg;
    document.getElementById('explanation').textContent = f.explanation;
    document.getElementById('notes').textContent = f.notes;
    document.getElementById('sync').innerHTML = f.sync;
    label.textContent = 'frame ' + (i + 1) + ' / ' + frames.length + ' · t = ' + f.time + ' ms';
    document.body.setAttribute('data-frame', String(i));
  }
  function current() { return parseInt(slider.value, 10); }
  function nextChange() {
    for (var j = current() + 1; j < frames.length; j++) { if (frames[j].change) { return j; } }
    return frames.length - 1;
  }
  function play() {
    if (timer) { clearInterval(timer); timer = null; document.getElementById('play').textContent = 'play ▷'; return; }
    document.getElementById('play').textContent = 'pause ❚❚';
    timer = setInterval(function () {
      if (current() >= frames.length - 1) { play(); return; }
      show(current() + 1);
    }, 500);
  }
  slider.addEventListener('input', function () { show(current()); });
  document.getElementById('back').addEventListener('click', function () { show(current() - 1); });
  document.getElementById('step').addEventListener('click', function () { show(current() + 1); });
  document.getElementById('next').addEventListener('click', function () { show(nextChange()); });
  document.getElementById('play').addEventListener('click', play);
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowRight') { show(current() + 1); }
    else if (e.key === 'ArrowLeft') { show(current() - 1); }
    else if (e.key === ' ') { e.preventDefault(); play(); }
  });
  show(0);
})();
"""


def _legend() -> str:
    from distlab.viz.graph import STATE_COLOURS

    spans = "".join(f'<span style="background:{colour}">{html.escape(name)}</span>'
                    for name, colour in STATE_COLOURS.items() if name not in ("BOOTING",))
    return (f'<div class="legend">{spans} <span style="color:#dc2626">red: this frame\'s event</span>'
            f'<span style="color:#dc2626">dashed red: will be lost (partition)</span></div>')


def frame_payload(timeline: Timeline, layout: Layout | None = None) -> list[dict[str, Any]]:
    """Per frame: its SVG, explanation, notes, sync view, time and state-change flag."""
    layout = layout or Layout.for_timeline(timeline)
    total = len(timeline)
    svgs = render_many(timeline.frames, layout, [frame_title(f, total) for f in timeline.frames])
    out = []
    for frame, svg in zip(timeline.frames, svgs):
        out.append({
            "svg": svg,
            "explanation": frame.explanation,
            "notes": "\n".join(frame.notes),
            "sync": sync_view_html(frame),
            "time": frame.time,
            "change": frame.state_change,
        })
    return out


def html_document(timeline: Timeline, title: str, subtitle: str = "", layout: Layout | None = None) -> str:
    """The whole page as a string."""
    if len(timeline) == 0:
        raise ValueError("this run has no frames to show")
    payload = json.dumps(frame_payload(timeline, layout), ensure_ascii=False, separators=(",", ":"))
    payload = payload.replace("</", "<\\/")  # never close the script element early
    t = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{t}</title>
<style>{_CSS}{SYNC_CSS}</style>
</head>
<body data-frame="0">
<h1>{t}</h1>
<div>{html.escape(subtitle)}</div>
{_legend()}
<div class="controls">
  <button id="back" title="previous event (left arrow)">◀ back</button>
  <button id="play" title="play / pause (space)">play ▷</button>
  <button id="step" title="next event (right arrow)">step ▶</button>
  <button id="next" title="jump to the next state change">next state change »</button>
  <input type="range" id="slider" min="0" max="0" value="0" aria-label="frame">
  <span id="label"></span>
</div>
<div id="explanation"></div>
<div id="picture"></div>
<div id="notes"></div>
<div id="sync"></div>
<script type="application/json" id="frames">{payload}</script>
<script>{_JS}</script>
</body>
</html>
"""


def export_html(timeline: Timeline, path: str | Path, title: str, subtitle: str = "") -> Path:
    """Write the page to ``path``; returns the path."""
    path = Path(path)
    path.write_text(html_document(timeline, title, subtitle), encoding="utf-8")
    return path
