"""A run as one self-contained HTML file: the frames as data, drawn in the page by viewer.js.

The page needs no network and no Python: the run is one JSON object
(:meth:`~distlab.viz.svg.RunPicture.to_data`: tables of server cards, messages and sync views
shared between frames, and per frame only what changes) inside a
``<script type="application/json">`` block, and ``assets/viewer.js`` (inlined, with
``assets/viewer.css``) draws each frame as the notebook widget does: the ring with message
marks and a legend, the space-time diagram, the list of messages in flight. Keys: left/right
arrows step, space plays.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

from distlab.viz.frames import Timeline
from distlab.viz.svg import Layout, RunPicture
from distlab.viz.syncview import SYNC_CSS

__all__ = ["frame_title", "export_html", "html_document", "asset", "frame_payload"]


def frame_title(frame: Any, total: int) -> str:
    return f"t = {frame.time} ms · frame {frame.index + 1} of {total}"


def asset(name: str) -> str:
    """The text of ``distlab/viz/assets/<name>`` (shipped in the wheel as package data)."""
    return resources.files("distlab.viz").joinpath("assets", name).read_text(encoding="utf-8")


def frame_payload(timeline: Timeline, layout: Layout | None = None) -> dict[str, Any]:
    """The run as data for viewer.js (see :meth:`RunPicture.to_data`)."""
    return RunPicture(timeline, layout).to_data()


_PAGE_CSS = "body { margin: 10px 14px; } .dl-foot { font-size: 11px; color: #64748b; margin-top: 2px; }"


def html_document(timeline: Timeline, title: str, subtitle: str = "", layout: Layout | None = None) -> str:
    """The whole page as a string."""
    if len(timeline) == 0:
        raise ValueError("this run has no frames to show")
    payload = json.dumps(frame_payload(timeline, layout), ensure_ascii=False, separators=(",", ":"))
    payload = payload.replace("</", "<\\/")  # never close the script element early
    script = asset("viewer.js").replace("</script", "<\\/script")
    t = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{t}</title>
<style>{asset("viewer.css")}{SYNC_CSS}{_PAGE_CSS}</style>
</head>
<body data-frame="0">
<div class="dl-viewer">
<div class="dl-head"><h1>{t}</h1><div class="dl-sub">{html.escape(subtitle)}</div></div>
<div class="dl-bar">
  <button id="back" title="previous event (left arrow)">◀ back</button>
  <button id="step" title="next event (right arrow)">step ▶</button>
  <button id="next" title="jump to the next state change">next change »</button>
  <button id="play" title="play / pause (space)">play ▷</button>
  <input type="range" id="slider" class="dl-slider" min="1" max="1" value="1" aria-label="frame">
  <span id="label" class="dl-label"></span>
</div>
<div id="explanation" class="dl-expl"></div>
<div class="dl-main">
  <div id="picture" class="dl-ring"></div>
  <div class="dl-side">
    <div id="spacetime" class="dl-st"></div>
    <div class="dl-tabs"><button id="tab-messages" data-tab="messages">in flight</button><button data-tab="sync">sync</button><button data-tab="notes">notes</button></div>
    <div id="pane" class="dl-pane"></div>
  </div>
</div>
<div id="status" class="dl-status"></div>
<div class="dl-foot">A replay of one run. Crash, restart, partition, deliver and drop live in the notebook viewer (distlab.viz.view).</div>
</div>
<script type="application/json" id="frames">{payload}</script>
<script>{script}</script>
</body>
</html>
"""


def export_html(timeline: Timeline, path: str | Path, title: str, subtitle: str = "") -> Path:
    """Write the page to ``path``; returns the path."""
    path = Path(path)
    path.write_text(html_document(timeline, title, subtitle), encoding="utf-8")
    return path
