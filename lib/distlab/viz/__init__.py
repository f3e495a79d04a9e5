"""``distlab.viz`` — watch elections, synchronisation and broadcast, one event at a time.

- :mod:`~distlab.viz.frames` — a trace (live or loaded) to frames: servers, votes, epochs,
  logs, messages in flight, partitions (pure; reads traces only);
- :mod:`~distlab.viz.explain` — one plain-language line per event;
- :mod:`~distlab.viz.graph` — a frame as a Graphviz picture (deterministic SVG);
- :mod:`~distlab.viz.syncview` — each learner's log against the leader's, and the sync mode;
- :mod:`~distlab.viz.runs` — the scenarios, deterministic replay, branches made by hand;
- :mod:`~distlab.viz.widget` — the ipywidgets viewer (``view(...)``);
- :mod:`~distlab.viz.html` — one self-contained HTML file (``distlab replay``).

    from distlab.viz import view
    view("election", servers=5, seed=7)
"""

from distlab.viz.frames import Frame, MessageView, ServerView, SyncInfo, Timeline, VoteView, segment
from distlab.viz.graph import Layout, frame_dot, render_svg
from distlab.viz.html import export_html
from distlab.viz.runs import Action, Run, Scenario
from distlab.viz.syncview import sync_view_html, sync_view_text
from distlab.viz.widget import Viewer, ViewerWidget, view

__all__ = [
    "Timeline", "Frame", "ServerView", "VoteView", "MessageView", "SyncInfo", "segment",
    "Layout", "frame_dot", "render_svg",
    "Scenario", "Run", "Action",
    "Viewer", "ViewerWidget", "view",
    "export_html", "sync_view_html", "sync_view_text",
]
