"""Discovery's new-epoch rule, as a pure function (the Lab 7 seam ``epoch_to_propose``).

The leader (``distlab.zab.leader``) fixes the new epoch with :func:`epoch_to_propose` once
learners have connected; a learner's version plugs in through ``Impl(epoch_to_propose=...)``.
"""

from __future__ import annotations

from typing import Callable, Protocol

__all__ = ["EpochToPropose", "epoch_to_propose"]


class EpochToPropose(Protocol):
    """The Lab 7 seam: the new epoch, or None while no quorum has connected."""

    def __call__(self, leader: int, leader_accepted_epoch: int, infos: dict, voters: frozenset,
                 has_quorum: Callable) -> int | None: ...


def epoch_to_propose(leader: int, leader_accepted_epoch: int, infos: dict, voters: frozenset,
                     has_quorum: Callable) -> int | None:
    """``Leader.getEpochToPropose``: 1 + the highest acceptedEpoch, once a quorum is connected.

    ``infos`` maps each connected learner to the acceptedEpoch its FOLLOWERINFO (or
    OBSERVERINFO) carried. Observers push the epoch up but never count toward the quorum,
    which must include the leader.
    """
    connected = {leader} | {sid for sid in infos if sid in voters}
    if not has_quorum(connected, voters):
        return None
    return 1 + max([leader_accepted_epoch, *infos.values()])
