"""The znode tree (``server/DataTree.java``, ``DataNode.java``): apply txns, serve reads.

A ``DataTree`` holds every znode (path -> ``DataNode``), the ephemerals of each session, the
open sessions (ZooKeeper keeps those in ``ZKDatabase``), the two watch tables, and the zxid
of the last txn applied. A fresh tree is ZooKeeper's::

    /                    stat all zero; visible cversion -1 (no creates counted, 1 child)
    /zookeeper           the system subtree; visible cversion -2
    /zookeeper/quota     (quotas are not modelled)
    /zookeeper/config    the ensemble config, read-only for clients; aversion -1

It changes only through ``apply(txn)``, with txns made by ``ops.prepare``, in increasing
zxid order; a txn at or below ``last_processed_zxid`` is refused (``TxnOrderError``), and a
txn that does not fit the tree (a create whose parent is missing, ...) is refused with
``RuntimeInconsistencyError``, both before anything changes. ZooKeeper instead tolerates
replays (needed for its fuzzy snapshots) by moving pzxid/cversion only forward; distlab's
snapshots are exact, so a replay is a bug worth reporting.

Reads (``get_data``, ``exists``, ``get_children``) return frozen values and may leave a
one-shot watch; ``apply`` returns the events its txn fired. Children are returned sorted
(ZooKeeper returns them in HashSet order, i.e. unordered): distlab wants reproducible runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Hashable, Mapping

from distlab.zk.acl import ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id
from distlab.zk.errors import (
    BadArgumentsError,
    MarshallingError,
    NoNodeError,
    RuntimeInconsistencyError,
    TxnOrderError,
)
from distlab.zk.ops import (
    CheckResult,
    CheckVersionTxn,
    CloseSessionResult,
    CloseSessionTxn,
    CreateResult,
    CreateSessionResult,
    CreateSessionTxn,
    CreateTxn,
    DeleteResult,
    DeleteTxn,
    ErrorResult,
    ErrorTxn,
    MultiResult,
    MultiTxn,
    OpResult,
    SetACLResult,
    SetACLTxn,
    SetDataResult,
    SetDataTxn,
    Txn,
)
from distlab.zk.paths import (
    CONFIG_PATH,
    QUOTA_PATH,
    ROOT_PATH,
    ZOOKEEPER_PATH,
    basename,
    parent_of,
    validate_path,
)
from distlab.zk.stat import Stat, StatPersisted
from distlab.zk.watches import EventType, WatchedEvent, WatchManager

__all__ = ["DataNode", "DataTree", "ApplyResult", "SNAPSHOT_FORMAT"]

SNAPSHOT_FORMAT = "distlab.zk.snapshot/1"
_STAT_FIELDS = tuple(f.name for f in fields(StatPersisted))
_ZERO_STAT = StatPersisted(0, 0, 0, 0, 0, 0, 0, 0, 0)


class DataNode:
    """One znode's state inside the tree (``DataNode``): data, stored stat, child names.

    Internal and mutable; the tree never hands one out. Callers get ``Stat`` values.
    """

    __slots__ = ("data", "stat", "children", "acl")

    def __init__(self, data: bytes, stat: StatPersisted, acl: tuple[ACL, ...] = ()) -> None:
        self.data = data
        self.stat = stat
        self.children: set[str] = set()
        self.acl = acl  # () is open to all (OPEN_ACL_UNSAFE)

    def to_stat(self) -> Stat:
        """The caller's view (``DataNode.copyStat``)."""
        return self.stat.to_stat(len(self.data), len(self.children))


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What applying one txn did: its ``zxid``, its ``result`` and the ``events`` it fired.

    Events are in firing order; each is addressed to one watcher.
    """

    zxid: int
    result: OpResult
    events: tuple[WatchedEvent, ...]


class DataTree:
    """ZooKeeper's in-memory database: znodes, ephemerals, sessions, watches (``DataTree``)."""

    def __init__(self) -> None:
        self._nodes: dict[str, DataNode] = {}
        self._ephemerals: dict[int, set[str]] = {}  # session id -> paths it owns
        # session id -> timeout; ZooKeeper keeps this in ZKDatabase.sessionsWithTimeouts
        self._sessions: dict[int, int] = {}
        self._last_processed_zxid = 0
        self.data_watches = WatchManager()
        self.child_watches = WatchManager()
        # The DataTree constructor: root, /zookeeper, /zookeeper/quota, then addConfigNode,
        # whose setACL(..., -1) leaves /zookeeper/config with aversion -1.
        for path, stat in (
            (ROOT_PATH, _ZERO_STAT),
            (ZOOKEEPER_PATH, _ZERO_STAT),
            (QUOTA_PATH, _ZERO_STAT),
            (CONFIG_PATH, replace(_ZERO_STAT, aversion=-1)),
        ):
            self._add_node(path, DataNode(b"", stat))
        self._nodes[CONFIG_PATH].acl = READ_ACL_UNSAFE  # ZooDefs.Ids.READ_ACL_UNSAFE

    # --- reads ------------------------------------------------------------------------------

    @property
    def last_processed_zxid(self) -> int:
        """Zxid of the last txn applied (0 for a fresh tree)."""
        return self._last_processed_zxid

    @property
    def sessions(self) -> Mapping[int, int]:
        """Open sessions, id -> timeout in ms (read-only view)."""
        return MappingProxyType(self._sessions)

    def get_data(self, path: str, watcher: Hashable | None = None) -> tuple[bytes, Stat]:
        """Data and stat of ``path``; with ``watcher``, leave a data watch (``DataTree.getData``).

        Raises:
            NoNodeError: no node at ``path`` (and no watch is left).
        """
        node = self._require(path)
        if watcher is not None:
            self.data_watches.add_watch(path, watcher)
        return node.data, node.to_stat()

    def exists(self, path: str, watcher: Hashable | None = None) -> Stat | None:
        """Stat of ``path``, or None; with ``watcher``, leave a data watch **even if missing**.

        Rule from ``DataTree.statNode``: the watch is added before the lookup, so ``exists``
        can wait for a node to be created.
        """
        if watcher is not None:
            self.data_watches.add_watch(path, watcher)
        node = self._nodes.get(path)
        return None if node is None else node.to_stat()

    def get_children(self, path: str, watcher: Hashable | None = None) -> list[str]:
        """Names of ``path``'s children, sorted; with ``watcher``, leave a child watch.

        Raises:
            NoNodeError: no node at ``path`` (and no watch is left).
        """
        node = self._require(path)
        if watcher is not None:
            self.child_watches.add_watch(path, watcher)
        return sorted(node.children)

    def stat_persisted(self, path: str) -> StatPersisted | None:
        """The stored stat of ``path`` (stored cversion), or None if there is no such node."""
        node = self._nodes.get(path)
        return None if node is None else node.stat

    def acl_of(self, path: str) -> tuple[ACL, ...]:
        """The ACL of ``path`` (``DataTree.getACL``); () if there is no such node."""
        node = self._nodes.get(path)
        if node is None:
            return ()
        return node.acl or OPEN_ACL_UNSAFE

    def num_children(self, path: str) -> int:
        """How many children ``path`` has (0 if there is no such node)."""
        node = self._nodes.get(path)
        return 0 if node is None else len(node.children)

    def ephemerals(self, session_id: int) -> frozenset[str]:
        """Paths of the ephemeral nodes ``session_id`` owns (``DataTree.getEphemerals``)."""
        return frozenset(self._ephemerals.get(session_id, ()))

    def paths(self) -> list[str]:
        """Every node's path, sorted."""
        return sorted(self._nodes)

    def __contains__(self, path: object) -> bool:
        return path in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def watch_count(self) -> int:
        """Watches in both tables together."""
        return self.data_watches.watch_count + self.child_watches.watch_count

    def remove_watcher(self, watcher: Hashable) -> int:
        """Drop all of ``watcher``'s watches, e.g. when its session ends (``removeCnxn``)."""
        removed = self.data_watches.remove_watcher(watcher)
        return removed + self.child_watches.remove_watcher(watcher)

    def _require(self, path: str) -> DataNode:
        node = self._nodes.get(path)
        if node is None:
            raise NoNodeError(path, "node does not exist")
        return node

    # --- apply ------------------------------------------------------------------------------

    def apply(self, txn: Txn, zxid: int | None = None) -> ApplyResult:
        """Perform ``txn`` and return its result and the watch events it fired.

        Rule from ``DataTree.processTxn``. ``zxid`` may be passed for symmetry with
        ZooKeeper's (header, txn) pair; it must equal ``txn.zxid``.

        Raises:
            TxnOrderError: ``txn.zxid`` is not after ``last_processed_zxid``.
            RuntimeInconsistencyError: the txn does not fit the tree (it was not prepared
                against this tree's state).
            Either way nothing changed.
        """
        if zxid is not None and zxid != txn.zxid:
            raise ValueError(f"zxid 0x{zxid:x} given for a txn with zxid 0x{txn.zxid:x}")
        if txn.zxid <= self._last_processed_zxid:
            raise TxnOrderError(
                None,
                f"txn zxid 0x{txn.zxid:x} is not after last processed zxid "
                f"0x{self._last_processed_zxid:x}",
            )
        _FitCheck(self).check(txn)
        events: list[WatchedEvent] = []
        result = self._apply(txn, events)
        # Only once the whole txn (a multi included) is in: a snapshot never sees half a multi.
        self._last_processed_zxid = txn.zxid
        return ApplyResult(txn.zxid, result, tuple(events))

    def _apply(self, txn: Txn, events: list[WatchedEvent]) -> OpResult:
        if isinstance(txn, CreateTxn):
            return self._create_node(txn, events)
        if isinstance(txn, DeleteTxn):
            self._delete_node(txn.path, txn.zxid, events)
            return DeleteResult(txn.path)
        if isinstance(txn, SetDataTxn):
            return self._set_data(txn, events)
        if isinstance(txn, CheckVersionTxn):
            return CheckResult(txn.path)
        if isinstance(txn, SetACLTxn):
            # DataTree.setACL: the ACL and aversion change; no watch fires
            node = self._nodes[txn.path]
            node.acl = txn.acl
            node.stat = replace(node.stat, aversion=txn.aversion)
            return SetACLResult(txn.path, node.to_stat())
        if isinstance(txn, ErrorTxn):
            return ErrorResult(txn.err)
        if isinstance(txn, MultiTxn):
            return self._apply_multi(txn, events)
        if isinstance(txn, CreateSessionTxn):
            self._sessions[txn.session_id] = txn.timeout
            return CreateSessionResult(txn.session_id, txn.timeout)
        if isinstance(txn, CloseSessionTxn):
            return self._kill_session(txn, events)
        raise TypeError(f"not a txn: {txn!r}")

    def _create_node(self, txn: CreateTxn, events: list[WatchedEvent]) -> CreateResult:
        """``DataTree.createNode``: add the node, bump the parent's stored cversion and pzxid."""
        parent_path = parent_of(txn.path)
        parent = self._nodes[parent_path]
        owner = txn.session_id if txn.ephemeral else 0
        node = DataNode(txn.data, StatPersisted.for_create(txn.zxid, txn.time, owner), txn.acl)
        # ZooKeeper only moves these forward (replays); apply refuses replays, so just set.
        parent.stat = replace(parent.stat, cversion=txn.parent_cversion, pzxid=txn.zxid)
        self._add_node(txn.path, node)
        events += self.data_watches.trigger(txn.path, EventType.NodeCreated, txn.zxid)
        events += self.child_watches.trigger(parent_path, EventType.NodeChildrenChanged, txn.zxid)
        return CreateResult(txn.path, node.to_stat())

    def _delete_node(self, path: str, zxid: int, events: list[WatchedEvent]) -> None:
        """``DataTree.deleteNode``: remove the node; the parent's pzxid moves, cversion not."""
        parent_path = parent_of(path)
        parent = self._nodes[parent_path]
        node = self._nodes.pop(path)
        parent.children.discard(basename(path))
        parent.stat = replace(parent.stat, pzxid=max(parent.stat.pzxid, zxid))
        owner = node.stat.ephemeralOwner
        if owner != 0:
            owned = self._ephemerals[owner]
            owned.discard(path)
            if not owned:
                del self._ephemerals[owner]
        fired = self.data_watches.trigger(path, EventType.NodeDeleted, zxid)
        events += fired
        # A watcher in both tables gets one NodeDeleted (the data table's).
        events += self.child_watches.trigger(
            path, EventType.NodeDeleted, zxid, suppress={e.watcher for e in fired}
        )
        events += self.child_watches.trigger(parent_path, EventType.NodeChildrenChanged, zxid)

    def _set_data(self, txn: SetDataTxn, events: list[WatchedEvent]) -> SetDataResult:
        """``DataTree.setData``: new data, version, mtime and mzxid; nothing else."""
        node = self._nodes[txn.path]
        node.data = txn.data
        node.stat = replace(node.stat, version=txn.version, mtime=txn.time, mzxid=txn.zxid)
        events += self.data_watches.trigger(txn.path, EventType.NodeDataChanged, txn.zxid)
        return SetDataResult(txn.path, node.to_stat())

    def _apply_multi(self, txn: MultiTxn, events: list[WatchedEvent]) -> MultiResult:
        """``DataTree.processTxn``, case multi.

        A failed multi (any ErrorTxn inside) changes nothing and fires nothing: ops before
        the failing one report OK (0), the failing one its code, later ones -2.
        """
        if txn.failed:
            results: list[OpResult] = []
            after_failure = False
            for sub in txn.txns:
                if isinstance(sub, ErrorTxn):
                    after_failure = True
                    results.append(ErrorResult(sub.err))
                else:
                    results.append(ErrorResult(-2 if after_failure else 0))
            return MultiResult(tuple(results))
        return MultiResult(tuple(self._apply(sub, events) for sub in txn.txns))

    def _kill_session(self, txn: CloseSessionTxn, events: list[WatchedEvent]) -> CloseSessionResult:
        """``DataTree.killSession``: delete the txn's paths, then any the session still owns.

        Paths already gone are skipped, as ZooKeeper does (it logs a warning).
        """
        deleted = []
        leftovers = sorted(self._ephemerals.get(txn.session_id, set()) - set(txn.paths))
        for path in (*txn.paths, *leftovers):
            if path in self._nodes:
                self._delete_node(path, txn.zxid, events)
                deleted.append(path)
        self._sessions.pop(txn.session_id, None)
        return CloseSessionResult(txn.session_id, tuple(deleted))

    def _add_node(self, path: str, node: DataNode) -> None:
        self._nodes[path] = node
        if path != ROOT_PATH:
            self._nodes[parent_of(path)].children.add(basename(path))
        owner = node.stat.ephemeralOwner
        if owner != 0:
            self._ephemerals.setdefault(owner, set()).add(path)

    # --- snapshot and digest ----------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole tree as canonical JSON bytes (``DataTree.serialize``, ``FileSnap``).

        Holds every node (path, data as base64, the stored stat, so ephemeral owners and
        sequence counters too), the open sessions and ``last_processed_zxid``. Watches are
        not included, as in ZooKeeper. Equal trees give equal bytes.
        """
        doc = {
            "format": SNAPSHOT_FORMAT,
            "last_processed_zxid": self._last_processed_zxid,
            "nodes": [
                {
                    "path": path,
                    "data": base64.b64encode(node.data).decode("ascii"),
                    "stat": {name: getattr(node.stat, name) for name in _STAT_FIELDS},
                    # only nodes given an ACL carry one (keeps ACL-free snapshots as they were)
                    **({"acl": [[a.perms, a.id.scheme, a.id.id] for a in node.acl]}
                       if node.acl and path != CONFIG_PATH else {}),
                }
                for path, node in sorted(self._nodes.items())
            ],
            "sessions": [[sid, timeout] for sid, timeout in sorted(self._sessions.items())],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def restore(cls, snapshot: bytes) -> DataTree:
        """A tree equal to the one ``snapshot`` was taken from (``DataTree.deserialize``).

        Raises:
            MarshallingError: the bytes are not a well-formed distlab snapshot.
        """
        try:
            doc = json.loads(snapshot)
            if doc.get("format") != SNAPSHOT_FORMAT:
                raise ValueError(f"format is {doc.get('format')!r}, expected {SNAPSHOT_FORMAT!r}")
            tree = cls.__new__(cls)
            tree._nodes = {}
            tree._ephemerals = {}
            tree._sessions = {int(sid): int(timeout) for sid, timeout in doc["sessions"]}
            tree._last_processed_zxid = int(doc["last_processed_zxid"])
            tree.data_watches = WatchManager()
            tree.child_watches = WatchManager()
            # Sorted paths put every parent before its children.
            for entry in sorted(doc["nodes"], key=lambda e: e["path"]):
                path = entry["path"]
                validate_path(path)
                if path in tree._nodes:
                    raise ValueError(f"node {path} appears twice")
                if path != ROOT_PATH and parent_of(path) not in tree._nodes:
                    raise ValueError(f"node {path} has no parent in the snapshot")
                stat = StatPersisted(**{name: int(entry["stat"][name]) for name in _STAT_FIELDS})
                data = base64.b64decode(entry["data"], validate=True)
                acl = tuple(ACL(int(p), Id(str(sc), str(i))) for p, sc, i in entry.get("acl", ()))
                if path == CONFIG_PATH:
                    acl = READ_ACL_UNSAFE
                tree._add_node(path, DataNode(data, stat, acl))
            if ROOT_PATH not in tree._nodes:
                raise ValueError("the snapshot has no root node")
        except (ValueError, KeyError, TypeError, AttributeError, BadArgumentsError) as error:
            raise MarshallingError(None, f"not a valid distlab snapshot: {error}") from error
        return tree

    def digest(self) -> str:
        """SHA-256 (hex) over every node's path, data and stored stat, in path order.

        Like ZooKeeper's tree digest (``DigestCalculator``) it covers nodes only, not
        sessions, watches or ``last_processed_zxid``: replicas that applied the same txns
        agree, and any difference in a node's data or stat changes it.
        """
        digest = hashlib.sha256()
        for path in sorted(self._nodes):
            node = self._nodes[path]
            stat = [getattr(node.stat, name) for name in _STAT_FIELDS]
            digest.update(json.dumps([path, stat], separators=(",", ":")).encode("utf-8"))
            digest.update(len(node.data).to_bytes(8, "big"))
            digest.update(node.data)
        return digest.hexdigest()

    def __eq__(self, other: object) -> bool:
        """Same nodes, stats, sessions and last zxid (watches are not compared)."""
        if not isinstance(other, DataTree):
            return NotImplemented
        return self.snapshot() == other.snapshot()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"<DataTree {len(self._nodes)} nodes, last zxid 0x{self._last_processed_zxid:x}, "
            f"{len(self._sessions)} sessions, {self.watch_count} watches>"
        )


class _FitCheck:
    """Checks that a txn fits the tree before ``apply`` changes anything.

    Structural checks only (parents exist, targets exist or not, deleted nodes are leaves);
    ``prepare`` already made every decision. A multi is checked op by op against the effect of
    its earlier ops.
    """

    def __init__(self, tree: DataTree) -> None:
        self._tree = tree
        self._exists: dict[str, bool] = {}  # overlay of this txn's earlier creates and deletes
        self._child_delta: dict[str, int] = {}

    def check(self, txn: Txn) -> None:
        if isinstance(txn, MultiTxn):
            if not txn.failed:
                for sub in txn.txns:
                    self._check_one(sub)
        else:
            self._check_one(txn)

    def _exists_now(self, path: str) -> bool:
        return self._exists.get(path, path in self._tree._nodes)

    def _children_now(self, path: str) -> int:
        return self._tree.num_children(path) + self._child_delta.get(path, 0)

    def _refuse(self, txn: Txn, path: str, why: str) -> None:
        raise RuntimeInconsistencyError(
            path, f"{type(txn).__name__} 0x{txn.zxid:x} does not fit the tree: {why}"
        )

    def _check_one(self, txn: Txn) -> None:
        if isinstance(txn, CreateTxn):
            parent = parent_of(txn.path)
            if not self._exists_now(parent):
                self._refuse(txn, txn.path, f"parent {parent} does not exist")
            if self._exists_now(txn.path):
                self._refuse(txn, txn.path, "node already exists")
            self._exists[txn.path] = True
            self._child_delta[parent] = self._child_delta.get(parent, 0) + 1
        elif isinstance(txn, DeleteTxn):
            if txn.path == ROOT_PATH or not self._exists_now(txn.path):
                self._refuse(txn, txn.path, "no such node")
            if self._children_now(txn.path) > 0:
                self._refuse(txn, txn.path, "node has children")
            self._exists[txn.path] = False
            parent = parent_of(txn.path)
            self._child_delta[parent] = self._child_delta.get(parent, 0) - 1
        elif isinstance(txn, (SetDataTxn, CheckVersionTxn, SetACLTxn)):
            if not self._exists_now(txn.path):
                self._refuse(txn, txn.path, "no such node")
        elif isinstance(txn, CloseSessionTxn):
            for path in txn.paths:
                if self._exists_now(path) and self._children_now(path) > 0:
                    self._refuse(txn, path, "an ephemeral to delete has children")
