"""A follower's side of broadcast, as one pure decision: what to do with a PROPOSAL or COMMIT.

``Follower.processPacket`` (ZooKeeper 3.8) in four rules, for a follower that is serving:

- **PROPOSAL**: log it, then ACK it — the ACK promises the txn is on disk, so it leaves only
  after the log write (the driver carries out writes before sends). A proposal the follower
  has logged already is a duplicate and is ignored. Zab's history has no holes: within an
  epoch the zxid must be the next one, and a new epoch starts at counter 1
  (``Learner.enforceContinuousProposal``, ZOOKEEPER-4925); anything else means this follower
  missed a txn, and logging past the hole could later make it a leader that lacks a committed
  txn, so it gives up and resyncs (back to LOOKING).
- **COMMIT**: apply the next pending (logged, unapplied) txn — it must be exactly that zxid
  (``FollowerZooKeeperServer.commit``: "Committing zxid ... but next pending txn ..." is fatal
  there; here the follower gives up and resyncs). A commit of a txn already applied is a
  duplicate and is ignored. A follower never applies what was not committed.

The learner (:mod:`distlab.zab.learner`) asks :func:`follower_step` — or a Lab 7 learner's
version through ``Impl.follower_step`` — and carries out the answer, checking it is one a
follower may take.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from distlab.zab.messages import Commit, ProposalPacket
from distlab.zab.zxid import counter_of, epoch_of, format_zxid

__all__ = ["FollowerLog", "FollowerStep", "FollowerStepFn", "follower_step", "continues"]


@dataclass(frozen=True, slots=True)
class FollowerLog:
    """What a follower's broadcast step reads: its log's last zxid, the last applied one, and
    the zxids logged but not yet applied (oldest first)."""

    last_logged: int
    last_applied: int
    pending: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class FollowerStep:
    """What to do: ``log`` the packet's proposal, ``ack`` a zxid, ``apply`` a pending zxid, or
    ``give_up`` (a reason: leave the leader and resync). Nothing set: ignore the packet."""

    log: bool = False
    ack: int | None = None
    apply: int | None = None
    give_up: str | None = None


class FollowerStepFn(Protocol):
    """Seam (Lab 7): a follower's decision for one PROPOSAL or COMMIT."""

    def __call__(self, log: FollowerLog, packet: ProposalPacket | Commit) -> FollowerStep: ...


def continues(zxid: int, last: int) -> bool:
    """Does ``zxid`` follow ``last`` with no hole (same epoch: the next counter; a later epoch:
    counter 1)?"""
    if epoch_of(zxid) == epoch_of(last):
        return zxid == last + 1
    return epoch_of(zxid) > epoch_of(last) and counter_of(zxid) == 1


def follower_step(log: FollowerLog, packet: Any) -> FollowerStep:
    """``Follower.processPacket`` for PROPOSAL and COMMIT (see the module's rules)."""
    if isinstance(packet, ProposalPacket):
        if packet.zxid <= log.last_logged:
            return FollowerStep()  # a duplicate of something logged already
        if not continues(packet.zxid, log.last_logged):
            return FollowerStep(give_up=f"proposal {format_zxid(packet.zxid)} does not follow "
                                        f"{format_zxid(log.last_logged)} (a hole)")
        return FollowerStep(log=True, ack=packet.zxid)
    if isinstance(packet, Commit):
        if packet.zxid <= log.last_applied:
            return FollowerStep()  # a duplicate
        if not log.pending or log.pending[0] != packet.zxid:
            head = format_zxid(log.pending[0]) if log.pending else "none"
            return FollowerStep(give_up=f"COMMIT {format_zxid(packet.zxid)} but the next pending txn is {head}")
        return FollowerStep(apply=packet.zxid)
    return FollowerStep()
