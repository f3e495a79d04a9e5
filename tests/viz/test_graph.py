"""Rendering: fixed positions, colours by state, labels, arrows, deterministic SVG."""

from __future__ import annotations

import hashlib
import re

from distlab.viz.graph import STATE_COLOURS, Layout, frame_dot, render_many, render_svg
from distlab.viz.html import frame_title
from distlab.viz.runs import Action, Run, Scenario


def test_servers_sit_on_a_fixed_circle():
    layout = Layout.for_members([1, 2, 3, 4, 5], ["client-1"])
    (s1, x1, y1), *_ = layout.positions
    assert s1 == 1 and x1 == 0 and y1 > 0  # server 1 at the top
    radii = {round((x * x + y * y) ** 0.5) for n, x, y in layout.positions if n != "client-1"}
    assert len(radii) == 1
    assert Layout.for_members([1, 2, 3, 4, 5], ["client-1"]) == layout


def test_positions_do_not_move_between_frames(plain_election_run):
    tl = plain_election_run.timeline
    layout = Layout.for_timeline(tl)
    pos = re.compile(r'"n:(\d)" \[label=.*?pos="([^"]+)"')
    first = dict(pos.findall(frame_dot(tl[4], layout)))
    last = dict(pos.findall(frame_dot(tl[-1], layout)))
    assert first == last and len(first) == 5


def test_state_colours_vote_labels_and_arrows(plain_election_run):
    tl = plain_election_run.timeline
    layout = Layout.for_timeline(tl)
    svg = render_svg(tl[-1], layout, "end")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert STATE_COLOURS["LEADING"] in svg and STATE_COLOURS["FOLLOWING"] in svg
    assert "server 5 · LEADING" in svg and "vote (5, 0x0_00000000) e1" in svg
    assert "epochs acc 1 / cur 1" in svg and "last zxid 0x0_00000000" in svg
    booted = render_svg(tl[4], layout)
    assert booted.count("vote (") >= 5
    assert STATE_COLOURS["LOOKING"] in booted
    # In-flight votes are arrows labelled with their content; the delivered one is red.
    delivered = render_svg(tl[5], layout)
    assert "delivered: vote (1, 0x0_00000000, e0) r1" in delivered
    assert "#dc2626" in delivered


def test_crashed_servers_and_partitions_are_visible(plain_election_run):
    run = plain_election_run.branch(len(plain_election_run) - 1, Action("partition", ((1, 2), (3, 4, 5))))
    tl = run.timeline
    layout = Layout.for_timeline(tl)
    split = tl[run.branch_at + 1]
    assert split.event.kind == "partition" and split.groups == ((1, 2), (3, 4, 5))
    assert "the network splits into {1, 2} | {3, 4, 5}" in split.explanation
    dot = frame_dot(split, layout)
    assert 'color="#2563eb"' in dot and 'color="#d97706"' in dot  # each side ringed in its colour
    crashed = plain_election_run.branch(20, Action("crash", (3,)))
    frame = crashed.timeline[21]
    assert frame.server(3).status == "CRASHED"
    assert STATE_COLOURS["CRASHED"] in render_svg(frame, layout) and "CRASHED" in render_svg(frame, layout)


def test_svg_is_deterministic_for_a_fixed_seed():
    digests = []
    for _ in range(2):
        run = Run(Scenario("election", 5, 7))
        tl = run.timeline
        layout = Layout.for_timeline(tl)
        svgs = render_many(tl.frames, layout, [frame_title(f, len(tl)) for f in tl.frames])
        assert len(svgs) == len(tl)
        assert "<!--" not in svgs[0] and "graphviz" not in svgs[0].lower()
        digests.append(hashlib.sha256("".join(svgs).encode()).hexdigest())
    assert digests[0] == digests[1]
    # One frame at a time gives the same SVG as the batches used for exports, whatever their size.
    assert render_svg(tl[40], layout, frame_title(tl[40], len(tl))) == svgs[40]
    small = render_many(tl.frames[30:45], layout, [frame_title(f, len(tl)) for f in tl.frames[30:45]], chunk=4)
    assert small == svgs[30:45]
    different = Run(Scenario("election", 5, 8)).timeline
    assert render_svg(different[40], layout) != render_svg(tl[40], layout)


def test_observers_are_drawn_in_their_own_colour():
    run = Run(Scenario("election", 3, 7, observers=1))
    last = run.timeline[-1]
    observer = last.server(4)
    assert observer.observer and observer.status == "OBSERVING" and observer.vote.leader == 3
    svg = render_svg(last, Layout.for_timeline(run.timeline))
    assert STATE_COLOURS["OBSERVING"] in svg and "observer 4 · OBSERVING" in svg
