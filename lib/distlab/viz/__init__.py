"""``distlab.viz`` — watch elections, synchronisation and broadcast, one event at a time.

- :mod:`~distlab.viz.frames` — a trace (live or loaded) to frames: servers, votes, epochs,
  logs, messages in flight, partitions (pure; reads traces only);
- :mod:`~distlab.viz.explain` — one plain-language line per event;
- :mod:`~distlab.viz.svg` — a frame as SVG written directly (the ring with message marks and a
  legend, the space-time diagram; no Graphviz at run time);
- :mod:`~distlab.viz.syncview` — each learner's log against the leader's, and the sync mode;
- :mod:`~distlab.viz.runs` — the scenarios, deterministic replay, branches made by hand;
- :mod:`~distlab.viz.widget` — the ipywidgets viewer (``view(...)``);
- :mod:`~distlab.viz.html` — one self-contained HTML file (``distlab replay``): the frames as
  data, drawn in the page by ``assets/viewer.js`` with ``assets/viewer.css``.

    from distlab.viz import view
    view("election", servers=5, seed=7)
"""

from distlab.viz.frames import Frame, MessageView, ServerView, SyncInfo, Timeline, VoteView, segment
from distlab.viz.svg import Layout, RunPicture, render_svg
from distlab.viz.html import export_html
from distlab.viz.runs import Action, Run, Scenario
from distlab.viz.syncview import sync_view_html, sync_view_text
from distlab.viz.widget import Viewer, ViewerWidget, view

__all__ = [
    "Timeline", "Frame", "ServerView", "VoteView", "MessageView", "SyncInfo", "segment",
    "Layout", "RunPicture", "render_svg",
    "Scenario", "Run", "Action",
    "Viewer", "ViewerWidget", "view",
    "export_html", "sync_view_html", "sync_view_text",
]
