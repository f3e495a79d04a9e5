"""Crash recovery of a server's own history: which logged txns it applies before it votes.

A server that restarts, or leaves a leader, rebuilds its tree from its snapshot and then
applies every txn of its log the tree does not have yet (``ZKDatabase.fastForwardDataBase``,
ZooKeeper 3.5+) — in zxid order, **including the proposals it acknowledged but never saw
committed**. It cannot know whether those were committed elsewhere: an old leader may have
committed a txn on a quorum of ACKs and crashed before telling anyone. Zab's election then
picks the server with the highest last zxid, and that new leader's log becomes the epoch's
history, so every acknowledged-by-a-quorum txn survives (the "no committed txn lost"
property). Dropping the acknowledged tail, or the previous epoch's txns, loses it.

:func:`recover_history` is that choice (a Lab 7 seam through ``Impl.recover_history``).
"""

from __future__ import annotations

from typing import Protocol, Sequence

from distlab.zab.messages import Proposal

__all__ = ["RecoverHistory", "recover_history"]


class RecoverHistory(Protocol):
    """Seam (Lab 7): the logged txns to apply on recovery, in order."""

    def __call__(self, log: Sequence[Proposal], last_applied: int, current_epoch: int) -> tuple[Proposal, ...]: ...


def recover_history(log: Sequence[Proposal], last_applied: int, current_epoch: int) -> tuple[Proposal, ...]:
    """Every logged txn newer than the tree's last applied zxid, oldest first.

    ``current_epoch`` is the server's persisted currentEpoch; it changes nothing here — a txn
    of an older epoch that this server logged may have been committed by that epoch's leader.
    """
    return tuple(p for p in log if p.zxid > last_applied)
