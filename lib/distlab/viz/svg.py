"""Draw frames as SVG, directly: no Graphviz, no subprocess (positions are fixed).

Two pictures per frame, in the manner of RaftScope (servers on a ring, messages as marks
travelling along the links) and of a Lamport space-time diagram:

- **the ring** (:meth:`RunPicture.ring_svg`): servers on a fixed circle in id order, clockwise
  from the top, clients in a row underneath. A server's card is filled by its state (see
  :data:`STATE_COLOURS`) and says its vote, round, leader and phase, epochs and last zxid.
  Every message in flight is a small dot on its link — never a text label — placed by how
  far it has travelled (``(now - sent) / (arrival - sent)``, the arrival known from the
  run), coloured by its family (:data:`MARK_COLOURS`); each direction of a link has its own
  lane, so ``1 -> 2`` and ``2 -> 1`` never sit on each other. The detail of a mark is its
  hover tooltip and a row of the side list (:meth:`RunPicture.inflight_html`). The message
  this frame delivered is a red dot at its destination (a red cross halfway if it was lost);
  the acting server has a red border; links that cross a partition are dashed red; a
  partition rings each side's servers in its colour. A legend is part of the picture.
- **the space-time diagram** (:meth:`RunPicture.spacetime_svg`): one lane per process, frames
  left to right, each lane coloured by the process's state, each message a line from its
  send to its delivery (a cross where it was lost); a red cursor marks the current frame,
  the messages in flight at that moment are drawn in their colours, the past in grey and
  the future faint. Long runs show a window of :data:`WINDOW` frames around the cursor.

:meth:`RunPicture.to_data` gives the same run as plain data (JSON-ready); the standalone
page draws it with ``assets/viewer.js``, which mirrors this module element for element, so
the notebook and the export look the same. Output is deterministic: same frame, same text.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any, Sequence

from distlab.viz.frames import Frame, ServerView, Timeline
from distlab.zab.zxid import format_zxid

__all__ = ["Layout", "RunPicture", "STATE_COLOURS", "MARK_COLOURS", "family_of", "render_svg",
           "card_lines", "CARD_W", "CARD_H", "WINDOW"]

STATE_COLOURS = {
    "LOOKING": "#fde68a",
    "FOLLOWING": "#bfdbfe",
    "LEADING": "#86efac",
    "OBSERVING": "#e9d5ff",
    "CRASHED": "#d1d5db",
    "NOT STARTED": "#f3f4f6",
    "BOOTING": "#fef3c7",
}
MARK_COLOURS = {
    "election": "#b45309",
    "discovery": "#2563eb",
    "sync": "#7c3aed",
    "broadcast": "#15803d",
    "ping": "#64748b",
    "client": "#0891b2",
}
_FAMILIES = {
    "vote": "election",
    "FOLLOWERINFO": "discovery", "OBSERVERINFO": "discovery", "LEADERINFO": "discovery", "ACKEPOCH": "discovery",
    "DIFF": "sync", "TRUNC": "sync", "SNAP": "sync", "NEWLEADER": "sync", "UPTODATE": "sync",
    "PROPOSAL": "broadcast", "ACK": "broadcast", "COMMIT": "broadcast", "INFORM": "broadcast",
    "PING": "ping",
}
HIGHLIGHT = "#dc2626"
GROUP_COLOURS = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777")
CARD_W, CARD_H = 156.0, 56.0
OTHER_W, OTHER_H = 88.0, 26.0
MARK_R = 4.5
LANE_OFFSET = 5.0  # each direction of a link is drawn this far to its right
WINDOW = 160  # frames shown at once in the space-time diagram
ST_W = 360.0


def family_of(kind: str) -> str:
    """The family of a message kind (``"vote"`` -> ``"election"``), which picks its colour."""
    return _FAMILIES.get(kind, "client")


def _n(x: float) -> str:
    """A coordinate: at most one decimal, no trailing zeros (viewer.js's ``num`` does the same)."""
    text = f"{x:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


# --------------------------------------------------------------------------- layout -------
@dataclass(frozen=True)
class Layout:
    """Fixed positions (SVG units, y down) for the servers and any other processes of a run."""

    positions: tuple[tuple[Any, float, float], ...]
    servers: tuple = ()
    radius: float = 0.0

    @classmethod
    def for_members(cls, servers: Sequence[int], others: Sequence[Any] = ()) -> "Layout":
        n = len(servers)
        diagonal = math.hypot(CARD_W, CARD_H)
        radius = 0.0 if n <= 1 else max(150.0, (diagonal + 16.0) / (2 * math.sin(math.pi / n)))
        out = []
        for i, sid in enumerate(servers):
            angle = -math.pi / 2 + 2 * math.pi * i / max(n, 1)
            out.append((sid, round(radius * math.cos(angle), 1), round(radius * math.sin(angle), 1)))
        y = radius + CARD_H / 2 + 44.0
        width = OTHER_W + 24.0
        x0 = -width * (len(others) - 1) / 2
        for i, node in enumerate(others):
            out.append((node, round(x0 + i * width, 1), round(y, 1)))
        return cls(tuple(out), tuple(servers), round(radius, 1))

    @classmethod
    def for_timeline(cls, timeline: Any) -> "Layout":
        servers = sorted(list(timeline.voters) + list(timeline.observers))
        return cls.for_members(servers, timeline.clients)

    def position(self, node: Any) -> tuple[float, float] | None:
        for n, x, y in self.positions:
            if n == node:
                return x, y
        return None

    @property
    def others(self) -> tuple:
        return tuple(n for n, _, _ in self.positions if n not in self.servers)

    def box(self) -> tuple[float, float, float, float]:
        """``(x, y, width, height)`` of the ring's picture without the legend."""
        xs = [abs(x) for _, x, _ in self.positions] or [0.0]
        half = max(max(xs) + CARD_W / 2 + 12, 4 * 58.0 + 10)  # the legend's widest row fits too
        top = -self.radius - CARD_H / 2 - 18
        bottom = self.radius + CARD_H / 2 + 8
        if self.others:
            bottom = max(y for _, _, y in self.positions) + OTHER_H / 2 + 8
        return -half, top, 2 * half, bottom - top

    def to_data(self) -> dict:
        return {"nodes": [[str(n), x, y, n in self.servers] for n, x, y in self.positions],
                "box": list(self.box())}


# --------------------------------------------------------------------------- cards --------
def _vote_text(view: ServerView) -> str:
    vote = view.vote
    if vote is None or vote.none:
        return "no vote (observer)" if view.observer else "no vote yet"
    zxid = "?" if vote.zxid is None else format_zxid(vote.zxid)
    epoch = "" if vote.peer_epoch is None else f" e{vote.peer_epoch}"
    return f"vote ({vote.leader}, {zxid}){epoch}"


_PHASES = {"ELECTION": "electing", "DISCOVERY": "discovery", "SYNCHRONIZATION": "sync", "BROADCAST": "broadcast"}


def card_lines(view: ServerView) -> tuple[str, str, str, str, str]:
    """The four lines of a server's card and its tooltip."""
    role = "observer" if view.observer else "server"
    title = f"{role} {view.sid} · {view.status}"
    acc = "?" if view.accepted_epoch is None else view.accepted_epoch
    cur = "?" if view.current_epoch is None else view.current_epoch
    last = format_zxid(view.last_zxid)
    if not view.booted:
        lines = ("not started yet", "its disk is read at boot", f"last zxid {last} (disk)")
    elif not view.up:
        lines = ("down: no vote, no round", f"epoch {acc}/{cur} (disk)", f"last zxid {last} (disk)")
    else:
        if view.state in ("FOLLOWING", "OBSERVING", "LEADING") and view.leader is not None:
            who = "leads" if view.leader == view.sid else f"follows {view.leader}"
            third = f"r{view.round} · {who} · {_PHASES.get(view.phase, view.phase.lower())}"
        else:
            third = f"round {view.round}"
        lines = (_vote_text(view), third, f"epoch {acc}/{cur} · last {last}")
    tip = (f"{title}; {lines[0]}; {lines[1]}; accepted epoch {acc}, current epoch {cur}; "
           f"last zxid {last}; phase {view.phase}")
    return (title, lines[0], lines[1], lines[2], tip)


def _clip(x: float, y: float, dx: float, dy: float, half_w: float, half_h: float) -> float:
    """How far along (dx, dy) from (x, y) the ray leaves a box of half sizes (as a fraction)."""
    tx = half_w / abs(dx) if dx else math.inf
    ty = half_h / abs(dy) if dy else math.inf
    return min(tx, ty)


def _crosses(groups: Sequence[Sequence[Any]], cuts: Sequence[Sequence[Any]], src: Any, dst: Any) -> bool:
    if groups:
        where = {}
        for i, group in enumerate(groups):
            for node in group:
                where[str(node)] = i
        if where.get(str(src), -1) != where.get(str(dst), -1):
            return True
    return any(str(c[0]) == str(src) and str(c[1]) == str(dst) for c in cuts)


def _spread(ps: list[float], gap: float) -> list[float]:
    """Push sorted positions along a link apart by at least ``gap`` (fractions, 0.1..0.9)."""
    out = []
    for p in ps:
        out.append(p if not out else max(p, out[-1] + gap))
    if out and out[-1] > 0.9:
        shift = out[-1] - 0.9
        out = [max(0.1, p - shift) for p in out]
    return out


# --------------------------------------------------------------------------- run picture --
class RunPicture:
    """Everything drawn for one run: the message table, the state bands, and the pictures."""

    def __init__(self, timeline: Timeline, layout: Layout | None = None) -> None:
        self.timeline = timeline
        self.layout = layout or Layout.for_timeline(timeline)
        frames = timeline.frames
        self.lanes: list[Any] = [n for n, _, _ in self.layout.positions]
        # The message table: one entry per msg_id, from when it is first in flight (or handled)
        # to the frame it left the network, and how (delivered / lost).
        self.messages: dict[int, dict[str, Any]] = {}
        previous: set[int] = set()
        for f in frames:
            now = {m.msg_id for m in f.in_flight}
            for m in f.in_flight:
                if m.msg_id not in self.messages:
                    self.messages[m.msg_id] = self._entry(m, f.index)
            handled = f.handled
            if handled is not None and handled.msg_id not in self.messages:
                self.messages[handled.msg_id] = self._entry(handled, f.index)
            gone = (previous - now) | ({handled.msg_id} - now if handled is not None else set())
            for msg_id in sorted(gone):
                entry = self.messages[msg_id]
                if entry["end"] is not None:
                    continue
                dropped = any(getattr(r, "kind", None) == "drop" and getattr(r, "msg_id", None) == msg_id
                              for r in f.records)
                delivered = handled is not None and handled.msg_id == msg_id and not dropped
                entry.update(end=f.index, end_time=f.time, fate="d" if delivered else "x")
            previous = now
        self.order = sorted(self.messages)
        self.row = {msg_id: i for i, msg_id in enumerate(self.order)}
        self._st_base: dict[int, str] = {}

    @staticmethod
    def _entry(m: Any, index: int) -> dict[str, Any]:
        return {"id": m.msg_id, "src": m.src, "dst": m.dst, "label": m.label, "family": family_of(m.kind),
                "start": index, "sent_at": m.sent_at, "end": None, "end_time": None, "fate": ""}

    def progress(self, msg_id: int, now: int) -> float:
        entry = self.messages[msg_id]
        end = entry["end_time"]
        if end is None or end <= entry["sent_at"]:
            return 0.5
        return min(0.9, max(0.1, (now - entry["sent_at"]) / (end - entry["sent_at"])))

    def message_text(self, m: Any) -> str:
        copies = f" (×{m.copies})" if getattr(m, "copies", 1) > 1 else ""
        return f"#{m.msg_id} {m.src}→{m.dst}: {m.label}{copies} · sent at {m.sent_at} ms"

    # ------------------------------------------------------------------ the ring -----------
    def ring_svg(self, index: int) -> str:
        frame = self.timeline[index]
        layout = self.layout
        bx, by, bw, bh = layout.box()
        legend_h = 44.0
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="dl-ring-svg" viewBox="{_n(bx)} {_n(by)} '
               f'{_n(bw)} {_n(bh + legend_h)}" font-family="Helvetica, Arial, sans-serif" '
               f'data-frame="{index}">']
        servers = {v.sid: v for v in frame.servers}
        half = {}
        for node, x, y in layout.positions:
            half[str(node)] = (CARD_W / 2 + 3, CARD_H / 2 + 3) if node in servers else (OTHER_W / 2 + 3, OTHER_H / 2 + 3)
        pos = {str(n): (x, y) for n, x, y in layout.positions}
        groups, cuts = frame.groups, frame.cuts
        # Links, then marks, then nodes on top.
        links: dict[tuple[str, str], list] = {}
        selfs: dict[str, list] = {}
        for m in frame.in_flight:
            s, d = str(m.src), str(m.dst)
            if s not in pos or d not in pos:
                continue
            (selfs.setdefault(s, []) if s == d else links.setdefault((s, d), [])).append(m)
        handled = frame.handled
        hkey = None
        if handled is not None and str(handled.src) in pos and str(handled.dst) in pos and handled.src != handled.dst:
            hkey = (str(handled.src), str(handled.dst))
            links.setdefault(hkey, [])
        link_parts, mark_parts = [], []
        for key in sorted(links, key=lambda k: (k != hkey, k)):
            s, d = key
            (x1, y1), (x2, y2) = pos[s], pos[d]
            dx, dy = x2 - x1, y2 - y1
            length = math.hypot(dx, dy) or 1.0
            ox, oy = -dy / length * LANE_OFFSET, dx / length * LANE_OFFSET
            t1 = _clip(x1, y1, dx, dy, *half[s])
            t2 = 1 - _clip(x2, y2, -dx, -dy, *half[d])
            ax, ay = x1 + dx * t1 + ox, y1 + dy * t1 + oy
            bx2, by2 = x1 + dx * t2 + ox, y1 + dy * t2 + oy
            lost = _crosses(groups, cuts, s, d)
            cls = "link lost" if lost else "link"
            colour = HIGHLIGHT if lost else "#94a3b8"
            dash = ' stroke-dasharray="5 3"' if lost else ""
            if key == hkey:
                cls += " handled"
            width = "2.2" if key == hkey else "1"
            stroke = HIGHLIGHT if key == hkey else colour
            link_parts.append(f'<line class="{cls}" x1="{_n(ax)}" y1="{_n(ay)}" x2="{_n(bx2)}" y2="{_n(by2)}" '
                              f'stroke="{stroke}" stroke-width="{width}"{dash}/>')
            seg = math.hypot(bx2 - ax, by2 - ay) or 1.0
            msgs = sorted(links[key], key=lambda m: (self.progress(m.msg_id, frame.time), m.msg_id))
            ps = _spread([self.progress(m.msg_id, frame.time) for m in msgs], (2 * MARK_R + 2) / seg)
            for m, p in zip(msgs, ps):
                mx, my = ax + (bx2 - ax) * p, ay + (by2 - ay) * p
                mark_parts.append(self._mark(m, mx, my, lost))
            if key == hkey:
                dropped = frame.event is not None and getattr(frame.event, "kind", None) == "drop"
                p = 0.5 if dropped else 1.0
                mx, my = ax + (bx2 - ax) * p, ay + (by2 - ay) * p
                mark_parts.append(self._handled_mark(handled, mx, my, dropped))
        for s in sorted(selfs):
            x, y = pos[s]
            hw, hh = half[s]
            for k, m in enumerate(sorted(selfs[s], key=lambda m: m.msg_id)):
                mark_parts.append(self._mark(m, x + hw - MARK_R - k * (2 * MARK_R + 2), y - hh - MARK_R - 1, False))
        out.append('<g class="links">' + "".join(link_parts) + "</g>")
        # Nodes.
        group_of = {}
        for i, group in enumerate(groups):
            for node in group:
                group_of[str(node)] = i
        actor = None if frame.actor is None else str(frame.actor)
        node_parts = []
        for node, x, y in layout.positions:
            key = str(node)
            view = servers.get(node)
            if view is not None:
                node_parts.append(self._card(view, x, y, key == actor, group_of.get(key)))
            else:
                node_parts.append(self._other(key, x, y, key == actor, group_of.get(key)))
        out.append('<g class="nodes">' + "".join(node_parts) + "</g>")
        out.append('<g class="marks">' + "".join(mark_parts) + "</g>")
        out.append(_legend(bx, by + bh, bw))
        out.append("</svg>")
        return "".join(out)

    def _mark(self, m: Any, x: float, y: float, lost: bool) -> str:
        colour = MARK_COLOURS[family_of(m.kind)]
        stroke = HIGHLIGHT if lost else "#ffffff"
        return (f'<g class="mark" data-msg="{m.msg_id}"><title>{_e(self.message_text(m))}</title>'
                f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(MARK_R)}" fill="{colour}" stroke="{stroke}" '
                f'stroke-width="1.2"/></g>')

    def _handled_mark(self, m: Any, x: float, y: float, dropped: bool) -> str:
        verb = "lost" if dropped else "delivered"
        tip = _e(f"{verb} now: #{m.msg_id} {m.src}→{m.dst}: {m.label}")
        if dropped:
            shape = (f'<path d="M{_n(x - 5)} {_n(y - 5)}L{_n(x + 5)} {_n(y + 5)}M{_n(x - 5)} {_n(y + 5)}'
                     f'L{_n(x + 5)} {_n(y - 5)}" stroke="{HIGHLIGHT}" stroke-width="2.4"/>')
        else:
            shape = (f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(MARK_R + 1)}" fill="{HIGHLIGHT}" '
                     f'stroke="#ffffff" stroke-width="1.2"/>')
        return f'<g class="mark handled" data-msg="{m.msg_id}"><title>{tip}</title>{shape}</g>'

    def _card(self, view: ServerView, x: float, y: float, acting: bool, group: int | None) -> str:
        title, l1, l2, l3, tip = card_lines(view)
        fill = STATE_COLOURS.get(view.status, "#ffffff")
        x0, y0 = x - CARD_W / 2, y - CARD_H / 2
        parts = [f'<g class="server" data-sid="{view.sid}" data-status="{_e(view.status)}"><title>{_e(tip)}</title>']
        if group is not None:
            parts.append(f'<rect x="{_n(x0 - 4)}" y="{_n(y0 - 4)}" width="{_n(CARD_W + 8)}" height="{_n(CARD_H + 8)}" '
                         f'rx="9" fill="none" stroke="{GROUP_COLOURS[group % len(GROUP_COLOURS)]}" stroke-width="2.5"/>')
        stroke, width = (HIGHLIGHT, "3") if acting else ("#475569", "1")
        dash = ' stroke-dasharray="4 3"' if not view.up else ""
        parts.append(f'<rect x="{_n(x0)}" y="{_n(y0)}" width="{_n(CARD_W)}" height="{_n(CARD_H)}" rx="6" '
                     f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"{dash}/>')
        parts.append(f'<text class="label title" x="{_n(x)}" y="{_n(y0 + 13)}" text-anchor="middle" '
                     f'font-size="10.5" font-weight="bold" fill="#0f172a">{_e(title)}</text>')
        for k, line in enumerate((l1, l2, l3)):
            parts.append(f'<text class="label" x="{_n(x)}" y="{_n(y0 + 26 + 11 * k)}" text-anchor="middle" '
                         f'font-size="9" fill="#1e293b">{_e(line)}</text>')
        parts.append("</g>")
        return "".join(parts)

    def _other(self, name: str, x: float, y: float, acting: bool, group: int | None) -> str:
        stroke, width = (HIGHLIGHT, "3") if acting else ("#475569", "1")
        if group is not None and not acting:
            stroke, width = GROUP_COLOURS[group % len(GROUP_COLOURS)], "2.5"
        return (f'<g class="other" data-node="{_e(name)}"><title>{_e(name)}</title>'
                f'<ellipse cx="{_n(x)}" cy="{_n(y)}" rx="{_n(OTHER_W / 2)}" ry="{_n(OTHER_H / 2)}" fill="#f8fafc" '
                f'stroke="{stroke}" stroke-width="{width}"/>'
                f'<text class="label" x="{_n(x)}" y="{_n(y + 3.5)}" text-anchor="middle" font-size="10" '
                f'fill="#0f172a">{_e(name[:14])}</text></g>')

    # ------------------------------------------------------------------ space-time ---------
    def window(self, index: int) -> tuple[int, int]:
        total = len(self.timeline)
        if total <= WINDOW:
            return 0, total
        start = max(0, min(total - WINDOW, index - WINDOW // 2))
        return start, start + WINDOW

    def _lane_h(self) -> float:
        return 18.0 if len(self.lanes) <= 6 else 13.0

    def spacetime_svg(self, index: int) -> str:
        w0, w1 = self.window(index)
        key = w0
        base = self._st_base.get(key)
        if base is None:
            base = self._st_base[key] = self._spacetime_base(w0, w1)
        frame = self.timeline[index]
        lane_h, left, top = self._lane_h(), 30.0, 14.0
        dx = (ST_W - left - 4) / max(w1 - w0, 1)
        lane_y = {str(n): top + lane_h * k + lane_h / 2 for k, n in enumerate(self.lanes)}
        height = top + lane_h * len(self.lanes) + 4

        def X(f: int) -> float:
            return (f - w0 + 0.5) * dx

        live = []
        for m in frame.in_flight:
            entry = self.messages[m.msg_id]
            s, d = str(entry["src"]), str(entry["dst"])
            if s in lane_y and d in lane_y and s != d:
                end = entry["end"] if entry["end"] is not None else len(self.timeline) - 1
                live.append(f'<line class="st-live" x1="{_n(X(entry["start"]))}" y1="{_n(lane_y[s])}" '
                            f'x2="{_n(X(end))}" y2="{_n(lane_y[d])}" stroke="{MARK_COLOURS[entry["family"]]}" '
                            f'stroke-width="1.6"/>')
        h = frame.handled
        if h is not None and h.msg_id in self.messages:
            entry = self.messages[h.msg_id]
            s, d = str(entry["src"]), str(entry["dst"])
            if s in lane_y and d in lane_y and s != d:
                live.append(f'<line class="st-handled" x1="{_n(X(entry["start"]))}" y1="{_n(lane_y[s])}" '
                            f'x2="{_n(X(index))}" y2="{_n(lane_y[d])}" stroke="{HIGHLIGHT}" stroke-width="2.2"/>')
        cursor = (f'<line class="st-cursor" x1="{_n(X(index))}" y1="0" x2="{_n(X(index))}" '
                  f'y2="{_n(height)}" stroke="{HIGHLIGHT}" stroke-width="1.5"/>')
        label = (f'<text x="{_n(ST_W - 4)}" y="10" text-anchor="end" font-size="9" fill="#475569">'
                 f'frames {w0 + 1}–{w1} of {len(self.timeline)} · now {index + 1}</text>')
        return (f'<svg xmlns="http://www.w3.org/2000/svg" class="dl-st-svg" viewBox="0 0 {_n(ST_W)} {_n(height)}" '
                f'font-family="Helvetica, Arial, sans-serif" data-frame="{index}">{base}{label}'
                f'<svg x="{_n(left)}" y="0" width="{_n(ST_W - left)}" height="{_n(height)}" overflow="hidden">'
                f'<g class="st-live">{"".join(live)}</g>{cursor}</svg></svg>')

    def _spacetime_base(self, w0: int, w1: int) -> str:
        frames = self.timeline.frames
        lane_h, left, top = self._lane_h(), 30.0, 14.0
        dx = (ST_W - left - 4) / max(w1 - w0, 1)
        lane_y = {str(n): top + lane_h * k + lane_h / 2 for k, n in enumerate(self.lanes)}

        def X(f: int) -> float:
            return (f - w0 + 0.5) * dx

        parts = []
        for k, node in enumerate(self.lanes):
            y = lane_y[str(node)]
            name = f"S{node}" if node in self.layout.servers else str(node)[:6]
            parts.append(f'<text x="2" y="{_n(y + 3)}" font-size="9" fill="#0f172a">{_e(name)}</text>')
        inner = []
        for node in self.lanes:
            y = lane_y[str(node)]
            inner.append(f'<line x1="0" y1="{_n(y)}" x2="{_n(ST_W - left)}" y2="{_n(y)}" stroke="#e2e8f0"/>')
            if node not in self.layout.servers:
                continue
            run_start, status = w0, None
            for f in list(frames[w0:w1]) + [None]:
                st = None if f is None else _status_of(f, node)
                if f is None or st != status:
                    if status is not None and status != "NOT STARTED":
                        end = f.index if f is not None else w1
                        inner.append(f'<rect x="{_n(X(run_start) - dx / 2)}" y="{_n(y - 3)}" '
                                     f'width="{_n((end - run_start) * dx)}" height="6" '
                                     f'fill="{STATE_COLOURS.get(status, "#ffffff")}"/>')
                    if f is not None:
                        run_start, status = f.index, st
        for msg_id in self.order:
            e = self.messages[msg_id]
            s, d = str(e["src"]), str(e["dst"])
            if s not in lane_y or d not in lane_y or s == d:
                continue
            end = e["end"] if e["end"] is not None else len(frames) - 1
            if e["start"] >= w1 or end < w0:
                continue
            inner.append(f'<line class="st-msg" data-start="{e["start"]}" x1="{_n(X(e["start"]))}" '
                         f'y1="{_n(lane_y[s])}" x2="{_n(X(end))}" y2="{_n(lane_y[d])}" stroke="#94a3b8" '
                         f'stroke-width="0.7"/>')
            if e["fate"] == "x":
                x, y = X(end), (lane_y[s] + lane_y[d]) / 2
                inner.append(f'<path d="M{_n(x - 3)} {_n(y - 3)}L{_n(x + 3)} {_n(y + 3)}M{_n(x - 3)} {_n(y + 3)}'
                             f'L{_n(x + 3)} {_n(y - 3)}" stroke="#475569" stroke-width="1.2"/>')
        height = top + lane_h * len(self.lanes) + 4
        return ("".join(parts) + f'<svg x="{_n(left)}" y="0" width="{_n(ST_W - left)}" height="{_n(height)}" '
                f'overflow="hidden"><g class="st-base">{"".join(inner)}</g></svg>')

    # ------------------------------------------------------------------ the side list ------
    def inflight_html(self, index: int) -> str:
        frame = self.timeline[index]
        rows = []
        h = frame.handled
        if h is not None:
            dropped = frame.event is not None and getattr(frame.event, "kind", None) == "drop"
            verb = "lost now" if dropped else "delivered now"
            rows.append(f'<li class="handled" data-msg="{h.msg_id}"><span class="dot" style="background:{HIGHLIGHT}">'
                        f'</span>{_e(verb)}: #{h.msg_id} {_e(h.src)}→{_e(h.dst)}: {_e(h.label)}</li>')
        for m in frame.in_flight:
            lost = _crosses(frame.groups, frame.cuts, m.src, m.dst)
            colour = MARK_COLOURS[family_of(m.kind)]
            tail = " — will be lost (partition)" if lost else ""
            rows.append(f'<li data-msg="{m.msg_id}"{" class=lost" if lost else ""}><span class="dot" '
                        f'style="background:{colour}"></span>{_e(self.message_text(m))}{_e(tail)}</li>')
        if not rows:
            return '<p class="dl-empty">no message is in flight at this moment</p>'
        return f'<p class="dl-count">{len(frame.in_flight)} in flight</p><ul class="dl-msgs">{"".join(rows)}</ul>'

    # ------------------------------------------------------------------ as data ------------
    def to_data(self) -> dict[str, Any]:
        """The run as JSON-ready data for ``assets/viewer.js`` (tables shared between frames)."""
        from distlab.viz.syncview import sync_view_html

        cards: dict[tuple, int] = {}
        syncs: dict[str, int] = {}
        frames_out = []
        for f in self.timeline.frames:
            ids = []
            for v in f.servers:
                key = (v.sid, v.status, v.up, *card_lines(v))
                ids.append(cards.setdefault(key, len(cards)))
            sync = sync_view_html(f)
            flight = [self.row[m.msg_id] if m.copies == 1 else [self.row[m.msg_id], m.copies] for m in f.in_flight]
            h = f.handled
            item: dict[str, Any] = {"t": f.time, "e": f.explanation, "c": ids, "f": flight,
                                    "s": syncs.setdefault(sync, len(syncs))}
            if f.notes:
                item["n"] = "\n".join(f.notes)
            if f.actor is not None:
                item["a"] = str(f.actor)
            if h is not None and h.msg_id in self.row:
                item["h"] = self.row[h.msg_id]
                if f.event is not None and getattr(f.event, "kind", None) == "drop":
                    item["hx"] = 1
            if f.groups:
                item["g"] = [[str(n) for n in g] for g in f.groups]
            if f.cuts:
                item["x"] = [[str(n) for n in c] for c in f.cuts]
            if f.state_change:
                item["ch"] = 1
            if f.origin:
                item["o"] = f.origin
            frames_out.append(item)
        statuses = {v[1] for v in cards}
        messages = [[e["id"], str(e["src"]), str(e["dst"]), e["label"], e["family"], e["start"], e["sent_at"],
                     -1 if e["end"] is None else e["end"], -1 if e["end_time"] is None else e["end_time"], e["fate"]]
                    for e in (self.messages[i] for i in self.order)]
        return {
            "layout": self.layout.to_data(),
            "cards": [[sid, STATE_COLOURS.get(status, "#ffffff"), 1 if up else 0, t, l1, l2, l3, tip, status]
                      for (sid, status, up, t, l1, l2, l3, tip) in cards],
            "messages": messages,
            "syncs": list(syncs),
            "frames": frames_out,
            "colours": {"state": STATE_COLOURS, "mark": MARK_COLOURS, "group": list(GROUP_COLOURS),
                        "highlight": HIGHLIGHT},
            "geometry": {"card": [CARD_W, CARD_H], "other": [OTHER_W, OTHER_H], "mark": MARK_R,
                         "offset": LANE_OFFSET, "window": WINDOW, "st_w": ST_W},
            "statuses": sorted(statuses),
        }


def _status_of(frame: Frame, sid: Any) -> str | None:
    for v in frame.servers:
        if v.sid == sid:
            return v.status
    return None


_LEGEND_STATES = ("LOOKING", "FOLLOWING", "LEADING", "OBSERVING", "CRASHED", "NOT STARTED")
_LEGEND_MARKS = ("election", "discovery", "sync", "broadcast", "ping", "client")
_LEGEND_RED = ("red border: acts now", "red dot: delivered now", "dashed red: will be lost")


def _legend(x: float, y: float, width: float) -> str:
    """Three rows under the ring: state colours, message families, what red means."""
    out = ['<g class="legend" font-size="8.5" fill="#334155">']
    step = width / 6
    for k, name in enumerate(_LEGEND_STATES):
        lx = x + 6 + k * step
        out.append(f'<rect x="{_n(lx)}" y="{_n(y + 3)}" width="10" height="9" rx="2" fill="{STATE_COLOURS[name]}" '
                   f'stroke="#475569" stroke-width="0.6"/><text class="legend-label" x="{_n(lx + 13)}" '
                   f'y="{_n(y + 11)}">{_e(name)}</text>')
    for k, name in enumerate(_LEGEND_MARKS):
        lx = x + 6 + k * step
        out.append(f'<circle cx="{_n(lx + 5)}" cy="{_n(y + 21)}" r="4" fill="{MARK_COLOURS[name]}"/>'
                   f'<text class="legend-label" x="{_n(lx + 13)}" y="{_n(y + 24)}">{_e(name)}</text>')
    step3 = width / 3
    for k, name in enumerate(_LEGEND_RED):
        lx = x + 6 + k * step3
        dash = ' stroke-dasharray="3 2"' if k == 2 else ""
        out.append(f'<line x1="{_n(lx)}" y1="{_n(y + 34)}" x2="{_n(lx + 10)}" y2="{_n(y + 34)}" stroke="{HIGHLIGHT}" '
                   f'stroke-width="2"{dash}/>'
                   f'<text class="legend-label" x="{_n(lx + 13)}" y="{_n(y + 37)}">{_e(name)}</text>')
    out.append("</g>")
    return "".join(out)


def render_svg(frame: Frame, layout: Layout | None = None, title: str | None = None,
               timeline: Timeline | None = None) -> str:
    """One frame's ring as SVG, without a run around it (marks spread evenly on each link).

    ``title`` is accepted for compatibility and ignored: the frame's header is outside the
    picture. Prefer :class:`RunPicture`, which knows when each message arrives.
    """
    class _One:
        frames = [frame]
        voters = tuple(v.sid for v in frame.servers if not v.observer)
        observers = tuple(v.sid for v in frame.servers if v.observer)
        clients = tuple(n for n, _, _ in layout.positions if n not in {v.sid for v in frame.servers}) if layout else ()

        def __getitem__(self, i):
            return frame

        def __len__(self):
            return 1

    if timeline is not None:
        return RunPicture(timeline, layout).ring_svg(frame.index)
    one = _One()
    picture = RunPicture(one, layout)  # type: ignore[arg-type]
    return picture.ring_svg(0)
