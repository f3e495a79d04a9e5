"""Zab's safety properties, checked on a simulator trace.

The checkers read the trace only (never a live server, never a note's text): the facts they
need are the typed events servers emit (:mod:`distlab.zab.events`: ``Established``,
``Committed``, ``Applied``, ``BecameLooking``, ``Truncated``, ``SnapshotLoaded``) and the
``FinalState`` events the driver adds at the end of a run
(:meth:`distlab.sim.ensemble.Ensemble.record_final_state`). Each property is one function returning a list of :class:`Violation` (empty:
the property holds). From the Zab paper and ``zookeeper-specifications/protocol-spec``:

- **one leader per epoch** — at most one server establishes itself as leader of an epoch;
- **agreement** — no zxid ever names two different transactions, on any server;
- **order** — each server applies transactions in strictly increasing zxid order (after a
  restart, a truncation or a snapshot load it continues from where its reloaded state ends);
- **durability** — a transaction a leader committed is in every server's final history,
  and all servers end with the same data tree (checked after the run has healed and settled).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from distlab.zab.events import Applied, BecameLooking, Committed, Established, FinalState, SnapshotLoaded, Truncated
from distlab.zab.zxid import format_zxid

__all__ = [
    "Violation",
    "check_one_leader_per_epoch",
    "check_agreement",
    "check_apply_order",
    "check_durability",
    "check_zab",
]


@dataclass(frozen=True)
class Violation:
    """A broken property: its name, what happened in plain words, and where in the trace."""

    invariant: str
    detail: str
    seq: int | None = None
    time: int | None = None

    def __str__(self) -> str:
        where = f" (trace #{self.seq}, t={self.time} ms)" if self.seq is not None else ""
        return f"{self.invariant}: {self.detail}{where}"


def _events(trace: Iterable[Any], *types: type) -> Iterator[tuple[int, Any, Any]]:
    """``(seq, record, event)`` for every typed event of one of ``types``, in order."""
    for seq, record in enumerate(trace):
        if record.kind == "note":
            event = record.event
            if type(event) in types:
                yield seq, record, event


def check_one_leader_per_epoch(trace: Iterable[Any]) -> list[Violation]:
    """At most one leader establishes each epoch (Zab's "primary uniqueness")."""
    leaders: dict[int, tuple[Any, int]] = {}
    found = []
    for seq, record, event in _events(trace, Established):
        epoch = event.epoch
        if epoch in leaders and leaders[epoch][0] != record.node:
            found.append(Violation("one leader per epoch",
                                   f"servers {leaders[epoch][0]} and {record.node} both established epoch {epoch}",
                                   seq, record.time))
        leaders.setdefault(epoch, (record.node, seq))
    return found


def check_agreement(trace: Iterable[Any]) -> list[Violation]:
    """No zxid names two different transactions, whoever committed or applied it."""
    first: dict[int, tuple[str, Any]] = {}
    found = []
    for seq, record, event in _events(trace, Committed, Applied):
        zxid, txn = event.zxid, event.txn
        if zxid in first and first[zxid][0] != txn:
            found.append(Violation("agreement",
                                   f"zxid {format_zxid(zxid)} is txn {txn} on server {record.node} but txn "
                                   f"{first[zxid][0]} on server {first[zxid][1]}", seq, record.time))
        first.setdefault(zxid, (txn, record.node))
    return found


def check_apply_order(trace: Iterable[Any]) -> list[Violation]:
    """Each server applies in strictly increasing zxid order from its last reload point."""
    position: dict[Any, int] = {}
    found = []
    for seq, record, event in _events(trace, BecameLooking, Truncated, SnapshotLoaded, Applied):
        node = record.node
        if type(event) is not Applied:
            position[node] = event.last_processed
            continue
        zxid = event.zxid
        last = position.get(node, 0)
        if zxid <= last:
            found.append(Violation("order", f"server {node} applied {format_zxid(zxid)} after "
                                            f"{format_zxid(last)}", seq, record.time))
        position[node] = zxid
    return found


def check_durability(trace: Iterable[Any]) -> list[Violation]:
    """Every committed txn is in every server's final history; all final trees are equal.

    Needs the :class:`~distlab.zab.events.FinalState` events of ``Ensemble.record_final_state``,
    taken once the run has healed and every server is back and serving; without them this
    check reports that.
    """
    trace = list(trace)
    finals = list(_events(trace, FinalState))
    if not finals:
        return [Violation("durability", "no final state was recorded (call Ensemble.record_final_state)")]
    committed = {event.zxid: (event.txn, seq, record.time)
                 for seq, record, event in _events(trace, Committed)}
    found = []
    digests = {event.server: event.digest for _, _, event in finals}
    if len(set(digests.values())) > 1:
        found.append(Violation("durability", f"servers end with different data trees: {digests}"))
    for seq, record, event in finals:
        history = {zxid: txn for zxid, txn in event.history}
        zxids = [zxid for zxid, _ in event.history]
        if zxids != sorted(set(zxids)):
            found.append(Violation("order", f"server {event.server}'s log is not in strictly increasing "
                                            f"zxid order", seq, record.time))
        for zxid, (txn, cseq, ctime) in sorted(committed.items()):
            if zxid <= event.snapshot_zxid:
                continue  # inside its snapshot: covered by the digest comparison
            if history.get(zxid) != txn:
                what = "missing" if zxid not in history else f"replaced by txn {history[zxid]}"
                found.append(Violation("durability", f"committed txn {format_zxid(zxid)} ({txn}, committed at "
                                                     f"t={ctime} ms) is {what} on server {event.server}",
                                       seq, record.time))
                break
    return found


def check_zab(trace: Iterable[Any], final: bool = True) -> list[Violation]:
    """All of the above (durability only when ``final`` notes are expected)."""
    trace = list(trace)
    found = check_one_leader_per_epoch(trace) + check_agreement(trace) + check_apply_order(trace)
    if final:
        found += check_durability(trace)
    return found
