"""Learner and LearnerHandler phases: enums, transition tables, and unexpected packets.

h11's ``test_state.py`` is the model for the tables (every (from, to) pair, allowed or not;
an illegal step changes nothing). The scenarios mirror ZooKeeper's learner, which leaves
FOLLOWING/OBSERVING on an unexpected packet (``Learner.registerWithLeader``: "First packet
... is not LEADERINFO") and ``LearnerHandler``, which ends the handler of a learner that
sends one.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from distlab.sim.ensemble import Ensemble
from distlab.zab.events import LearnerDropped, ProtocolViolated
from distlab.zab.leader import LearnerHandler
from distlab.zab.learner import Learner
from distlab.zab.messages import Commit, Diff, LeaderInfo, ProposalPacket, Trunc
from distlab.zab.peer import ProtocolViolation
from distlab.zab.phases import (HANDLER_TRANSITIONS, LEARNER_TRANSITIONS, HandlerPhase, IllegalTransition,
                                LearnerPhase, UnexpectedPacket, advance)
from distlab.zab.zxid import make_zxid

LEARNER_ORDER = ["connecting", "syncing", "newleader_acked", "serving"]
HANDLER_ORDER = ["info", "epoch_sent", "epoch_acked", "newleader_sent", "newleader_acked", "uptodate"]


@pytest.mark.parametrize("table, kind, order", [(LEARNER_TRANSITIONS, LearnerPhase, LEARNER_ORDER),
                                                (HANDLER_TRANSITIONS, HandlerPhase, HANDLER_ORDER)],
                         ids=["learner", "handler"])
def test_every_pair_is_allowed_only_as_the_next_phase(table, kind, order):
    assert [p.value for p in kind] == order and set(table) == set(kind)
    for a, b in itertools.product(order, order):
        allowed = order.index(b) == order.index(a) + 1
        if allowed:
            assert advance(table, kind(a), b) is kind(b)
        else:
            with pytest.raises(IllegalTransition, match=f"{a} -> {b} is not allowed"):
                advance(table, kind(a), b)


def test_phases_still_compare_equal_to_their_strings():
    assert LearnerPhase.SYNCING == "syncing" and str(HandlerPhase.EPOCH_SENT) == "epoch_sent"
    with pytest.raises(IllegalTransition, match="not a LearnerPhase"):
        advance(LEARNER_TRANSITIONS, LearnerPhase.CONNECTING, "dancing")


def test_an_illegal_handler_step_raises_and_changes_nothing():
    h = LearnerHandler(2, False, 0, 0)
    assert h.phase is HandlerPhase.INFO
    h.phase = "epoch_sent"
    with pytest.raises(IllegalTransition):
        h.phase = "uptodate"
    assert h.phase is HandlerPhase.EPOCH_SENT


def _stub_peer(observer: bool = False):
    gave_up, emitted, sent = [], [], []
    peer = SimpleNamespace(
        sid=3, config=SimpleNamespace(tick_ms=100, connect_retry_ms=100, init_limit=10, sync_limit=5),
        is_observer=observer, now=0, accepted_epoch=1, current_epoch=1, last_logged_zxid=0,
        send=lambda dst, msg: sent.append((dst, msg)), set_timer=lambda *a: None, cancel_timer=lambda *a: None,
        become_looking=gave_up.append, emit=emitted.append, persist_accepted_epoch=lambda e: None)
    return peer, gave_up, emitted


def test_a_first_packet_that_is_not_leaderinfo_sends_the_learner_back_to_looking():
    peer, gave_up, emitted = _stub_peer()
    learner = Learner(peer, leader=1)
    assert learner.phase is LearnerPhase.CONNECTING
    learner.on_packet(1, Diff(make_zxid(1, 0)))
    assert len(gave_up) == 1 and "unexpected Diff from 1 while connecting: not LEADERINFO" in gave_up[0]
    assert [type(e) for e in emitted] == [ProtocolViolated]
    assert emitted[0].packet == "Diff" and emitted[0].phase == "connecting"
    assert learner.phase is LearnerPhase.CONNECTING  # the violation changed no phase


def test_a_retried_leaderinfo_is_harmless_but_another_epoch_is_a_violation():
    peer, gave_up, emitted = _stub_peer()
    learner = Learner(peer, leader=1)
    learner.on_packet(1, LeaderInfo(2))
    assert learner.phase is LearnerPhase.SYNCING and not gave_up
    learner.on_packet(1, LeaderInfo(2))  # resent for a retried FOLLOWERINFO
    assert not gave_up
    learner.on_packet(1, LeaderInfo(3))
    assert gave_up and "a second LEADERINFO, for epoch 3" in gave_up[0]


def test_unexpected_packet_is_a_protocol_violation():
    assert issubclass(UnexpectedPacket, ProtocolViolation)


def _settled(seed: int, observers: int = 0) -> tuple[Ensemble, int]:
    e = Ensemble(servers=3, observers=observers, seed=seed)
    leader = e.wait_for_leader()
    e.quiesce()
    return e, leader


def _violations(e: Ensemble, since: int) -> list:
    return [r.event for r in e.world.trace.records[since:]
            if r.kind == "note" and type(r.event) is ProtocolViolated]


@pytest.mark.parametrize("packet", [Trunc(make_zxid(1, 0)), Diff(make_zxid(1, 0))], ids=["TRUNC", "DIFF"])
def test_a_serving_follower_that_gets_a_sync_packet_goes_looking_and_rejoins(packet):
    e, leader = _settled(seed=4)
    follower = next(s for s in e.servers if s != leader)
    since = len(e.world.trace)
    e.world.inject(follower, packet, src=leader)
    e.world.run(e.world.now + 5)
    found = _violations(e, since)
    assert found and found[0].sid == follower and found[0].phase == "serving"
    assert any(r.kind == "state" and r.node == follower and r.new == "LOOKING" for r in e.world.trace.records[since:])
    e.wait_for_leader()
    e.quiesce()
    assert e.peer(follower).state.name == "FOLLOWING"


def test_an_observer_that_gets_a_proposal_goes_looking():
    e, leader = _settled(seed=6, observers=1)
    observer = e.config.observers[0]
    since = len(e.world.trace)
    e.world.inject(observer, ProposalPacket(make_zxid(9, 1), None), src=leader)
    e.world.run(e.world.now + 5)
    found = _violations(e, since)
    assert found and found[0].sid == observer and "not a packet an observer gets" in found[0].detail


def test_a_leader_ends_the_handler_of_a_learner_that_sends_an_unexpected_packet():
    e, leader = _settled(seed=7)
    follower = next(s for s in e.servers if s != leader)
    since = len(e.world.trace)
    e.world.inject(leader, Commit(make_zxid(1, 1)), src=follower)
    e.world.run(e.world.now + 5)
    found = _violations(e, since)
    assert found and found[0].sid == leader and found[0].peer == follower and found[0].packet == "Commit"
    dropped = [r.event for r in e.world.trace.records[since:] if r.kind == "note" and type(r.event) is LearnerDropped]
    assert dropped and dropped[0].cause == "violation" and dropped[0].learner == follower
