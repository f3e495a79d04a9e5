"""A data tree of your own inside the servers: the seam ``Impl(tree=...)`` plugs into.

A server (``QuorumPeer``) reads and writes its tree through the interface of
:class:`distlab.zk.tree.DataTree`: ``apply(txn)``, the reads that leave watches, the stat
``prepare`` reads, ``sessions``, ``last_processed_zxid``, ``snapshot()``, ``digest()`` and
``DataTree.restore``. Lab 3's learners write a class with the *apply step* and a few plain
methods (the seam, all methods, so it can also live in the grader's sandbox)::

    apply(txn, zxid) -> ApplyResult          # the apply step (DataTree.processTxn)
    get_data(path, watcher) / exists(path, watcher) / get_children(path, watcher)
    stat_persisted(path) -> StatPersisted | None
    ephemerals(session_id) -> frozenset[str]
    sessions() -> dict[int, int]             # session id -> timeout
    last_processed() -> int
    remove_watcher(watcher) -> int
    state() -> dict                          # {"nodes": {path: (data, StatPersisted, children)}, ...}
    load(state)                              # the inverse of state() (a snapshot restored)

:class:`PluggedTree` wraps such an object so a server sees a ``DataTree``; :func:`tree_factory`
makes the value for ``Impl(tree=...)``. Snapshots and digests are computed from ``state()``
in ``DataTree``'s own format, so a learner's tree and the reference agree byte for byte when
they hold the same nodes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Callable, Hashable

from distlab.zk.stat import StatPersisted

__all__ = ["PluggedTree", "tree_factory", "TreeFactory"]

_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion", "ephemeralOwner", "pzxid")
_FORMAT = "distlab.zk.snapshot/1"  # distlab.zk.tree.SNAPSHOT_FORMAT


def _call(obj: Any, method: str, *args: Any) -> Any:
    """``obj.method(*args)``; a ZooKeeper error raised in a sandbox arrives as itself."""
    try:
        return getattr(obj, method)(*args)
    except Exception as error:
        crossing = getattr(error, "exception", None)  # grading.sandbox.LearnerError
        if crossing is not None and type(error).__name__ == "LearnerError":
            raise crossing from None
        raise


class PluggedTree:
    """A tree object with the seam's methods, seen by a server as a ``DataTree``."""

    def __init__(self, seam: Any) -> None:
        self.seam = seam
        self._refresh()

    def _refresh(self) -> None:
        self._last = _call(self.seam, "last_processed")
        self._sessions = dict(_call(self.seam, "sessions"))

    # --- what the servers use -----------------------------------------------------------
    def apply(self, txn: Any, zxid: int | None = None) -> Any:
        from distlab.zk.tree import ApplyResult

        applied = _call(self.seam, "apply", txn, txn.zxid if zxid is None else zxid)
        if not isinstance(applied, ApplyResult):
            raise TypeError(f"apply({type(txn).__name__}) must return an ApplyResult(zxid, result, events), "
                            f"got {type(applied).__name__}")
        self._refresh()
        return applied

    @property
    def last_processed_zxid(self) -> int:
        return self._last

    @property
    def sessions(self) -> dict[int, int]:
        return dict(self._sessions)

    def get_data(self, path: str, watcher: Hashable | None = None) -> Any:
        data, stat = _call(self.seam, "get_data", path, watcher)
        return data, stat

    def exists(self, path: str, watcher: Hashable | None = None) -> Any:
        return _call(self.seam, "exists", path, watcher)

    def get_children(self, path: str, watcher: Hashable | None = None) -> list[str]:
        return list(_call(self.seam, "get_children", path, watcher))

    def stat_persisted(self, path: str) -> StatPersisted | None:
        return _call(self.seam, "stat_persisted", path)

    def num_children(self, path: str) -> int:
        stat = self.exists(path)
        return 0 if stat is None else stat.numChildren

    def acl_of(self, path: str) -> tuple:
        return ()  # ACLs are not part of the seam: every node is open (OPEN_ACL_UNSAFE)

    def ephemerals(self, session_id: int) -> frozenset[str]:
        return frozenset(_call(self.seam, "ephemerals", session_id))

    def remove_watcher(self, watcher: Hashable) -> int:
        return _call(self.seam, "remove_watcher", watcher)

    def __contains__(self, path: object) -> bool:
        return self.stat_persisted(path) is not None  # type: ignore[arg-type]

    def paths(self) -> list[str]:
        return sorted(_call(self.seam, "state")["nodes"])

    def __len__(self) -> int:
        return len(self.paths())

    def snapshot(self) -> bytes:
        """``DataTree.snapshot``'s bytes, from the seam's ``state()``."""
        state = _call(self.seam, "state")
        doc = {
            "format": _FORMAT,
            "last_processed_zxid": self._last,
            "nodes": [{"path": path, "data": base64.b64encode(data).decode("ascii"),
                       "stat": {name: getattr(stat, name) for name in _FIELDS}}
                      for path, (data, stat, _children) in sorted(state["nodes"].items())],
            "sessions": [[sid, timeout] for sid, timeout in sorted(self._sessions.items())],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def digest(self) -> str:
        """``DataTree.digest``: SHA-256 over every node's path, stored stat and data."""
        digest = hashlib.sha256()
        for path, (data, stat, _children) in sorted(_call(self.seam, "state")["nodes"].items()):
            digest.update(json.dumps([path, [getattr(stat, n) for n in _FIELDS]], separators=(",", ":")).encode())
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
        return digest.hexdigest()

    def __repr__(self) -> str:
        return f"<PluggedTree over {type(self.seam).__name__}, last zxid 0x{self._last:x}>"


class TreeFactory:
    """``Impl(tree=...)``: ``factory()`` is a fresh tree, ``factory.restore(bytes)`` one from a snapshot."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make

    def __call__(self) -> PluggedTree:
        return PluggedTree(self.make())

    def restore(self, snapshot: bytes) -> PluggedTree:
        doc = json.loads(snapshot)
        seam = self.make()
        nodes = {}
        children: dict[str, list[str]] = {entry["path"]: [] for entry in doc["nodes"]}
        for entry in doc["nodes"]:
            path = entry["path"]
            if path != "/":
                parent = path.rsplit("/", 1)[0] or "/"
                children[parent].append(path.rsplit("/", 1)[1])
        for entry in doc["nodes"]:
            stat = StatPersisted(**{n: int(entry["stat"][n]) for n in _FIELDS})
            nodes[entry["path"]] = (base64.b64decode(entry["data"]), stat, tuple(sorted(children[entry["path"]])))
        _call(seam, "load", {"nodes": nodes, "sessions": {int(s): int(t) for s, t in doc["sessions"]},
                             "last": int(doc["last_processed_zxid"])})
        return PluggedTree(seam)

    def __repr__(self) -> str:
        return f"tree_factory({getattr(self.make, '__name__', self.make)!r})"


def tree_factory(make: Callable[[], Any]) -> TreeFactory:
    """The value for ``Impl(tree=...)`` that runs ``make()``'s trees (a class with the seam)."""
    return TreeFactory(make)
