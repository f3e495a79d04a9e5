"""Two-phase commit on the simulator: the commit rule, blocking, recovery from the logs, and
atomicity across many seeded fault schedules.

Rules as in Gray and Reuter / Bernstein, Hadzilacos and Goodman ("Concurrency Control and
Recovery in Database Systems", ch. 7): unanimous yes to commit, presumed abort, a prepared
participant is in doubt until told, cooperative termination helps only when someone has not
voted.
"""

from __future__ import annotations

import pytest

from distlab.grading.lab9 import INITIAL, bank_run
from distlab.sim import Crash, FaultSchedule, Fixed, LinkConfig, Restart, World
from distlab.txn import (
    ABORT,
    COMMIT,
    Begin,
    Coordinator,
    Participant,
    TxnImpl,
    atomicity_violations,
    decide,
    recover_coordinator,
    recover_participant,
)
from distlab.txn.two_phase import COORDINATOR_TRANSITIONS, PARTICIPANT_TRANSITIONS


@pytest.mark.parametrize("participants, votes, timed_out, decision", [
    (["X", "Y"], {"X": True, "Y": True}, False, COMMIT),
    (["X", "Y"], {"X": False}, False, ABORT),
    (["X", "Y", "Z"], {"X": True, "Y": True}, False, None),
    (["X", "Y", "Z"], {"X": True, "Y": True}, True, ABORT),
    (["X", "Y", "Z"], {"X": True, "Y": True, "Z": False}, False, ABORT),
    (["X"], {}, False, None),
    (["X"], {"X": True}, True, COMMIT),
], ids=["all-yes", "one-no", "majority-is-not-enough", "timeout", "last-says-no", "nothing-yet", "yes-at-timeout"])
def test_decide(participants, votes, timed_out, decision):
    assert decide(participants, votes, timed_out) == decision


@pytest.mark.parametrize("log, recovered", [
    ([("BEGIN", "t1", ("X", "Y")), (COMMIT, "t1"), ("END", "t1")], {}),
    ([("BEGIN", "t1", ("X", "Y")), (COMMIT, "t1")], {"t1": COMMIT}),
    ([("BEGIN", "t1", ("X", "Y"))], {"t1": ABORT}),
    ([("BEGIN", "t1", ("X", "Y")), ("BEGIN", "t2", ("Y",)), (ABORT, "t2"), (COMMIT, "t1")], {"t1": COMMIT, "t2": ABORT}),
    ([], {}),
], ids=["ended", "decided", "presumed-abort", "two", "empty"])
def test_recover_coordinator(log, recovered):
    assert recover_coordinator(log) == recovered


PREP = lambda txid, writes: ("PREPARED", txid, "coord", ("X", "Y"), writes)  # noqa: E731


@pytest.mark.parametrize("log, store, in_doubt", [
    ([PREP("t1", {"a": -30}), ("COMMITTED", "t1")], {"a": 70}, []),
    ([PREP("t1", {"a": -30}), ("ABORTED", "t1")], {"a": 100}, []),
    ([PREP("t1", {"a": -30})], {"a": 100}, ["t1"]),
    ([("ABORTED", "t1")], {"a": 100}, []),
    ([PREP("t1", {"a": 5, "b": 2}), PREP("t2", {"a": -1}), ("COMMITTED", "t2"), PREP("t3", {"c": 1})],
     {"a": 99}, ["t1", "t3"]),
], ids=["committed", "aborted", "in-doubt", "voted-no", "mixed"])
def test_recover_participant(log, store, in_doubt):
    assert recover_participant({"a": 100}, log) == (store, in_doubt)


def bank(faults=(), until=1000, cooperative=False, lost=(), transfers=(("t1", {"X": {"a": -30}, "Y": {"c": 30}}),)):
    world = World(seed=7, network=LinkConfig(latency=Fixed(2)))
    world.add_node("coord", Coordinator)
    for name, data in (("X", {"a": 100}), ("Y", {"c": 0}), ("Z", {"d": 0})):
        world.add_node(name, lambda me, data=data: Participant(me, data, cooperative=cooperative))
    for src, dst in lost:
        world.configure_link(src, dst, drop=1.0)
    for n, (txid, writes) in enumerate(transfers):
        world.inject("coord", Begin.of(txid, writes), at=1 + 10 * n)
    FaultSchedule(list(faults)).install(world)
    world.run(until=until)
    return world


def logs(world):
    return {n: world.durable(n).get("log", []) for n in ("X", "Y", "Z")}


def test_a_transfer_commits_and_every_log_says_so():
    world = bank()
    assert world.durable("coord")["log"] == [("BEGIN", "t1", ("X", "Y")), (COMMIT, "t1"), ("END", "t1")]
    assert (world.process("X").store, world.process("Y").store) == ({"a": 70}, {"c": 30})
    assert atomicity_violations(world.durable("coord")["log"], logs(world)) == []
    # The coordinator's log record precedes the messages it announces (Effects order).
    decision = next(r for r in world.trace.of_kind("note") if r.data.get("txn") == "decision")
    sends = [r for r in world.trace.of_kind("send") if r.src == "coord" and r.time == decision.time]
    assert sends and all(type(r.msg).__name__ == "Decision" for r in sends)


def test_one_no_vote_aborts_everywhere():
    world = bank(transfers=[("big", {"X": {"a": -500}, "Y": {"c": 500}})])
    assert world.durable("coord")["log"][1] == (ABORT, "big")
    assert [r[0] for r in world.durable("Y")["log"]] == ["PREPARED", "ABORTED"]
    assert world.process("Y").store == {"c": 0} and not world.process("Y").locks


def test_a_silent_participant_times_out_into_an_abort():
    world = bank(lost=[("Y", "coord")])
    assert (ABORT, "t1") in world.durable("coord")["log"]
    assert world.process("X").store == {"a": 100}


def test_the_coordinator_crashing_after_prepare_blocks_the_participants():
    world = bank(faults=[(4, Crash("coord")), (300, Restart("coord"))], until=250)
    assert world.states() == {"X": "PREPARED", "Y": "PREPARED", "Z": "READY", "coord": None}
    assert world.process("X").locks == {"a": "t1"} and world.process("Y").locks == {"c": "t1"}
    asked = [r for r in world.trace.of_kind("note") if r.data.get("txn") == "in_doubt"]
    assert len(asked) >= 4  # both ask, again and again; nobody may decide alone
    world.run(until=400)  # the coordinator is back: BEGIN without a decision -> presumed abort
    assert world.process("coord").recovered == {"t1": ABORT}
    assert world.states()["X"] == world.states()["Y"] == "READY"
    assert world.process("X").store == {"a": 100} and not world.process("X").locks


def test_a_blocked_participant_refuses_a_conflicting_transaction():
    world = World(seed=1, network=LinkConfig(latency=Fixed(2)))
    world.add_node("coord", Coordinator)
    world.add_node("coord2", Coordinator)
    world.add_node("X", lambda me: Participant(me, {"a": 100}))
    world.add_node("Y", lambda me: Participant(me, {"c": 0}))
    world.inject("coord", Begin.of("t1", {"X": {"a": -30}, "Y": {"c": 30}}), at=1)
    world.call_at(4, lambda w: w.crash("coord"))
    world.inject("coord2", Begin.of("t2", {"X": {"a": -10}, "Y": {"c": 10}}), at=50)
    world.run(until=200)
    assert world.durable("coord2")["log"][1] == (ABORT, "t2")
    assert any("locked by t1" in r.text for r in world.trace.of_kind("note"))


def test_cooperative_termination_cannot_help_when_everyone_is_prepared():
    world = bank(faults=[(4, Crash("coord"))], until=500, cooperative=True)
    assert world.states()["X"] == world.states()["Y"] == "PREPARED"


def test_cooperative_termination_resolves_when_someone_has_not_voted():
    world = bank(faults=[(4, Crash("coord"))], until=500, cooperative=True, lost=[("coord", "Z")],
                 transfers=[("t1", {"X": {"a": -30}, "Y": {"c": 20}, "Z": {"d": 10}})])
    assert [log[-1][0] for log in logs(world).values()] == ["ABORTED"] * 3
    world.restart("coord")
    world.run(until=800)
    assert atomicity_violations(world.durable("coord")["log"], logs(world)) == []


def test_a_participant_in_doubt_recovers_and_learns_the_outcome():
    world = bank(faults=[(4, Crash("Y")), (150, Restart("Y"))], until=400)
    notes = [r.text for r in world.trace.of_kind("note") if r.node == "Y"]
    assert "Y recovered: store {'c': 0}, in doubt ['t1']" in notes
    assert world.process("Y").store == {"c": 30} and world.durable("coord")["log"][-1] == ("END", "t1")


def test_the_coordinator_resends_a_logged_commit_after_a_crash():
    # X and Y prepare at t=3; the COMMIT is logged and sent at t=5 but lost; the coordinator
    # crashes at t=6, with COMMIT in its log and nobody told.
    world = bank(faults=[(6, Crash("coord")), (100, Restart("coord"))], until=0)
    world.call_at(4, lambda w: [w.configure_link("coord", dst, drop=1.0) for dst in ("X", "Y")])
    world.run(until=50)
    assert world.states()["X"] == "PREPARED" and world.durable("coord")["log"][-1] == (COMMIT, "t1")
    for dst in ("X", "Y"):
        world.configure_link("coord", dst, drop=0.0)
    world.run(until=300)
    assert world.process("coord").recovered == {"t1": COMMIT}
    assert (world.process("X").store, world.process("Y").store) == ({"a": 70}, {"c": 30})


def test_atomicity_violations_are_found_in_the_logs():
    coord = [("BEGIN", "t1", ("X", "Y")), (ABORT, "t1")]
    assert "COMMITTED at ['X'] but ABORTED at ['Y']" in atomicity_violations(
        coord, {"X": [PREP("t1", {}), ("COMMITTED", "t1")], "Y": [PREP("t1", {}), ("ABORTED", "t1")]})[0]
    assert "still in doubt" in atomicity_violations(coord, {"X": [PREP("t1", {})], "Y": []})[0]
    committed = [("BEGIN", "t1", ("X", "Y")), (COMMIT, "t1")]
    assert "never at ['Y']" in atomicity_violations(committed, {"X": [PREP("t1", {}), ("COMMITTED", "t1")],
                                                                "Y": []})[0]


def test_the_transition_tables_name_every_state_the_processes_use():
    states = {s for (s, _), t in COORDINATOR_TRANSITIONS.items() for s in (s, t)}
    assert {"WAITING", "COMMITTED", "ABORTED", "ENDED"} <= states
    assert {t for t in PARTICIPANT_TRANSITIONS.values()} == {"PREPARED", "COMMITTED", "ABORTED"}


@pytest.mark.parametrize("setting", [
    dict(coordinator_crashes=2), dict(participant_crashes=3), dict(coordinator_crashes=2, participant_crashes=2,
                                                                   drop=0.05), dict(drop=0.1, cooperative=True),
], ids=["coordinator-crashes", "participant-crashes", "both-and-loss", "cooperative-loss"])
def test_atomicity_holds_across_many_seeded_fault_schedules(setting):
    committed = 0
    for seed in range(60):
        world, case = bank_run(seed, TxnImpl(), **setting)
        coord_log = world.durable("coord").get("log", [])
        participant_logs = {p: world.durable(p).get("log", []) for p in INITIAL}
        assert atomicity_violations(coord_log, participant_logs) == [], (seed, case["schedule"])
        total = sum(v for p in INITIAL for v in world.process(p).store.values())
        assert total == sum(v for p in INITIAL for v in INITIAL[p].values()), seed
        for p in INITIAL:
            assert world.process(p).store == recover_participant(INITIAL[p], participant_logs[p])[0]
            assert not world.process(p).locks
        committed += sum(1 for r in coord_log if r[0] == COMMIT)
    assert committed > 20  # atomic, and not by aborting everything


def test_a_majority_rule_breaks_atomicity_somewhere():
    def majority(participants, votes, timed_out):
        yes = sum(1 for p in participants if votes.get(p) is True)
        return COMMIT if 2 * yes > len(participants) else decide(participants, votes, timed_out)

    broken = 0
    for seed in range(40):
        world, _ = bank_run(seed, TxnImpl(decide=majority))
        broken += bool(atomicity_violations(world.durable("coord").get("log", []),
                                            {p: world.durable(p).get("log", []) for p in INITIAL}))
    assert broken
