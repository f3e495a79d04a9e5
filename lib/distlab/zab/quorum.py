"""Quorums: which sets of servers may decide.

Rule from ``server/quorum/flexible/QuorumMaj.java``: a set of servers is a quorum iff it holds
*more than half* of the voting members (``|S ∩ voters| > floor(n / 2)``). Observers and
unknown ids never count (``SyncedLearnerTracker.addAck`` ignores non-voters). Any two quorums
intersect, which is why a committed transaction can never be forgotten by the next leader and
why an ensemble of 2f + 1 servers survives f crashes (the notes' 宕机处理: "more than half must
be up"). An ensemble of 4 tolerates no more crashes than one of 3.
"""

from __future__ import annotations

from typing import Collection, Iterable, Protocol

from distlab.sansio import UsageError

__all__ = ["HasQuorum", "has_quorum", "QuorumMaj", "tolerated_failures"]


class HasQuorum(Protocol):
    """The Lab 7 seam: does ``acks`` contain a majority of ``voters``?"""

    def __call__(self, acks: Collection[int], voters: Collection[int]) -> bool: ...


def has_quorum(acks: Collection[int], voters: Collection[int]) -> bool:
    """Majority rule (``QuorumMaj.containsQuorum``).

    ======================  ==========  ======
    acks                    voters      result
    ======================  ==========  ======
    {1, 2}                  {1, 2, 3}   True
    {1}                     {1, 2, 3}   False
    {1, 2}                  {1,2,3,4}   False  (half is not more than half)
    {1, 2, 9}  (9 observer) {1, 2, 3, 4} False
    ======================  ==========  ======
    """
    counted = sum(1 for sid in set(acks) if sid in voters)
    return counted > len(voters) // 2


def tolerated_failures(voters: int) -> int:
    """How many voters may crash with service continuing: ``(n - 1) // 2``."""
    return (voters - 1) // 2


class QuorumMaj:
    """A majority quorum verifier over a fixed set of voting members (and known observers)."""

    def __init__(self, voters: Iterable[int], observers: Iterable[int] = ()) -> None:
        self.voters = frozenset(voters)
        self.observers = frozenset(observers)
        if not self.voters:
            raise UsageError("an ensemble needs at least one voting member")
        overlap = self.voters & self.observers
        if overlap:
            raise UsageError(f"servers {sorted(overlap)} cannot be both voters and observers")

    def contains_quorum(self, acks: Collection[int]) -> bool:
        return has_quorum(acks, self.voters)

    def is_voter(self, sid: int) -> bool:
        return sid in self.voters

    @property
    def members(self) -> list[int]:
        return sorted(self.voters | self.observers)

    def __repr__(self) -> str:
        return f"QuorumMaj(voters={sorted(self.voters)}, observers={sorted(self.observers)})"
