"""One plain-language line per event, worked out from the votes and the protocol's lines."""

from __future__ import annotations

import re

import pytest

from distlab.viz.explain import why_better
from distlab.viz.frames import VoteView
from distlab.viz.runs import Run, Scenario
from distlab.zab.config import Impl
from distlab.zab.election import Vote


@pytest.mark.parametrize("new, old, why", [
    (VoteView(1, 0, 2), VoteView(5, 9, 1), "higher epoch wins"),
    (VoteView(1, 7, 1), VoteView(5, 3, 1), "higher zxid wins"),
    (VoteView(5, 3, 1), VoteView(4, 3, 1), "same epoch and zxid, so the higher server id wins"),
    (VoteView(4, 3, 1), VoteView(5, 3, 1), None),
    (VoteView(5, 3, 1), VoteView(5, 3, 1), None),
], ids=["epoch", "zxid", "server-id", "loses", "tie"])
def test_why_a_vote_wins_follows_zookeepers_order(new, old, why):
    """FastLeaderElection.totalOrderPredicate: epoch, then zxid, then server id."""
    assert why_better(new, old) == why


def test_every_frame_has_one_line(election_run, crash_run):
    for run in (election_run, crash_run):
        for frame in run.timeline:
            assert frame.explanation and "\n" not in frame.explanation
            assert "while explaining" not in frame.explanation, frame.explanation


def test_vote_changes_are_explained_with_the_reason(election_run):
    lines = election_run.timeline.explanations()
    changed = [l for l in lines if "changes its vote and tells everyone" in l]
    assert changed, lines[:20]
    pattern = re.compile(r"^server (\d) receives (\d)'s vote(?: for \d)? \(\d, 0x1_0000000\d\): "
                         r"(higher zxid wins|same epoch and zxid, so the higher server id wins), so \1 changes its vote")
    assert all(pattern.match(l) for l in changed), changed
    assert any("higher zxid wins" in l for l in changed)


def test_the_path_to_a_leader_is_told(plain_election_run):
    lines = plain_election_run.timeline.explanations()
    assert lines[0] == ("server 1 boots with last zxid 0x0_00000000 (epochs accepted 0 / current 0) and starts "
                        "LOOKING: it votes (1, 0x0_00000000) in round 1 and tells everyone")
    assert any("a quorum, so 5 waits a moment (finalize wait)" in l for l in lines)
    assert "server 5's finalize wait ends with no better vote: it elected itself, so it becomes LEADING (round 1)" in lines
    assert any(l.startswith("leader 5 receives") and "the new epoch is 1" in l for l in lines)
    assert any("acked epoch 1, so 5 saves currentEpoch 1" in l for l in lines)
    assert any("starts serving epoch 1" in l for l in lines)
    assert sum("receives UPTODATE" in l for l in lines) == 4


def test_crash_sync_and_broadcast_lines(crash_run):
    lines = crash_run.timeline.explanations()
    assert any(re.match(r"server \d crashes: its memory is gone, its disk \(log, epochs\) survives; its followers", l)
               for l in lines)
    assert any("gives up on its leader" in l for l in lines)
    sync = Run(Scenario("sync", 3, 7, mode="diff")).timeline.explanations()
    assert any(re.search(r"gets DIFF: send 0x1_00000003, 0x1_00000004, 0x1_00000005", l) for l in sync)
    broadcast = Run(Scenario("broadcast", 3, 7)).timeline.explanations()
    assert any(re.search(r"a quorum has logged it, so \d commits 0x1_0000000\d", l) for l in broadcast)
    assert any(re.search(r"logs PROPOSAL 0x1_0000000\d from leader \d and ACKs it", l) for l in broadcast)


def lowest_id_wins(new: Vote, current: Vote) -> bool:
    """A learner's (wrong) vote order: the lowest server id wins, histories ignored."""
    return new.leader < current.leader


def test_a_learners_own_vote_order_runs_and_is_explained():
    run = Run(Scenario("election", 3, 7, impl=Impl(vote_order=lowest_id_wins),
                       histories={1: 0x100000002, 2: 0x100000009, 3: 0x100000005}))
    # The learner's order elects the most out-of-date server; the leader then finds its
    # followers ahead of it, which ZooKeeper's own order never allows.
    assert any(f.server(1).status == "LEADING" for f in run.timeline)
    lines = run.timeline.explanations()
    assert any("is ahead of the leader, which a correct election never allows" in l for l in lines), lines
    assert any("the reference order would keep the old vote, but this implementation prefers it" in l
               for l in lines), lines


def test_a_learners_own_handle_notification_is_viewed_from_the_trace():
    """The Lab 5 seam ``handle_notification``: the viewer shows the learner's own reasons as
    notes, and explains each event from the votes themselves."""
    from dataclasses import replace

    from distlab.zab.election import handle_notification

    def my_step(state, n, vote_order, has_quorum):
        step = handle_notification(state, n, vote_order, has_quorum)
        return replace(step, reason=f"my step for {n.sid}")

    run = Run(Scenario("election", 3, 7, impl=Impl(handle_notification=my_step)))
    tl = run.timeline
    assert [v.status for v in tl[-1].servers].count("LEADING") == 1
    assert any(note.endswith("my step for 2") for f in tl for note in f.notes)
    assert any("changes its vote and tells everyone" in f.explanation for f in tl)
