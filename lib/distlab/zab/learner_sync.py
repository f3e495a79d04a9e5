"""A learner's side of synchronisation, as one pure decision per packet (``Learner.syncWithLeader``).

After ACKEPOCH the leader streams the learner a plan: first DIFF, TRUNC or SNAP, then the
PROPOSALs and COMMITs of what the learner lacks (INFORMs for an observer), then NEWLEADER, then,
once a quorum has acknowledged NEWLEADER, UPTODATE. ZooKeeper 3.8's rules:

1. **The first packet** is DIFF (keep the log), TRUNC(z) (cut the log back to ``z``) or
   SNAP(z) (load the leader's snapshot, which replaces everything). Anything else first is an
   unexpected packet: give up.
2. **PROPOSAL** (INFORM): queue it (``packetsNotLogged``) — a duplicate of something logged or
   queued is ignored; the first proposal of the stream is taken whatever precedes it
   (``lastQueued`` starts at 0); after that a hole inside an epoch is refused
   (``enforceContinuousProposal``, ZOOKEEPER-4925) and a jump to a new epoch accepted.
   An INFORM is committed as it arrives.
3. **COMMIT**: mark the next uncommitted queued proposal committed (``packetsCommitted``); a
   duplicate is ignored; a COMMIT of anything else means a lost packet: give up.
4. **NEWLEADER** (once, its zxid must be ``(newEpoch, 0)``): **log and apply** the committed
   proposals — the queued prefix whose COMMIT arrived, in order — *then* the learner takes the
   new epoch, *then* ACKs NEWLEADER (ZOOKEEPER-3911/4643/4646: an ACK before the txns are on
   disk lets the leader count a learner that would lose them in a crash). The driver carries
   the steps out in exactly that order.
5. **UPTODATE** (after NEWLEADER): ACK it (``(newEpoch, 0)``), start serving, log every
   proposal still queued and ACK each (a follower; an observer never ACKs), then apply the ones
   already committed, in order (``Zab1_0Test.testNormalFollowerRun``).

:func:`sync_step` is the reference; a Lab 6 learner's version plugs in as
``Impl.sync_step``. :mod:`distlab.zab.learner` carries the answer out and refuses one a
learner may never take (logging out of order, applying what was not committed ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from distlab.zab.messages import Commit, Diff, Inform, NewLeader, ProposalPacket, Snap, Trunc, UpToDate
from distlab.zab.zxid import epoch_of, format_zxid, make_zxid

__all__ = ["SyncView", "SyncStep", "SyncStepFn", "sync_step", "committed_prefix"]


@dataclass(frozen=True, slots=True)
class SyncView:
    """What a syncing learner knows when a packet arrives.

    ``mode``: None until the first DIFF/TRUNC/SNAP, then that name; ``last_logged`` /
    ``last_applied``: its log's and its tree's newest zxid; ``queued``: the proposals received during sync and not yet logged, in order;
    ``committed``: those of them the leader has COMMITted; ``last_queued``: the last zxid
    queued (0 before the first); ``new_epoch``: the epoch being synced into; ``acked``: has it
    ACKed NEWLEADER yet; ``observer``: an observer never ACKs proposals.
    """

    mode: str | None
    last_logged: int
    last_applied: int = 0
    queued: tuple[int, ...] = ()
    committed: tuple[int, ...] = ()
    last_queued: int = 0
    new_epoch: int = 0
    acked: bool = False
    observer: bool = False


@dataclass(frozen=True, slots=True)
class SyncStep:
    """What to do with one sync packet; nothing set: ignore it.

    - ``mode`` ("DIFF", "TRUNC" or "SNAP") with the first packet; TRUNC truncates the log to
      the packet's zxid, SNAP loads the packet's snapshot;
    - ``queue``: queue this PROPOSAL/INFORM; ``commit``: mark this queued zxid committed;
    - ``log`` / ``apply``: queued zxids to log, then to apply, in order (NEWLEADER, UPTODATE);
    - ``ack``: zxids to ACK, in order (NEWLEADER's own zxid; at UPTODATE ``(epoch, 0)`` first);
    - ``serve``: UPTODATE: start serving clients;
    - ``give_up``: leave the leader (a reason), back to LOOKING.
    """

    mode: str | None = None
    queue: bool = False
    commit: int | None = None
    log: tuple[int, ...] = ()
    apply: tuple[int, ...] = ()
    ack: tuple[int, ...] = ()
    serve: bool = False
    give_up: str | None = None


class SyncStepFn(Protocol):
    """Seam (Lab 6): a learner's decision for one sync packet."""

    def __call__(self, view: SyncView, packet: Any) -> SyncStep: ...


def committed_prefix(view: SyncView) -> tuple[int, ...]:
    """The queued zxids up to the first one not committed (commits come in order)."""
    done = set(view.committed)
    prefix = []
    for zxid in view.queued:
        if zxid not in done:
            break
        prefix.append(zxid)
    return tuple(prefix)


def sync_step(view: SyncView, packet: Any) -> SyncStep:
    """``Learner.syncWithLeader`` for one packet (see the module's rules)."""
    kind = type(packet)
    if view.mode is None:
        if kind in (Diff, Trunc, Snap):
            return SyncStep(mode={Diff: "DIFF", Trunc: "TRUNC", Snap: "SNAP"}[kind])
        if kind in (ProposalPacket, NewLeader, Inform, Commit, UpToDate):
            return SyncStep(give_up=f"sync began with {kind.__name__}, not DIFF, TRUNC or SNAP")
        return SyncStep()
    if kind in (ProposalPacket, Inform):
        last = view.queued[-1] if view.queued else view.last_logged
        if packet.zxid <= last:
            return SyncStep()  # a duplicate
        if view.last_queued and packet.zxid != view.last_queued + 1 \
                and epoch_of(packet.zxid) <= epoch_of(view.last_queued):
            return SyncStep(give_up=f"sync proposal {format_zxid(packet.zxid)} does not follow "
                                    f"{format_zxid(view.last_queued)} (a hole)")
        return SyncStep(queue=True, commit=packet.zxid if kind is Inform else None)
    if kind is Commit:
        if packet.zxid in view.committed or packet.zxid <= view.last_applied:
            return SyncStep()  # a duplicate
        waiting = [z for z in view.queued if z not in view.committed]
        if not waiting or waiting[0] != packet.zxid:
            head = format_zxid(waiting[0]) if waiting else "none"
            return SyncStep(give_up=f"COMMIT {format_zxid(packet.zxid)} during sync, but the next uncommitted "
                                    f"proposal is {head}")
        return SyncStep(commit=packet.zxid)
    if kind is NewLeader and not view.acked:
        if packet.zxid != make_zxid(view.new_epoch, 0):
            return SyncStep(give_up=f"NEWLEADER {format_zxid(packet.zxid)} does not match epoch {view.new_epoch}")
        done = committed_prefix(view)
        return SyncStep(log=done, apply=done, ack=(packet.zxid,))
    if kind is UpToDate and view.acked:
        done = committed_prefix(view)
        acks = () if view.observer else view.queued
        return SyncStep(log=view.queued, apply=done, ack=(make_zxid(view.new_epoch, 0), *acks), serve=True)
    return SyncStep()
