"""Lab 7 — broadcast, observers and crash recovery (原子广播, 宕机处理).

- ``has_quorum`` — the majority rule (``QuorumMaj.containsQuorum``). Checked on rows and
  random sets, then plugged into whole ensembles (``Impl(has_quorum=...)``: election,
  discovery, NEWLEADER, commits and the leader's liveness check all use it) fuzzed with
  crashes, partitions, lossy links and observers: every run must end with no violation.
- ``tolerated_failures`` — how many voters may crash with the service still up; checked by
  crashing that many servers of a real ensemble (a leader must serve and a write commit) and
  then one more (no leader may serve).
- ``process_ack`` — the leader's commit rule (``Leader.processAck`` / ``tryToCommit``): a
  proposal commits once a quorum has acked it *and* every earlier one has committed;
  replayed against the reference over random ack sequences, the learner's own state fed back.
- ``epoch_to_propose`` — discovery's new-epoch rule (``Leader.getEpochToPropose``): once a
  quorum including the leader has connected, the new epoch is 1 + the highest acceptedEpoch.
"""

from __future__ import annotations

import random
from typing import Any

from distlab.grading.parts import Outcome, Part, register, reraise_if_fatal
from distlab.sim.world import ProcessError
from distlab.testing.fuzz import random_case, run_case
from distlab.zab.config import Impl
from distlab.zab.quorum import has_quorum as reference_has_quorum
from distlab.zab.quorum import tolerated_failures as reference_tolerated
from distlab.zab.zxid import counter_of, format_zxid, make_zxid

_fmt = format_zxid


def _unwrap(error: ProcessError) -> Outcome:
    """A simulator ProcessError as a failed seed; the runner's own errors re-raised."""
    from distlab.grading.sandbox import LearnerError

    cause = error.__cause__
    reraise_if_fatal(cause)
    if isinstance(cause, LearnerError):
        return Outcome.fail(f"your code raised {cause.message} inside server {error.node} at t={error.time} ms",
                            cause.detail)
    return Outcome.fail(f"server {error.node} failed at t={error.time} ms: {type(cause).__name__}: {cause}")


# ------------------------------------------------------------------ A: has_quorum ----------
# QuorumMaj.containsQuorum: the table of distlab.zab.quorum, and the majority rule at its edges
ZK_QUORUM_ROWS = [
    ({1, 2}, {1, 2, 3}, True),
    ({1}, {1, 2, 3}, False),
    ({1, 2}, {1, 2, 3, 4}, False),  # half is not more than half
    ({1, 2, 3}, {1, 2, 3, 4}, True),
    ({1, 2, 9}, {1, 2, 3, 4}, False),  # 9 is an observer: it never counts
    ({9, 10, 11}, {1, 2, 3}, False),
    (set(), {1}, False),
    ({1}, {1}, True),  # standalone: the one server is a quorum
    ({1, 2, 3}, {1, 2, 3, 4, 5}, True),
    ({4, 5}, {1, 2, 3, 4, 5}, False),
]


def _random_quorum_case(rng: random.Random) -> tuple:
    n = rng.randint(1, 9)
    voters = set(range(1, n + 1))
    observers = set(range(n + 1, n + 1 + rng.randint(0, 3)))
    pool = sorted(voters | observers | {99})
    acks = [rng.choice(pool) for _ in range(rng.randint(0, len(pool) + 2))]
    container = rng.choice((set, frozenset, list))
    return container(acks), rng.choice((set, frozenset))(voters), None


def check_has_quorum(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    cases = [(set(a), set(v), want) for a, v, want in ZK_QUORUM_ROWS]
    cases += [_random_quorum_case(rng) for _ in range(200)]
    for acks, voters, want in cases:
        if want is None:
            want = reference_has_quorum(acks, voters)
        got = fn(acks, voters)
        if type(got) is not bool:
            return Outcome.fail(f"has_quorum must return True or False, got {got!r}")
        if got != want:
            counted = sorted(set(acks) & set(voters))
            return Outcome.fail(
                f"has_quorum(acks={sorted(acks)}, voters={sorted(voters)}) returned {got}; ZooKeeper says {want}: "
                f"{len(counted)} of {len(voters)} voters acked ({counted}), and a quorum needs more than half, "
                f"i.e. at least {len(voters) // 2 + 1}. Observers and unknown ids never count, nor does the "
                "same id twice (QuorumMaj.containsQuorum)")
    return _fuzz(fn, seed)


def _fuzz(fn: Any, seed: int) -> Outcome:
    from distlab.testing.fuzz import random_case, run_case
    from distlab.zab.config import Impl

    rng = random.Random(f"lab7/fuzz/{seed}")
    case = random_case(seed, servers=rng.choice((3, 3, 5)), observers=rng.choice((0, 1)), duration_ms=4000)
    try:
        result, _ = run_case(case, impl=Impl(has_quorum=fn), settle_ms=60_000)
    except ProcessError as error:
        outcome = _unwrap(error)
        return Outcome.fail(f"with your has_quorum an ensemble broke: {outcome.message}",
                            (outcome.excerpt + "\n" if outcome.excerpt else "") + f"replay the case: {case.replay_command()}")
    if result.violations:
        from distlab.sim.faults import describe

        faults = ", ".join(f"{describe(f)} at {at} ms" for at, f in case.schedule.entries) or "no faults"
        return Outcome.fail(f"with your has_quorum as the ensemble's quorum rule ({case.servers} voters, "
                            f"{case.observers} observer(s), {case.drop:.0%} loss; {faults}), a property broke: "
                            f"{result.violations[0]}", f"replay the case: {case.replay_command()}")
    return Outcome.ok()


# ------------------------------------------------------------------ B: tolerated_failures --
def check_tolerated_failures(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    ns = list(range(1, 13)) + [rng.randint(13, 2001) for _ in range(40)]
    for n in ns:
        got = fn(n)
        want = reference_tolerated(n)
        if type(got) is not int:
            return Outcome.fail(f"tolerated_failures must return an int, got {got!r} for {n} voters")
        if got != want:
            return Outcome.fail(
                f"tolerated_failures({n}) returned {got}; ZooKeeper's answer is {want}: the n - f servers left "
                f"must still be more than half of all {n} (so 2f < n, f = (n - 1) // 2). "
                + ("An even ensemble tolerates no more crashes than the odd one below it. " if n % 2 == 0 else ""))
    return _crash_test(fn, seed)


def _crash_test(fn: Any, seed: int) -> Outcome:
    """Crash f servers (the leader among them): service goes on; crash one more: it stops."""
    from distlab.sim.ensemble import Ensemble
    from distlab.zk.errors import KeeperError

    rng = random.Random(f"lab7/crash/{seed}")
    n = rng.choice((3, 4, 5, 6))
    f = fn(n)
    if type(f) is not int or not 0 <= f < n:
        return Outcome.fail(f"tolerated_failures({n}) returned {f!r}; it must be an int in [0, {n})")
    e = Ensemble(n, seed=seed)
    try:
        leader = e.wait_for_leader()
        zk = e.client(timeout_ms=20_000)
        zk.create("/before", b"1")
        victims = ([leader] if rng.random() < 0.6 else []) + [s for s in e.servers if s != leader]
        victims = victims[:f]
        for sid in victims:
            e.crash(sid)
        try:
            e.wait_for(lambda e: e.leader() is not None and e.leader() not in victims, 60_000, "a serving leader")
            writer = e.client(timeout_ms=20_000)
            writer.create("/after", b"2")
        except (TimeoutError, KeeperError) as error:
            return Outcome.fail(f"you said {n} servers tolerate {f} crash{'' if f == 1 else 'es'}; with servers "
                                f"{victims} down, the {n - f} left did not serve a write: {error}")
        extra = [s for s in e.servers if s not in victims][0]
        e.crash(extra)
        e.run(30_000)  # well past syncLimit: a leader without a quorum steps down
        if e.leader() is not None:
            return Outcome.fail(f"you said {n} servers tolerate only {f} crash{'' if f == 1 else 'es'}, but with "
                                f"{f + 1} of them down (servers {victims + [extra]}) server {e.leader()} still leads, "
                                f"{n - f - 1} of {n} up: the ensemble tolerates more")
    except ProcessError as error:
        return _unwrap(error)
    return Outcome.ok()


# ------------------------------------------------------------------ C: process_ack ---------
def reference_process_ack(outstanding: dict, last_committed: int, sid: int, zxid: int, voters,
                          has_quorum=reference_has_quorum) -> tuple[dict, list]:
    """``Leader.processAck`` + ``tryToCommit`` (distlab.zab.leader), as a pure function."""
    outstanding = {z: frozenset(a) for z, a in outstanding.items()}
    if sid not in voters or counter_of(zxid) == 0 or zxid <= last_committed or zxid not in outstanding:
        return outstanding, []
    outstanding[zxid] = outstanding[zxid] | {sid}
    committed = []
    while outstanding:
        first = min(outstanding)
        if not has_quorum(outstanding[first], voters):
            break
        committed.append(first)
        del outstanding[first]
    return outstanding, committed


def _outstanding_text(outstanding: dict) -> str:
    return "{" + ", ".join(f"{_fmt(z)}: {sorted(a)}" for z, a in sorted(outstanding.items())) + "}"


def _broadcast_run(rng: random.Random) -> dict:
    """A leader's broadcast: proposals made over time, acks arriving late, twice, out of order."""
    n = rng.choice((1, 3, 3, 5, 5, 7))
    voters = frozenset(range(1, n + 1))
    observers = frozenset(range(n + 1, n + 1 + rng.randint(0, 2)))
    leader = rng.choice(sorted(voters))
    epoch = rng.randint(1, 4)
    events = []  # ("propose", zxid) or ("ack", sid, zxid)
    pending: list[tuple[int, int]] = []
    counter = 0
    for _ in range(rng.randint(10, 40)):
        if rng.random() < 0.3 or not pending:
            counter += 1
            zxid = make_zxid(epoch, counter)
            events.append(("propose", zxid))
            for sid in sorted(voters | observers):
                if sid != leader and rng.random() < 0.85:  # some acks are lost for good
                    pending.append((sid, zxid))
        else:
            sid, zxid = pending.pop(rng.randrange(len(pending)))  # arrival order is not send order
            events.append(("ack", sid, zxid))
            if rng.random() < 0.1:
                pending.append((sid, zxid))  # a duplicate, or an ack after the commit
        if rng.random() < 0.05:
            events.append(("ack", rng.choice(sorted(voters)), make_zxid(epoch, 0)))  # NEWLEADER's ack
    return {"voters": voters, "observers": observers, "leader": leader, "events": events}


_ACK_RULES = ("Rules (Leader.processAck, tryToCommit): ignore an ack from a non-voter, for a zxid with counter 0, "
              "for a zxid already committed or not outstanding; otherwise record it, then commit in zxid order "
              "each outstanding proposal that has a quorum (has_quorum), stopping at the first that has not")


def check_process_ack(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    # Hand-made rows first: (outstanding, last_committed, sid, zxid, voters)
    z = lambda c: make_zxid(1, c)  # noqa: E731
    V3 = frozenset({1, 2, 3})
    rows = [
        ({z(1): frozenset({1})}, z(0), 2, z(1), V3),  # the second ack commits (the leader acked itself)
        ({z(1): frozenset({1}), z(2): frozenset({1})}, z(0), 2, z(2), V3),  # z2 has a quorum, z1 not: wait
        ({z(1): frozenset({1}), z(2): frozenset({1, 2})}, z(0), 3, z(1), V3),  # z1 commits, then z2 at once
        ({z(2): frozenset({1})}, z(1), 3, z(1), V3),  # an ack for a committed zxid is ignored
        ({z(1): frozenset({1})}, z(0), 4, z(1), V3),  # 4 is an observer: ignored
        ({z(1): frozenset({1})}, z(0), 2, make_zxid(1, 0), V3),  # NEWLEADER's ack (counter 0) is ignored
        ({z(1): frozenset({1}), z(2): frozenset({1})}, z(0), 2, z(1), frozenset({1, 2, 3, 4})),  # 2 of 4: wait
        ({}, z(3), 2, z(4), V3),  # not outstanding
    ]
    for outstanding, last, sid, zxid, voters in rows:
        want = reference_process_ack(outstanding, last, sid, zxid, voters)
        got = fn(dict(outstanding), last, sid, zxid, voters, reference_has_quorum)
        problem = _ack_result_problem(got)
        if problem:
            return Outcome.fail(problem)
        if _normal(got) != _normal(want):
            return Outcome.fail(_ack_mismatch(outstanding, last, sid, zxid, voters, want, got))
    # Whole broadcasts, the learner's state fed back to it.
    for run_no in range(12):
        run = _broadcast_run(rng)
        voters, leader = run["voters"], run["leader"]
        mine: dict = {}
        ref: dict = {}
        my_last = ref_last = 0
        committed_mine: list[int] = []
        steps = []
        for event in run["events"]:
            if event[0] == "propose":
                zxid = event[1]
                mine[zxid] = frozenset({leader})  # the leader acks its own log write
                ref[zxid] = frozenset({leader})
                # ... which may already be a quorum (a standalone server), as Leader.propose finds out
                sid, ack = leader, zxid
                steps.append(f"propose {_fmt(zxid)}")
            else:
                _, sid, ack = event
                steps.append(f"ack {_fmt(ack)} from {sid}")
            before = dict(mine)
            want = reference_process_ack(ref, ref_last, sid, ack, voters)
            got = fn(dict(mine), my_last, sid, ack, voters, reference_has_quorum)
            problem = _ack_result_problem(got)
            if problem:
                return Outcome.fail(problem)
            if _normal(got) != _normal(want) or mine != ref:
                return Outcome.fail(_ack_mismatch(before, my_last, sid, ack, voters, want, got),
                                    f"voters {sorted(voters)}, observers {sorted(run['observers'])}, leader "
                                    f"{leader}; the run so far:\n" + "\n".join(steps[-10:]))
            mine, new = {k: frozenset(v) for k, v in got[0].items()}, list(got[1])
            ref = want[0]
            if new:
                my_last = ref_last = new[-1]
                committed_mine += new
        if committed_mine != sorted(committed_mine):
            return Outcome.fail(f"commits happened out of zxid order: {[_fmt(x) for x in committed_mine]}")
    # And as the leader's commit rule in a real, fuzzed ensemble (Impl.process_ack).
    return _fuzzed(seed, Impl(process_ack=fn), "process_ack")


def _ack_result_problem(got: Any) -> str | None:
    if type(got) is not tuple or len(got) != 2 or type(got[0]) is not dict or type(got[1]) is not list:
        return f"process_ack must return (outstanding: dict, committed: list), got {got!r}"
    for zxid, acks in got[0].items():
        if type(zxid) is not int or type(acks) not in (set, frozenset):
            return f"process_ack's outstanding must map zxid (int) -> set of server ids, got {zxid!r}: {acks!r}"
    if not all(type(x) is int for x in got[1]):
        return f"process_ack's committed list must hold zxids (int), got {got[1]!r}"
    return None


def _normal(result: tuple) -> tuple:
    return ({k: frozenset(v) for k, v in result[0].items()}, list(result[1]))


def _ack_mismatch(outstanding, last, sid, zxid, voters, want, got) -> str:
    return (f"process_ack(outstanding={_outstanding_text(outstanding)}, last_committed={_fmt(last)}, sid={sid}, "
            f"zxid={_fmt(zxid)}, voters={sorted(voters)}):\n"
            f"  expected: commits {[_fmt(x) for x in want[1]]}, outstanding {_outstanding_text(want[0])}\n"
            f"  got:      commits {[_fmt(x) for x in got[1]]}, outstanding {_outstanding_text(got[0])}\n"
            + _ACK_RULES)


# ------------------------------------------------------------------ D: epoch_to_propose ----
def reference_epoch_to_propose(leader: int, leader_accepted_epoch: int, infos: dict, voters,
                               has_quorum=reference_has_quorum) -> int | None:
    """``Leader.getEpochToPropose``: None until a quorum with the leader connected, then 1 + max."""
    connected = {leader} | {sid for sid in infos if sid in voters}
    if not has_quorum(connected, voters):
        return None
    return 1 + max([leader_accepted_epoch, *infos.values()])


def check_epoch_to_propose(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    V3 = frozenset({1, 2, 3})
    rows = [
        (1, 5, {2: 4}, V3),  # Zab1_0Test.testLastAcceptedEpoch: leader accepted 5 -> 6
        (1, 5, {2: 6}, V3),  # ... a follower that accepted 6 pushes it to 7 (the >= of getEpochToPropose)
        (1, 5, {}, V3),  # alone: no quorum yet
        (1, 0, {4: 9}, V3),  # an observer's epoch counts, the observer does not make a quorum
        (1, 0, {4: 9, 2: 0}, V3),
        (1, 2, {2: 2, 3: 1}, V3),
        (1, 3, {}, frozenset({1})),  # standalone
        (2, 1, {1: 1}, frozenset({1, 2, 3, 4})),  # 2 of 4 is not a quorum
    ]
    cases = [(l, a, dict(i), v, None) for l, a, i, v in rows]
    for _ in range(12):
        n = rng.choice((1, 3, 4, 5, 7))
        voters = frozenset(range(1, n + 1))
        observers = list(range(n + 1, n + 1 + rng.randint(0, 2)))
        leader = rng.choice(sorted(voters))
        accepted = {sid: rng.randint(0, 6) for sid in sorted(voters) + observers}
        arrivals = [sid for sid in sorted(voters) + observers if sid != leader and rng.random() < 0.9]
        rng.shuffle(arrivals)
        infos: dict = {}
        cases.append((leader, accepted[leader], {}, voters, "start"))
        for sid in arrivals:  # FOLLOWERINFO / OBSERVERINFO arriving one by one
            infos[sid] = accepted[sid]
            cases.append((leader, accepted[leader], dict(infos), voters, "arrival"))
    for leader, accepted, infos, voters, _ in cases:
        want = reference_epoch_to_propose(leader, accepted, infos, voters)
        got = fn(leader, accepted, dict(infos), voters, reference_has_quorum)
        if got is not None and type(got) is not int:
            return Outcome.fail(f"epoch_to_propose must return None or an int epoch, got {got!r}")
        if got != want:
            return Outcome.fail(
                f"epoch_to_propose(leader={leader}, leader_accepted_epoch={accepted}, infos={infos}, "
                f"voters={sorted(voters)}) returned {got!r}; ZooKeeper's is {want!r}. Rule "
                "(Leader.getEpochToPropose): wait (None) until the leader and the voters that connected form "
                "a quorum; then propose 1 + the highest acceptedEpoch among the leader and everyone that "
                "connected, observers included, so no server can have promised the new epoch already")
    # And as the leader's new-epoch rule in a real, fuzzed ensemble (Impl.epoch_to_propose).
    return _fuzzed(seed, Impl(epoch_to_propose=fn), "epoch_to_propose")


def _fuzzed(seed: int, impl: Impl, name: str) -> Outcome:
    """One fault schedule with client load, the learner's rule plugged into every leader."""
    try:
        result, _ = run_case(random_case(seed), impl=impl)
    except ProcessError as error:
        return _unwrap(error)
    if result.violations:
        first = result.violations[0]
        return Outcome.fail(f"with your {name} as the leaders' rule, a fuzzed run (seed {seed}) broke "
                            f"{first.invariant}: {first.detail}",
                            f"replay: distlab fuzz zab --replay '{result.case.replay_command().split(chr(39))[1]}'")
    return Outcome.ok()


register(
    7, "Broadcast, observers and crash recovery", "lab7-broadcast.ipynb",
    Part(7, "has_quorum", "The majority rule", 3,
         "a set is a quorum iff it holds more than half of the voters (observers never count); as the "
         "ensemble's quorum rule, fuzzed runs with crashes, partitions and observers break no property",
         check_has_quorum),
    Part(7, "tolerated_failures", "How many crashes an ensemble survives", 2,
         "f = (n - 1) // 2: with f voters crashed the rest still commit writes, with f + 1 no leader serves",
         check_tolerated_failures),
    Part(7, "process_ack", "Committing in order", 3,
         "an ack from a voter for an outstanding proposal is recorded; proposals commit in zxid order, each "
         "once a quorum acked it and every earlier one committed (Leader.processAck / tryToCommit)",
         check_process_ack, refs=("has_quorum",)),
    Part(7, "epoch_to_propose", "The new epoch", 2,
         "no epoch until a quorum including the leader has connected; then 1 + the highest acceptedEpoch "
         "(Leader.getEpochToPropose)", check_epoch_to_propose, refs=("has_quorum",)),
)
