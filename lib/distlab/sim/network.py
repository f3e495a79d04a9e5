"""The simulated network: latency distributions, per-link faults, partitions and cuts.

A *link* is one direction between two processes: ``(src, dst)``. Each link has a
:class:`LinkConfig` — how long a message takes, how often it is lost or duplicated, and
whether it may overtake earlier messages on the same link. The default keeps links FIFO,
like the TCP connections ZooKeeper's quorum and election traffic runs over
(``QuorumCnxManager``); Zab's correctness relies on that order, so reordering is a fault you
switch on deliberately.

All randomness comes from the simulation's own seeded ``random.Random``; nothing here reads
the global RNG, so the same seed gives the same run.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Any, Iterable, Protocol

from distlab.sansio import NodeId, UsageError

__all__ = [
    "Latency",
    "Fixed",
    "Uniform",
    "Exponential",
    "Normal",
    "LinkConfig",
    "Network",
    "sort_key",
]


class Latency(Protocol):
    """A latency distribution: ``sample(rng)`` returns a whole number of milliseconds >= 0."""

    def sample(self, rng: random.Random) -> int: ...


def _check_ms(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or math.isnan(value):
        raise UsageError(f"{name} must be a number of milliseconds >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class Fixed:
    """Every message takes exactly ``ms`` milliseconds."""

    ms: int

    def __post_init__(self) -> None:
        if not isinstance(self.ms, int) or isinstance(self.ms, bool) or self.ms < 0:
            raise UsageError(f"Fixed latency must be an int of ms >= 0, got {self.ms!r}")

    def sample(self, rng: random.Random) -> int:
        return self.ms


@dataclass(frozen=True, slots=True)
class Uniform:
    """A whole number of milliseconds drawn uniformly from ``[low, high]``."""

    low: int
    high: int

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise UsageError(f"Uniform latency {name} must be an int of ms >= 0, got {value!r}")
        if self.low > self.high:
            raise UsageError(f"Uniform latency needs low <= high, got low={self.low}, high={self.high}")

    def sample(self, rng: random.Random) -> int:
        # One random() call is several times cheaper than randrange(); this runs once per
        # message. int() truncates toward zero, so every value in [low, high] is equally likely.
        return self.low + int(rng.random() * (self.high - self.low + 1))


@dataclass(frozen=True, slots=True)
class Exponential:
    """``minimum`` plus an exponential tail of mean ``mean`` ms: mostly fast, sometimes slow."""

    mean: float
    minimum: int = 0

    def __post_init__(self) -> None:
        _check_ms("Exponential mean", self.mean)
        _check_ms("Exponential minimum", self.minimum)
        if self.mean == 0:
            raise UsageError("Exponential mean must be > 0 (use Fixed for a constant latency)")

    def sample(self, rng: random.Random) -> int:
        return int(self.minimum + round(rng.expovariate(1.0 / self.mean)))


@dataclass(frozen=True, slots=True)
class Normal:
    """A normal distribution around ``mean`` ms, never below ``minimum``."""

    mean: float
    stdev: float
    minimum: int = 0

    def __post_init__(self) -> None:
        _check_ms("Normal mean", self.mean)
        _check_ms("Normal stdev", self.stdev)
        _check_ms("Normal minimum", self.minimum)

    def sample(self, rng: random.Random) -> int:
        return max(int(self.minimum), int(round(rng.gauss(self.mean, self.stdev))))


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """How one direction of a link behaves.

    - ``latency``: a distribution (see :class:`Uniform`, :class:`Exponential`, ...);
    - ``drop``: probability in [0, 1] that a message is lost;
    - ``duplicate``: probability in [0, 1] that a message is delivered twice;
    - ``reorder``: if False (the default) the link is FIFO: a message never overtakes one sent
      earlier on the same link, as on a TCP connection;
    - ``on_drop``: ``"silent"`` (the default) loses a dropped message without a trace at either
      end, like UDP; ``"reset"`` models TCP: a lost segment breaks the connection, and both
      ends are told (``Disconnected``) — what ZooKeeper's servers and clients actually see.
    """

    latency: Latency = Uniform(1, 5)
    drop: float = 0.0
    duplicate: float = 0.0
    reorder: bool = False
    on_drop: str = "silent"

    def __post_init__(self) -> None:
        if not callable(getattr(self.latency, "sample", None)):
            raise UsageError(f"latency must have a sample(rng) method, got {self.latency!r}")
        for name in ("drop", "duplicate"):
            p = getattr(self, name)
            if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
                raise UsageError(f"{name} must be a probability in [0, 1], got {p!r}")
        if not isinstance(self.reorder, bool):
            raise UsageError(f"reorder must be True or False, got {self.reorder!r}")
        if self.on_drop not in ("silent", "reset"):
            raise UsageError(f"on_drop must be 'silent' or 'reset', got {self.on_drop!r}")


class Network:
    """Per-link configuration plus the partitions and one-way cuts in force.

    A message from ``src`` to ``dst`` gets through only if the link is up (``is_up``) both when
    it is sent and when it would be delivered: a partition that starts while a message is in
    flight loses it, as a broken connection would.
    """

    def __init__(self, default: LinkConfig | None = None) -> None:
        self.default = default or LinkConfig()
        self._links: dict[tuple[NodeId, NodeId], LinkConfig] = {}
        self._group_of: dict[NodeId, int] = {}  # partition: node -> group number
        self._cuts: set[tuple[NodeId, NodeId]] = set()
        self.partitioned = False  # any partition or cut in force? (checked once per message)

    # -- configuration ---------------------------------------------------------------------
    def link(self, src: NodeId, dst: NodeId) -> LinkConfig:
        """The configuration in force for messages from ``src`` to ``dst``."""
        links = self._links
        return links.get((src, dst), self.default) if links else self.default

    def configure(self, src: NodeId, dst: NodeId, **changes: Any) -> LinkConfig:
        """Change one direction of a link, e.g. ``configure(1, 2, drop=0.5)``."""
        config = replace(self.link(src, dst), **changes)
        self._links[(src, dst)] = config
        return config

    def configure_default(self, **changes: Any) -> LinkConfig:
        """Change the configuration of every link that has no override of its own."""
        self.default = replace(self.default, **changes)
        return self.default

    # -- partitions and cuts ----------------------------------------------------------------
    def partition(self, groups: Iterable[Iterable[NodeId]], all_nodes: Iterable[NodeId]) -> list[list[NodeId]]:
        """Split the nodes into groups that cannot talk to each other.

        Nodes not named in any group form one more group together. Returns the groups in force
        (each sorted), for the trace.
        """
        known = list(all_nodes)
        group_of: dict[NodeId, int] = {}
        normalised: list[list[NodeId]] = []
        for number, group in enumerate(groups):
            members = list(group)
            if not members:
                raise UsageError("a partition group must name at least one node")
            for node in members:
                if node not in known:
                    raise UsageError(f"partition names unknown node {node!r}")
                if node in group_of:
                    raise UsageError(f"node {node!r} is in two partition groups")
                group_of[node] = number
            normalised.append(_sorted(members))
        rest = [node for node in known if node not in group_of]
        if rest:
            for node in rest:
                group_of[node] = len(normalised)
            normalised.append(_sorted(rest))
        self._group_of = group_of
        self.partitioned = True
        return normalised

    def cut(self, src: NodeId, dst: NodeId) -> None:
        """Cut one direction only: ``src`` can no longer reach ``dst`` (``dst`` may still reach ``src``)."""
        self._cuts.add((src, dst))
        self.partitioned = True

    def heal(self) -> None:
        """Remove every partition and cut (link configurations stay)."""
        self._group_of = {}
        self._cuts = set()
        self.partitioned = False

    def is_up(self, src: NodeId, dst: NodeId) -> bool:
        """Whether a message from ``src`` can reach ``dst`` right now."""
        group_of = self._group_of
        if group_of and group_of.get(src, -1) != group_of.get(dst, -1):
            return False
        return not (self._cuts and (src, dst) in self._cuts)

    def groups(self) -> list[list[NodeId]]:
        """The partition groups in force (empty when the network is whole)."""
        by_number: dict[int, list[NodeId]] = {}
        for node, number in self._group_of.items():
            by_number.setdefault(number, []).append(node)
        return [_sorted(by_number[n]) for n in sorted(by_number)]

    def cuts(self) -> list[tuple[NodeId, NodeId]]:
        """The one-way cuts in force, sorted."""
        return sorted(self._cuts, key=lambda pair: (sort_key(pair[0]), sort_key(pair[1])))


def sort_key(node: NodeId) -> tuple[int, int, str]:
    """A total order on node ids that may mix ints and strs: ints first, by value.

    Always sort node ids before iterating over a set of them: str hashes are randomised per
    process, so set order would break "same seed, same trace" across two processes.
    """
    if isinstance(node, int) and not isinstance(node, bool):
        return (0, node, "")
    return (1, 0, str(node))


def _sorted(nodes: Iterable[NodeId]) -> list[NodeId]:
    return sorted(nodes, key=sort_key)
