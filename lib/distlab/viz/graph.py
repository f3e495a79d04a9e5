"""Draw one frame with Graphviz: servers on a fixed circle, messages in flight as arrows.

- Servers sit on a circle in id order, clockwise from the top; the positions depend only on
  the ensemble's members (``Layout``), so nothing moves between frames. Clients and other
  processes sit in a row under the circle.
- A server's fill says its state (LOOKING amber, FOLLOWING blue, LEADING green, OBSERVING
  purple, crashed grey); its label gives its vote (leader, zxid as ``epoch_counter``, the
  proposed leader's epoch), election round, epochs and last zxid.
- Messages in flight are arrows labelled with their type and content; several on one link
  are drawn as one arrow, labelled with the oldest and a count. Arrows that cross a partition
  are dashed red: they will be lost. A partition also rings each side's servers in its colour.
- The event of the frame is highlighted: the acting server gets a thick red border and the
  message just delivered (or dropped) a bold red arrow.

The SVG is deterministic for a given frame: Graphviz's version comment and the generated
graph title are stripped, and every attribute comes from the frame in a fixed order.
Rendering is ``neato -n2`` (positions given, only the edges are routed), one subprocess per
frame, with a small cache keyed by the DOT source.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

from distlab.viz.explain import describe_vote
from distlab.viz.frames import Frame, ServerView
from distlab.zab.zxid import format_zxid

__all__ = ["Layout", "STATE_COLOURS", "frame_dot", "render_svg", "render_many", "svg_of", "clean_svg"]

STATE_COLOURS = {
    "LOOKING": "#fde68a",
    "FOLLOWING": "#bfdbfe",
    "LEADING": "#86efac",
    "OBSERVING": "#e9d5ff",
    "CRASHED": "#d1d5db",
    "NOT STARTED": "#f3f4f6",
    "BOOTING": "#fef3c7",
}
HIGHLIGHT = "#dc2626"
GROUP_COLOURS = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777")
FONT = "Helvetica"


@dataclass(frozen=True)
class Layout:
    """Fixed positions (in points) for the servers and any other processes of a run."""

    positions: tuple[tuple[Any, float, float], ...]

    @classmethod
    def for_members(cls, servers: Sequence[int], others: Sequence[Any] = ()) -> "Layout":
        n = max(len(servers), 1)
        radius = max(220.0, 48.0 * n)
        out = []
        for i, sid in enumerate(servers):
            angle = math.pi / 2 - 2 * math.pi * i / n
            out.append((sid, round(radius * math.cos(angle), 1), round(radius * math.sin(angle), 1)))
        y = -radius - 120.0
        width = 170.0
        x0 = -width * (len(others) - 1) / 2
        for i, node in enumerate(others):
            out.append((node, round(x0 + i * width, 1), y))
        return cls(tuple(out))

    @classmethod
    def for_timeline(cls, timeline: Any) -> "Layout":
        servers = sorted(list(timeline.voters) + list(timeline.observers))
        return cls.for_members(servers, timeline.clients)

    def position(self, node: Any) -> tuple[float, float] | None:
        for n, x, y in self.positions:
            if n == node:
                return x, y
        return None


def _q(text: str) -> str:
    """A DOT string literal."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _node_id(node: Any) -> str:
    return _q(f"n:{node}")


def _server_label(view: ServerView) -> str:
    status = view.status
    role = "observer " if view.observer else "server "
    lines = [f"{role}{view.sid} · {status}"]
    if not view.booted:
        return lines[0] + "\n(its disk is read when it boots)"
    if view.up and view.state is not None:
        if view.vote is not None and not view.vote.none:
            epoch = "" if view.vote.peer_epoch is None else f" e{view.vote.peer_epoch}"
            lines.append(f"vote {describe_vote(view.vote)}{epoch} · round {view.round}")
        elif view.observer:
            lines.append(f"no vote (observer) · round {view.round}")
        else:
            lines.append(f"round {view.round}")
        if view.state in ("FOLLOWING", "OBSERVING", "LEADING") and view.leader is not None:
            lines.append(f"leader {view.leader} · {view.phase.lower()}")
    acc = "?" if view.accepted_epoch is None else view.accepted_epoch
    cur = "?" if view.current_epoch is None else view.current_epoch
    lines.append(f"epochs acc {acc} / cur {cur}")
    lines.append(f"last zxid {format_zxid(view.last_zxid)}" + ("" if view.up or not view.booted else " (disk)"))
    return "\n".join(lines)


def _groups_of(frame: Frame) -> dict[Any, int]:
    member = {}
    for i, group in enumerate(frame.groups):
        for node in group:
            member[node] = i
    return member


def _crosses(frame: Frame, group_of: dict[Any, int], src: Any, dst: Any) -> bool:
    if frame.groups and group_of.get(src, -1) != group_of.get(dst, -1):
        return True
    return any(tuple(c) == (src, dst) for c in frame.cuts)


def frame_dot(frame: Frame, layout: Layout, title: str | None = None) -> str:
    """The DOT source for ``frame`` (deterministic: same frame, same text)."""
    group_of = _groups_of(frame)
    actor = frame.actor
    lines = [
        "digraph distlab {",
        f'  graph [outputorder=edgesfirst, splines=true, overlap=true, bgcolor="white", pad=0.25, '
        f'fontname="{FONT}", fontsize=12, labelloc=t, label={_q(title or "")}];',
        f'  node [shape=box, style="rounded,filled", fontname="{FONT}", fontsize=10, margin="0.12,0.06"];',
        f'  edge [fontname="{FONT}", fontsize=8, color="#475569", fontcolor="#334155", arrowsize=0.7];',
    ]
    placed = set()
    for view in frame.servers:
        pos = layout.position(view.sid)
        if pos is None:
            continue
        placed.add(view.sid)
        fill = STATE_COLOURS.get(view.status, "#ffffff")
        attrs = [f"label={_q(_server_label(view))}", f'pos="{pos[0]},{pos[1]}!"', f'fillcolor="{fill}"',
                 f"tooltip={_q(f'server {view.sid}: {view.status}')}"]
        style = "rounded,filled" + (",dashed" if not view.up else "")
        attrs.append(f'style="{style}"')
        if view.sid == actor:
            attrs += [f'color="{HIGHLIGHT}"', "penwidth=3.5"]
        elif view.sid in group_of:
            attrs += [f'color="{GROUP_COLOURS[group_of[view.sid] % len(GROUP_COLOURS)]}"', "penwidth=2.5"]
        lines.append(f"  {_node_id(view.sid)} [{', '.join(attrs)}];")
    for node, x, y in layout.positions:
        if node in placed:
            continue
        attrs = [f"label={_q(str(node))}", f'pos="{x},{y}!"', 'shape=ellipse', 'fillcolor="#f8fafc"']
        if node == actor:
            attrs += [f'color="{HIGHLIGHT}"', "penwidth=3"]
        elif node in group_of:
            attrs += [f'color="{GROUP_COLOURS[group_of[node] % len(GROUP_COLOURS)]}"', "penwidth=2.5"]
        lines.append(f"  {_node_id(node)} [{', '.join(attrs)}];")
    positioned = {n for n, _, _ in layout.positions}

    # Messages in flight, one arrow per link.
    links: "OrderedDict[tuple, list]" = OrderedDict()
    for m in frame.in_flight:
        if m.src in positioned and m.dst in positioned:
            links.setdefault((m.src, m.dst), []).append(m)
    for (src, dst), messages in links.items():
        count = sum(m.copies for m in messages)
        label = messages[0].label + (f"  (+{count - 1})" if count > 1 else "")
        tip = "; ".join(f"#{m.msg_id} {m.label}" for m in messages)
        attrs = [f"label={_q(label)}", f"tooltip={_q(tip)}"]
        if _crosses(frame, group_of, src, dst):
            attrs += [f'color="{HIGHLIGHT}"', 'style="dashed"', f'fontcolor="{HIGHLIGHT}"']
        lines.append(f"  {_node_id(src)} -> {_node_id(dst)} [{', '.join(attrs)}];")

    handled = frame.handled
    if handled is not None and handled.src in positioned and handled.dst in positioned:
        dropped = frame.event is not None and frame.event.kind == "drop"
        verb = "lost: " if dropped else "delivered: "
        attrs = [f"label={_q(verb + handled.label)}", f'color="{HIGHLIGHT}"', f'fontcolor="{HIGHLIGHT}"',
                 "penwidth=2.5", "fontsize=9"]
        attrs.append('style="dashed"' if dropped else 'style="bold"')
        lines.append(f"  {_node_id(handled.src)} -> {_node_id(handled.dst)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


_COMMENT = re.compile(r"<!--.*?-->\s*", re.S)
_HEADER = re.compile(r"^.*?(?=<svg)", re.S)
_GRAPH_TITLE = re.compile(r"<title>distlab</title>\s*")
_GRAPH_ID = re.compile(r'id="[^"]*graph0"')


def clean_svg(svg: str) -> str:
    """Strip what varies with the Graphviz install, not the frame: XML header, doctype,
    comments (version), the graph's own title."""
    svg = _HEADER.sub("", svg, count=1)
    svg = _COMMENT.sub("", svg)
    svg = _GRAPH_TITLE.sub("", svg)
    svg = _GRAPH_ID.sub('id="graph0"', svg)  # one Graphviz run for many graphs names them per page
    return svg.strip() + "\n"


def _neato(dot: str) -> str:
    """Run Graphviz (``neato -n2 -Tsvg``) on DOT source; one process, no temporary files.

    The ``graphviz`` package's ``pipe`` does the same with more checks; calling the binary
    directly halves the per-frame cost (see ``distlab bench viz``).
    """
    exe = shutil.which("neato")
    if exe is None:
        raise RuntimeError("Graphviz is not installed: the 'neato' program (package graphviz) draws the "
                           "pictures. Install it with: sudo apt-get install graphviz (or brew install graphviz)")
    done = subprocess.run([exe, "-n2", "-Tsvg"], input=dot.encode("utf-8"), capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Graphviz failed ({done.returncode}): {done.stderr.decode(errors='replace')[:500]}")
    return done.stdout.decode("utf-8")


_CACHE: "OrderedDict[str, str]" = OrderedDict()
_CACHE_SIZE = 256


def svg_of(dot: str) -> str:
    """Render DOT source to clean SVG with ``neato -n2`` (cached)."""
    cached = _CACHE.get(dot)
    if cached is not None:
        _CACHE.move_to_end(dot)
        return cached
    try:
        svg = clean_svg(_neato(dot))
    except RuntimeError:
        # Graphviz's spline router has crashed on rare inputs; straight edges always work.
        svg = clean_svg(_neato(dot.replace("splines=true", "splines=false", 1)))
    _CACHE[dot] = svg
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return svg


def render_svg(frame: Frame, layout: Layout, title: str | None = None) -> str:
    """The frame as an SVG string."""
    return svg_of(frame_dot(frame, layout, title))


def render_many(frames: Sequence[Frame], layout: Layout, titles: Sequence[str | None] | None = None,
                chunk: int = 32) -> list[str]:
    """Render many frames with few Graphviz processes (for exports): the same SVG as
    :func:`render_svg`, without a subprocess per frame.

    Graphviz 2.43 can crash on a long stream of graphs ("double free or corruption"), so
    frames go ``chunk`` at a time, and a chunk that fails is rendered one frame at a time.
    """
    titles = list(titles) if titles is not None else [None] * len(frames)
    dots = [frame_dot(f, layout, t) for f, t in zip(frames, titles)]
    out: list[str | None] = [_CACHE.get(d) for d in dots]
    todo = [i for i, s in enumerate(out) if s is None]
    for start in range(0, len(todo), chunk):
        batch = todo[start:start + chunk]
        try:
            raw = _neato("".join(dots[i] for i in batch))
            parts = [p + "</svg>" for p in raw.split("</svg>")[:-1]]
        except RuntimeError:
            parts = []
        if len(parts) != len(batch):
            for i in batch:
                out[i] = svg_of(dots[i])
        else:
            for i, part in zip(batch, parts):
                out[i] = clean_svg(part)
    return [s for s in out if s is not None]
