"""The frame model: a trace (live or saved) to what each server looked like after each event."""

from __future__ import annotations

import pytest

from distlab.sim.ensemble import Ensemble
from distlab.sim.trace import Trace
from distlab.viz.frames import Timeline, parse_zxid, segment
from distlab.viz.runs import Run, Scenario
from distlab.zab.zxid import format_zxid, make_zxid


@pytest.mark.parametrize("zxid", [0, 1, make_zxid(1, 7), make_zxid(0x2a, 0xffffffff)])
def test_parse_zxid_inverts_format_zxid(zxid):
    assert parse_zxid(format_zxid(zxid)) == zxid


def live_boundaries(ensemble: Ensemble) -> list[tuple[int, int]]:
    """Step until settled, recording where each World.step() began and ended."""
    world, bounds = ensemble.world, []
    while not ensemble.settled():
        mark = len(world.trace.records)
        world.step()
        if len(world.trace.records) > mark:
            bounds.append((mark, len(world.trace.records)))
    return bounds


@pytest.mark.parametrize("seed", [1, 7, 23])
def test_segmenting_a_trace_finds_exactly_the_simulator_steps(seed):
    e = Ensemble(servers=5, seed=seed)
    bounds = live_boundaries(e)
    assert segment(e.world.trace.records) == bounds


def test_segmenting_finds_the_steps_of_every_scenario(election_run, crash_run):
    for run in (election_run, crash_run, Run(Scenario("sync", 3, 7, mode="snap")), Run(Scenario("broadcast", 3, 7))):
        assert segment(run.trace.records, run.mark) == run.boundaries, run.scenario.title


def test_one_frame_per_event(plain_election_run):
    tl = plain_election_run.timeline
    assert len(tl) == len(plain_election_run.boundaries)
    assert [f.index for f in tl] == list(range(len(tl)))
    # Frames are in time order and each holds the records of its event.
    assert all(a.time <= b.time for a, b in zip(tl.frames, tl.frames[1:]))
    assert sum(len(f.records) for f in tl) == len(plain_election_run.trace)


def test_states_over_an_election_from_empty_disks(plain_election_run):
    tl = plain_election_run.timeline
    first, last = tl[0], tl[-1]
    assert first.server(1).status == "LOOKING" and first.server(2).status == "NOT STARTED"
    assert {v.sid: v.status for v in last.servers} == {1: "FOLLOWING", 2: "FOLLOWING", 3: "FOLLOWING",
                                                      4: "FOLLOWING", 5: "LEADING"}
    five = last.server(5)
    assert five.vote.leader == 5 and five.vote.zxid == 0 and five.vote.peer_epoch == 1  # updateElectionVote
    assert (five.accepted_epoch, five.current_epoch, five.phase) == (1, 1, "BROADCAST")
    assert all(v.leader == 5 and v.round == 1 for v in last.servers)
    # Every state a server went through is shown by some frame.
    shown = {(v.sid, v.status) for f in tl for v in f.servers}
    assert {(s, "LOOKING") for s in range(1, 6)} <= shown and (5, "LEADING") in shown
    assert len(tl.state_changes()) == 10  # 5 boots into LOOKING, 5 decisions


def test_votes_follow_what_each_server_sends(election_run):
    tl = election_run.timeline
    histories = election_run.scenario.histories
    best = max(histories, key=lambda sid: (histories[sid], sid))
    for f in tl:
        for record in f.records:
            if record.kind == "send" and type(record.msg).__name__ == "Notification" and record.msg.sid == record.src:
                v = f.server(record.src).vote
                assert (v.leader, v.zxid) == (record.msg.leader, record.msg.zxid)
    last = tl[-1]
    assert last.server(best).status == "LEADING"
    assert all(v.vote.leader == best for v in last.servers)
    assert last.server(best).last_zxid == histories[best]  # its history, from before the trace


def test_in_flight_messages_are_sends_not_yet_delivered(plain_election_run):
    tl = plain_election_run.timeline
    boot = tl[4]  # all five booted: 25 votes sent, none delivered yet
    assert len(boot.in_flight) == 25 and {m.kind for m in boot.in_flight} == {"vote"}
    delivered = tl[5]
    assert delivered.handled is not None and delivered.event.kind == "deliver"
    assert delivered.handled.msg_id not in {m.msg_id for m in delivered.in_flight}


def test_a_saved_and_loaded_trace_gives_the_same_frames(plain_election_run, tmp_path):
    run = plain_election_run
    path = tmp_path / "election.jsonl"
    run.trace.save(path)
    loaded = Timeline(Trace.load(path))  # no config, no boundaries: all from the file
    live = run.timeline
    assert len(loaded) == len(live)
    assert loaded.voters == (1, 2, 3, 4, 5)
    for a, b in zip(loaded.frames, live.frames):
        assert [(v.sid, v.status, v.vote, v.round, v.accepted_epoch, v.current_epoch, v.last_zxid) for v in a.servers] == \
               [(v.sid, v.status, v.vote, v.round, v.accepted_epoch, v.current_epoch, v.last_zxid) for v in b.servers]
        assert [m.label for m in a.in_flight] == [m.label for m in b.in_flight]
        assert a.explanation == b.explanation


def test_crash_and_reelection_are_shown(crash_run):
    tl = crash_run.timeline
    crash = [f for f in tl if f.event.kind == "crash"]
    assert len(crash) == 1
    old = crash[0].event.node
    assert crash[0].before[old - 1].status == "LEADING" and crash[0].server(old).status == "CRASHED"
    last = tl[-1]
    leaders = [v.sid for v in last.servers if v.status == "LEADING"]
    assert len(leaders) == 1 and leaders[0] != old
    assert last.server(leaders[0]).current_epoch == 2
    assert tl.next_state_change(crash[0].index - 1) == crash[0].index


def test_sync_plans_and_logs_are_reconstructed():
    run = Run(Scenario("sync", 3, 7, mode="diff"))
    last = run.timeline[-1]
    learner = run.timeline[0].event.node  # the sync replay opens with the lagging server's restart
    plan = [s for s in last.syncs if s.learner == learner][-1]
    assert plan.mode == "DIFF" and plan.plan.startswith("DIFF: send")
    leader = last.server(plan.leader)
    assert last.server(learner).log == leader.log and len(leader.log) == 5  # /base, 3 missed, session
    assert len(plan.learner_log) < len(plan.leader_log)  # behind when the plan was made


@pytest.mark.parametrize("mode, expected", [("snap", "SNAP"), ("trunc", "TRUNC")])
def test_other_sync_modes(mode, expected):
    run = Run(Scenario("sync", 3, 7, mode=mode))
    tl = run.timeline
    modes = {s.learner: s.mode for s in tl[-1].syncs if s.time >= tl[0].time}
    assert expected in modes.values()
    if mode == "trunc":
        learner = [sid for sid, m in modes.items() if m == "TRUNC"][0]
        plan = [s for s in tl[-1].syncs if s.learner == learner][0]
        # It held a txn the leader never committed, and lost it.
        assert set(plan.learner_log) - set(plan.leader_log)
        assert tl[-1].server(learner).log == tl[-1].server(plan.leader).log
