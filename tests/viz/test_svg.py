"""Drawing without Graphviz: fixed circle, cards by state, messages as marks, legend, data."""

from __future__ import annotations

import json
import re
import shutil

from distlab.viz.runs import Action, Run, Scenario
from distlab.viz.svg import MARK_COLOURS, STATE_COLOURS, Layout, RunPicture, render_svg


def test_servers_sit_on_a_fixed_circle():
    layout = Layout.for_members([1, 2, 3, 4, 5], ["client-1"])
    (s1, x1, y1), *_ = layout.positions
    assert s1 == 1 and x1 == 0 and y1 < 0  # server 1 at the top (SVG y grows downwards)
    radii = {round((x * x + y * y) ** 0.5) for n, x, y in layout.positions if n != "client-1"}
    assert len(radii) == 1
    assert Layout.for_members([1, 2, 3, 4, 5], ["client-1"]) == layout
    # Cards never overlap, however many servers.
    for n in range(2, 10):
        pos = Layout.for_members(list(range(1, n + 1))).positions
        for i, (_, xa, ya) in enumerate(pos):
            for _, xb, yb in pos[i + 1:]:
                assert abs(xa - xb) >= 156 or abs(ya - yb) >= 56


def test_no_graphviz_is_needed(monkeypatch, plain_election_run):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    monkeypatch.setenv("PATH", "")
    picture = RunPicture(plain_election_run.timeline)
    svg = picture.ring_svg(len(plain_election_run) - 1)
    assert svg.startswith("<svg") and svg.endswith("</svg>")


def test_cards_say_state_vote_epochs_and_zxid(plain_election_run):
    tl = plain_election_run.timeline
    picture = RunPicture(tl)
    svg = picture.ring_svg(len(tl) - 1)
    assert STATE_COLOURS["LEADING"] in svg and STATE_COLOURS["FOLLOWING"] in svg
    assert "server 5 · LEADING" in svg and "vote (5, 0x0_00000000) e1" in svg
    assert "epoch 1/1 · last 0x0_00000000" in svg and "r1 · leads · broadcast" in svg
    assert re.search(r'class="legend"', svg) and "NOT STARTED" in svg and "dashed red: will be lost" in svg


def test_messages_are_marks_with_tooltips_never_edge_labels(plain_election_run):
    tl = plain_election_run.timeline
    picture = RunPicture(tl)
    frame = tl[4]
    svg = picture.ring_svg(4)
    assert len(frame.in_flight) == 25
    assert svg.count('<g class="mark"') == len(frame.in_flight)
    # Each mark's detail is its tooltip; the only texts are the cards' lines and the legend.
    texts = re.findall(r'<text class="([^"]+)"', svg)
    assert set(texts) <= {"label", "label title", "legend-label"}
    assert texts.count("label title") == 5
    assert "#1 1→1: vote (1, 0x0_00000000, e0) r1" in svg
    assert MARK_COLOURS["election"] in svg
    # The side list has one row per message, in the same words.
    rows = picture.inflight_html(4)
    assert rows.count("<li") == 25 and "#1 1→1: vote" in rows


def test_the_delivered_message_is_a_red_mark_not_a_floating_label(plain_election_run):
    tl = plain_election_run.timeline
    picture = RunPicture(tl)
    svg = picture.ring_svg(5)
    handled = tl[5].handled
    assert f'<g class="mark handled" data-msg="{handled.msg_id}"><title>delivered now: #{handled.msg_id}' in svg
    assert "delivered:" not in svg
    assert "delivered now" in picture.inflight_html(5)


def test_crashed_servers_and_partitions_are_visible(plain_election_run):
    run = plain_election_run.branch(len(plain_election_run) - 1, Action("partition", ((1, 2), (3, 4, 5))))
    tl = run.timeline
    picture = RunPicture(tl)
    split = run.branch_at + 1
    assert tl[split].groups == ((1, 2), (3, 4, 5))
    svg = picture.ring_svg(split)
    assert 'stroke="#2563eb"' in svg and 'stroke="#d97706"' in svg  # each side ringed in its colour
    later = next(i for i in range(split, len(tl)) if any(
        str(m.src) in "12" and str(m.dst) in "345" for m in tl[i].in_flight))
    assert 'class="link lost"' in picture.ring_svg(later) and "will be lost" in picture.inflight_html(later)
    crashed = plain_election_run.branch(20, Action("crash", (3,)))
    picture = RunPicture(crashed.timeline)
    svg = picture.ring_svg(21)
    assert crashed.timeline[21].server(3).status == "CRASHED"
    assert 'data-sid="3" data-status="CRASHED"' in svg and STATE_COLOURS["CRASHED"] in svg
    assert "down: no vote, no round" in svg


def test_spacetime_diagram_follows_the_frame(election_run):
    tl = election_run.timeline
    picture = RunPicture(tl)
    first, later = picture.spacetime_svg(3), picture.spacetime_svg(80)
    assert 'class="st-cursor"' in first and first != later
    assert first.count('class="st-msg"') == later.count('class="st-msg"') > 50  # the whole run
    assert later.count('<line class="st-live"') == sum(1 for m in tl[80].in_flight if m.src != m.dst)
    assert "now 81" in later


def test_svg_is_deterministic_and_data_is_compact(election_run):
    a = RunPicture(Run(Scenario("election", 5, 7)).timeline)
    b = RunPicture(Run(Scenario("election", 5, 7)).timeline)
    assert [a.ring_svg(i) for i in range(len(a.timeline))] == [b.ring_svg(i) for i in range(len(b.timeline))]
    data = json.dumps(RunPicture(election_run.timeline).to_data(), separators=(",", ":"), ensure_ascii=False)
    assert len(election_run) == 161 and len(data.encode()) < 200_000
    other = RunPicture(Run(Scenario("election", 5, 8)).timeline)
    assert other.ring_svg(40) != a.ring_svg(40)


def test_observers_and_clients():
    run = Run(Scenario("election", 3, 7, observers=1))
    svg = render_svg(run.timeline[-1], Layout.for_timeline(run.timeline))
    assert STATE_COLOURS["OBSERVING"] in svg and "observer 4 · OBSERVING" in svg
    broadcast = Run(Scenario("broadcast", 3, 7, writes=1))
    picture = RunPicture(broadcast.timeline)
    assert any(n not in (1, 2, 3) for n in picture.lanes)
    assert any('<g class="other"' in picture.ring_svg(i) for i in range(len(broadcast)))
