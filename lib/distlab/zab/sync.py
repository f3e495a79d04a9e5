"""Synchronisation: how a new leader brings one learner's history in line with its own.

Rule from ``server/quorum/LearnerHandler.java`` (``syncFollower`` and
``queueCommittedProposals``, 3.5+ through master, shaped by ZOOKEEPER-1154 and ZOOKEEPER-1413).
When a learner registers it reports ``peerLastZxid``, the last zxid in its log. The leader
answers with one of four plans and queues it *before* NEWLEADER:

- **DIFF** — ``DIFF(maxCommittedLog)`` then a PROPOSAL/COMMIT pair per committed txn the learner
  lacks (or a lone ``DIFF(peerLastZxid)`` when the learner is already in sync);
- **TRUNC** — ``TRUNC(maxCommittedLog)`` alone: the learner holds txns the leader never committed;
- **TRUNC+DIFF** — ``TRUNC(z)`` followed directly by PROPOSAL/COMMIT pairs (no DIFF packet on
  the wire), ``z`` being the largest leader zxid below the learner's;
- **SNAP** — the whole data tree at the leader's ``lastProcessedZxid``; nothing else is queued.

Theory of operation (``choose_sync_mode``), first match wins:

1. ``forceSnapshotSync`` (tests only) -> SNAP.
2. The learner is at the leader's lastProcessedZxid -> an empty DIFF carrying that zxid.
3. The learner is above maxCommittedLog (and not on a new-epoch zxid ``(e, 0)``) -> TRUNC to
   maxCommittedLog.
4. The learner is inside the committed log -> walk it (``queueCommittedProposals``): DIFF if
   the learner's zxid is there (or is a new-epoch zxid), TRUNC+DIFF if a *later zxid of the same
   epoch* is, SNAP if the first later zxid is of another epoch (TRUNC never crosses an epoch).
5. The learner is older than the committed log and txn-log sync is on -> walk the on-disk txn
   log up to minCommittedLog, then the committed log; SNAP if the txn log does not reach back to
   the learner or does not reach forward to the committed log (a gap).
6. Anything else -> SNAP.

The leader then calls ``startForwarding(learner, forward_from)``: every proposal and commit
above ``forward_from`` reaches the learner through the ordinary broadcast queue, so a plan only
has to cover the history up to ``forward_from`` (up to ``snap_zxid`` for SNAP).

Caveats:

- In a real history zxids are contiguous within an epoch and a zxid names one txn (one leader
  per epoch). Then TRUNC+DIFF cannot happen: if the leader has a later zxid of the learner's
  epoch, it also has the learner's zxid. ZOOKEEPER-1154's old leader with an uncommitted tail
  gets TRUNC (case 3) while the new leader has no newer txns, and SNAP (cross-epoch) once it
  has. TRUNC+DIFF fires only on histories with holes, such as ``LearnerHandlerTest``'s
  ``[2, 3, 5]`` or a ZOOKEEPER-4925 hole, and a current learner rejects the result
  (:func:`apply_sync_to_log` raises).
- ``getProposalsFromTxnLog`` is modelled as ``LearnerHandlerTest``'s mock does it: the whole txn
  log if it starts at or below the learner's zxid, else nothing. The size limit
  (``snapshotSizeFactor``) is reduced to on/off.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from distlab.sansio import UsageError
from distlab.zab.messages import Commit, Diff, Proposal, ProposalPacket, Trunc
from distlab.zab.zxid import epoch_of, format_zxid, is_new_epoch_zxid

__all__ = [
    "SyncMode",
    "LeaderHistory",
    "SyncPlan",
    "ChooseSyncMode",
    "choose_sync_mode",
    "apply_sync_to_log",
    "describe_plan",
    "LearnerQueue",
]

_fmt = format_zxid


class SyncMode(enum.Enum):
    """How a learner is synchronised; the value is how ZooKeeper's logs name it."""

    DIFF = "DIFF"
    TRUNC_DIFF = "TRUNC+DIFF"
    TRUNC = "TRUNC"
    SNAP = "SNAP"


# --------------------------------------------------------------------------- validation ---
def _check_zxid(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise UsageError(f"{name} must be a zxid (an int in [0, 2**63)), got {value!r}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise UsageError(f"{name} must be a bool, got {value!r}")


def _as_proposals(name: str, value: Any, allow_repeats: bool) -> tuple[Proposal, ...]:
    """Check a log: a tuple or list of Proposals in zxid order.

    With ``allow_repeats`` a zxid may reappear if it was already listed earlier (the
    duplicated log of ``LearnerHandlerTest.testDuplicatedTxn``, which the walk skips); any other
    step backwards is disorder.
    """
    if not isinstance(value, (tuple, list)):
        raise UsageError(f"{name} must be a tuple of Proposal, got {type(value).__name__}")
    seen: set[int] = set()
    top = -1
    for index, entry in enumerate(value):
        if not isinstance(entry, Proposal):
            raise UsageError(f"{name}[{index}] must be a Proposal, got {entry!r}")
        zxid = entry.zxid
        if zxid > top:
            top = zxid
        elif not (allow_repeats and zxid in seen):
            order = "sorted by zxid" if allow_repeats else "in strictly rising zxid order"
            raise UsageError(
                f"{name} must be {order}: entry {index} has {_fmt(zxid)} after {_fmt(top)}"
                + (" (a zxid may only repeat one listed earlier)" if allow_repeats else ""))
        seen.add(zxid)
    return tuple(value)


# --------------------------------------------------------------------------- data ---------
@dataclass(frozen=True)
class LeaderHistory:
    """What the leader knows when a learner registers (``ZKDatabase`` under its log read lock).

    - ``committed_log``: the in-memory ``committedLog`` (the last ~500 committed proposals), in
      zxid order; its first and last zxids are minCommittedLog and maxCommittedLog. May be empty.
    - ``last_processed_zxid``: the DataTree's lastProcessedZxid; after an election it is the new
      epoch's ``(e, 0)``. The committed log may lag behind it, never run ahead of it.
    - ``txn_log``: the on-disk txn log the leader can still read (older and longer).
    - ``txn_log_sync_enabled``: ``snapshotSizeFactor >= 0``.
    - ``force_snap``: the ``zookeeper.forceSnapshotSync`` system property (tests only).

    Lists are accepted and stored as tuples.
    """

    committed_log: tuple[Proposal, ...]
    last_processed_zxid: int
    txn_log: tuple[Proposal, ...] = ()
    txn_log_sync_enabled: bool = True
    force_snap: bool = False

    def __post_init__(self) -> None:
        committed = _as_proposals("LeaderHistory.committed_log", self.committed_log, allow_repeats=True)
        txn_log = _as_proposals("LeaderHistory.txn_log", self.txn_log, allow_repeats=True)
        object.__setattr__(self, "committed_log", committed)
        object.__setattr__(self, "txn_log", txn_log)
        _check_zxid("LeaderHistory.last_processed_zxid", self.last_processed_zxid)
        _check_bool("LeaderHistory.txn_log_sync_enabled", self.txn_log_sync_enabled)
        _check_bool("LeaderHistory.force_snap", self.force_snap)
        if committed:
            newest = max(p.zxid for p in committed)
            if newest > self.last_processed_zxid:
                raise UsageError(
                    f"LeaderHistory.committed_log reaches {_fmt(newest)}, above last_processed_zxid "
                    f"{_fmt(self.last_processed_zxid)}: a txn enters the committedLog only after the "
                    "DataTree has applied it")


_PACKET_TYPES = (Diff, Trunc, ProposalPacket, Commit)


@dataclass(frozen=True)
class SyncPlan:
    """The leader's answer to one learner, as ``LearnerHandler.syncFollower`` leaves it.

    - ``mode``: :class:`SyncMode`;
    - ``packets``: the queued packets in order (``Diff``/``Trunc``, then ``ProposalPacket`` +
      ``Commit`` pairs); ``()`` for SNAP, whose snapshot is written straight to the socket;
    - ``forward_from``: the zxid passed to ``leader.startForwarding``: everything above it
      reaches the learner through broadcast;
    - ``trunc_zxid``: the TRUNC packet's zxid (TRUNC and TRUNC+DIFF), else None;
    - ``snap_zxid``: the leader's lastProcessedZxid (SNAP), else None;
    - ``reason``: one plain-English line, starting with the mode, saying why.

    A plan checks its own shape on construction, so a hand-written seam that returns, say, a
    PROPOSAL without its COMMIT fails where the plan is made.
    """

    mode: SyncMode
    packets: tuple
    forward_from: int
    trunc_zxid: int | None
    snap_zxid: int | None
    reason: str

    def __post_init__(self) -> None:
        if not isinstance(self.mode, SyncMode):
            raise UsageError(f"SyncPlan.mode must be a SyncMode, got {self.mode!r}")
        if not isinstance(self.packets, (tuple, list)):
            raise UsageError(f"SyncPlan.packets must be a tuple of packets, got {self.packets!r}")
        packets = tuple(self.packets)
        object.__setattr__(self, "packets", packets)
        _check_zxid("SyncPlan.forward_from", self.forward_from)
        if not isinstance(self.reason, str) or not self.reason.strip() or "\n" in self.reason:
            raise UsageError(f"SyncPlan.reason must be one non-empty line, got {self.reason!r}")
        for index, packet in enumerate(packets):
            if not isinstance(packet, _PACKET_TYPES):
                raise UsageError(f"SyncPlan.packets[{index}] must be Diff, Trunc, ProposalPacket or "
                                 f"Commit, got {packet!r}")
            _check_zxid(f"SyncPlan.packets[{index}].zxid", packet.zxid)
        mode = self.mode
        wants_trunc = mode in (SyncMode.TRUNC, SyncMode.TRUNC_DIFF)
        if wants_trunc:
            _check_zxid("SyncPlan.trunc_zxid", self.trunc_zxid)
        elif self.trunc_zxid is not None:
            raise UsageError(f"SyncPlan.trunc_zxid must be None for {mode.value}, got {self.trunc_zxid!r}")
        if mode is SyncMode.SNAP:
            _check_zxid("SyncPlan.snap_zxid", self.snap_zxid)
            if packets:
                raise UsageError(f"a SNAP plan queues no packets, got {len(packets)}")
            return
        if self.snap_zxid is not None:
            raise UsageError(f"SyncPlan.snap_zxid must be None for {mode.value}, got {self.snap_zxid!r}")
        op = packets[0] if packets else None
        if mode is SyncMode.DIFF and not isinstance(op, Diff):
            raise UsageError(f"a DIFF plan starts with a Diff packet, got {op!r}")
        if wants_trunc:
            if not isinstance(op, Trunc):
                raise UsageError(f"a {mode.value} plan starts with a Trunc packet, got {op!r}")
            if op.zxid != self.trunc_zxid:
                raise UsageError(f"SyncPlan.trunc_zxid {_fmt(self.trunc_zxid)} differs from the Trunc "
                                 f"packet's {_fmt(op.zxid)}")
        if mode is SyncMode.TRUNC and len(packets) != 1:
            raise UsageError(f"a TRUNC plan is the Trunc packet alone, got {len(packets)} packets")
        if mode is SyncMode.TRUNC_DIFF and len(packets) < 3:
            raise UsageError("a TRUNC+DIFF plan is a Trunc packet followed by PROPOSAL/COMMIT pairs")
        body = packets[1:]
        if len(body) % 2:
            raise UsageError(f"after the {type(op).__name__} packet come PROPOSAL/COMMIT pairs; "
                             f"{len(body)} packets cannot be pairs")
        previous = -1
        for index in range(0, len(body), 2):
            proposal, commit = body[index], body[index + 1]
            if not isinstance(proposal, ProposalPacket) or not isinstance(commit, Commit) \
                    or commit.zxid != proposal.zxid:
                raise UsageError(f"SyncPlan.packets[{index + 1}:{index + 3}] must be ProposalPacket(z) "
                                 f"then Commit(z), got {proposal!r}, {commit!r}")
            if proposal.zxid <= previous:
                raise UsageError(f"SyncPlan proposals must rise: {_fmt(proposal.zxid)} after {_fmt(previous)}")
            previous = proposal.zxid

    def proposals(self) -> tuple[Proposal, ...]:
        """The txns this plan carries, in order (with the client's ``cxid``)."""
        return tuple(Proposal(p.zxid, p.txn, p.cxid) for p in self.packets if isinstance(p, ProposalPacket))


class ChooseSyncMode(Protocol):
    """The Lab 6 seam: the leader's sync decision for one learner (see :func:`choose_sync_mode`)."""

    def __call__(self, peer_last_zxid: int, history: LeaderHistory) -> SyncPlan: ...


# --------------------------------------------------------------------------- leader side --
class LearnerQueue:
    """The slice of one ``LearnerHandler`` that ``syncFollower`` touches.

    ``packets`` is ``queuedPackets``; ``need_op`` is ``needOpPacket`` ("no DIFF/TRUNC queued
    yet"), an instance field in ZooKeeper, so it carries over from the txn-log walk to the
    committed-log walk. ``op`` and ``cross_epoch`` only record why, for the plan's reason.
    """

    def __init__(self) -> None:
        self.packets: list = []
        self.need_op = True
        self.op = ""  # "found" | "new-epoch" | "trunc"
        self.cross_epoch: int | None = None  # the other-epoch zxid that refused a TRUNC

    def queue_committed(self, proposals: Sequence[Proposal], peer: int, max_zxid: int | None,
                        last_committed: int) -> int:
        """``queueCommittedProposals``: queue the txns in ``(peer, max_zxid]``; return the last queued."""
        new_epoch_peer = is_new_epoch_zxid(peer)
        queued = peer
        prev = -1  # the largest zxid below the peer's: where a TRUNC would cut
        for proposal in proposals:
            zxid = proposal.zxid
            if max_zxid is not None and zxid > max_zxid:
                break
            if zxid < peer:  # the learner has it already
                prev = zxid
                continue
            if self.need_op:  # the first txn at or above the peer's zxid decides DIFF or TRUNC
                if zxid == peer:  # the learner's last txn is in our history: plain DIFF
                    self._queue_op(Diff(last_committed), "found")
                    continue
                if new_epoch_peer:  # (e, 0) is never in any log, so never truncate to find it
                    self._queue_op(Diff(last_committed), "new-epoch")
                else:  # zxid > peer: the learner holds a txn we never had (an old leader's tail)
                    if epoch_of(zxid) != epoch_of(peer):
                        self.cross_epoch = zxid  # a TRUNC across an epoch would crash the learner
                        return queued
                    self._queue_op(Trunc(prev), "trunc")
            if zxid <= queued:  # a duplicate, or the learner's own zxid
                continue
            self.packets.append(ProposalPacket(zxid, proposal.txn, proposal.cxid))
            self.packets.append(Commit(zxid))
            queued = zxid
        if self.need_op and new_epoch_peer:  # nothing newer than the learner's epoch: empty DIFF
            # (Kept for fidelity. Since the txn-log gap check of ZOOKEEPER-2418 it changes no
            # plan: a walk that ends here returns the peer's zxid, below minCommittedLog.)
            self._queue_op(Diff(last_committed), "new-epoch")
        return queued

    def _queue_op(self, packet: Diff | Trunc, why: str) -> None:
        self.packets.append(packet)
        self.need_op = False
        self.op = why

    def proposal_count(self) -> int:
        return sum(1 for p in self.packets if isinstance(p, ProposalPacket))


def _proposals_from_txn_log(txn_log: tuple[Proposal, ...], peer: int) -> tuple[Proposal, ...]:
    """``ZKDatabase.getProposalsFromTxnLog`` as ``LearnerHandlerTest``'s mock has it.

    Empty unless the log starts at or below ``peer`` (the real one also gives up past a size
    limit); otherwise the whole log, whose entries below ``peer`` the walk skips.
    """
    if txn_log and peer >= txn_log[0].zxid:
        return txn_log
    return ()


def _txns(count: int) -> str:
    return f"{count} committed txn" + ("" if count == 1 else "s")


def choose_sync_mode(peer_last_zxid: int, history: LeaderHistory) -> SyncPlan:
    """Decide how to sync a learner whose last zxid is ``peer_last_zxid``.

    ZooKeeper's ``LearnerHandler.syncFollower`` and ``queueCommittedProposals``, rule for rule
    (see the module docstring for the cases). Examples from ``LearnerHandlerTest`` (plain
    numbers are epoch-0 zxids; ``P5 C5`` is a PROPOSAL/COMMIT pair):

    =====  =========  ====  =================  =========================  ====  ==========
    peer   committed  last  txn log            packets                    fwd   mode
    =====  =========  ====  =================  =========================  ====  ==========
    3      []         1                        TRUNC 1                    1     TRUNC
    1      []         1                        DIFF 1                     1     DIFF
    4      [2,3,5]    6                        TRUNC 3, P5 C5             5     TRUNC+DIFF
    2      [2,3,5]    6                        DIFF 5, P3 C3, P5 C5       5     DIFF
    3      [6,7,8]    9     [2,3,5,6,7,8,9]    DIFF 8, P5 C5 .. P8 C8     8     DIFF
    1      [2,3,5]    6     (sync disabled)    (none)                     6     SNAP
    3      [7,8]      8     [2,3,4]            (none: gap from 4 to 7)    8     SNAP
    =====  =========  ====  =================  =========================  ====  ==========

    Raises:
        UsageError: ``peer_last_zxid`` is not a zxid, or ``history`` is not a LeaderHistory.
    """
    _check_zxid("peer_last_zxid", peer_last_zxid)
    if not isinstance(history, LeaderHistory):
        raise UsageError(f"history must be a LeaderHistory, got {type(history).__name__}")
    peer = peer_last_zxid
    last = history.last_processed_zxid
    committed = history.committed_log
    if committed:
        min_committed, max_committed = committed[0].zxid, committed[-1].zxid
    else:  # an empty committedLog stands for "everything up to lastProcessedZxid"
        min_committed = max_committed = last
    new_epoch_peer = is_new_epoch_zxid(peer)
    p, lo, hi, lp = _fmt(peer), _fmt(min_committed), _fmt(max_committed), _fmt(last)

    queue = LearnerQueue()
    need_snap = True
    current = peer  # the last zxid queued so far
    found_in = sent_from = ""
    why_snap = ""
    if history.force_snap:
        why_snap = "zookeeper.forceSnapshotSync is set, so every learner gets the snapshot"
    elif last == peer:
        queue.packets.append(Diff(peer))
        queue.need_op = need_snap = False
        queue.op = "in-sync"
    elif peer > max_committed and not new_epoch_peer:
        queue.packets.append(Trunc(max_committed))
        current = max_committed
        queue.need_op = need_snap = False
        queue.op = "ahead"
    elif min_committed <= peer <= max_committed:
        current = queue.queue_committed(committed, peer, None, max_committed)
        need_snap = False
        found_in, sent_from = "committed log", "committed log"
    elif peer < min_committed and history.txn_log_sync_enabled:
        from_txn_log = _proposals_from_txn_log(history.txn_log, peer)
        if from_txn_log:
            current = queue.queue_committed(from_txn_log, peer, min_committed, max_committed)
            if current < min_committed:
                # The txn log did not reach the committed log (slow disk), or refused a TRUNC
                # across epochs: drop what was queued and send the snapshot instead.
                if queue.cross_epoch is not None:
                    why_snap = (f"the first leader txn above the learner's {p} is "
                                f"{_fmt(queue.cross_epoch)}, of another epoch, and TRUNC never crosses "
                                "an epoch")
                else:
                    why_snap = (f"the txn log reaches only {_fmt(current)} but the committed log starts "
                                f"at {lo}: a gap")
                current = peer
                queue.packets.clear()  # as ZooKeeper does; a SNAP plan carries no packets anyway
                queue.need_op = True
            else:
                current = queue.queue_committed(committed, current, None, max_committed)
                need_snap = False
                found_in, sent_from = "txn log", "txn log and the committed log"
        else:
            reach = (f"starts at {_fmt(history.txn_log[0].zxid)}" if history.txn_log
                     else "is empty")
            why_snap = (f"the learner's {p} is older than the committed log (from {lo}) and the txn "
                        f"log {reach}, so it cannot reach back to it")
    elif peer < min_committed:
        why_snap = (f"the learner's {p} is older than the committed log (from {lo}) and txn-log "
                    "sync is disabled (snapshotSizeFactor < 0)")
    else:
        why_snap = (f"no rule serves the learner's new-epoch zxid {p} above maxCommittedLog {hi}: "
                    "TRUNC cannot reach a zxid that is in no log")

    if need_snap:
        current = last
    forward_from = current  # leader.startForwarding(handler, current), still under the lock
    if queue.need_op and not need_snap:
        # "Unhandled scenario, fall back to snapshot": the walk met another epoch first.
        need_snap = True
        cross = _fmt(queue.cross_epoch) if queue.cross_epoch is not None else "nothing"
        why_snap = (f"the first leader txn above the learner's {p} is {cross}, of another epoch, "
                    "and TRUNC never crosses an epoch")

    if need_snap:
        return SyncPlan(SyncMode.SNAP, (), forward_from, None, last,
                        f"SNAP: {why_snap}; send the snapshot at {lp}")

    packets = tuple(queue.packets)
    count = queue.proposal_count()
    op = packets[0]
    if isinstance(op, Diff):
        mode, trunc_zxid = SyncMode.DIFF, None
        if queue.op == "in-sync":
            reason = f"DIFF: the learner is already at the leader's lastProcessedZxid {p}; an empty DIFF"
        elif queue.op == "found":
            reason = (f"DIFF: the leader's {found_in} holds the learner's last zxid {p}; "
                      f"send the {_txns(count)} above it from the {sent_from}")
        else:
            reason = (f"DIFF: the learner is on new-epoch zxid {p}, which is in no log and is never "
                      f"truncated; send the {_txns(count)} above it from the {sent_from}")
    else:
        trunc_zxid = op.zxid
        if queue.op == "ahead":
            mode = SyncMode.TRUNC
            reason = (f"TRUNC: the learner's {p} is above the leader's maxCommittedLog {hi}, so it "
                      f"holds txns the leader never committed; truncate to {hi}")
        else:
            mode = SyncMode.TRUNC_DIFF
            reason = (f"TRUNC+DIFF: the learner's {p} is not in the leader's {found_in} but a later "
                      f"txn of its epoch is; truncate to {_fmt(trunc_zxid)}, the largest leader zxid "
                      f"below it, then send {_txns(count)} from the {sent_from}")
    return SyncPlan(mode, packets, forward_from, trunc_zxid, None, reason)


# --------------------------------------------------------------------------- learner side -
def _first_gap(history: Sequence[Proposal]) -> tuple[int, int] | None:
    for before, after in zip(history, history[1:]):
        if epoch_of(before.zxid) == epoch_of(after.zxid) and after.zxid != before.zxid + 1:
            return before.zxid, after.zxid
    return None


def apply_sync_to_log(learner_log: tuple[Proposal, ...], plan: SyncPlan,
                      leader_log: tuple[Proposal, ...] = ()) -> tuple[Proposal, ...]:
    """The learner's transaction history after it applies ``plan`` (``Learner.syncWithLeader``).

    - DIFF: append the proposals carried, skipping zxids already held;
    - TRUNC: drop every entry above ``trunc_zxid`` (``ZKDatabase.truncateLog``);
    - TRUNC+DIFF: truncate, then append;
    - SNAP: the history becomes the leader's, ``leader_log``, up to ``snap_zxid``.

    The real learner also reloads its DataTree (TRUNC reloads from snapshot + truncated log,
    SNAP deserialises the leader's tree) and, since ZOOKEEPER-4925, refuses proposals whose zxid
    does not follow the previous one within an epoch. This model checks the same on the result:
    zxids must be contiguous within each epoch (an epoch change may jump).

    ============================  =====================================  ==================
    learner_log                   plan                                   result
    ============================  =====================================  ==================
    [1:1, 1:2]                    DIFF 1:3, P1:3 C1:3                    [1:1, 1:2, 1:3]
    [1:1 .. 1:5] (1:4, 1:5 lost)  TRUNC 1:3                              [1:1, 1:2, 1:3]
    [1:1 .. 1:5]                  TRUNC 1:3, P2:1 C2:1                   [1:1 .. 1:3, 2:1]
    anything                      SNAP at 2:1, leader_log [1:1 .. 2:2]   [1:1 .. 1:3, 2:1]
    [1, 2, 3, 4]                  TRUNC 3, P5 C5                         UsageError (3 -> 5)
    ============================  =====================================  ==================

    Raises:
        UsageError: a log is not Proposals in strictly rising zxid order; the plan is not a
            SyncPlan; a SNAP's ``leader_log`` lacks ``snap_zxid``; a DIFF would insert a txn
            below the learner's last one; or the result has a same-epoch gap (both zxids named).
    """
    learner = _as_proposals("learner_log", learner_log, allow_repeats=False)
    leader = _as_proposals("leader_log", leader_log, allow_repeats=False)
    if not isinstance(plan, SyncPlan):
        raise UsageError(f"plan must be a SyncPlan, got {type(plan).__name__}")

    if plan.mode is SyncMode.SNAP:
        snap = plan.snap_zxid
        assert snap is not None  # SyncPlan guarantees it
        if not is_new_epoch_zxid(snap) and all(p.zxid != snap for p in leader):
            raise UsageError(f"SNAP at {_fmt(snap)}: leader_log must hold the leader's history up to "
                             f"{_fmt(snap)}, but it has no txn {_fmt(snap)}")
        result = [p for p in leader if p.zxid <= snap]
    else:
        result = list(learner)
        if plan.trunc_zxid is not None:
            result = [p for p in result if p.zxid <= plan.trunc_zxid]
        held = {p.zxid for p in result}
        for proposal in plan.proposals():
            if proposal.zxid in held:
                continue
            if result and proposal.zxid < result[-1].zxid:
                raise UsageError(f"{plan.mode.value} carries {_fmt(proposal.zxid)}, below the learner's "
                                 f"last zxid {_fmt(result[-1].zxid)} which it does not hold")
            result.append(proposal)
            held.add(proposal.zxid)

    gap = _first_gap(result)
    if gap is not None:
        before, after = gap
        raise UsageError(
            f"applying the {plan.mode.value} plan leaves a gap in epoch {epoch_of(before)}: "
            f"{_fmt(before)} is followed by {_fmt(after)} (Learner.syncWithLeader rejects "
            "non-contiguous zxids within an epoch, ZOOKEEPER-4925)")
    return tuple(result)


# --------------------------------------------------------------------------- display ------
def _zxid_list(zxids: Sequence[int]) -> str:
    if len(zxids) <= 3:
        return ", ".join(_fmt(z) for z in zxids)
    return f"{_fmt(zxids[0])} .. {_fmt(zxids[-1])} ({len(zxids)} txns)"


def describe_plan(plan: SyncPlan) -> str:
    """One line for transcripts and the viewer (the leader's "Sending DIFF/TRUNC" log lines).

    ===========================================  ============================================
    plan                                         line
    ===========================================  ============================================
    TRUNC 1:3, P1:5 C1:5, forward 1:5            ``TRUNC+DIFF: truncate to 0x1_00000003, then
                                                 send 0x1_00000005 (forward from 0x1_00000005)``
    DIFF 2:0, forward 2:0                        ``DIFF: nothing to send (forward from
                                                 0x2_00000000)``
    SNAP at 2:1, forward 2:1                     ``SNAP: snapshot at 0x2_00000001 (forward
                                                 from 0x2_00000001)``
    ===========================================  ============================================
    """
    if not isinstance(plan, SyncPlan):
        raise UsageError(f"plan must be a SyncPlan, got {type(plan).__name__}")
    forward = f"(forward from {_fmt(plan.forward_from)})"
    sent = [p.zxid for p in plan.proposals()]
    if plan.mode is SyncMode.SNAP:
        assert plan.snap_zxid is not None
        return f"SNAP: snapshot at {_fmt(plan.snap_zxid)} {forward}"
    if plan.mode is SyncMode.TRUNC:
        return f"TRUNC: truncate to {_fmt(plan.trunc_zxid)} {forward}"
    if plan.mode is SyncMode.TRUNC_DIFF:
        return f"TRUNC+DIFF: truncate to {_fmt(plan.trunc_zxid)}, then send {_zxid_list(sent)} {forward}"
    if not sent:
        return f"DIFF: nothing to send {forward}"
    return f"DIFF: send {_zxid_list(sent)} {forward}"
