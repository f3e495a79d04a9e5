"""The sync view: each learner's log beside the leader's, and the sync mode the leader chose.

One row per server, one column per zxid (the newest ``columns`` of them). A cell says whether
that server holds that txn, and how that compares with the leader:

- ``same``  — both hold it;
- ``lacks`` — the leader holds it, the learner does not: DIFF (or SNAP) will bring it;
- ``extra`` — the learner holds it, the leader does not: a txn that never committed, which
  TRUNC cuts off (or SNAP replaces).

History a server already had when the trace began is shown as one ``≤ zxid`` column. The
mode and the plan come from the leader's own line ("leader 5 syncs 2 ...: DIFF: send ...").
"""

from __future__ import annotations

import html
from typing import Any

from distlab.viz.frames import Frame, ServerView
from distlab.zab.zxid import format_zxid

__all__ = ["sync_rows", "sync_view_html", "sync_view_text", "SYNC_CSS"]

SYNC_CSS = """
.dl-sync { border-collapse: collapse; font: 12px Helvetica, Arial, sans-serif; margin: 4px 0; }
.dl-sync th, .dl-sync td { border: 1px solid #cbd5e1; padding: 2px 5px; text-align: center; }
.dl-sync td.name { text-align: left; white-space: nowrap; }
.dl-sync td.plan { text-align: left; max-width: 420px; }
.dl-sync .same { background: #bbf7d0; } .dl-sync .lacks { background: #fde68a; }
.dl-sync .extra { background: #fecaca; } .dl-sync .none { background: #ffffff; color: #cbd5e1; }
.dl-sync .leader td.name { font-weight: bold; }
"""


def _holds(view: ServerView, zxid: int) -> bool:
    return zxid <= view.base or zxid in view.log


def _leader(frame: Frame) -> ServerView | None:
    leaders = [v for v in frame.servers if v.up and v.state == "LEADING"]
    if not leaders:
        return None
    return max(leaders, key=lambda v: (v.current_epoch or 0, v.sid))


def sync_rows(frame: Frame, columns: int = 10) -> dict[str, Any]:
    """The sync view as data: the leader, the zxid columns, and one row per server."""
    leader = _leader(frame)
    views = [v for v in frame.servers if v.booted]
    zxids = sorted({z for v in views for z in v.log} | {v.base for v in views if v.base > 0})
    shown = zxids[-columns:]
    floor = min(shown) if shown else 0
    older = any(z < floor for z in zxids)
    rows = []
    plans = {s.learner: s for s in frame.syncs}
    for v in sorted(views, key=lambda v: (v is not leader, v.sid)):
        cells = []
        for z in shown:
            has = _holds(v, z)
            if leader is None or v is leader:
                cells.append("same" if has else "none")
            else:
                lead = _holds(leader, z)
                cells.append("same" if has and lead else "extra" if has else "lacks" if lead else "none")
        plan = plans.get(v.sid)
        if plan is not None and leader is not None and plan.leader != leader.sid:
            plan = None
        rows.append({"sid": v.sid, "status": v.status, "leader": v is leader, "last": v.last_zxid,
                     "cells": cells, "mode": plan.mode if plan else None, "plan": plan.plan if plan else "",
                     "older": older and any(z < floor and _holds(v, z) for z in zxids)})
    return {"leader": leader.sid if leader else None, "columns": shown, "older": older, "rows": rows}


def sync_view_html(frame: Frame, columns: int = 10) -> str:
    """The sync view as an HTML table (styles in :data:`SYNC_CSS`)."""
    data = sync_rows(frame, columns)
    if data["leader"] is None:
        head = "<p><b>Sync view</b>: no server is leading at this moment.</p>"
    else:
        head = (f"<p><b>Sync view</b>: each server's log against leader {data['leader']}'s "
                f"(green: same, amber: the learner lacks it, red: only the learner has it).</p>")
    cols = "".join(f"<th>{html.escape(format_zxid(z))}</th>" for z in data["columns"])
    older = "<th>older</th>" if data["older"] else ""
    out = [head, f'<table class="dl-sync"><tr><th>server</th><th>last zxid</th>{older}{cols}'
                 f"<th>sync mode</th><th>plan</th></tr>"]
    for row in data["rows"]:
        name = f"{row['sid']} {row['status']}" + (" (leader)" if row["leader"] else "")
        cells = "".join(f'<td class="{c}">{"■" if c in ("same", "extra") else "□" if c == "lacks" else "·"}</td>'
                        for c in row["cells"])
        old = '<td class="same">…</td>' if row["older"] else ('<td class="none">·</td>' if data["older"] else "")
        cls = ' class="leader"' if row["leader"] else ""
        out.append(f"<tr{cls}><td class=\"name\">{html.escape(name)}</td>"
                   f"<td>{html.escape(format_zxid(row['last']))}</td>{old}{cells}"
                   f"<td>{html.escape(row['mode'] or '')}</td><td class=\"plan\">{html.escape(row['plan'])}</td></tr>")
    out.append("</table>")
    return "".join(out)


def sync_view_text(frame: Frame, columns: int = 10) -> str:
    """A plain-text sync view (for transcripts and tests)::

        leader 5
        5 LEADING (leader)  0x1_00000005  ■■■■■
        1 FOLLOWING         0x1_00000002  ■■□□□  DIFF  DIFF: send 0x1_00000003, ...
    """
    data = sync_rows(frame, columns)
    mark = {"same": "■", "extra": "x", "lacks": "□", "none": "·"}
    lines = [f"leader {data['leader']}" if data["leader"] is not None else "no leader"]
    for row in data["rows"]:
        name = f"{row['sid']} {row['status']}" + (" (leader)" if row["leader"] else "")
        cells = "".join(mark[c] for c in row["cells"])
        tail = f"  {row['mode']}  {row['plan']}" if row["mode"] else ""
        lines.append(f"{name:<22} {format_zxid(row['last'])}  {cells}{tail}")
    return "\n".join(lines)
