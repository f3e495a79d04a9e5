"""Fault schedules as data: what goes wrong, and when.

A schedule is a list of ``(at_ms, fault)`` pairs. Because it is plain data it can be printed,
saved as JSON, hidden in a grader's test (the grader hides seeds and fault schedules, never
rules) and replayed exactly::

    schedule = FaultSchedule([(500, Crash(1)), (900, Partition([[1, 2], [3]])), (1500, Heal())])
    schedule.install(world)

:func:`random_schedule` draws a schedule from a seed, for "run it under 100 seeds" tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Iterable

from distlab.sansio import NodeId, UsageError
from distlab.sim.network import sort_key

__all__ = [
    "Fault",
    "Crash",
    "Restart",
    "Partition",
    "Cut",
    "Heal",
    "FaultSchedule",
    "random_schedule",
]


class Fault:
    """Base class: a fault knows how to apply itself to a world and how to describe itself."""

    def apply(self, world) -> None:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Crash(Fault):
    """Crash ``node`` (skipped with a note if it is already down)."""

    node: NodeId

    def apply(self, world) -> None:
        if world.is_up(self.node):
            world.crash(self.node)
        else:
            world.note(f"fault skipped: crash {self.node!r}, already down")

    def to_json(self) -> dict[str, Any]:
        return {"fault": "crash", "node": self.node}


@dataclass(frozen=True, slots=True)
class Restart(Fault):
    """Restart ``node`` (skipped with a note if it is up)."""

    node: NodeId

    def apply(self, world) -> None:
        if world.is_up(self.node):
            world.note(f"fault skipped: restart {self.node!r}, already up")
        else:
            world.restart(self.node)

    def to_json(self) -> dict[str, Any]:
        return {"fault": "restart", "node": self.node}


@dataclass(frozen=True, slots=True)
class Partition(Fault):
    """Split the network into ``groups`` (nodes in no group form one more group)."""

    groups: tuple[tuple[NodeId, ...], ...]

    def __init__(self, groups: Iterable[Iterable[NodeId]]) -> None:
        object.__setattr__(self, "groups", tuple(tuple(sorted(g, key=sort_key)) for g in groups))
        if not self.groups:
            raise UsageError("Partition needs at least one group")

    def apply(self, world) -> None:
        world.partition(*self.groups)

    def to_json(self) -> dict[str, Any]:
        return {"fault": "partition", "groups": [list(g) for g in self.groups]}


@dataclass(frozen=True, slots=True)
class Cut(Fault):
    """Cut one direction: ``src`` can no longer reach ``dst``."""

    src: NodeId
    dst: NodeId

    def apply(self, world) -> None:
        world.cut(self.src, self.dst)

    def to_json(self) -> dict[str, Any]:
        return {"fault": "cut", "src": self.src, "dst": self.dst}


@dataclass(frozen=True, slots=True)
class Heal(Fault):
    """Remove every partition and cut."""

    def apply(self, world) -> None:
        world.heal()

    def to_json(self) -> dict[str, Any]:
        return {"fault": "heal"}


_FROM_JSON = {
    "crash": lambda d: Crash(d["node"]),
    "restart": lambda d: Restart(d["node"]),
    "partition": lambda d: Partition(d["groups"]),
    "cut": lambda d: Cut(d["src"], d["dst"]),
    "heal": lambda d: Heal(),
}


@dataclass(frozen=True)
class FaultSchedule:
    """An ordered list of ``(at_ms, fault)`` pairs."""

    entries: tuple[tuple[int, Fault], ...] = field(default_factory=tuple)

    def __init__(self, entries: Iterable[tuple[int, Fault]] = ()) -> None:
        checked = []
        for n, entry in enumerate(entries):
            try:
                at, fault = entry
            except (TypeError, ValueError):
                raise UsageError(f"schedule entry {n} must be (at_ms, fault), got {entry!r}") from None
            if not isinstance(at, int) or isinstance(at, bool) or at < 0:
                raise UsageError(f"schedule entry {n}: time must be an int of ms >= 0, got {at!r}")
            if not isinstance(fault, Fault):
                raise UsageError(f"schedule entry {n}: {fault!r} is not a Fault")
            checked.append((at, fault))
        # Stable sort: faults at the same time keep the order they were listed in.
        object.__setattr__(self, "entries", tuple(sorted(checked, key=lambda e: e[0])))

    def install(self, world) -> None:
        """Schedule every fault on ``world`` (each appears in the trace when it happens)."""
        for at, fault in self.entries:
            world.call_at(at, fault.apply, label=f"fault: {describe(fault)}")

    def to_json(self) -> list[dict[str, Any]]:
        return [{"at": at, **fault.to_json()} for at, fault in self.entries]

    @classmethod
    def from_json(cls, rows: Iterable[dict[str, Any]]) -> "FaultSchedule":
        entries = []
        for n, row in enumerate(rows):
            make = _FROM_JSON.get(row.get("fault"))
            if make is None:
                raise UsageError(f"schedule row {n}: unknown fault {row.get('fault')!r}; known: {sorted(_FROM_JSON)}")
            try:
                entries.append((row["at"], make(row)))
            except KeyError as missing:
                raise UsageError(f"schedule row {n} ({row['fault']}): missing field {missing}") from None
        return cls(entries)

    def __len__(self) -> int:
        return len(self.entries)


def describe(fault: Fault) -> str:
    """One line for people: ``crash 3``, ``partition [1, 2] | [3]``, ``cut 1->2``, ``heal``."""
    data = fault.to_json()
    kind = data["fault"]
    if kind in ("crash", "restart"):
        return f"{kind} {data['node']}"
    if kind == "partition":
        return "partition " + " | ".join(str(g) for g in data["groups"])
    if kind == "cut":
        return f"cut {data['src']}->{data['dst']}"
    return kind


def random_schedule(
    seed: int,
    nodes: Iterable[NodeId],
    duration_ms: int,
    *,
    crashes: int = 1,
    partitions: int = 1,
    max_down: int | None = None,
    downtime_ms: tuple[int, int] = (200, 2000),
) -> FaultSchedule:
    """Draw a fault schedule from ``seed``: crash/restart pairs and partition/heal pairs.

    At most ``max_down`` nodes are down at the same time (default: a minority, so a majority
    quorum can always form again). Every crash is followed by a restart and every partition by
    a heal before ``duration_ms``, so a correct protocol has time to recover.
    """
    members = sorted(nodes, key=sort_key)
    if not members:
        raise UsageError("random_schedule needs at least one node")
    lo, hi = downtime_ms
    if not 0 <= lo <= hi or hi >= duration_ms:
        raise UsageError(f"downtime_ms {downtime_ms} must satisfy 0 <= low <= high < duration_ms ({duration_ms})")
    limit = (len(members) - 1) // 2 if max_down is None else max_down
    rng = random.Random(seed)
    entries: list[tuple[int, Fault]] = []
    down_intervals: list[tuple[int, int]] = []
    for _ in range(crashes):
        start = rng.randrange(0, duration_ms - hi)
        end = start + rng.randint(lo, hi)
        overlapping = sum(1 for s, e in down_intervals if s < end and start < e)
        if overlapping >= limit:
            continue  # would take too many nodes down at once
        node = members[rng.randrange(len(members))]
        if any(n == node and s < end and start < e for (s, e), n in zip(down_intervals, _crashed(entries))):
            continue
        down_intervals.append((start, end))
        entries += [(start, Crash(node)), (end, Restart(node))]
    partition_windows: list[tuple[int, int]] = []
    for _ in range(partitions):
        if len(members) < 2:
            break
        start = rng.randrange(0, duration_ms - hi)
        end = start + rng.randint(lo, hi)
        if any(s < end and start < e for s, e in partition_windows):
            continue  # one Heal ends every partition, so windows must not overlap
        partition_windows.append((start, end))
        shuffled = members[:]
        rng.shuffle(shuffled)
        size = rng.randint(1, len(members) // 2)
        entries += [(start, Partition([shuffled[:size]])), (end, Heal())]
    return FaultSchedule(entries)


def _crashed(entries: list[tuple[int, Fault]]) -> list[NodeId]:
    return [fault.node for _, fault in entries if isinstance(fault, Crash)]
