"""The phases of a Zab connection, as enums with their legal transitions as data (like h11).

Two machines, one per end of a leader-learner connection:

- :class:`LearnerPhase`, the learner's side (``Learner.registerWithLeader`` then
  ``syncWithLeader`` then ``Follower.followLeader``)::

      CONNECTING --LEADERINFO--> SYNCING --NEWLEADER--> NEWLEADER_ACKED --UPTODATE--> SERVING

- :class:`HandlerPhase`, the leader's ``LearnerHandler`` for one learner::

      INFO -> EPOCH_SENT -> EPOCH_ACKED -> NEWLEADER_SENT -> NEWLEADER_ACKED -> UPTODATE

The tables (:data:`LEARNER_TRANSITIONS`, :data:`HANDLER_TRANSITIONS`) are the only place the
order is written; :func:`advance` interprets them and raises :class:`IllegalTransition` (our
own bug: the state is left unchanged) for any other step. What a *peer* may send in each
learner phase is data too (:data:`LEARNER_PACKETS`): anything else is an
:class:`UnexpectedPacket`, a :class:`ProtocolViolation` that sends the learner back to
LOOKING, as ZooKeeper's learner does ("First packet ... is not LEADERINFO", "Got unexpected
packet from leader").

The phases are ``str`` enums, so ``phase == "syncing"`` still holds for code and notebooks
written against the strings.
"""

from __future__ import annotations

import enum
from typing import Any, Mapping

__all__ = [
    "ProtocolViolation",
    "UnexpectedPacket",
    "IllegalTransition",
    "LearnerPhase",
    "HandlerPhase",
    "LEARNER_TRANSITIONS",
    "HANDLER_TRANSITIONS",
    "LEARNER_PACKETS",
    "advance",
]


class ProtocolViolation(RuntimeError):
    """A peer broke a rule of the protocol (ZooKeeper would log it and drop the connection)."""


class UnexpectedPacket(ProtocolViolation):
    """A packet the receiver's current phase does not allow (named, with where it came from)."""

    def __init__(self, packet: str, phase: str, src: Any, detail: str) -> None:
        super().__init__(f"unexpected {packet} from {src} while {phase}: {detail}")
        self.packet, self.phase, self.src, self.detail = packet, phase, src, detail


class IllegalTransition(RuntimeError):
    """Code asked a phase machine for a step its table does not have (a bug, not a peer)."""


class LearnerPhase(str, enum.Enum):
    CONNECTING = "connecting"  # FOLLOWERINFO sent, waiting for LEADERINFO
    SYNCING = "syncing"  # ACKEPOCH sent; DIFF/TRUNC/SNAP, proposals, NEWLEADER
    NEWLEADER_ACKED = "newleader_acked"  # NEWLEADER acked; waiting for UPTODATE
    SERVING = "serving"  # UPTODATE: broadcast, clients served

    def __str__(self) -> str:
        return self.value


class HandlerPhase(str, enum.Enum):
    INFO = "info"  # nothing heard but FOLLOWERINFO
    EPOCH_SENT = "epoch_sent"  # LEADERINFO sent
    EPOCH_ACKED = "epoch_acked"  # ACKEPOCH received
    NEWLEADER_SENT = "newleader_sent"  # sync packets and NEWLEADER sent
    NEWLEADER_ACKED = "newleader_acked"  # its ACK of NEWLEADER received
    UPTODATE = "uptodate"  # UPTODATE sent: the learner serves

    def __str__(self) -> str:
        return self.value


L, H = LearnerPhase, HandlerPhase
LEARNER_TRANSITIONS: Mapping[LearnerPhase, frozenset[LearnerPhase]] = {
    L.CONNECTING: frozenset({L.SYNCING}),
    L.SYNCING: frozenset({L.NEWLEADER_ACKED}),
    L.NEWLEADER_ACKED: frozenset({L.SERVING}),
    L.SERVING: frozenset(),
}
HANDLER_TRANSITIONS: Mapping[HandlerPhase, frozenset[HandlerPhase]] = {
    H.INFO: frozenset({H.EPOCH_SENT}),
    H.EPOCH_SENT: frozenset({H.EPOCH_ACKED}),
    H.EPOCH_ACKED: frozenset({H.NEWLEADER_SENT}),
    H.NEWLEADER_SENT: frozenset({H.NEWLEADER_ACKED}),
    H.NEWLEADER_ACKED: frozenset({H.UPTODATE}),
    H.UPTODATE: frozenset(),
}
# Packet type names (distlab.zab.messages) a leader may send a learner in a phase, for the
# phases judged by this table; SYNCING and NEWLEADER_ACKED are judged packet by packet by the
# sync step (``Impl.sync_step``, ``Learner.syncWithLeader``'s rows), which gives up on the rest.
# A follower's broadcast is PROPOSAL/COMMIT, an observer's INFORM (Observer.processPacket).
LEARNER_PACKETS: Mapping[tuple[LearnerPhase, bool], frozenset[str]] = {
    # (phase, observer?)
    (L.CONNECTING, False): frozenset({"Ping", "LeaderInfo"}),
    (L.CONNECTING, True): frozenset({"Ping", "LeaderInfo"}),
    (L.SERVING, False): frozenset({"Ping", "LeaderInfo", "ProposalPacket", "Commit", "SyncReply"}),
    (L.SERVING, True): frozenset({"Ping", "LeaderInfo", "Inform", "SyncReply"}),
}


def advance(table: Mapping[Any, frozenset], current: Any, new: Any) -> Any:
    """The phase after ``current -> new`` if the table allows it; else IllegalTransition.

    ``new`` may be the member or its string value; the member is returned.
    """
    kind = type(current)
    try:
        target = kind(new)
    except ValueError:
        raise IllegalTransition(f"{new!r} is not a {kind.__name__}; phases: {[p.value for p in kind]}") from None
    if target not in table[current]:
        allowed = sorted(p.value for p in table[current]) or "none (final)"
        raise IllegalTransition(f"{kind.__name__}: {current.value} -> {target.value} is not allowed "
                                f"(from {current.value}: {allowed})")
    return target
