"""Whole-ensemble elections and discovery: who leads, and with which epoch.

Fast Leader Election must pick the voter with the highest ``(currentEpoch, lastZxid, sid)``
(``FastLeaderElection.totalOrderPredicate``); observers learn the outcome but never vote;
a newcomer joins an established ensemble as a follower. Discovery then fixes the new epoch at
``1 + max(acceptedEpoch)`` of the connected quorum and persists both epoch files
(reference notes sections 1-3).
"""

from __future__ import annotations

import pytest

from distlab.sim.ensemble import Ensemble
from distlab.zab.messages import AckEpoch, Notification
from distlab.zab.zxid import epoch_of

from .test_scenarios import (
    LONG_SESSION_MS,
    assert_epoch_files_consistent,
    assert_one_leader_all_follow,
    best_by_vote_order,
    converge,
    durable_vote,
    facts,
    finish,
    never_started,
    new_epochs,
    retrying,
    run_watching,
    isolate_leader_with_uncommitted_write,
    sync_modes_of,
    syncs,
)


def _diverged(voters: int, seed: int) -> Ensemble:
    """An ensemble whose voters end with different durable histories, all in one epoch.

    The highest (n-1)/2 sids start late and join the leader the others elected (so the
    leader is *not* the highest sid); after a first write they crash, and the rest (still a
    quorum) keep writing. The low sids then hold the longest history, the high sids a
    shorter one, and every server's currentEpoch is 1.
    """
    e = Ensemble(servers=voters, seed=seed)
    late = list(e.config.voters)[-(voters - 1) // 2:]  # a minority: the rest is a quorum
    never_started(e, *late)
    leader = e.wait_for_leader()
    assert leader not in late
    for sid in late:
        e.restart(sid)
    e.wait_for_leader()
    early = [sid for sid in e.config.voters if sid not in late]
    zk = e.client(servers=early, timeout_ms=LONG_SESSION_MS)
    zk.create("/everyone", b"1")
    converge(e)
    for sid in late:
        e.crash(sid)
    for i in range(3):
        zk.create(f"/early-only{i}", b"2")
    return e


def _restart_everyone(e: Ensemble) -> None:
    """A full-ensemble restart: FLE runs from the durable state alone."""
    for sid in e.servers:
        if e.is_up(sid):
            e.crash(sid)
    for sid in e.servers:
        e.restart(sid)


@pytest.mark.parametrize("voters, seed", [(3, 1), (3, 8), (5, 2), (5, 9), (7, 3), (7, 10)],
                         ids=lambda v: str(v))
def test_full_restart_elects_the_highest_epoch_zxid_sid(voters, seed):
    """After a full restart every voter proposes ``(myid, lastLoggedZxid, currentEpoch)``, and the
    ensemble elects the maximum by (epoch, zxid, sid): here a low sid with the longest log beats
    higher sids with a shorter one (FLEPredicateTest rules applied by a whole ensemble;
    ``FastLeaderElection.lookForLeader``)."""
    e = _diverged(voters, seed)
    expected = best_by_vote_order(e, e.config.voters)
    votes = {sid: durable_vote(e, sid) for sid in e.servers}
    assert expected != max(e.config.voters), "the scenario must not be decided by sid alone"
    assert len({v[:2] for v in votes.values()}) > 1, "histories differ"
    _restart_everyone(e)
    leader = e.wait_for_leader()
    assert leader == expected, votes
    assert_one_leader_all_follow(e, leader)
    zk = e.client(timeout_ms=LONG_SESSION_MS)
    assert zk.get("/early-only2")[0] == b"2"
    finish(e)


@pytest.mark.parametrize("seed", [4, 12, 31])
def test_a_higher_current_epoch_beats_a_longer_log_of_an_older_epoch(seed):
    """peerEpoch is compared before zxid: a server that holds extra txns of epoch 1 (an old
    leader's uncommitted tail) loses to servers established in epoch 2 (FLEPredicateTest
    ``(4,0,0)`` vs ``(3,0,2)``: a lower epoch loses to any higher one; reference 7.16)."""
    e, old, others, main, lone, xid, _ = isolate_leader_with_uncommitted_write(seed)
    e.wait_for(lambda e: e.leader() in others and all(e.peer(s).serving for s in others), 60_000,
               "a new leader on the majority side")
    e.heal()
    old_vote, new_votes = durable_vote(e, old), [durable_vote(e, s) for s in others]
    assert all(v[0] > old_vote[0] and v[1] < old_vote[1] for v in new_votes), (old_vote, new_votes)
    expected = best_by_vote_order(e, e.config.voters)
    assert expected in others
    mark = len(e.world.trace)
    _restart_everyone(e)
    leader = e.wait_for_leader()
    assert leader == expected
    assert_one_leader_all_follow(e, leader)
    assert sync_modes_of(e, old, mark) == ["TRUNC"]
    assert retrying(lambda: main.exists("/lost")) is None
    finish(e)


@pytest.mark.parametrize("seed", [1, 6, 13])
def test_observers_end_observing_and_never_enter_a_recvset(seed):
    """Observers run the election only to learn the leader: every voter answers them at once and
    never records their notification (``Messenger.WorkerReceiver``: a non-voter's notification
    never enters the queue); they end OBSERVING, and the voters alone elect the leader."""
    e = Ensemble(servers=3, observers=2, seed=seed)
    observers = set(e.config.observers)
    seen = []

    def no_observer_votes(e: Ensemble) -> None:
        for sid in e.config.voters:
            if e.is_up(sid) and e.peer(sid).election.state is not None:
                state = e.peer(sid).election.state
                if observers & (set(state.recvset) | set(state.outofelection)):
                    seen.append((e.world.now, sid, sorted(state.recvset), sorted(state.outofelection)))

    assert run_watching(e, lambda e: e.leader() is not None and len(e.serving()) == 5, no_observer_votes)
    assert seen == []
    leader = e.leader()
    assert leader in e.config.voters
    assert_one_leader_all_follow(e, leader)
    from_observers = [r for r in e.world.trace.records
                      if r.kind == "deliver" and r.src in observers and isinstance(r.msg, Notification)]
    assert from_observers, "observers did send notifications"
    answers = [r for r in e.world.trace.records
               if r.kind == "send" and r.src in e.config.voters and r.dst in observers
               and isinstance(r.msg, Notification)]
    assert answers, "voters answer observers directly"
    assert all(r.msg.leader in e.config.voters for r in answers)
    # and the leader's epoch was fixed by voters only
    (_, connected, _, _), *_ = new_epochs(e)
    assert not observers & set(connected)
    finish(e)


@pytest.mark.parametrize("seed", [3, 8])
def test_observers_follow_the_new_leader_after_a_leader_crash(seed):
    """When the leader dies the observers lose it too, go LOOKING, learn the new leader from the
    voters' replies and observe it, catching up on what they missed (``Observer.observeLeader``;
    section 1.7)."""
    e = Ensemble(servers=3, observers=2, seed=seed)
    old = e.wait_for_leader()
    zk = e.client(servers=list(e.config.observers), timeout_ms=LONG_SESSION_MS)
    zk.create("/o", b"1")
    mark = len(e.world.trace)
    e.crash(old)
    new = converge(e)
    assert new == max(sid for sid in e.config.voters if sid != old)
    assert_one_leader_all_follow(e, new)
    retrying(lambda: zk.set("/o", b"2"))
    converge(e)
    for sid in e.config.observers:
        assert e.peer(sid).tree.get_data("/o")[0] == b"2"
        assert [leader for leader, learner, _ in syncs(e, mark) if learner == sid] == [new]
    e.restart(old)
    finish(e)


@pytest.mark.parametrize("seed", [2, 5])
def test_observers_cannot_make_up_a_quorum(seed):
    """3 voters + 2 observers with 2 voters down: 3 of 5 servers are up, but only 1 of 3 voters,
    so nobody leads and nobody serves (QuorumMaj counts voting members only)."""
    e = Ensemble(servers=3, observers=2, seed=seed)
    never_started(e, 2, 3)
    e.run(90_000)
    assert e.leader() is None and e.serving() == []
    assert e.states() == {1: "LOOKING", 2: None, 3: None, 4: "LOOKING", 5: "LOOKING"}
    states = [r for r in e.world.trace.records if r.kind == "state"]
    assert {r.new for r in states} == {"LOOKING"}
    e.restart(2)
    leader = e.wait_for_leader()
    assert leader == 2 and e.states()[4] == e.states()[5] == "OBSERVING"
    e.restart(3)
    finish(e)


@pytest.mark.parametrize("voters, seed", [(3, 1), (3, 2), (5, 3), (5, 4)], ids=lambda v: str(v))
def test_a_late_server_with_the_highest_sid_joins_as_follower(voters, seed):
    """FLETest.testJoin (ZOOKEEPER-975): start all but the highest sid; once they lead, start
    it: it must end FOLLOWING, not LEADING, because the established servers answer it with
    their FOLLOWING/LEADING votes (``outofelection``)."""
    e = Ensemble(servers=voters, seed=seed)
    never_started(e, voters)
    leader = e.wait_for_leader()
    zk = e.client(servers=[leader], timeout_ms=LONG_SESSION_MS)
    zk.create("/before-join", b"j")
    epoch = e.peer(leader).current_epoch
    mark = len(e.world.trace)
    e.restart(voters)
    converge(e)
    assert e.leader() == leader and e.peer(leader).current_epoch == epoch
    assert e.states()[voters] == "FOLLOWING"
    assert not [r for r in e.world.trace.records[mark:] if r.kind == "state" and r.new == "LEADING"]
    assert e.peer(voters).tree.get_data("/before-join")[0] == b"j"
    finish(e)


def test_a_standalone_server_serves():
    """One voter (``standalone`` mode, 单机部署): it elects itself, serves, and keeps its data
    across a restart."""
    e = Ensemble(servers=1, seed=0)
    assert e.config.standalone
    assert e.wait_for_leader() == 1
    zk = e.client(timeout_ms=LONG_SESSION_MS)
    zk.create("/solo", b"s")
    assert zk.get("/solo")[0] == b"s"
    e.crash(1)
    e.restart(1)
    assert e.wait_for_leader() == 1
    assert e.peer(1).tree.get_data("/solo")[0] == b"s"
    assert e.peer(1).current_epoch == 2
    finish(e)


# ================================================================ 2. discovery ============

@pytest.mark.parametrize("seed", [11, 14, 17])
def test_new_epoch_is_one_more_than_the_highest_accepted_epoch_of_the_quorum(seed):
    """Zab1_0Test.testLastAcceptedEpoch in a real run: a server that accepted a new epoch from a
    leader that died before NEWLEADER (acceptedEpoch 2 > currentEpoch 1) pushes the next leader
    to epoch 3 = 1 + max(acceptedEpoch) of the connected quorum (``Leader.getEpochToPropose``)."""
    e = Ensemble(servers=3, seed=seed)
    first = e.wait_for_leader()
    assert first == 3
    e.crash(3)
    # Stop the moment server 1 has accepted the epoch its new leader (2) proposes.
    e.wait_for(lambda e: e.is_up(1) and e.peer(1).accepted_epoch == 2, 60_000, "1 accepting epoch 2")
    assert e.states()[2] == "LEADING" and not e.peer(2).serving
    e.crash(2)
    disk = {sid: e.world.durable(sid) for sid in e.servers}
    assert (disk[1]["accepted_epoch"], disk[1]["current_epoch"]) == (2, 1)
    assert (disk[2]["accepted_epoch"], disk[2]["current_epoch"]) == (2, 1)
    assert (disk[3]["accepted_epoch"], disk[3]["current_epoch"]) == (1, 1)
    assert_epoch_files_consistent(e)
    mark = len(e.world.trace)
    e.restart(2)
    e.restart(3)
    leader = converge(e)
    assert leader == 3  # same currentEpoch and zxid for all: the highest sid
    rounds = new_epochs(e, mark)
    assert rounds, "the new leader fixed an epoch"
    for who, connected, epoch, highest in rounds:
        assert who == leader
        assert highest == max(disk[sid]["accepted_epoch"] for sid in connected)
        assert epoch == highest + 1 == 3
    for sid in e.servers:
        assert (e.peer(sid).accepted_epoch, e.peer(sid).current_epoch) == (3, 3)
    assert_epoch_files_consistent(e)
    finish(e)


@pytest.mark.parametrize("seed", [3, 21])
def test_epoch_files_are_persisted_survive_crashes_and_stay_ordered(seed):
    """acceptedEpoch and currentEpoch are written to disk and reloaded on restart
    (``QuorumPeer.loadDataBase``); at every event of a run with several leader changes,
    ``acceptedEpoch >= currentEpoch >= epoch(last zxid)`` holds on every server, in memory and
    on disk (reference section 2; Zab1_0Test.testInitialAcceptedCurrent)."""
    e = Ensemble(servers=3, seed=seed)
    broken = []

    def epochs_ordered(e: Ensemble) -> None:
        for sid in e.servers:
            if e.is_up(sid):
                peer = e.peer(sid)
                if peer.state is not None and not (
                        peer.accepted_epoch >= peer.current_epoch >= epoch_of(peer.last_logged_zxid)):
                    broken.append((e.world.now, sid, peer.accepted_epoch, peer.current_epoch,
                                   peer.last_logged_zxid))

    settled = lambda e: e.leader() is not None and len(e.serving()) == 3  # noqa: E731
    assert run_watching(e, settled, epochs_ordered)
    zk = e.client(timeout_ms=LONG_SESSION_MS)
    for round_ in range(3):
        leader = e.leader()
        epoch = e.peer(leader).current_epoch
        assert all(e.peer(sid).current_epoch == epoch for sid in e.servers)
        retrying(lambda: zk.create(f"/r{round_}", b"x"))
        before = (e.peer(leader).accepted_epoch, e.peer(leader).current_epoch)
        e.crash(leader)
        disk = e.world.durable(leader)
        assert (disk["accepted_epoch"], disk["current_epoch"]) == before
        assert run_watching(e, lambda e: e.leader() not in (None, leader), epochs_ordered)
        e.restart(leader)
        assert (e.peer(leader).accepted_epoch, e.peer(leader).current_epoch) == before
        assert run_watching(e, settled, epochs_ordered)
        assert e.peer(e.leader()).current_epoch > epoch
    assert run_watching(e, lambda e: e.leader() is not None and len(e.serving()) == 3, epochs_ordered)
    assert broken == []
    assert_epoch_files_consistent(e)
    established = [data["epoch"] for _, data in facts(e, "established")]
    assert established == sorted(established) and len(established) == 4
    finish(e)


@pytest.mark.parametrize("seed", [1, 9])
def test_a_follower_rejoining_the_same_epoch_answers_ackepoch_minus_one(seed):
    """A follower that restarts while the leader keeps leading has already accepted the
    leader's epoch: LEADERINFO(e) == acceptedEpoch, so it answers ``ACKEPOCH(-1)`` ("already
    acked this epoch"), which does not move the epoch, and it is synced all the same
    (``Learner.registerWithLeader``; reference 3.2 step 4)."""
    e = Ensemble(servers=3, seed=seed)
    leader = e.wait_for_leader()
    epoch = e.peer(leader).current_epoch
    follower = min(sid for sid in e.servers if sid != leader)
    mark = len(e.world.trace)
    e.crash(follower)
    e.restart(follower)
    converge(e)
    acks = [r.msg for r in e.world.trace.records[mark:]
            if r.kind == "send" and r.src == follower and isinstance(r.msg, AckEpoch)]
    assert [a.current_epoch for a in acks] == [-1]
    assert e.leader() == leader and e.peer(leader).current_epoch == epoch
    assert (e.peer(follower).accepted_epoch, e.peer(follower).current_epoch) == (epoch, epoch)
    assert sync_modes_of(e, follower, mark) == ["DIFF"]
    finish(e)
