"""Lab 5 — Fast Leader Election (选举): the vote order, the leader check, one election step.

Each check compares the learner's function with ZooKeeper's rule on cases drawn from the
seed (ZooKeeper's own test rows always included), then runs a real election in the
simulator with the learner's function plugged in (``Impl``) and checks who wins.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from distlab.grading.parts import Outcome, Part, register
from distlab.sansio import UsageError
from distlab.sim.ensemble import Ensemble, disk_with_history
from distlab.zab.config import Impl
from distlab.zab.election import (
    ElectionState,
    ElectionStep,
    Vote,
    check_leader,
    handle_notification,
    initial_election_state,
    vote_order,
)
from distlab.zab.messages import Notification, ServerState
from distlab.zab.zxid import format_zxid, make_zxid

LOOKING, FOLLOWING, LEADING, OBSERVING = (ServerState.LOOKING, ServerState.FOLLOWING,
                                          ServerState.LEADING, ServerState.OBSERVING)

# FLEPredicateTest.testPredicate, as (new, current, expected)
ZK_VOTE_ROWS = [
    (Vote(4, 0, 0), Vote(3, 0, 2), False),
    (Vote(0, 0, 1), Vote(1, 0, 0), True),
    (Vote(0, 1, 0), Vote(1, 0, 0), True),
    (Vote(1, 1, 0), Vote(0, 1, 0), True),
]


def _vote(v: Vote) -> str:
    return f"(id {v.leader}, zxid {format_zxid(v.zxid)}, epoch {v.peer_epoch})"


def _random_vote(rng: random.Random) -> Vote:
    epoch = rng.randint(0, 3)
    return Vote(rng.randint(1, 5), make_zxid(epoch, rng.randint(0, 3)), rng.choice((epoch, epoch, rng.randint(0, 3))))


def _winner(disks: dict[int, dict]) -> int:
    def rank(sid: int):
        snap = disks[sid]["snapshot"]
        zxid = snap[0] if snap else 0
        return (disks[sid]["current_epoch"], zxid, sid)
    return max(disks, key=rank)


def _random_disks(rng: random.Random, voters: int) -> dict[int, dict]:
    disks = {}
    for sid in range(1, voters + 1):
        epoch = rng.randint(0, 2)
        disks[sid] = disk_with_history(make_zxid(epoch, rng.randint(1, 9)) if epoch else 0)
    return disks


def _election(seed: int, impl: Impl, voters: int = 5, crash_winner: bool = False) -> Outcome:
    """Run an election with ``impl``; the winner must be the best (epoch, zxid, id)."""
    rng = random.Random(f"election/{seed}")
    disks = _random_disks(rng, voters)
    ensemble = Ensemble(voters, seed=seed, impl=impl, durable=disks)
    try:
        leader = ensemble.wait_for_leader(max_ms=120_000)
    except TimeoutError:
        return Outcome.fail(f"no leader was elected within 120 s of simulated time (seed {seed}); "
                            f"servers ended {ensemble.states()}", _tail(ensemble))
    expected = _winner(disks)
    if leader != expected:
        return Outcome.fail(
            f"server {leader} was elected, but server {expected} has the best (epoch, zxid, id): "
            + ", ".join(f"{sid}: epoch {disks[sid]['current_epoch']} zxid "
                        f"{format_zxid(disks[sid]['snapshot'][0] if disks[sid]['snapshot'] else 0)}"
                        for sid in sorted(disks)), _tail(ensemble))
    if crash_winner:
        # The survivors now share the leader's history; the best of them by (currentEpoch,
        # last zxid, id) must take over.
        survivors = {sid: (ensemble.peer(sid).current_epoch, ensemble.peer(sid).last_logged_zxid, sid)
                     for sid in ensemble.servers if sid != leader}
        best = max(survivors.values())[2]
        ensemble.crash(leader)
        try:
            again = ensemble.wait_for_leader(max_ms=120_000)
        except TimeoutError:
            return Outcome.fail(f"after the leader {leader} crashed, no new leader within 120 s "
                                f"(servers {ensemble.states()})", _tail(ensemble))
        if again != best:
            return Outcome.fail(f"after leader {leader} crashed, {again} took over, but {best} has the best "
                                f"(epoch, zxid, id) of the servers still up", _tail(ensemble))
    return Outcome.ok()


def _tail(ensemble: Ensemble, lines: int = 8) -> str:
    notes = [r for r in ensemble.world.trace if r.kind in ("note", "state")]
    return "\n".join(f"t={r.time} {r.node}: {getattr(r, 'text', None) or r.new}" for r in notes[-lines:])


# ---------------------------------------------------------------- the search test --------
# Every schedule of a 3-server election (no crash, FIFO links) up to this many steps, run by
# the model checker (distlab.check.model) with the learner's function plugged in. The
# schedules do not depend on the seed, so the verdict is computed once per function and
# given to every seed: a bug the random elections rarely show fails every seed.
SEARCH_DEPTH = 10
_SEARCHED: list[tuple[Any, str, Outcome]] = []


def search_test(fn: Any, seam: str) -> Outcome:
    """Model-check the election with the learner's ``seam`` function; a failure shows the
    shortest counterexample and how to replay it."""
    from distlab.check.model import check_election, describe_counterexample

    for searched, name, outcome in _SEARCHED:
        if searched is fn and name == seam:
            return outcome
    try:
        result = check_election(servers=3, crashes=0, depth=SEARCH_DEPTH, **{seam: fn})
    except UsageError as error:
        outcome = Outcome.fail(f"search test: {error}")
    else:
        if result.violation is None:
            outcome = Outcome.ok()
        else:
            outcome = Outcome.fail(
                f"search test (every schedule of a 3-server election, {result.states} states): "
                + describe_counterexample(result)
                + f"\nReplay it in your notebook: from distlab.check.model import check_election, "
                  f"counterexample_trace; r = check_election(crashes=0, depth={SEARCH_DEPTH}, {seam}={seam}); "
                  f"counterexample_trace(r, {seam}={seam}).save('cex.jsonl'); then in a shell: "
                  "distlab replay election --trace cex.jsonl --out cex.html")
    _SEARCHED[:] = [(fn, seam, outcome)]
    return outcome


# ---------------------------------------------------------------- vote_order -------------
def check_vote_order(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    cases = list(ZK_VOTE_ROWS)
    for _ in range(150):
        new, current = _random_vote(rng), _random_vote(rng)
        cases.append((new, current, vote_order(new, current)))
        cases.append((current, current, False))
    for new, current, expected in cases:
        got = fn(new, current)
        if type(got) is not bool:
            return Outcome.fail(f"vote_order must return True or False, got {got!r} for {_vote(new)} vs {_vote(current)}")
        if got != expected:
            return Outcome.fail(
                f"vote_order({_vote(new)}, {_vote(current)}) returned {got}; ZooKeeper says {expected}. "
                "A vote wins on a higher epoch first, then a higher zxid, then a higher server id; "
                "a tie never wins (FastLeaderElection.totalOrderPredicate).")
    searched = search_test(fn, "vote_order")
    if not searched.passed:
        return searched
    return _election(seed, Impl(vote_order=fn))


# ---------------------------------------------------------------- check_leader -----------
def _note(sid, leader, zxid, ee, pe, state) -> Notification:
    return Notification(leader, zxid, ee, pe, state, sid)


def check_check_leader(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    cases = []
    # FLEBackwardElectionRoundTest: FOLLOWING votes for me from round 1 while I am in round 2.
    state = initial_election_state(0, {0, 1, 2}, 2, 0, 1)
    votes = {1: _note(1, 0, 0, 1, 1, FOLLOWING), 2: _note(2, 0, 0, 1, 1, FOLLOWING)}
    cases.append((state, votes, 0, 1))
    # FLEOutOfElectionTest.testOutofElection: leader 5 says LEADING.
    state = initial_election_state(3, {1, 2, 3, 4, 5}, 1, 0, 0)
    votes = {1: _note(1, 5, 15, 10, 23, FOLLOWING), 2: _note(2, 5, 15, 10, 23, FOLLOWING),
             4: _note(4, 5, 15, 10, 24, FOLLOWING), 5: _note(5, 5, 15, 10, 24, LEADING)}
    cases.append((state, votes, 5, 10))
    for _ in range(200):
        me = rng.randint(1, 5)
        state = initial_election_state(me, {1, 2, 3, 4, 5}, rng.randint(1, 4), 0, 0)
        leader = rng.randint(1, 5)
        votes = {}
        for sid in rng.sample(range(1, 6), rng.randint(0, 5)):
            votes[sid] = _note(sid, leader, 0, rng.randint(1, 4), 1, rng.choice((FOLLOWING, LEADING, LOOKING)))
        cases.append((state, votes, leader, rng.randint(1, 4)))
    for state, votes, leader, ee in cases:
        expected = check_leader(state, votes, leader, ee)
        got = fn(state, votes, leader, ee)
        if type(got) is not bool:
            return Outcome.fail(f"check_leader must return True or False, got {got!r}")
        if got != expected:
            who = "myself" if leader == state.me else f"server {leader}"
            return Outcome.fail(
                f"check_leader for {who} (I am {state.me}, in round {state.logicalclock}; votes from round {ee}: "
                f"{ {sid: (n.leader, n.state.name) for sid, n in sorted(votes.items())} }) returned {got}; "
                f"ZooKeeper says {expected}. Another leader counts only if its own vote says LEADING; "
                "I may lead only on votes of my current round (ZOOKEEPER-1514).")
    return Outcome.ok()


# ---------------------------------------------------------------- handle_notification ----
def _random_state(rng: random.Random) -> ElectionState:
    voters = {1, 2, 3, 4, 5} if rng.random() < 0.5 else {1, 2, 3}
    me = rng.choice(sorted(voters))
    state = initial_election_state(me, voters, rng.randint(1, 3), make_zxid(rng.randint(0, 2), rng.randint(0, 4)),
                                   rng.randint(0, 2))
    recv, out = {}, {}
    for sid in rng.sample(sorted(voters), rng.randint(0, len(voters))):
        if rng.random() < 0.7:
            p = state.proposal if rng.random() < 0.5 else _random_vote(rng)
            recv[sid] = Notification(p.leader if p.leader in voters else me, p.zxid, state.logicalclock,
                                     p.peer_epoch, LOOKING, sid)
        else:
            leader = rng.choice(sorted(voters))
            out[sid] = Notification(leader, 0, rng.randint(1, 3), 1, rng.choice((FOLLOWING, LEADING)), sid)
    return replace(state, recvset=recv, outofelection=out,
                   proposal=state.proposal if rng.random() < 0.6 else Vote(rng.choice(sorted(voters)),
                                                                              state.proposal.zxid, state.proposal.peer_epoch))


def _random_notification(rng: random.Random, state: ElectionState) -> Notification:
    voters = sorted(state.voters)
    sid = rng.choice(voters + [99]) if rng.random() < 0.05 else rng.choice(voters)
    status = rng.choice((LOOKING, LOOKING, LOOKING, FOLLOWING, LEADING, OBSERVING))
    leader = rng.choice(voters)
    if status is LOOKING:
        v = _random_vote(rng)
        return Notification(leader, v.zxid, state.logicalclock + rng.choice((-1, 0, 0, 0, 1)), v.peer_epoch, status, sid)
    return Notification(leader, make_zxid(1, rng.randint(0, 3)), rng.choice((state.logicalclock, state.logicalclock + 1, 1)),
                        rng.randint(0, 2), status, sid)


def _describe_step(step: ElectionStep) -> str:
    s = step.state
    return (f"round {s.logicalclock}, proposal {_vote(s.proposal)}, recvset {sorted(s.recvset)}, "
            f"outofelection {sorted(s.outofelection)}, broadcast={step.broadcast}, finalize={step.finalize}, "
            f"decided={None if step.decided is None else _vote(step.decided)}")


def _same_step(a: ElectionStep, b: ElectionStep) -> str | None:
    """None if equal in everything but the reason; else which field differs."""
    if not isinstance(b, ElectionStep) or not isinstance(b.state, ElectionState):
        return f"it returned {type(b).__name__}, not an ElectionStep with an ElectionState"
    checks = [("the round (logicalclock)", a.state.logicalclock, b.state.logicalclock),
              ("the proposal", a.state.proposal, b.state.proposal),
              ("recvset", dict(a.state.recvset), dict(b.state.recvset)),
              ("outofelection", dict(a.state.outofelection), dict(b.state.outofelection)),
              ("broadcast", a.broadcast, b.broadcast), ("finalize", a.finalize, b.finalize),
              ("decided", a.decided, b.decided)]
    for what, expected, got in checks:
        if expected != got:
            return what
    return None


def check_handle_notification(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    for _ in range(150):
        state = _random_state(rng)
        n = _random_notification(rng, state)
        expected = handle_notification(state, n)
        got = _call_step(fn, state, n)
        differs = _same_step(expected, got)
        if differs:
            return Outcome.fail(
                f"for server {state.me} in round {state.logicalclock} proposing {_vote(state.proposal)}, "
                f"receiving {n.describe()}, your step differs in {differs}.\n"
                f"  expected: {_describe_step(expected)}\n  got:      {_describe_step(got) if isinstance(got, ElectionStep) and isinstance(got.state, ElectionState) else got!r}\n"
                "Rules: a later round resets to your initial vote; an earlier round is ignored; a better "
                "vote is adopted and broadcast; FOLLOWING/LEADING votes decide only with a quorum and "
                "check_leader (FastLeaderElection.lookForLeader).")
    searched = search_test(fn, "handle_notification")
    if not searched.passed:
        return searched
    impl = Impl(handle_notification=fn)
    outcome = _election(seed, impl, voters=5, crash_winner=True)
    return outcome


def _call_step(fn: Any, state: ElectionState, n: Notification) -> Any:
    return fn(state, n, vote_order, _has_quorum())


def _has_quorum():
    from distlab.zab.quorum import has_quorum

    return has_quorum


register(
    5, "Fast Leader Election", "lab5-election.ipynb",
    Part(5, "vote_order", "The vote order", 2,
         "a vote beats another on higher epoch, then higher zxid, then higher id (totalOrderPredicate); "
         "with it, the server with the best history wins every election", check_vote_order),
    Part(5, "check_leader", "Trusting a leader", 2,
         "another server leads only if it says LEADING; I lead only on votes of my own round "
         "(FastLeaderElection.checkLeader, ZOOKEEPER-1514)", check_check_leader),
    Part(5, "handle_notification", "One election step", 4,
         "each notification moves the election exactly as lookForLeader does; with it, elections and "
         "re-elections after a leader crash pick the best server", check_handle_notification,
         refs=("vote_order", "has_quorum")),
)
