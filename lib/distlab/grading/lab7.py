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
from distlab.zab.broadcast import process_ack as reference_process_ack_rule
from distlab.zab.quorum import has_quorum as reference_has_quorum
from distlab.zab.quorum import tolerated_failures as reference_tolerated
from distlab.sansio import UsageError
from distlab.zab.follower import FollowerLog, FollowerStep, follower_step
from distlab.zab.messages import Commit, Proposal, ProposalPacket
from distlab.zab.recovery import recover_history
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
    case = random_case(seed, servers=rng.choice((3, 3, 5)), observers=rng.choice((0, 1)), duration_ms=3000)
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
    """The reference commit rule, :func:`distlab.zab.broadcast.process_ack` (what the leader
    runs), with the reference quorum unless told otherwise: imported, never copied."""
    return reference_process_ack_rule(outstanding, last_committed, sid, zxid, voters, has_quorum)


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
        result, _ = run_case(random_case(seed, duration_ms=3000), impl=impl)
    except ProcessError as error:
        return _unwrap(error)
    if result.violations:
        first = result.violations[0]
        return Outcome.fail(f"with your {name} as the leaders' rule, a fuzzed run (seed {seed}) broke "
                            f"{first.invariant}: {first.detail}",
                            f"replay: distlab fuzz zab --replay '{result.case.replay_command().split(chr(39))[1]}'")
    return Outcome.ok()


# ------------------------------------------------------------------ E: follower_step -------
def _txn_free(packet: Any) -> Any:
    """The packet as the learner's function sees it: the txn is only a label (it never needs
    more, and only plain data crosses into the grader's sandbox)."""
    if isinstance(packet, ProposalPacket):
        return ProposalPacket(packet.zxid, f"txn {_fmt(packet.zxid)}", packet.cxid)
    return packet


def _follower_seam(fn: Any) -> Any:
    def follower_step(log: FollowerLog, packet: Any) -> FollowerStep:
        return fn(log, _txn_free(packet))

    return follower_step


def _step_kind(step: FollowerStep) -> str:
    if step.give_up is not None:
        return "give up"
    return " + ".join(name for name, on in (("log", step.log), (f"ACK {_fmt(step.ack)}" if step.ack is not None
                                                                  else "", step.ack is not None),
                                               (f"apply {_fmt(step.apply)}" if step.apply is not None else "",
                                                step.apply is not None)) if on) or "ignore"


# (last_logged, last_applied, pending, packet, what Follower.processPacket does, why)
def _follower_rows() -> list[tuple]:
    P, C = ProposalPacket, Commit
    e1, e2 = (lambda c: make_zxid(1, c)), (lambda c: make_zxid(2, c))
    return [
        (e1(3), e1(3), (), P(e1(4), "t"), FollowerStep(log=True, ack=e1(4)), "the next zxid: log it, then ACK"),
        (e1(4), e1(3), (e1(4),), C(e1(4)), FollowerStep(apply=e1(4)), "COMMIT of the next pending txn: apply it"),
        (e1(4), e1(3), (e1(4),), P(e1(4), "t"), FollowerStep(), "a duplicate PROPOSAL: logged already"),
        (e1(4), e1(4), (), C(e1(4)), FollowerStep(), "a duplicate COMMIT: applied already"),
        (e1(4), e1(4), (), P(e1(6), "t"), FollowerStep(give_up="hole"), "a hole (空洞): 0x1_00000005 is missing"),
        (e1(4), e1(4), (), P(e2(1), "t"), FollowerStep(log=True, ack=e2(1)), "a new epoch starts at counter 1"),
        (e1(4), e1(4), (), P(e2(2), "t"), FollowerStep(give_up="hole"), "a new epoch's first txn was missed"),
        (e1(6), e1(4), (e1(5), e1(6)), C(e1(6)), FollowerStep(give_up="order"),
         "COMMIT out of order: 0x1_00000005 must be applied first"),
        (e1(4), e1(4), (), C(e1(5)), FollowerStep(give_up="unknown"), "COMMIT of a txn never logged"),
        (e1(5), e1(4), (e1(5),), P(e1(6), "t"), FollowerStep(log=True, ack=e1(6)),
         "pipelined: log and ACK the next while the previous awaits its COMMIT"),
    ]


def _random_follower_case(rng: random.Random) -> tuple:
    epoch = rng.randint(1, 3)
    applied = make_zxid(epoch, rng.randint(0, 5))
    pending = tuple(applied + i for i in range(1, rng.randint(0, 3) + 1))
    logged = pending[-1] if pending else applied
    roll = rng.random()
    if roll < 0.45:
        target = rng.choice([logged + 1, logged + 1, logged, logged - 1 if logged > 1 else logged, logged + 2,
                             make_zxid(epoch + 1, 1), make_zxid(epoch + 1, 2)])
        packet = ProposalPacket(target, "t")
    else:
        candidates = list(pending) + [applied, logged + 1, applied - 1 if counter_of(applied) > 1 else applied]
        packet = Commit(rng.choice(candidates))
    return logged, applied, pending, packet, None, ""


def check_follower_step(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    cases = _follower_rows() + [_random_follower_case(rng) for _ in range(150)]
    for logged, applied, pending, packet, _documented, why in cases:
        view = FollowerLog(logged, applied, pending)
        want = follower_step(view, packet)
        got = fn(view, _txn_free(packet))
        call = f"follower_step({view}, {_txn_free(packet)})"
        if not isinstance(got, FollowerStep):
            return Outcome.fail(f"{call} must return a FollowerStep, got {got!r}")
        if _step_kind(got) != _step_kind(want):
            return Outcome.fail(f"{call} decided '{_step_kind(got)}'; a ZooKeeper follower would '{_step_kind(want)}'"
                                f"{': ' + why if why else ''}. {_rule_broken(got, want, packet)} "
                                "(Follower.processPacket)")
    return fuzz_with(Impl(follower_step=_follower_seam(fn)), "follower_step", seed)


def _rule_broken(got: FollowerStep, want: FollowerStep, packet: Any) -> str:
    """The rule a wrong step breaks, in the course's words."""
    if got.ack is not None and not got.log:
        return "An ACK promises the txn is on disk (持久化): a follower ACKs only a proposal it logs."
    if got.apply is not None and isinstance(packet, ProposalPacket):
        return "A follower may apply only on COMMIT: a proposal may never be committed (一致性)."
    if got.log and got.ack is None and want.ack is not None:
        return "Log, then ACK: the leader commits only what a quorum (过半) acknowledged."
    if want.give_up is not None and got.give_up is None:
        return ("A hole (空洞) in the history or a COMMIT out of order means this follower missed a txn: "
                "logging or applying past it breaks the order every server applies txns in; give up and resync.")
    if got.give_up is not None and want.give_up is None:
        return "Nothing is missing here; a duplicate is ignored, not a reason to leave the leader."
    if not _step_kind(want) == "ignore":
        return "Log, then ACK, each new proposal; apply exactly the next pending txn on its COMMIT."
    return "A packet already logged (PROPOSAL) or applied (COMMIT) is a duplicate: ignore it."


def fuzz_with(impl: Impl, name: str, seed: int) -> Outcome:
    """One fuzz case with ``impl`` in every server; a broken property names ``name``."""
    from distlab.sim.faults import describe
    from distlab.testing.fuzz import random_case, run_case

    rng = random.Random(f"lab7/{name}/{seed}")
    case = random_case(seed, servers=rng.choice((3, 3, 5)), observers=rng.choice((0, 1)), duration_ms=3000)
    try:
        result, _ = run_case(case, impl=impl, settle_ms=60_000)
    except ProcessError as error:
        outcome = _unwrap(error)
        return Outcome.fail(f"with your {name} an ensemble broke: {outcome.message}",
                            (outcome.excerpt + "\n" if outcome.excerpt else "") + f"replay the case: {case.replay_command()}")
    if result.violations:
        faults = ", ".join(f"{describe(f)} at {at} ms" for at, f in case.schedule.entries) or "no faults"
        return Outcome.fail(f"with your {name} in every server ({case.servers} voters, {case.observers} observer(s), "
                            f"{case.drop:.0%} loss; {faults}), a property broke: {result.violations[0]}",
                            f"replay the case: {case.replay_command()}")
    return Outcome.ok()


# ------------------------------------------------------------------ F: recover_history -----
def _labelled(log: tuple) -> tuple:
    return tuple(Proposal(p.zxid, f"txn {_fmt(p.zxid)}", p.cxid) for p in log)


def _recovery_seam(fn: Any) -> Any:
    def recover(log: Any, last_applied: int, current_epoch: int) -> tuple:
        mine = {p.zxid: p for p in log}
        chosen = fn(_labelled(tuple(log)), last_applied, current_epoch)
        if not isinstance(chosen, (tuple, list)):
            raise UsageError(f"recover_history must return a tuple of the log's Proposals, got {chosen!r}")
        # the server applies its own copy of each txn the learner chose (by zxid)
        return tuple(mine.get(getattr(p, "zxid", None), p) for p in chosen)

    return recover


def _recovery_rows() -> list[tuple]:
    z1, z2, z3 = (lambda c: make_zxid(1, c)), (lambda c: make_zxid(2, c)), (lambda c: make_zxid(3, c))
    P = lambda z: Proposal(z, "t")  # noqa: E731
    return [
        ((P(z1(1)), P(z1(2)), P(z1(3))), z1(1), 1, "the txns above the tree, oldest first"),
        ((P(z1(1)), P(z1(2))), z1(2), 1, "nothing newer than the tree: nothing to apply"),
        ((P(z1(1)), P(z1(2)), P(z2(1))), z1(1), 3, "a logged txn of an older epoch may have been committed by "
                                                     "that epoch's leader: keep it"),
        ((P(z1(5)), P(z2(1)), P(z2(2))), 0, 2, "a restart with an empty tree replays the whole log"),
        ((), 0, 0, "an empty log"),
        ((P(z2(3)), P(z2(4)), P(z3(1))), z2(2), 3, "the acknowledged tail (logged, never seen committed) is kept"),
    ]


def check_recover_history(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    cases = list(_recovery_rows())
    for _ in range(60):
        log, epoch, counter = [], rng.randint(1, 3), 0
        for _ in range(rng.randint(0, 8)):
            if rng.random() < 0.25:
                epoch, counter = epoch + 1, 0
            counter += 1
            log.append(Proposal(make_zxid(epoch, counter), "t"))
        cut = rng.randint(0, len(log))
        last_applied = log[cut - 1].zxid if cut else 0
        cases.append((tuple(log), last_applied, epoch + rng.randint(0, 1), ""))
    for log, last_applied, current_epoch, why in cases:
        want = [p.zxid for p in recover_history(log, last_applied, current_epoch)]
        got = fn(_labelled(log), last_applied, current_epoch)
        call = f"recover_history(log {[_fmt(p.zxid) for p in log]}, last_applied={_fmt(last_applied)}, " \
               f"current_epoch={current_epoch})"
        if not isinstance(got, (tuple, list)) or not all(isinstance(p, Proposal) for p in got):
            return Outcome.fail(f"{call} must return a tuple of the log's Proposals, got {got!r}")
        got_zxids = [p.zxid for p in got]
        if got_zxids != want:
            lost = [_fmt(z) for z in want if z not in got_zxids]
            return Outcome.fail(
                f"{call} returned {[_fmt(z) for z in got_zxids]}; ZooKeeper applies {[_fmt(z) for z in want]}"
                + (f" — dropping {lost} can lose a txn a quorum acknowledged and a client saw committed "
                   "(no committed txn lost, 持久性)" if lost else "")
                + f": {why or 'every logged txn above the tree, in zxid order'} (ZKDatabase.fastForwardDataBase)")
    return _committed_before_the_crash(fn, seed)


def _committed_before_the_crash(fn: Any, seed: int) -> Outcome:
    return committed_then_crash(Impl(recover_history=_recovery_seam(fn)), seed, "your recover_history")


def committed_then_crash(impl: Impl, seed: int, whose: str = "your recover_history") -> Outcome:
    """The leader commits a txn and answers the client, then dies before any COMMIT leaves: the
    followers only logged it. The next leader must recover it from its log."""
    from distlab.check.zab import check_zab
    from distlab.sim.ensemble import Ensemble
    from distlab.zk.errors import KeeperError
    from distlab.zk.ops import CreateRequest

    e = Ensemble(servers=3, seed=seed, impl=impl)
    try:
        leader = e.wait_for_leader()
        zk = e.client(servers=[leader], timeout_ms=60_000, name="writer")
        zk.create("/base", b"b")
        e.quiesce()
        before = e.peer(leader).tree.last_processed_zxid
        xid = zk.send_async(CreateRequest(path="/answered", data=b"committed"))
        if not e.world.run_until(lambda w: e.peer(leader).tree.last_processed_zxid > before, e.world.now + 5_000):
            return Outcome.fail("the leader never committed the write (before any crash)")
        for message in e.world.in_flight():  # the leader's answer goes out; its COMMITs never do
            if isinstance(message.msg, Commit):
                e.world.drop_message(message.msg_id, "the leader crashed before sending it")
        e.crash(leader)
        new = e.wait_for_leader()
        e.restart(leader)
        e.quiesce()
        e.record_final_state()
    except ProcessError as error:
        return _unwrap(error)
    except (TimeoutError, KeeperError) as error:
        return Outcome.fail(f"no committed txn lost (持久性) broken: with {whose} the servers' histories "
                            f"diverged after the leader crashed right after committing /answered, and the ensemble "
                            f"never served again ({error}). A recovering server must apply every txn it logged "
                            f"(seed {seed})")
    answered = zk.process.results.get(xid)
    missing = [sid for sid in e.servers if e.peer(sid).tree.exists("/answered") is None]
    if answered is None or not answered.ok:
        missing = []  # the client was not told it succeeded: either outcome is allowed
    problems = check_zab(e.world.trace)
    if missing or problems:
        return Outcome.fail(
            f"no committed txn lost (持久性) broken: the client was told /answered was created; then leader {leader} "
            f"crashed before any COMMIT left. Servers {e.servers} had all logged it; server {new} became leader. "
            + (f"/answered is missing on {missing}. " if missing else "")
            + (f"{problems[0]}. " if problems else "")
            + "A recovering server must apply every txn it logged, committed or not as far as it knows (seed "
              f"{seed})")
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
    Part(7, "follower_step", "The follower's side of broadcast", 4,
         "PROPOSAL: log, then ACK, the next zxid (a new epoch at counter 1), ignore a duplicate, give up on a "
         "hole; COMMIT: apply exactly the next pending txn, ignore a duplicate, give up otherwise "
         "(Follower.processPacket); as every follower's step, fuzzed runs break no property",
         check_follower_step),
    Part(7, "recover_history", "Recovering the acknowledged history", 3,
         "a recovering server applies every txn of its log above its tree, oldest first, the previous epoch's "
         "acknowledged proposals included (ZKDatabase.fastForwardDataBase); a txn committed just before the "
         "leader crashed survives", check_recover_history),
)
