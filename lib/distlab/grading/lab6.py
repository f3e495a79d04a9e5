"""Lab 6 — synchronisation (数据同步): how a new leader brings each learner in line.

Three parts, all against ``distlab.zab.sync`` (ZooKeeper's ``LearnerHandler.syncFollower`` /
``queueCommittedProposals`` and ``Learner.syncWithLeader``):

- ``queue_committed_proposals`` — the walk over a log that decides DIFF or TRUNC and queues
  PROPOSAL/COMMIT pairs;
- ``choose_sync_mode`` — the whole decision: DIFF, TRUNC+DIFF, TRUNC or SNAP. Checked on every
  ``LearnerHandlerTest`` row, on random histories, and then *inside running ensembles*: the
  learner's function is the leader's sync decision (``Impl(choose_sync_mode=...)``) while
  servers crash and restart; every run must converge with no Zab violation (durability:
  every committed txn on every server, the same tree everywhere);
- ``apply_sync_to_log`` — the learner's side: its history after the plan.

In an ensemble the leader's history holds ``distlab.zk`` txn objects, which do not cross the
sandbox boundary; the grader hands the learner's function the same history with each txn
replaced by a token (``"txn 0x1_00000003"``) and maps the tokens in the returned plan back.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any, Callable

from distlab.grading.parts import Outcome, Part, register, reraise_if_fatal
from distlab.sansio import UsageError
from distlab.sim.ensemble import Ensemble
from distlab.sim.faults import Crash, FaultSchedule, Restart
from distlab.sim.world import ProcessError
from distlab.zab.config import Impl
from distlab.zab.events import SyncPlanChosen
from distlab.zab.learner_sync import SyncStep, SyncView, sync_step
from distlab.zab.messages import Commit, Diff, Inform, NewLeader, Proposal, ProposalPacket, Snap, Trunc, UpToDate
from distlab.zab.sync import (
    LeaderHistory,
    SyncMode,
    SyncPlan,
    LearnerQueue,
    apply_sync_to_log,
    choose_sync_mode,
    describe_plan,
)
from distlab.zab.zxid import epoch_of, format_zxid, make_zxid as z
from distlab.zk.errors import KeeperError

_fmt = format_zxid


def txn(zxid: int) -> tuple:
    """The txn of a made-up history: derived from its zxid, so a packet's payload can be checked."""
    return ("txn", zxid)


def log(*zxids: int) -> tuple[Proposal, ...]:
    return tuple(Proposal(x, txn(x)) for x in zxids)


def history(committed=(), last=0, txn_log=(), sync=True, force=False) -> LeaderHistory:
    return LeaderHistory(log(*committed), last, log(*txn_log), sync, force)


F = 0xF
_NEW_EPOCH = dict(committed=(z(1, 1), z(1, 2)), last=z(2, 0), txn_log=(z(0, 1), z(1, 1), z(1, 2)))

# LearnerHandlerTest (reference notes 9.1) and the derived X rows: (name, peer, history)
ZK_SYNC_ROWS = [
    ("testEmptyCommittedLog E1", 3, history((), 1)),
    ("testEmptyCommittedLog E2", 1, history((), 1)),
    ("testEmptyCommittedLog E3", 0, history((), 1, sync=False)),
    ("testCommittedLog C1", 4, history((2, 3, 5), 6)),
    ("testCommittedLog C2", 2, history((2, 3, 5), 6)),
    ("testCommittedLog C3", 1, history((2, 3, 5), 6, sync=False)),
    ("testTxnLog T1", 4, history((6, 7, 8), 9, (2, 3, 5, 6, 7, 8, 9))),
    ("testTxnLog T2", 3, history((6, 7, 8), 9, (2, 3, 5, 6, 7, 8, 9))),
    ("testTxnLogProposalIteratorClosure", 4, history((), 7, ())),
    ("testTxnLogOnly O1", 4, history((), 7, (2, 3, 5, 6, 7, 8))),
    ("testTxnLogOnly O2", 2, history((), 7, (2, 3, 5, 6, 7, 8))),
    ("testTxnLogOnly O3", 1, history((), 7, (2, 3, 5, 6, 7, 8))),
    ("testTxnLogWithNegativeZxid N1", z(F, 4), history((z(F, 6), z(F, 7), z(F, 8)), z(F, 9),
                                                       tuple(z(F, c) for c in (2, 3, 5, 6, 7, 8, 9)))),
    ("testTxnLogWithNegativeZxid N2", z(F, 3), history((z(F, 6), z(F, 7), z(F, 8)), z(F, 9),
                                                       tuple(z(F, c) for c in (2, 3, 5, 6, 7, 8, 9)))),
    ("testNewEpochZxid P1", z(0, 0), history(**_NEW_EPOCH)),
    ("testNewEpochZxid P2", z(1, 0), history(**_NEW_EPOCH)),
    ("testNewEpochZxid P3", z(2, 0), history(**_NEW_EPOCH)),
    ("testDuplicatedTxn", z(1, 0), history((z(1, 1), z(1, 2), z(1, 1), z(1, 2)), z(2, 0),
                                           (z(0, 1), z(1, 1), z(1, 2), z(1, 1), z(1, 2)))),
    ("testCrossEpochTrunc", z(3, 1), history((), z(6, 0), (z(1, 1), z(2, 1), z(2, 2), z(4, 1)))),
    ("testTxnLogGap", 3, history((7, 8), 8, (2, 3, 4))),
    ("derived X1 (stale tail, post-lock fallback)", z(1, 3), history((z(1, 1), z(1, 2), z(2, 1)), z(2, 1))),
    ("derived X2 (peer is maxCommittedLog)", z(1, 2), history((z(1, 1), z(1, 2)), z(2, 0))),
    ("derived X3 (new-epoch peer ahead)", z(5, 0), history((z(1, 1), z(1, 2)), z(2, 0))),
    ("forceSnapshotSync", 2, history((2, 3, 5), 6, force=True)),
]


def _packets_text(packets) -> str:
    if not packets:
        return "[]"
    names = {Diff: "DIFF", Trunc: "TRUNC", ProposalPacket: "P", Commit: "C"}
    out = []
    for p in packets:
        name = names.get(type(p), type(p).__name__)
        out.append(f"{name} {_fmt(p.zxid)}" if hasattr(p, "zxid") else repr(p))
    return "[" + ", ".join(out) + "]"


def _log_text(proposals) -> str:
    return "[" + ", ".join(_fmt(p.zxid) for p in proposals) + "]"


def _history_text(h: LeaderHistory) -> str:
    parts = [f"committedLog {_log_text(h.committed_log)}", f"lastProcessedZxid {_fmt(h.last_processed_zxid)}"]
    if h.txn_log:
        parts.append(f"txn log {_log_text(h.txn_log)}")
    if not h.txn_log_sync_enabled:
        parts.append("txn-log sync disabled")
    if h.force_snap:
        parts.append("forceSnapshotSync")
    return ", ".join(parts)


# ------------------------------------------------------------------ random histories -------
def _epoch_log(runs) -> tuple[Proposal, ...]:
    return log(*(z(e, c) for e, count in runs for c in range(1, count + 1)))


def real_scenario(rng: random.Random) -> dict:
    """A leader's history (contiguous, one leader per epoch) and one learner (tests/zab/test_sync.py).

    Returns ``full`` (every txn the leader applied), ``leader`` (its LeaderHistory: a committed-log
    window, maybe a txn log), ``learner`` (its log: a prefix of ``full``, maybe with a tail the
    leader never saw) and ``peer`` (the zxid it reports).
    """
    epochs = sorted(rng.sample(range(1, 9), rng.randint(0, 4)))
    full = _epoch_log([(e, rng.randint(1, 4)) for e in epochs])
    last_epoch = epoch_of(full[-1].zxid) if full else 0
    if not full or rng.random() < 0.5:
        leader_epoch = rng.randint(last_epoch + (1 if full else 0), last_epoch + 2)
        last = z(leader_epoch, 0)
    else:
        leader_epoch, last = last_epoch, full[-1].zxid
    n = len(full)
    j = rng.randint(max(0, n - 2), n)
    i = rng.randint(0, j)
    txn_mode = rng.choice(("suffix", "none", "disabled"))
    txn_from = rng.randint(0, i) if txn_mode == "suffix" else None
    leader = LeaderHistory(full[i:j], last, full[txn_from:] if txn_from is not None else (), txn_mode != "disabled")
    kind = rng.choice(("prefix", "same-epoch-tail", "unseen-epoch-tail", "new-epoch-zxid"))
    m = rng.randint(0, n)
    learner = full[:m]
    if kind == "same-epoch-tail":
        ends = [k for k in range(1, n + 1) if (k == n or epoch_of(full[k].zxid) != epoch_of(full[k - 1].zxid))
                and epoch_of(full[k - 1].zxid) < leader_epoch]
        if ends:
            m = rng.choice(ends)
            e, c = epoch_of(full[m - 1].zxid), full[m - 1].zxid & 0xFFFFFFFF
            learner = full[:m] + tuple(Proposal(z(e, c + t), ("uncommitted", e, c + t))
                                       for t in range(1, rng.randint(1, 3) + 1))
        else:
            kind = "prefix"
    elif kind == "unseen-epoch-tail":
        lo = epoch_of(full[m - 1].zxid) if m else 0
        hi = epoch_of(full[m].zxid) if m < n else leader_epoch
        if hi - lo >= 2:
            f = rng.randint(lo + 1, hi - 1)
            learner = full[:m] + tuple(Proposal(z(f, t), ("uncommitted", f, t)) for t in range(1, rng.randint(1, 3) + 1))
        else:
            kind = "prefix"
    if kind == "new-epoch-zxid" and leader_epoch >= 1:
        e = rng.randint(1, leader_epoch)
        learner = tuple(p for p in full if epoch_of(p.zxid) < e)
        peer = z(e, 0)
    else:
        peer = learner[-1].zxid if learner else 0
    return {"full": full, "leader": leader, "learner": learner, "peer": peer}


def gapped_case(rng: random.Random) -> tuple[int, LeaderHistory]:
    """LearnerHandlerTest-style: arbitrary rising zxids (holes allowed) over a few epochs."""
    pool = sorted({z(rng.randint(0, 3), rng.randint(0, 9)) for _ in range(rng.randint(0, 14))} - {0})
    pool = [x for x in pool if x & 0xFFFFFFFF]
    k = len(pool)
    a = rng.randint(0, k)
    b = rng.randint(a, k)
    committed = pool[a:b]
    txn_log = pool[rng.randint(0, a):rng.randint(b, k)] if rng.random() < 0.6 else []
    last = max([*committed, *txn_log, 0])
    if rng.random() < 0.4:  # after an election the leader is at (e, 0) of its new epoch
        last = z(epoch_of(last) + 1, 0)
    if committed and rng.random() < 0.15:  # a duplicated committed log (testDuplicatedTxn)
        committed = committed + committed[: rng.randint(1, len(committed))]
        committed.sort()
    candidates = [0, last, *pool, *(x + 1 for x in pool), *(z(e, 0) for e in range(0, 5))]
    peer = rng.choice(candidates)
    return peer, history(tuple(committed), last, tuple(txn_log), rng.random() < 0.8, rng.random() < 0.05)


def _walk_case(rng: random.Random) -> tuple:
    """Inputs of one queueCommittedProposals call."""
    if rng.random() < 0.5:
        s = real_scenario(rng)
        h, peer = s["leader"], s["peer"]
    else:
        peer, h = gapped_case(rng)
    proposals = h.committed_log if (h.committed_log and rng.random() < 0.6) or not h.txn_log else h.txn_log
    zxids = [p.zxid for p in proposals]
    max_zxid = rng.choice((None, None, *(zxids[:4] or [None])))
    last_committed = zxids[-1] if zxids and rng.random() < 0.8 else h.last_processed_zxid
    return tuple(proposals), peer, max_zxid, last_committed, rng.random() < 0.85


def reference_walk(proposals, peer, max_zxid, last_committed, need_op) -> tuple[tuple, int, bool]:
    queue = LearnerQueue()
    queue.need_op = need_op
    queued = queue.queue_committed(proposals, peer, max_zxid, last_committed)
    return tuple(queue.packets), queued, queue.need_op


# ------------------------------------------------------------------ A: the walk ------------
def _zk_walk_rows() -> list[tuple]:
    return [
        (log(2, 3, 5), 4, None, 5, True),  # C1: TRUNC 3, then P5 C5
        (log(2, 3, 5), 2, None, 5, True),  # C2: DIFF 5 (maxCommittedLog), P3 C3, P5 C5
        (log(2, 3, 5, 6, 7, 8, 9), 4, 6, 8, True),  # T1, txn-log part: stops at minCommittedLog 6
        (log(6, 7, 8), 6, None, 8, False),  # T1, committed-log part: the op packet is already queued
        (log(z(1, 1), z(2, 1), z(2, 2), z(4, 1)), z(3, 1), z(6, 0), z(6, 0), True),  # cross-epoch: no TRUNC
        (log(z(1, 1), z(1, 2)), z(1, 0), None, z(1, 2), True),  # P2: a new-epoch peer gets DIFF, never TRUNC
        (log(z(1, 1), z(1, 2), z(1, 1), z(1, 2)), z(1, 0), None, z(1, 2), True),  # duplicates skipped
        (log(z(0, 1), z(1, 1), z(1, 2)), z(1, 0), None, z(1, 2), True),
        (log(z(1, 1), z(1, 2)), z(2, 0), None, z(1, 2), True),  # nothing newer: the closing empty DIFF
        (log(z(1, 1), z(1, 2)), z(1, 3), None, z(1, 2), True),  # nothing at or above a plain peer: no op
    ]


def _walk_args_text(proposals, peer, max_zxid, last_committed, need_op) -> str:
    return (f"queue_committed_proposals({_log_text(proposals)}, peer_last_zxid={_fmt(peer)}, "
            f"max_zxid={'None' if max_zxid is None else _fmt(max_zxid)}, last_committed={_fmt(last_committed)}, "
            f"need_op={need_op})")


def check_queue_committed_proposals(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    cases = _zk_walk_rows() + [_walk_case(rng) for _ in range(150)]
    for proposals, peer, max_zxid, last_committed, need_op in cases:
        want = reference_walk(proposals, peer, max_zxid, last_committed, need_op)
        got = fn(proposals, peer, max_zxid, last_committed, need_op)
        call = _walk_args_text(proposals, peer, max_zxid, last_committed, need_op)
        if type(got) is not tuple or len(got) != 3 or type(got[0]) is not tuple or type(got[1]) is not int \
                or type(got[2]) is not bool:
            return Outcome.fail(f"queue_committed_proposals must return (packets: tuple, queued_zxid: int, "
                                f"need_op: bool), got {got!r} for {call}")
        if got != want:
            what = ("the packets" if got[0] != want[0] else "the last queued zxid" if got[1] != want[1]
                    else "need_op")
            return Outcome.fail(
                f"{call} differs in {what}.\n  expected: {_packets_text(want[0])}, queued {_fmt(want[1])}, "
                f"need_op {want[2]}\n  got:      {_packets_text(got[0])}, queued {_fmt(got[1])}, need_op {got[2]}\n"
                "Rules (queueCommittedProposals): skip txns below the peer (remember the last as the TRUNC "
                "point) and above max_zxid; the first txn at or above the peer decides: equal -> DIFF("
                "last_committed); a new-epoch peer (counter 0) -> DIFF; larger, same epoch -> TRUNC(prev); "
                "larger, other epoch -> stop, queue nothing; then PROPOSAL+COMMIT each txn above the last "
                "queued (duplicates skipped)")
    return Outcome.ok()


# ------------------------------------------------------------------ B: the decision --------
def _same_plan(want: SyncPlan, got: Any) -> str | None:
    if type(got) is not SyncPlan:
        return f"it returned {type(got).__name__}, not a SyncPlan"
    for what, a, b in (("the mode", want.mode, got.mode), ("the packets", want.packets, got.packets),
                       ("forward_from", want.forward_from, got.forward_from),
                       ("trunc_zxid", want.trunc_zxid, got.trunc_zxid), ("snap_zxid", want.snap_zxid, got.snap_zxid)):
        if a != b:
            return what
    return None


def _plan_text(plan: Any) -> str:
    if type(plan) is not SyncPlan:
        return repr(plan)
    return f"{plan.mode.value} {_packets_text(plan.packets)}, forward from {_fmt(plan.forward_from)}"


_SYNC_RULES = ("Rules (LearnerHandler.syncFollower), first match wins: forceSnapshotSync -> SNAP; peer == "
               "lastProcessedZxid -> DIFF(peer) alone; peer above maxCommittedLog (not a new-epoch zxid) -> "
               "TRUNC(maxCommittedLog); peer inside the committed log -> walk it; peer below it with txn-log "
               "sync -> walk the txn log up to minCommittedLog, then the committed log (SNAP if the txn log "
               "cannot reach back, or leaves a gap); otherwise SNAP at lastProcessedZxid. A walk that queued "
               "no DIFF/TRUNC falls back to SNAP.")


def check_choose_sync_mode_pure(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    cases = [(name, peer, h) for name, peer, h in ZK_SYNC_ROWS]
    for n in range(120):
        if rng.random() < 0.5:
            s = real_scenario(rng)
            cases.append((f"random history {n}", s["peer"], s["leader"]))
        else:
            peer, h = gapped_case(rng)
            cases.append((f"random history {n}", peer, h))
    for name, peer, h in cases:
        want = choose_sync_mode(peer, h)
        got = fn(peer, h)
        differs = _same_plan(want, got)
        if differs:
            return Outcome.fail(
                f"{name}: learner at {_fmt(peer)}, leader with {_history_text(h)}; your plan differs in "
                f"{differs}.\n  expected: {_plan_text(want)} ({want.reason})\n  got:      {_plan_text(got)}\n"
                + _SYNC_RULES)
    return Outcome.ok()


class SeamFault(Exception):
    """The learner's plan cannot be used in the ensemble (wrong type, made-up txn)."""


def plain_history(h: LeaderHistory) -> tuple[LeaderHistory, dict]:
    """``h`` with every txn replaced by a token, and the token -> txn table."""
    table: dict[str, Any] = {}

    def plain(p: Proposal) -> Proposal:
        token = f"txn {_fmt(p.zxid)}"
        table[token] = p.txn
        return Proposal(p.zxid, token, p.cxid)

    return LeaderHistory(tuple(map(plain, h.committed_log)), h.last_processed_zxid, tuple(map(plain, h.txn_log)),
                         h.txn_log_sync_enabled, h.force_snap), table


def ensemble_seam(fn: Callable, record: list) -> Callable:
    """The learner's ``fn`` as the leader's sync decision; every call is recorded."""

    def choose(peer_last_zxid: int, h: LeaderHistory) -> SyncPlan:
        plain, table = plain_history(h)
        plan = fn(peer_last_zxid, plain)
        want = choose_sync_mode(peer_last_zxid, plain)
        record.append((peer_last_zxid, plain, want, plan))
        if type(plan) is not SyncPlan:
            raise SeamFault(f"choose_sync_mode returned {plan!r}, not a SyncPlan")
        packets = []
        for packet in plan.packets:
            if type(packet) is ProposalPacket:
                if packet.txn not in table:
                    raise SeamFault(f"the plan carries {packet!r}, a txn the leader's history does not hold")
                packet = ProposalPacket(packet.zxid, table[packet.txn], packet.cxid)
            packets.append(packet)
        return replace(plan, packets=tuple(packets))

    return choose


def _retrying(call: Callable[[], Any], attempts: int = 5) -> Any:
    """Retry a write after ConnectionLoss (kazoo's KazooRetry across a failover)."""
    from distlab.zk.errors import ConnectionLossError, NodeExistsError, OperationTimeoutError

    for attempt in range(attempts):
        try:
            return call()
        except NodeExistsError:
            return None  # an earlier attempt went through after all
        except (ConnectionLossError, OperationTimeoutError):
            if attempt == attempts - 1:
                raise


def _old_leader_story(e: Ensemble, rng: random.Random) -> None:
    """ZOOKEEPER-1154: the leader logs writes it cannot commit, is cut off, and comes back."""
    from distlab.zab.client import ApiCall
    from distlab.zk.ops import CreateRequest

    leader = e.wait_for_leader()
    others = [sid for sid in e.servers if sid != leader and sid in e.config.voters]
    main = e.client(servers=others, timeout_ms=40_000, name="main")
    for i in range(rng.randint(1, 4)):
        _retrying(lambda: main.create(f"/kept{i}", b"k"))
    e.client(servers=[leader], timeout_ms=40_000, name="lone")  # its writes reach only the old leader
    logged = len(e.peer(leader).log)
    for i in range(rng.randint(1, 3)):
        e.world.inject("lone", ApiCall(100 + i, CreateRequest(path=f"/lost{i}", data=b"never")))
    e.world.run_until(lambda w: len(e.peer(leader).log) > logged, e.world.now + 5_000)
    e.partition([leader, "lone"], [*[s for s in e.servers if s != leader], "main"])
    e.wait_for(lambda e: e.leader() in others, 60_000, "a new leader among the others")
    if rng.random() < 0.5:  # the new leader moves on: the old tail is now of an older epoch (SNAP)
        _retrying(lambda: main.create("/new-epoch", b"n"))
    if rng.random() < 0.5:  # and the old leader may crash and restart on its way back
        e.crash(leader)
        e.heal()
        e.restart(leader)
    else:
        e.heal()


def _lagging_follower_story(e: Ensemble, rng: random.Random) -> None:
    """A follower down while the others commit more than the committed log keeps (DIFF or SNAP)."""
    leader = e.wait_for_leader()
    zk = e.client(servers=[leader], timeout_ms=40_000)
    follower = rng.choice([sid for sid in e.servers if sid != leader])
    zk.create("/base", b"0")
    e.crash(follower)
    for i in range(rng.randint(1, 8)):
        zk.create(f"/n{i}", b"v")
    e.restart(follower)
    if rng.random() < 0.5:  # then the leader crashes too: the survivors sync with each other
        e.wait_for_leader()
        e.crash(leader)
        e.wait_for_leader()
        e.restart(leader)


def _crash_restart_story(e: Ensemble, rng: random.Random) -> None:
    """Writes with crashes and restarts scattered through them (a seeded schedule)."""
    e.wait_for_leader()
    zk = e.client(timeout_ms=40_000)
    entries = []
    t = e.world.now
    for _ in range(rng.randint(1, 3)):
        sid = rng.choice(e.servers)
        down = t + rng.randint(100, 3000)
        entries += [(down, Crash(sid)), (down + rng.randint(500, 3000), Restart(sid))]
    FaultSchedule(entries).install(e.world)
    for i in range(rng.randint(3, 10)):
        try:
            zk.create(f"/w{i}", b"v")
        except KeeperError:  # ConnectionLoss while a leader is down: the outcome is unknown, move on
            pass
        e.run(rng.randint(50, 800))
    e.run(8000)


STORIES = {"old leader with an uncommitted tail (ZOOKEEPER-1154)": _old_leader_story,
           "a follower that missed writes": _lagging_follower_story,
           "crashes and restarts during writes": _crash_restart_story}


def ensemble_run(fn: Callable, seed: int, story: str, **impl: Any) -> tuple[Outcome, Ensemble | None, list]:
    """Run one seeded story with ``fn`` as the sync decision (and ``impl``'s other seams);
    check convergence and Zab safety."""
    from distlab.check.zab import check_zab
    from distlab.grading.sandbox import LearnerError

    rng = random.Random(f"lab6/ensemble/{seed}/{story}")
    config = {"committed_log_size": rng.choice((2, 3, 500)), "txn_log_sync": rng.random() < 0.6}
    if rng.random() < 0.3:
        config["snap_count"] = rng.randint(3, 6)
    servers = rng.choice((3, 3, 5))
    record: list = []
    where = (f"(seed {seed}, story: {story}; {servers} servers, committed_log_size={config['committed_log_size']}, "
             f"txn_log_sync={config['txn_log_sync']}{', snap_count=' + str(config['snap_count']) if 'snap_count' in config else ''})")
    e = Ensemble(servers, seed=seed, impl=Impl(choose_sync_mode=ensemble_seam(fn, record), **impl), **config)
    try:
        STORIES[story](e, rng)
        e.heal()
        for sid in e.servers:
            if not e.is_up(sid):
                e.restart(sid)
        e.quiesce(max_ms=120_000)
    except ProcessError as error:
        cause = error.__cause__
        reraise_if_fatal(cause)
        if isinstance(cause, SeamFault):
            return Outcome.fail(f"{cause} {where}"), e, record
        if isinstance(cause, LearnerError):
            return Outcome.fail(f"your code raised {cause.message} while leader {error.node} synced a learner "
                                f"{where}", cause.detail), e, record
        return Outcome.fail(f"the ensemble broke at t={error.time} ms: {cause} {where}"
                            + _first_mismatch(record), _sync_notes(e)), e, record
    except Exception as error:  # no leader, a client call that never returned, ...
        return Outcome.fail(f"the ensemble did not recover: {error} {where}" + _first_mismatch(record),
                            _sync_notes(e)), e, record
    e.record_final_state()
    violations = check_zab(e.world.trace)
    if violations:
        return Outcome.fail(f"Zab safety broke with your sync decisions: {violations[0]} {where}"
                            + _first_mismatch(record), _sync_notes(e)), e, record
    mismatch = _first_mismatch(record)
    if mismatch:
        return Outcome.fail(f"the ensemble recovered, but a sync decision differed from ZooKeeper's {where}"
                            + mismatch, _sync_notes(e)), e, record
    return Outcome.ok(), e, record


def _first_mismatch(record: list) -> str:
    for peer, h, want, got in record:
        differs = _same_plan(want, got)
        if differs:
            return (f"\nA sync decision in the run: learner at {_fmt(peer)}, leader with {_history_text(h)}.\n"
                    f"  ZooKeeper: {_plan_text(want)} ({want.reason})\n  yours:     {_plan_text(got)}")
    return ""


def _sync_notes(e: Ensemble, lines: int = 6) -> str:
    notes = [f"t={r.time} {r.text}" for r in e.world.trace if r.kind == "note" and type(r.event) is SyncPlanChosen]
    return "\n".join(notes[-lines:])


def check_choose_sync_mode(fn: Any, seed: int) -> Outcome:
    outcome = check_choose_sync_mode_pure(fn, seed)
    if not outcome.passed:
        return outcome
    for story in STORIES:
        outcome, _, _ = ensemble_run(fn, seed, story)
        if not outcome.passed:
            return outcome
    return Outcome.ok()


# ------------------------------------------------------------------ C: the learner side ----
def _apply_rows() -> list[tuple]:
    e1 = _epoch_log([(1, 3), (2, 2)])
    old = _epoch_log([(1, 5)])
    return [
        (_epoch_log([(1, 2)]), choose_sync_mode(z(1, 2), LeaderHistory(e1, z(2, 2))), e1),  # DIFF
        (old, choose_sync_mode(z(1, 5), LeaderHistory(_epoch_log([(1, 3)]), z(2, 0))), _epoch_log([(1, 3)])),  # TRUNC
        (old, choose_sync_mode(z(1, 5), LeaderHistory(e1, z(2, 2))), e1),  # SNAP: cross-epoch divergence
        (old, SyncPlan(SyncMode.TRUNC_DIFF, (Trunc(z(1, 3)), ProposalPacket(z(2, 1), txn(z(2, 1))), Commit(z(2, 1)),
                                            ProposalPacket(z(2, 2), txn(z(2, 2))), Commit(z(2, 2))),
                       z(1, 3), z(1, 3), None, "TRUNC+DIFF: the 3.4-era plan of ZOOKEEPER-1154"), e1),
        (_epoch_log([(1, 2)]), SyncPlan(SyncMode.DIFF, (Diff(z(1, 3)), ProposalPacket(z(1, 2), txn(z(1, 2))),
                                                        Commit(z(1, 2)), ProposalPacket(z(1, 3), txn(z(1, 3))),
                                                        Commit(z(1, 3))), z(1, 3), None, None,
                                        "DIFF: a txn the learner holds already is skipped"), ()),
        (_epoch_log([(1, 5)]), SyncPlan(SyncMode.SNAP, (), z(2, 1), None, z(2, 1), "SNAP: hand-made"), e1),
        (_epoch_log([(1, 2)]), choose_sync_mode(z(1, 2), LeaderHistory(_epoch_log([(1, 2)]), z(1, 2))), ()),
        ((), SyncPlan(SyncMode.SNAP, (), z(2, 0), None, z(2, 0), "SNAP: an empty leader"), ()),
    ]


def check_apply_sync_to_log(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    cases = _apply_rows()
    while len(cases) < 150:
        s = real_scenario(rng)
        plan = choose_sync_mode(s["peer"], s["leader"])
        cases.append((s["learner"], plan, s["full"]))
    for learner, plan, leader in cases:
        try:
            want = apply_sync_to_log(learner, plan, leader)
        except UsageError:
            continue
        got = fn(learner, plan, leader)
        if type(got) is not tuple or not all(type(p) is Proposal for p in got):
            return Outcome.fail(f"apply_sync_to_log must return a tuple of Proposal, got {got!r}")
        if got != want:
            return Outcome.fail(
                f"a learner with log {_log_text(learner)} applies {describe_plan(plan)} (leader's history "
                f"{_log_text(leader)}):\n  expected {_log_text(want)}\n  got      {_log_text(got)}"
                + ("" if [p.zxid for p in got] != [p.zxid for p in want] else " (same zxids, other txns)")
                + "\nRules (Learner.syncWithLeader): TRUNC drops every txn above trunc_zxid; DIFF then appends "
                "the carried txns the learner lacks; SNAP replaces the history with the leader's up to "
                "snap_zxid")
    return Outcome.ok()


# ------------------------------------------------------------------ D: sync_step -----------
def _sync_packet_view(packet: Any) -> Any:
    """The packet as the learner's function sees it: txns as labels, no snapshot bytes (it
    needs neither, and only plain data crosses into the grader's sandbox)."""
    if isinstance(packet, ProposalPacket):
        return ProposalPacket(packet.zxid, f"txn {_fmt(packet.zxid)}", packet.cxid)
    if isinstance(packet, Inform):
        return Inform(packet.zxid, f"txn {_fmt(packet.zxid)}", packet.cxid)
    if isinstance(packet, Snap):
        return Snap(packet.zxid, b"")
    return packet


def _sync_seam(fn: Any) -> Any:
    def sync_step(view: SyncView, packet: Any) -> SyncStep:
        return fn(view, _sync_packet_view(packet))

    return sync_step


def _step_shape(step: SyncStep) -> tuple:
    return (step.mode, step.queue, step.commit, tuple(step.log), tuple(step.apply), tuple(step.ack), step.serve,
            step.give_up is not None)


def _step_text(step: SyncStep) -> str:
    if step.give_up is not None:
        return "give up"
    parts = [f"mode {step.mode}" if step.mode else "", "queue" if step.queue else "",
             f"commit {_fmt(step.commit)}" if step.commit is not None else "",
             f"log {[_fmt(z) for z in step.log]}" if step.log else "",
             f"apply {[_fmt(z) for z in step.apply]}" if step.apply else "",
             f"ACK {[_fmt(z) for z in step.ack]}" if step.ack else "", "serve" if step.serve else ""]
    return ", ".join(p for p in parts if p) or "ignore"


# (view, packet, why) — Learner.syncWithLeader's cases and Zab1_0Test's conversations
def _sync_rows() -> list[tuple]:
    e1, e2 = (lambda c: z(1, c)), (lambda c: z(2, c))
    V = SyncView
    return [
        (V(None, e1(3), e1(3), new_epoch=2), Diff(e1(3)), "the first packet names the mode: DIFF keeps the log"),
        (V(None, e1(5), e1(5), new_epoch=2), Trunc(e1(3)), "TRUNC cuts the log back to the packet's zxid"),
        (V(None, 0, 0, new_epoch=2), Snap(e1(9), b""), "SNAP loads the leader's snapshot"),
        (V(None, e1(3), e1(3), new_epoch=2), ProposalPacket(e1(4), "t"),
         "a sync must begin with DIFF, TRUNC or SNAP: anything else is an unexpected packet"),
        (V(None, e1(3), e1(3), new_epoch=2), NewLeader(z(2, 0)), "NEWLEADER before the mode: unexpected"),
        (V("DIFF", e1(3), e1(3), new_epoch=2), ProposalPacket(e1(4), "t"), "queue what the learner lacks"),
        (V("DIFF", e1(3), e1(3), (e1(4),), last_queued=e1(4), new_epoch=2), ProposalPacket(e1(4), "t"),
         "a duplicate of a queued proposal is ignored"),
        (V("DIFF", e1(3), e1(3), (e1(4),), last_queued=e1(4), new_epoch=2), ProposalPacket(e1(6), "t"),
         "a hole (空洞) inside an epoch: 0x1_00000005 is missing"),
        (V("SNAP", e1(1), e1(1), new_epoch=2), ProposalPacket(e1(1000), "t"),
         "the first proposal of the stream is taken whatever precedes it (Zab1_0Test.testNormalFollowerRun)"),
        (V("DIFF", e1(3), e1(3), (e1(4),), last_queued=e1(4), new_epoch=3), ProposalPacket(e2(1), "t"),
         "a jump to a new epoch is accepted"),
        (V("DIFF", e1(3), e1(3), (e1(4), e1(5)), last_queued=e1(5), new_epoch=2), Commit(e1(4)),
         "COMMIT of the next uncommitted queued proposal"),
        (V("DIFF", e1(3), e1(3), (e1(4), e1(5)), last_queued=e1(5), new_epoch=2), Commit(e1(5)),
         "COMMIT out of order: 0x1_00000004 is not committed yet"),
        (V("DIFF", e1(3), e1(3), (e1(4),), (e1(4),), last_queued=e1(4), new_epoch=2), Commit(e1(4)),
         "a duplicate COMMIT is ignored"),
        (V("DIFF", e1(3), e1(3), (e1(4), e1(5), e1(6)), (e1(4), e1(5)), last_queued=e1(6), new_epoch=2),
         NewLeader(z(2, 0)), "NEWLEADER: log and apply the committed proposals, then ACK (ZOOKEEPER-3911)"),
        (V("DIFF", e1(3), e1(3), (e1(4),), (e1(4),), last_queued=e1(4), new_epoch=2), NewLeader(z(3, 0)),
         "NEWLEADER of another epoch than LEADERINFO's"),
        (V("DIFF", e1(6), e1(5), (e1(7), e2(1)), (e1(7),), last_queued=e2(1), new_epoch=2, acked=True), UpToDate(),
         "UPTODATE: ACK it, log and ACK every queued proposal, apply the committed ones, serve"),
        (V("DIFF", e1(3), e1(3), (e1(4),), (e1(4),), last_queued=e1(4), new_epoch=2, acked=True, observer=True),
         UpToDate(), "an observer ACKs UPTODATE but never a proposal"),
        (V("DIFF", e1(3), e1(3), new_epoch=2, observer=True), Inform(e1(4), "t"),
         "an INFORM is queued and committed at once"),
        (V("DIFF", e1(3), e1(3), (e1(4),), (e1(4),), last_queued=e1(4), new_epoch=2, acked=True),
         NewLeader(z(2, 0)), "a second NEWLEADER changes nothing"),
    ]


def check_sync_step(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    rows = _sync_rows()
    rng.shuffle(rows)  # the seed decides the order; every row is always checked
    for view, packet, why in rows:
        want = sync_step(view, packet)
        got = fn(view, _sync_packet_view(packet))
        call = f"sync_step({view}, {_sync_packet_view(packet)})"
        if not isinstance(got, SyncStep):
            return Outcome.fail(f"{call} must return a SyncStep, got {got!r}")
        if _step_shape(got) != _step_shape(want):
            return Outcome.fail(f"{call} decided '{_step_text(got)}'; a ZooKeeper learner would '{_step_text(want)}': "
                                f"{why}. {_sync_rule_broken(got, want, packet)} (Learner.syncWithLeader)")
    from distlab.grading.lab7 import fuzz_with

    outcome = fuzz_with(Impl(sync_step=_sync_seam(fn)), "sync_step", seed)
    if outcome.passed is not True:
        return outcome
    return _sync_stories(fn, seed)


def _sync_rule_broken(got: SyncStep, want: SyncStep, packet: Any) -> str:
    if isinstance(packet, NewLeader) and got.ack and not got.log and want.log:
        return ("An ACK of NEWLEADER promises the committed txns are logged (持久化): log and apply them first, "
                "or a quorum may count a learner that loses them in a crash.")
    if set(got.apply) - set(want.apply):
        return "Only committed proposals are applied (一致性): a proposal may still be dropped by the next epoch."
    if isinstance(packet, UpToDate) and len(got.ack) < len(want.ack):
        return "The proposals that came after NEWLEADER are ACKed at UPTODATE: without those ACKs they never commit."
    if want.give_up is not None and got.give_up is None:
        return "Something is missing or out of place in the leader's stream: give up and resync."
    if got.give_up is not None and want.give_up is None:
        return "Nothing is wrong here; giving up would only restart the sync."
    return "Follow the rules of the sync stream in order."


def _sync_stories(fn: Any, seed: int) -> Outcome:
    """Part B's sync stories (TRUNC of an old leader's tail, DIFF of a lagging follower, SNAP,
    restarts), with the reference's sync decision and the learner's sync side."""
    for story in STORIES:
        outcome, _, _ = ensemble_run(choose_sync_mode, seed, story, sync_step=_sync_seam(fn))
        if outcome.passed is not True:
            return Outcome.fail(f"with your sync_step in every learner, {outcome.message}", outcome.excerpt)
    return Outcome.ok()


register(
    6, "Synchronisation", "lab6-sync.ipynb",
    Part(6, "queue_committed_proposals", "Walking a log", 3,
         "the first txn at or above the learner's zxid decides DIFF or TRUNC (never across an epoch); "
         "each txn above it is queued once as PROPOSAL + COMMIT (LearnerHandler.queueCommittedProposals)",
         check_queue_committed_proposals),
    Part(6, "choose_sync_mode", "Choosing DIFF, TRUNC+DIFF, TRUNC or SNAP", 4,
         "the plan equals LearnerHandler.syncFollower's on every LearnerHandlerTest row and random "
         "histories; as the leader's decision in a running ensemble with crashes, every run converges "
         "with no committed txn lost", check_choose_sync_mode, uses=("queue_committed_proposals",)),
    Part(6, "apply_sync_to_log", "Applying the plan", 3,
         "the learner's history after TRUNC, DIFF, TRUNC+DIFF or SNAP is the leader's up to the sync "
         "point (Learner.syncWithLeader)", check_apply_sync_to_log),
    Part(6, "sync_step", "The learner's side of synchronisation", 4,
         "the first packet names the mode; proposals are queued without holes, commits in order; at NEWLEADER "
         "the committed ones are logged and applied before the ACK; at UPTODATE every queued one is logged and "
         "ACKed and the committed applied (Learner.syncWithLeader); as every learner's sync, fuzzed runs "
         "break no property", check_sync_step),
)
