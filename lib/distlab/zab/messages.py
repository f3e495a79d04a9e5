"""What ZooKeeper servers say to each other: server states and the messages of Zab.

Two channels, as in ZooKeeper:

- **election** (``QuorumCnxManager`` + ``FastLeaderElection``): :class:`Notification` only;
- **quorum** (``Leader`` / ``LearnerHandler`` / ``Learner``): the packets of discovery,
  synchronisation and broadcast, one frozen dataclass per packet type of ``Leader.java``
  (their numeric codes are kept as ``CODE`` for reference).

Every message is immutable and validates itself on construction (h11's habit): a bad message
fails where it is made, not three hops later.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar

from distlab.sansio import UsageError
from distlab.zab.zxid import format_zxid

__all__ = [
    "ServerState",
    "LearnerType",
    "Notification",
    "Proposal",
    "FollowerInfo",
    "ObserverInfo",
    "LeaderInfo",
    "AckEpoch",
    "Diff",
    "Trunc",
    "Snap",
    "NewLeader",
    "Ack",
    "UpToDate",
    "ProposalPacket",
    "Commit",
    "Inform",
    "Ping",
    "Request",
    "SyncReply",
    "QUORUM_PACKETS",
]


class ServerState(enum.Enum):
    """``QuorumPeer.ServerState``; the value is the ordinal ZooKeeper puts on the wire."""

    LOOKING = 0
    FOLLOWING = 1
    LEADING = 2
    OBSERVING = 3


class LearnerType(enum.Enum):
    """``QuorumPeer.LearnerType``: voting participants, or observers that never vote."""

    PARTICIPANT = "participant"
    OBSERVER = "observer"


def _check_zxid(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise UsageError(f"{owner}.{name} must be a zxid (int in [0, 2**63)), got {value!r}")


def _check_sid(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise UsageError(f"{owner}.{name} must be an int server id, got {value!r}")


# --------------------------------------------------------------------------- election -----
@dataclass(frozen=True, slots=True)
class Notification:
    """A Fast Leader Election message (``FastLeaderElection.Notification``).

    - ``leader``: the server id the sender proposes;
    - ``zxid``: that proposed leader's last zxid;
    - ``election_epoch``: the sender's election round (its *logicalclock*);
    - ``peer_epoch``: the proposed leader's epoch — its **currentEpoch**, not acceptedEpoch;
    - ``state``: the sender's :class:`ServerState`;
    - ``sid``: the sender (ZooKeeper takes it from the connection; we carry it for clarity).
    """

    leader: int
    zxid: int
    election_epoch: int
    peer_epoch: int
    state: ServerState
    sid: int

    def __post_init__(self) -> None:
        _check_sid("Notification", "leader", self.leader)
        _check_sid("Notification", "sid", self.sid)
        # -1 is ZooKeeper's "untrusted empty database" zxid (ZOOKEEPER-261), and observers vote
        # (MIN, MIN, MIN) so any real vote beats theirs: any 64-bit signed value is allowed.
        if not isinstance(self.zxid, int) or isinstance(self.zxid, bool) or not -(2**63) <= self.zxid < 2**63:
            raise UsageError(f"Notification.zxid must be a 64-bit signed int, got {self.zxid!r}")
        if not isinstance(self.state, ServerState):
            raise UsageError(f"Notification.state must be a ServerState, got {self.state!r}")
        for name in ("election_epoch", "peer_epoch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not -(2**63) <= value < 2**63:
                raise UsageError(f"Notification.{name} must be a 64-bit signed int, got {value!r}")

    def describe(self) -> str:
        return (f"{self.sid}->vote({self.leader}, {format_zxid(self.zxid)}, round {self.election_epoch}, "
                f"epoch {self.peer_epoch}, {self.state.name})")


# --------------------------------------------------------------------------- quorum -------
@dataclass(frozen=True, slots=True)
class Proposal:
    """One transaction in a history: its zxid and the txn itself (a ``distlab.zk`` txn).

    ``cxid`` is the client's request number (``TxnHeader.cxid``), so the server the client
    is connected to can answer it once the txn commits; -1 when no client asked.
    """

    zxid: int
    txn: Any
    cxid: int = -1

    def __post_init__(self) -> None:
        _check_zxid("Proposal", "zxid", self.zxid)


@dataclass(frozen=True, slots=True)
class FollowerInfo:
    """Learner -> leader, first packet: ``zxid = (acceptedEpoch, 0)`` (code 11)."""

    CODE: ClassVar[int] = 11
    accepted_epoch: int
    sid: int
    registration: int = 0  # tells a retry of this registration from a new one (a new connection)


@dataclass(frozen=True, slots=True)
class ObserverInfo:
    """Like :class:`FollowerInfo`, from an observer (code 16)."""

    CODE: ClassVar[int] = 16
    accepted_epoch: int
    sid: int
    registration: int = 0


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    """Leader -> learner: the new epoch, ``zxid = (newEpoch, 0)`` (code 17)."""

    CODE: ClassVar[int] = 17
    new_epoch: int


@dataclass(frozen=True, slots=True)
class AckEpoch:
    """Learner -> leader: its currentEpoch (or -1: "already acked this epoch") and last zxid (18)."""

    CODE: ClassVar[int] = 18
    current_epoch: int
    last_zxid: int


@dataclass(frozen=True, slots=True)
class Diff:
    """Sync op: proposals follow; ``zxid`` is the leader's maxCommittedLog (code 13)."""

    CODE: ClassVar[int] = 13
    zxid: int


@dataclass(frozen=True, slots=True)
class Trunc:
    """Sync op: truncate your log to ``zxid`` (code 14)."""

    CODE: ClassVar[int] = 14
    zxid: int


@dataclass(frozen=True, slots=True)
class Snap:
    """Sync op: a full snapshot of the leader's tree at ``zxid`` follows (code 15)."""

    CODE: ClassVar[int] = 15
    zxid: int
    snapshot: bytes


@dataclass(frozen=True, slots=True)
class NewLeader:
    """Leader -> learner after the sync payload: ``zxid = (newEpoch, 0)`` (code 10)."""

    CODE: ClassVar[int] = 10
    zxid: int


@dataclass(frozen=True, slots=True)
class Ack:
    """Learner -> leader: proposal ``zxid`` is logged; also the NEWLEADER ack (code 3)."""

    CODE: ClassVar[int] = 3
    zxid: int


@dataclass(frozen=True, slots=True)
class UpToDate:
    """Leader -> learner: a quorum acked NEWLEADER, start serving (code 12)."""

    CODE: ClassVar[int] = 12


@dataclass(frozen=True, slots=True)
class ProposalPacket:
    """Leader -> followers: log this transaction (code 2)."""

    CODE: ClassVar[int] = 2
    zxid: int
    txn: Any
    cxid: int = -1


@dataclass(frozen=True, slots=True)
class Commit:
    """Leader -> followers: apply ``zxid`` (code 4)."""

    CODE: ClassVar[int] = 4
    zxid: int


@dataclass(frozen=True, slots=True)
class Inform:
    """Leader -> observers: a committed transaction with its payload (code 8)."""

    CODE: ClassVar[int] = 8
    zxid: int
    txn: Any
    cxid: int = -1


@dataclass(frozen=True, slots=True)
class Ping:
    """Both ways; a learner's reply carries the session ids its clients touched (code 5)."""

    CODE: ClassVar[int] = 5
    touched_sessions: tuple = ()


@dataclass(frozen=True, slots=True)
class Request:
    """Learner -> leader: a forwarded client write or ``sync`` (code 1)."""

    CODE: ClassVar[int] = 1
    origin: int  # the server the client is connected to
    request: Any


@dataclass(frozen=True, slots=True)
class SyncReply:
    """Leader -> learner: the reply to a forwarded ``sync`` (code 7)."""

    CODE: ClassVar[int] = 7
    request: Any


QUORUM_PACKETS = (FollowerInfo, ObserverInfo, LeaderInfo, AckEpoch, Diff, Trunc, Snap, NewLeader,
                  Ack, UpToDate, ProposalPacket, Commit, Inform, Ping, Request, SyncReply)
