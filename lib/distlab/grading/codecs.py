"""Plain data across the sandbox boundary: a tagged JSON encoding for distlab's values.

Only plain data crosses between the grader and a learner's process. Values are encoded as
JSON with small tags for what JSON lacks (tuples, sets, bytes, dicts with non-string keys,
enums, dataclasses, named tuples and ``random.Random`` generators, whose whole state crosses so
that a learner's process draws the same numbers in the grader as in the notebook). Decoding rebuilds only classes on an explicit allow
list, through their constructors, so every value is validated again on the grader's side:
a learner's process can answer wrongly, but it cannot hand the grader an object that
pretends to be something else (the "evil ``__eq__``" trick does not cross a JSON pipe).
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import random
from typing import Any

__all__ = ["encode", "decode", "encode_exception", "decode_exception", "CodecError", "ALLOWED"]


class CodecError(ValueError):
    """A value that cannot be encoded, or data that does not decode to an allowed value."""


# "module:Class" for every class that may cross the boundary.
ALLOWED = (
    "distlab.zab.election:Vote",
    "distlab.zab.election:ElectionState",
    "distlab.zab.election:ElectionStep",
    "distlab.zab.messages:Notification",
    "distlab.zab.messages:ServerState",
    "distlab.zab.messages:Proposal",
    "distlab.zab.messages:Diff",
    "distlab.zab.messages:Trunc",
    "distlab.zab.messages:ProposalPacket",
    "distlab.zab.messages:Commit",
    "distlab.zab.follower:FollowerLog",
    "distlab.zab.follower:FollowerStep",
    "distlab.zab.learner_sync:SyncView",
    "distlab.zab.learner_sync:SyncStep",
    "distlab.zab.messages:NewLeader",
    "distlab.zab.messages:UpToDate",
    "distlab.zab.messages:Snap",
    "distlab.zab.messages:Inform",
    "distlab.zab.sync:LeaderHistory",
    "distlab.zab.sync:SyncPlan",
    "distlab.zab.sync:SyncMode",
    "distlab.zk.stat:CreateMode",
    "distlab.zk.watches:EventType",
    "distlab.sansio:Start",
    "distlab.sansio:Deliver",
    "distlab.sansio:Timer",
    "distlab.sansio:Disconnected",
    # the lock recipe's operations (a learner's recipe yields them; results come back)
    "distlab.locks.zk:Now",
    "distlab.locks.zk:Session",
    "distlab.locks.zk:Create",
    "distlab.locks.zk:GetChildren",
    "distlab.locks.zk:GetData",
    "distlab.locks.zk:SetData",
    "distlab.locks.zk:Exists",
    "distlab.locks.zk:Delete",
    "distlab.locks.zk:Pipeline",
    "distlab.locks.zk:AwaitWatch",
    "distlab.locks.zk:Sleep",
    "distlab.zk.stat:Stat",
    "distlab.zk.watches:WatchedEvent",
    "distlab.zk.watches:KeeperState",
    # Lab 3's data tree: the txns it applies, the results and stats it returns
    "distlab.zk.ops:CreateTxn",
    "distlab.zk.ops:DeleteTxn",
    "distlab.zk.ops:SetDataTxn",
    "distlab.zk.ops:CheckVersionTxn",
    "distlab.zk.ops:ErrorTxn",
    "distlab.zk.ops:MultiTxn",
    "distlab.zk.ops:CreateSessionTxn",
    "distlab.zk.ops:CloseSessionTxn",
    "distlab.zk.ops:CreateResult",
    "distlab.zk.ops:DeleteResult",
    "distlab.zk.ops:SetDataResult",
    "distlab.zk.ops:CheckResult",
    "distlab.zk.ops:ErrorResult",
    "distlab.zk.ops:MultiResult",
    "distlab.zk.ops:CreateSessionResult",
    "distlab.zk.ops:CloseSessionResult",
    "distlab.zk.tree:ApplyResult",
    "distlab.zk.stat:StatPersisted",
)
# Exceptions that may cross (raised into a learner's generator, or by it): every ZooKeeper
# error, and the lock errors. Only their message fields cross, rebuilt by their constructors.
EXCEPTION_MODULES = ("distlab.zk.errors", "distlab.locks.api", "distlab.locks.zk")
_CLASSES: dict[str, type] = {}


def _classes() -> dict[str, type]:
    if not _CLASSES:
        for spec in ALLOWED:
            module, name = spec.split(":")
            _CLASSES[name] = getattr(importlib.import_module(module), name)
    return _CLASSES


_EXCEPTIONS: dict[str, type] = {}


def _exceptions() -> dict[str, type]:
    if not _EXCEPTIONS:
        from distlab.locks.api import LockError
        from distlab.zk.errors import KeeperError

        for module in EXCEPTION_MODULES:
            for name, value in vars(importlib.import_module(module)).items():
                if isinstance(value, type) and issubclass(value, (KeeperError, LockError)) \
                        and value is not KeeperError and value.__name__ == name:
                    _EXCEPTIONS[name] = value
    return _EXCEPTIONS


def encode_exception(error: BaseException) -> Any:
    """``error`` as data if it is one of the exceptions that may cross, else None."""
    from distlab.locks.api import LockError
    from distlab.zk.errors import KeeperError

    name = type(error).__name__
    if _exceptions().get(name) is not type(error):
        return None
    if isinstance(error, KeeperError):
        return {"$x": name, "f": {"path": error.path, "detail": error.detail}}
    if isinstance(error, LockError):
        return {"$x": name, "f": {"message": str(error.args[0]) if error.args else "", "lock": error.lock}}
    return None


def decode_exception(data: Any) -> BaseException:
    """The exception :func:`encode_exception` described (CodecError if it is not allowed)."""
    if not isinstance(data, dict) or "$x" not in data or not isinstance(data.get("f"), dict):
        raise CodecError("not an exception")
    cls = _exceptions().get(_str(data["$x"]))
    if cls is None:
        raise CodecError(f"exception {data['$x']!r} may not cross the sandbox boundary")
    fields = data["f"]
    text = [v for v in fields.values() if v is not None and not isinstance(v, str)]
    if text:
        raise CodecError(f"{data['$x']}: fields must be strings or null")
    from distlab.zk.errors import KeeperError

    if issubclass(cls, KeeperError):
        return cls(fields.get("path"), fields.get("detail"))
    return cls(fields.get("message") or "", lock=fields.get("lock"))


def encode(value: Any) -> Any:
    """A JSON-ready form of ``value`` (raises CodecError for anything not allowed)."""
    if isinstance(value, enum.Enum):  # first: an IntEnum is also an int
        name = type(value).__name__
        if _classes().get(name) is not type(value):
            raise CodecError(f"enum {name} may not cross the sandbox boundary")
        return {"$e": name, "v": value.name}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"$b": bytes(value).hex()}
    if isinstance(value, BaseException):  # a Pipeline's per-op result may be a ZooKeeper error
        crossing = encode_exception(value)
        if crossing is None:
            raise CodecError(f"a {type(value).__name__} may not cross the sandbox boundary")
        return crossing
    if type(value) is random.Random:
        version, internal, gauss = value.getstate()
        return {"$rng": [version, list(internal), gauss]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted((encode(v) for v in value), key=repr), "frozen": isinstance(value, frozenset)}
    if isinstance(value, dict) or (hasattr(value, "keys") and hasattr(value, "items") and not dataclasses.is_dataclass(value)):
        return {"$dict": [[encode(k), encode(v)] for k, v in value.items()]}
    name = type(value).__name__
    cls = _classes().get(name)
    if cls is not type(value):
        raise CodecError(f"a {name} may not cross the sandbox boundary")
    if dataclasses.is_dataclass(value):
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return {"$t": name, "f": fields}
    if hasattr(value, "_fields"):
        fields = {f: encode(getattr(value, f)) for f in value._fields}
        return {"$t": name, "f": fields}
    raise CodecError(f"a {name} may not cross the sandbox boundary")


def decode(data: Any) -> Any:
    """Rebuild a value from :func:`encode`'s form; only allowed classes, built normally."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        raise CodecError(f"cannot decode {type(data).__name__}")
    if "$b" in data:
        return bytes.fromhex(_str(data["$b"]))
    if "$x" in data:
        return decode_exception(data)
    if "$rng" in data:
        return _random(data["$rng"])
    if "$tuple" in data:
        return tuple(decode(v) for v in _list(data["$tuple"]))
    if "$set" in data:
        items = [decode(v) for v in _list(data["$set"])]
        return frozenset(items) if data.get("frozen") else set(items)
    if "$dict" in data:
        return {decode(k): decode(v) for k, v in _list(data["$dict"])}
    if "$e" in data:
        cls = _classes().get(_str(data["$e"]))
        if cls is None or not issubclass(cls, enum.Enum):
            raise CodecError(f"unknown enum {data['$e']!r}")
        try:
            return cls[_str(data["v"])]
        except KeyError:
            raise CodecError(f"{data['$e']} has no member {data['v']!r}") from None
    if "$t" in data:
        cls = _classes().get(_str(data["$t"]))
        if cls is None:
            raise CodecError(f"a {data['$t']!r} may not cross the sandbox boundary")
        fields = data.get("f")
        if not isinstance(fields, dict):
            raise CodecError(f"{data['$t']}: fields missing")
        kwargs = {str(k): decode(v) for k, v in fields.items()}
        try:
            return cls(**kwargs)
        except Exception as error:  # the class's own validation
            raise CodecError(f"{data['$t']}: {type(error).__name__}: {error}") from None
    raise CodecError(f"cannot decode {sorted(data)}")


def _random(state: Any) -> random.Random:
    """A generator in exactly the state encoded (Mersenne Twister: 624 words and a position)."""
    if not (isinstance(state, list) and len(state) == 3 and state[0] == 3):
        raise CodecError("a random generator's state must be [3, [625 ints], gauss]")
    internal, gauss = _list(state[1]), state[2]
    if len(internal) != 625 or not all(type(w) is int and 0 <= w < 2**32 for w in internal[:624]) \
            or not (type(internal[624]) is int and 0 <= internal[624] <= 624):
        raise CodecError("a random generator's state must hold 624 32-bit words and a position <= 624")
    if gauss is not None and not isinstance(gauss, float):
        raise CodecError("a random generator's gauss_next must be None or a float")
    rng = random.Random()
    rng.setstate((3, tuple(internal), gauss))
    return rng


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise CodecError(f"expected a string, got {type(value).__name__}")
    return value


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise CodecError(f"expected a list, got {type(value).__name__}")
    return value
