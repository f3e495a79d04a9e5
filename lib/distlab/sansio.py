"""The sans-I/O contract between protocol cores and the drivers that run them.

Every server, client or learner in distlab is a *process*: a pure state machine with one entry
point, ``step(event) -> Effects``. It never touches sockets, threads, the wall clock or the
global ``random`` module. A driver — the deterministic simulator in ``distlab.sim`` today, a
real TCP transport one day — feeds it events and carries out the effects it returns.

This is the shape of etcd's ``raft.Step`` and h11's ``Connection``: the core decides, the
driver does. It is why the same election code can be unit-tested by hand, run under thousands
of seeds, graded, and stepped through frame by frame in the viewer.

Events a process receives (each carries ``now``, the driver's clock in milliseconds):

- ``Start(now, durable, incarnation, rng)`` — first boot (incarnation 0) or a restart after a
  crash; ``durable`` holds exactly what the process persisted before it crashed.
- ``Deliver(now, src, msg)`` — a message arrived from process ``src``.
- ``Timer(now, name)`` — a timer the process set has fired.
- ``Disconnected(now, peer)`` — the connection to ``peer`` broke (a TCP reset): a message on
  it was lost, and both ends learn so. Only links configured ``on_drop="reset"`` do this;
  elsewhere a lost message is lost silently.

Effects it returns, carried out by the driver **in this order** (the order is the contract:
a follower's ACK must never leave before the log write it acknowledges):

1. ``writes`` — durable writes (``persist``, ``append``, ``truncate``): they survive a crash;
2. ``state`` — a new named state (``become``), e.g. ``"LOOKING"``;
3. ``sends`` — messages to other processes (``send``);
4. ``timers`` — timers to set (replacing one of the same name) or cancel, in call order;
5. ``notes`` — trace notes: typed events (``emit``), whose text comes from the event, or
   free-form lines for people reading the run (``note``).
"""

from __future__ import annotations

import copy
import random
from typing import Any, Hashable, Mapping, NamedTuple, Protocol, Union

__all__ = [
    "NodeId",
    "Start",
    "Deliver",
    "Timer",
    "Disconnected",
    "Event",
    "Effects",
    "Process",
    "UsageError",
]

NodeId = Hashable  # e.g. 1, 2, 3 for ZooKeeper server ids, or "client-1"


class UsageError(ValueError):
    """The caller broke a rule of an API (a bad argument, an impossible request)."""


# Events are named tuples: immutable, typed, and cheap to make (one per delivered message).
class Start(NamedTuple):
    """The process (re)starts. ``durable`` is a private copy of what it persisted so far."""

    now: int
    durable: Mapping[str, Any]
    incarnation: int
    rng: random.Random


class Deliver(NamedTuple):
    """A message ``msg`` from ``src`` has arrived."""

    now: int
    src: NodeId
    msg: Any


class Timer(NamedTuple):
    """The timer called ``name`` has fired."""

    now: int
    name: str


class Disconnected(NamedTuple):
    """The connection to ``peer`` broke; messages sent on it may have been lost."""

    now: int
    peer: NodeId


Event = Union[Start, Deliver, Timer, Disconnected]


class Effects:
    """What one ``step`` asks the driver to do, collected in the order listed in the module doc.

    Build one per step, call its methods, return it. Every field starts as the class-level
    ``None`` and a list is made on first use: most steps use only one or two kinds of effect,
    and one ``Effects`` is built per delivered message, so an empty one must cost nothing.
    """

    # ("set", key, value) | ("append", key, item) | ("truncate", key, keep): what a disk does.
    writes: list[tuple[str, str, Any]] | None = None
    state: str | None = None
    sends: list[tuple[NodeId, Any]] | None = None
    # (name, delay_ms) sets a timer, (name, None) cancels it; kept in one list so that
    # "set then cancel" and "cancel then set" mean what they say.
    timers: list[tuple[str, int | None]] | None = None
    notes: list[tuple[str, dict[str, Any]]] | None = None

    _FIELDS = ("writes", "state", "sends", "timers", "notes")

    def persist(self, key: str, value: Any) -> "Effects":
        """Write ``value`` under ``key`` to durable storage before anything else happens.

        The value is copied now, so what is durable is the value as it was at this call;
        changes the process makes to it afterwards stay volatile until persisted again.
        """
        return self._write("set", key, copy.deepcopy(value))

    def append(self, key: str, item: Any) -> "Effects":
        """Append ``item`` to the durable list ``key`` (created empty if missing).

        For logs: one append costs one item, where ``persist`` of a whole list would copy it.
        """
        return self._write("append", key, copy.deepcopy(item))

    def truncate(self, key: str, keep: int) -> "Effects":
        """Keep only the first ``keep`` items of the durable list ``key``."""
        if not isinstance(keep, int) or isinstance(keep, bool) or keep < 0:
            raise UsageError(f"truncate {key!r}: keep must be an int >= 0, got {keep!r}")
        return self._write("truncate", key, keep)

    def _write(self, op: str, key: str, value: Any) -> "Effects":
        if not isinstance(key, str):
            raise UsageError(f"durable key must be a str, got {key!r}")
        if self.writes is None:
            self.writes = []
        self.writes.append((op, key, value))
        return self

    def become(self, state: str) -> "Effects":
        """Enter the named state (e.g. ``"LEADING"``); the trace records the change."""
        if not isinstance(state, str) or not state:
            raise UsageError(f"state must be a non-empty str, got {state!r}")
        self.state = state
        return self

    def send(self, dst: NodeId, msg: Any) -> "Effects":
        """Send ``msg`` to ``dst``. Messages should be immutable (frozen dataclasses, tuples)."""
        if self.sends is None:
            self.sends = []
        self.sends.append((dst, msg))
        return self

    def set_timer(self, name: str, delay_ms: int) -> "Effects":
        """Fire ``Timer(name)`` after ``delay_ms``; replaces a pending timer of the same name."""
        if not isinstance(delay_ms, int) or isinstance(delay_ms, bool) or delay_ms < 0:
            raise UsageError(f"timer {name!r}: delay must be a non-negative int of ms, got {delay_ms!r}")
        if self.timers is None:
            self.timers = []
        self.timers.append((name, delay_ms))
        return self

    def cancel_timer(self, name: str) -> "Effects":
        """Cancel the pending timer ``name`` (no error if none is pending)."""
        if self.timers is None:
            self.timers = []
        self.timers.append((name, None))
        return self

    def note(self, text: str, **data: Any) -> "Effects":
        """Add a line for people reading the trace, e.g. ``"2 became LEADING in epoch 3"``."""
        if self.notes is None:
            self.notes = []
        self.notes.append((text, data))
        return self

    def emit(self, event: Any) -> "Effects":
        """Record a typed event (e.g. ``distlab.zab.events.Committed``) on the trace.

        The note's text is ``str(event)`` (the event's one description); checkers and the
        viewer read the event itself, as ``record.event``, never the text.
        """
        return self.note(str(event), event=event)

    def __repr__(self) -> str:
        parts = [f"{name}={getattr(self, name)!r}" for name in self._FIELDS if getattr(self, name)]
        return f"Effects({', '.join(parts)})"


class Process(Protocol):
    """A sans-I/O state machine: one entry point, events in, effects out."""

    def step(self, event: Event) -> Effects | None:
        """Handle one event; return the effects to carry out (``None`` means nothing)."""
        ...
