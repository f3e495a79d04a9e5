"""Broadcast's commit rule, as a pure function (the Lab 7 seam ``process_ack``).

The leader (``distlab.zab.leader``) records every ACK through :func:`process_ack` and commits
exactly what it returns; a learner's version plugs in through ``Impl(process_ack=...)``.
"""

from __future__ import annotations

from typing import Callable, Protocol

from distlab.zab.zxid import counter_of

__all__ = ["ProcessAck", "process_ack"]


class ProcessAck(Protocol):
    """The Lab 7 seam: record one ack, say which proposals commit now."""

    def __call__(self, outstanding: dict, last_committed: int, sid: int, zxid: int, voters: frozenset,
                 has_quorum: Callable) -> tuple[dict, list]: ...


def process_ack(outstanding: dict, last_committed: int, sid: int, zxid: int, voters: frozenset,
                has_quorum: Callable) -> tuple[dict, list]:
    """``Leader.processAck`` + ``tryToCommit`` as a pure function.

    ``outstanding`` maps each proposed, uncommitted zxid to the set of voters that acked it.
    Returns the new map and the zxids that commit now, in order. An ack is ignored if it comes
    from a non-voter, carries a new-epoch zxid (counter 0: the NEWLEADER ack), is for a zxid
    already committed or not outstanding. Commits are strictly in zxid order: a proposal with a
    quorum still waits for every earlier one.

    ==========================  =====  ======  ==================================
    outstanding                 sid    zxid    result
    ==========================  =====  ======  ==================================
    {1:5 {1}, 1:6 {1}}          2      1:6     1:6 acked by {1, 2}; nothing commits
    {1:5 {1}, 1:6 {1, 2}}       2      1:5     1:5 and 1:6 commit (in that order)
    {1:5 {1}}                   9      1:5     unchanged (9 is not a voter)
    ==========================  =====  ======  ==================================
    """
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
