"""distlab's one codec: a reversible, tagged JSON encoding of plain data and typed values.

Two things serialise distlab values, and both use this module:

- **traces** (:mod:`distlab.sim.trace`): every record, message and typed protocol event is
  written as JSON lines by :data:`distlab.sim.trace.TRACE_CODEC` and read back into the same
  objects, so a saved run is checked and viewed exactly like a live one;
- **the grader's sandbox** (:mod:`distlab.grading.codecs`): values crossing between the grader
  and a learner's process, with a strict allow-list.

Values are JSON with small tags for what JSON lacks:

==============  ==========================================================================
``$tuple``      a tuple (``[...]`` is a list)
``$set``        a set or frozenset, items in canonical order (``frozen`` says which)
``$dict``       a dict, as ``[[key, value], ...]`` in insertion order (keys need not be str)
``$b``          bytes, as hex
``$e``/``v``    an enum member by class and member name
``$t``/``f``    a dataclass or named tuple by class name and its constructor fields
``$x``/``f``    a ZooKeeper or lock error (only their message fields cross)
``$rng``        a ``random.Random`` generator's whole state
==============  ==========================================================================

Decoding rebuilds only classes the codec knows (its *registry*), through their constructors,
so every value is validated again. A **strict** codec (the sandbox's) refuses anything else.
A **lenient** one (the trace's) also writes classes it does not know — a learner's own
message types, say — with their module, and reads them back as :class:`Foreign` values (a
dict with a ``"type"`` key that re-encodes to the same JSON), so a trace always round-trips.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import random
from typing import Any, Callable, Iterable, Mapping

__all__ = ["Codec", "CodecError", "Foreign", "classes_of", "encode_exception", "decode_exception",
           "EXCEPTION_MODULES"]


class CodecError(ValueError):
    """A value that cannot be encoded, or data that does not decode to an allowed value."""


class Foreign(dict):
    """A value of a class the codec does not know, as read back from JSON.

    It is the dict of its fields plus ``"type"`` (the class name), which is how the viewer
    reads messages (:func:`distlab.viz.messages.fields_of`); encoding it again gives the JSON
    it was read from.
    """

    __slots__ = ("tag", "module", "kind")

    def __init__(self, tag: str, module: str | None, kind: str, fields: Mapping[str, Any]) -> None:
        super().__init__({"type": tag, **fields})
        self.tag, self.module, self.kind = tag, module, kind  # kind: "$t", "$e" or "$x"


# Exceptions that may cross (raised into a learner's generator, or by it): every ZooKeeper
# error, and the lock errors. Only their message fields cross, rebuilt by their constructors.
EXCEPTION_MODULES = ("distlab.zk.errors", "distlab.locks.api", "distlab.locks.zk")
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


def classes_of(module_name: str) -> list[type]:
    """The dataclasses, named tuples and enums a module defines (not those it imports)."""
    module = importlib.import_module(module_name)
    found = []
    for name, value in vars(module).items():
        if not isinstance(value, type) or value.__module__ != module_name or value.__name__ != name:
            continue
        if dataclasses.is_dataclass(value) or issubclass(value, enum.Enum) \
                or (issubclass(value, tuple) and hasattr(value, "_fields")):
            found.append(value)
    return found


def _canonical(encoded: Any) -> str:
    return json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Codec:
    """An encoder/decoder over a registry of classes.

    Args:
        allowed: ``"module:Class"`` names of the classes it rebuilds (imported lazily, on
            first use, so a codec can be made at import time without import cycles).
        modules: whole modules whose classes it rebuilds (see :func:`classes_of`).
        lenient: write unknown classes too and read them back as :class:`Foreign` (traces);
            a strict codec raises :class:`CodecError` instead (the sandbox).
    """

    def __init__(self, allowed: Iterable[str] = (), modules: Iterable[str] = (), *, lenient: bool = False,
                 boundary: str = "the sandbox boundary") -> None:
        self._allowed = tuple(allowed)
        self._modules = tuple(modules)
        self.lenient = lenient
        self.boundary = boundary
        self._registry: dict[str, type] = {}

    @property
    def registry(self) -> dict[str, type]:
        """Class name -> class, for every class this codec rebuilds."""
        if not self._registry:
            registry: dict[str, type] = {}
            for spec in self._allowed:
                module, name = spec.split(":")
                registry[name] = getattr(importlib.import_module(module), name)
            for module in self._modules:
                for cls in classes_of(module):
                    other = registry.get(cls.__name__)
                    if other is not None and other is not cls:
                        raise CodecError(f"two classes named {cls.__name__}: {other.__module__} and {module}")
                    registry[cls.__name__] = cls
            self._registry.update(registry)
        return self._registry

    def _refuse(self, name: str, what: str = "a") -> CodecError:
        return CodecError(f"{what} {name} may not cross {self.boundary}")

    # ------------------------------------------------------------------ encode ------------
    def encode(self, value: Any) -> Any:
        """A JSON-ready form of ``value`` (raises CodecError for anything not allowed)."""
        kind = type(value)
        if kind is int or kind is str or kind is bool or value is None:  # most values: exact types first
            return value
        if kind is list:
            return [self.encode(v) for v in value]
        if isinstance(value, Foreign):
            fields = {k: self.encode(v) for k, v in value.items() if k != "type"}
            if value.kind == "$e":
                return {"$e": value.tag, "m": value.module, "v": fields.get("v")}
            return {value.kind: value.tag, "m": value.module, "f": fields}
        if isinstance(value, enum.Enum):  # first: an IntEnum is also an int
            name = type(value).__name__
            if self.registry.get(name) is not type(value):
                if not self.lenient:
                    raise CodecError(f"enum {name} may not cross {self.boundary}")
                return {"$e": name, "m": type(value).__module__, "v": value.name}
            return {"$e": name, "v": value.name}
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise CodecError(f"cannot encode the float {value!r}: JSON has no NaN or infinity")
            return value
        if isinstance(value, (bytes, bytearray)):
            return {"$b": bytes(value).hex()}
        if isinstance(value, BaseException):  # a Pipeline's per-op result may be a ZooKeeper error
            crossing = encode_exception(value)
            if crossing is None:
                if not self.lenient:
                    raise CodecError(f"a {type(value).__name__} may not cross {self.boundary}")
                return {"$x": type(value).__name__, "m": type(value).__module__,
                        "f": {"args": [str(a) for a in value.args]}}
            return crossing
        if type(value) is random.Random:
            version, internal, gauss = value.getstate()
            return {"$rng": [version, list(internal), gauss]}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return {"$tuple": [self.encode(v) for v in value]}
        if isinstance(value, (set, frozenset)):
            return {"$set": sorted((self.encode(v) for v in value), key=_canonical),
                    "frozen": isinstance(value, frozenset)}
        if isinstance(value, dict) or (hasattr(value, "keys") and hasattr(value, "items")
                                       and not dataclasses.is_dataclass(value)):
            return {"$dict": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        name = type(value).__name__
        known = self.registry.get(name) is type(value)
        if not known and not self.lenient:
            raise self._refuse(name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: self.encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        elif isinstance(value, tuple) and hasattr(value, "_fields"):
            fields = {f: self.encode(getattr(value, f)) for f in value._fields}
        else:
            if self.lenient:
                raise CodecError(
                    f"cannot encode a {name}: use a dataclass, named tuple, enum, dict, list, tuple, "
                    f"set, str, int, float, bool, bytes or None")
            raise self._refuse(name)
        if known:
            return {"$t": name, "f": fields}
        return {"$t": name, "m": type(value).__module__, "f": fields}

    # ------------------------------------------------------------------ decode ------------
    def decode(self, data: Any) -> Any:
        """Rebuild a value from :meth:`encode`'s form; only known classes, built normally."""
        if data is None or isinstance(data, (bool, int, float, str)):
            return data
        if isinstance(data, list):
            return [self.decode(v) for v in data]
        if not isinstance(data, dict):
            raise CodecError(f"cannot decode {type(data).__name__}")
        if "$b" in data:
            return bytes.fromhex(_str(data["$b"]))
        if "$x" in data:
            if "m" in data and self.lenient:
                return Foreign(_str(data["$x"]), data["m"], "$x", {k: self.decode(v) for k, v in _fields(data).items()})
            return decode_exception(data)
        if "$rng" in data:
            return _random(data["$rng"])
        if "$tuple" in data:
            return tuple(self.decode(v) for v in _list(data["$tuple"]))
        if "$set" in data:
            items = [self.decode(v) for v in _list(data["$set"])]
            return frozenset(items) if data.get("frozen") else set(items)
        if "$dict" in data:
            return {self.decode(k): self.decode(v) for k, v in _list(data["$dict"])}
        if "$e" in data:
            name = _str(data["$e"])
            cls = self.registry.get(name)
            if "m" in data or cls is None:
                if self.lenient:
                    return Foreign(name, data.get("m"), "$e", {"v": data.get("v")})
                raise CodecError(f"unknown enum {name!r}")
            if not issubclass(cls, enum.Enum):
                raise CodecError(f"unknown enum {name!r}")
            try:
                return cls[_str(data["v"])]
            except KeyError:
                raise CodecError(f"{name} has no member {data['v']!r}") from None
        if "$t" in data:
            name = _str(data["$t"])
            fields = _fields(data)
            cls = self.registry.get(name)
            if "m" in data or cls is None:
                if self.lenient:
                    return Foreign(name, data.get("m"), "$t", {str(k): self.decode(v) for k, v in fields.items()})
                raise self._refuse(repr(name))
            kwargs = {str(k): self.decode(v) for k, v in fields.items()}
            try:
                return cls(**kwargs)
            except Exception as error:  # the class's own validation
                raise CodecError(f"{name}: {type(error).__name__}: {error}") from None
        if self.lenient:  # an untagged object: JSON written by hand or by an older distlab
            return {k: self.decode(v) for k, v in data.items()}
        raise CodecError(f"cannot decode {sorted(data)}")


def _fields(data: dict) -> dict:
    fields = data.get("f")
    if not isinstance(fields, dict):
        raise CodecError(f"{data.get('$t') or data.get('$x')}: fields missing")
    return fields


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


Encoder = Callable[[Any], Any]
