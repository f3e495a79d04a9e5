"""What a message in a trace is, in words: its type, its fields and a short label.

A live trace holds the message objects the processes sent (frozen dataclasses); a trace read
back with :meth:`~distlab.sim.trace.Trace.load` holds their JSON form (dicts with a ``"type"``
field). Everything in ``distlab.viz`` reads messages through :func:`fields_of`, so both look
the same to the viewer.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from distlab.zab.zxid import format_zxid

__all__ = ["fields_of", "kind_of", "label_of", "WIRE_NAMES", "get"]

# Zab packets are called by their ZooKeeper names (Leader.java's packet types); the election
# message is a "vote" (FastLeaderElection.Notification carries one).
WIRE_NAMES = {
    "Notification": "vote",
    "FollowerInfo": "FOLLOWERINFO",
    "ObserverInfo": "OBSERVERINFO",
    "LeaderInfo": "LEADERINFO",
    "AckEpoch": "ACKEPOCH",
    "Diff": "DIFF",
    "Trunc": "TRUNC",
    "Snap": "SNAP",
    "NewLeader": "NEWLEADER",
    "Ack": "ACK",
    "UpToDate": "UPTODATE",
    "ProposalPacket": "PROPOSAL",
    "Commit": "COMMIT",
    "Inform": "INFORM",
    "Ping": "PING",
    "Request": "REQUEST",
    "SyncReply": "SYNC",
}


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.name
    return value


def fields_of(msg: Any) -> tuple[str, dict[str, Any]]:
    """``(type name, shallow field dict)`` of a message object or of its JSON form.

    Enum values become their names (``ServerState.LOOKING`` -> ``"LOOKING"``), as in JSON.
    """
    if isinstance(msg, dict):
        return str(msg.get("type", "message")), msg
    if dataclasses.is_dataclass(msg) and not isinstance(msg, type):
        return type(msg).__name__, {f.name: _plain(getattr(msg, f.name)) for f in dataclasses.fields(msg)}
    if isinstance(msg, tuple) and hasattr(msg, "_fields"):
        return type(msg).__name__, {name: _plain(getattr(msg, name)) for name in msg._fields}
    return type(msg).__name__, {"value": msg}


def get(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a message (object or JSON dict)."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return _plain(getattr(obj, name, default))


def kind_of(msg: Any) -> str:
    """The message's wire name: ``"vote"``, ``"PROPOSAL"``, ... or its class name."""
    name, _ = fields_of(msg)
    return WIRE_NAMES.get(name, name)


def _z(value: Any) -> str:
    return format_zxid(value) if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _op_summary(op: Any) -> str:
    if op is None:
        return ""
    name, f = fields_of(op)
    name = name.replace("Request", "").lower() or "op"
    path = f.get("path")
    return f"{name} {path}" if path else name


def label_of(msg: Any) -> str:
    """A short label for an arrow: the type and the content that matters.

    ``vote (5, 0x1_00000007, e1) r2``, ``PROPOSAL 0x1_00000003``, ``LEADERINFO epoch 2``.
    """
    name, f = fields_of(msg)
    wire = WIRE_NAMES.get(name, name)
    if name == "Notification":
        state = f.get("state")
        tail = "" if state in (None, "LOOKING") else f" {state}"
        leader = f.get("leader")
        if isinstance(leader, int) and leader < -(2**62):
            return f"vote (none) r{f.get('election_epoch')}{tail}"
        return f"vote ({leader}, {_z(f.get('zxid'))}, e{f.get('peer_epoch')}) r{f.get('election_epoch')}{tail}"
    if name in ("FollowerInfo", "ObserverInfo"):
        return f"{wire} acceptedEpoch {f.get('accepted_epoch')}"
    if name == "LeaderInfo":
        return f"{wire} epoch {f.get('new_epoch')}"
    if name == "AckEpoch":
        return f"{wire} epoch {f.get('current_epoch')}, last {_z(f.get('last_zxid'))}"
    if name in ("Diff", "Trunc", "Snap", "NewLeader", "Ack", "ProposalPacket", "Commit", "Inform"):
        return f"{wire} {_z(f.get('zxid'))}"
    if name == "Ping":
        touched = f.get("touched_sessions") or ()
        return f"PING ({len(touched)} sessions)" if touched else "PING"
    if name == "Request":
        request = f.get("request")
        op = request[2] if isinstance(request, (list, tuple)) and len(request) == 3 else None
        return f"REQUEST {_op_summary(op)}".rstrip()
    if name in ("ApiCall", "ClientRequest"):
        return f"{name} {_op_summary(f.get('op'))}".rstrip()
    if name == "ClientReply":
        code = f.get("code")
        return f"reply xid {f.get('xid')}" + ("" if not code else f" error {code}")
    return wire
