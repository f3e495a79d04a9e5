"""Requests, transactions and results, and ``prepare``: ZooKeeper's request -> txn step.

ZooKeeper splits every write in two (``PrepRequestProcessor`` / ``DataTree.processTxn``):

1. **prepare** (``PrepRequestProcessor.pRequest2Txn``) checks a request against the current
   tree *plus the changes already prepared but not yet applied* (``outstandingChanges``),
   raises the right ``KeeperError`` if it must fail, and otherwise turns it into a txn that
   says exactly what to do: the sequential name is chosen, the new version computed.
   It changes nothing.
2. **apply** (``DataTree.apply``) performs a txn. Every replica applies the same txns in zxid
   order and ends in the same state; nothing is decided there.

Between the two, a replicated server logs and agrees on the txn (that is Zab). The data
types here are frozen, slotted, keyword-only dataclasses. Requests validate themselves when
built, the way ZooKeeper's client does before sending (``PathUtils.validatePath``, and the
jute.maxbuffer size limit); a request that fails there never reaches a server.

Validation order inside ``prepare`` (section 5.3 of the reference notes) is ZooKeeper's:

- create: session of an ephemeral -> no '/' or a NUL (BadArguments) -> parent exists (NoNode) -> parent ACL (NoAuth, only for
  the read-only /zookeeper/config) -> append the sequence suffix -> full path check ->
  node exists (NodeExists) -> parent is ephemeral (NoChildrenForEphemerals)
- delete: no '/', a NUL or a system node (BadArguments) -> parent exists (NoNode) -> node exists (NoNode) ->
  version (BadVersion) -> children (NotEmpty)
- setData: full path check (BadArguments) -> node exists (NoNode) -> ACL (NoAuth) -> version (BadVersion)
- check: full path check (BadArguments) -> node exists (NoNode) -> version (BadVersion)

ACLs (``distlab.zk.acl``) are checked where ZooKeeper checks them when ``prepare`` is given
the caller's identities (``auth``); in-process callers pass none and are trusted.
Not modelled: quotas, containers, TTLs.
Session liveness ("session check", step 1 of each op) is the caller's job: the tree does not
know whether a session is alive, the ``SessionTracker`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Union

from distlab.zk.acl import ACL, Id, Perms, check_acl, fixup_acl
from distlab.zk.errors import (
    BadArgumentsError,
    BadVersionError,
    Code,
    DataTooLargeError,
    KeeperError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    SessionExpiredError,
)
from distlab.zk.paths import CONFIG_PATH, ROOT_PATH, is_special_path, parent_of, validate_path
from distlab.zk.stat import JUTE_MAXBUFFER, CreateMode, Stat, StatPersisted, next_version, to_int32

if TYPE_CHECKING:
    from distlab.zk.tree import DataTree

__all__ = [
    # requests
    "CreateRequest",
    "DeleteRequest",
    "SetDataRequest",
    "CheckVersionRequest",
    "SetACLRequest",
    "MultiRequest",
    "CreateSessionRequest",
    "CloseSessionRequest",
    "AuthenticatedRequest",
    "GetData",
    "Exists",
    "GetChildren",
    "SyncRequest",
    "Create",
    "Request",
    "WriteOp",
    # txns
    "Txn",
    "CreateTxn",
    "DeleteTxn",
    "SetDataTxn",
    "CheckVersionTxn",
    "SetACLTxn",
    "ErrorTxn",
    "MultiTxn",
    "CreateSessionTxn",
    "CloseSessionTxn",
    # results
    "OpResult",
    "CreateResult",
    "DeleteResult",
    "SetDataResult",
    "CheckResult",
    "SetACLResult",
    "ErrorResult",
    "MultiResult",
    "CreateSessionResult",
    "CloseSessionResult",
    # the prepare step
    "ChangeRecord",
    "OutstandingChanges",
    "prepare",
    "as_received",
]

_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1


# --- requests -------------------------------------------------------------------------------


def _check_data(path: str, data: object) -> bytes:
    # kazoo refuses str values too: the tree stores bytes, the caller chooses the encoding.
    if not isinstance(data, bytes):
        raise TypeError(f"data for {path} must be bytes, not {type(data).__name__}")
    if len(data) > JUTE_MAXBUFFER:
        raise DataTooLargeError(
            path,
            f"{len(data):,} bytes of data exceed jute.maxbuffer = {JUTE_MAXBUFFER:,} bytes; "
            "ZooKeeper would drop the connection (ConnectionLoss), distlab refuses it unsent",
        )
    return data


def _check_version(path: str, version: object) -> None:
    if not isinstance(version, int) or isinstance(version, bool):
        raise TypeError(f"version for {path} must be an int, not {type(version).__name__}")
    if not _INT32_MIN <= version <= _INT32_MAX:
        raise BadArgumentsError(path, f"version {version} is outside Java's int range")


# One set of ZooKeeper operations, shared by the data tree (which applies the writes), the
# client protocol (distlab.zab.clientproto carries them in ClientRequest) and the lock recipe
# (distlab.locks.zk yields them; its drivers perform them on the simulated ensemble or on
# kazoo). Writes are named as jute names them; reads and ``Create`` as kazoo's serialisation
# classes do (kazoo.protocol.serialization.GetData, Exists, GetChildren, Create).
@dataclass(frozen=True, slots=True, kw_only=True)
class CreateRequest:
    """Create ``path`` (a prefix, for sequential modes) with ``data`` (jute ``CreateRequest``).

    The lock recipe's driver returns the created path (with its sequence number).
    """

    path: str
    data: bytes = b""
    mode: CreateMode = CreateMode.PERSISTENT
    # () means "no ACL given": the node is open to all (OPEN_ACL_UNSAFE)
    acl: tuple[ACL, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", CreateMode(self.mode))
        object.__setattr__(self, "acl", tuple(self.acl))
        validate_path(self.path, is_sequential=self.mode.is_sequential)
        _check_data(self.path, self.data)

    @property
    def ephemeral(self) -> bool:
        """kazoo's ``create(..., ephemeral=)`` flag."""
        return self.mode.is_ephemeral

    @property
    def sequence(self) -> bool:
        """kazoo's ``create(..., sequence=)`` flag."""
        return self.mode.is_sequential


def Create(path: str, data: bytes = b"", ephemeral: bool = False, sequence: bool = False) -> CreateRequest:  # noqa: N802
    """kazoo's ``create(path, value, ephemeral=, sequence=)`` as a :class:`CreateRequest`."""
    return CreateRequest(path=path, data=data, mode=CreateMode.of(ephemeral=ephemeral, sequence=sequence))


@dataclass(frozen=True, slots=True)
class GetData:
    """Read ``path``: -> ``(data, stat)``; ``watch`` leaves a data watch (NoNodeError: none)."""

    path: str
    watch: bool = False


@dataclass(frozen=True, slots=True)
class Exists:
    """-> the stat of ``path``, or None; ``watch`` fires on its creation, change or deletion."""

    path: str
    watch: bool = False


@dataclass(frozen=True, slots=True)
class GetChildren:
    """-> the children's names; ``watch`` fires when they change."""

    path: str
    watch: bool = False


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """``sync(path)``: "flush the channel between this server and the leader"."""

    path: str = "/"


@dataclass(frozen=True, slots=True)
class DeleteRequest:
    """Delete ``path`` if its version is ``version`` (-1: any) (jute ``DeleteRequest``); -> None."""

    path: str
    version: int = -1

    def __post_init__(self) -> None:
        validate_path(self.path)
        _check_version(self.path, self.version)


@dataclass(frozen=True, slots=True)
class SetDataRequest:
    """Replace the data of ``path`` if its version is ``version`` (jute ``SetDataRequest``);
    -> the new stat."""

    path: str
    data: bytes
    version: int = -1

    def __post_init__(self) -> None:
        validate_path(self.path)
        _check_data(self.path, self.data)
        _check_version(self.path, self.version)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckVersionRequest:
    """Inside a multi: fail unless ``path``'s version is ``version`` (``CheckVersionRequest``)."""

    path: str
    version: int

    def __post_init__(self) -> None:
        validate_path(self.path)
        _check_version(self.path, self.version)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetACLRequest:
    """Replace the ACL of ``path`` if its aversion is ``version`` (jute ``SetACLRequest``)."""

    path: str
    acl: tuple[ACL, ...]
    version: int = -1

    def __post_init__(self) -> None:
        validate_path(self.path)
        object.__setattr__(self, "acl", tuple(self.acl))
        _check_version(self.path, self.version)


WriteOp = Union[CreateRequest, DeleteRequest, SetDataRequest, CheckVersionRequest]
_WRITE_OPS = (CreateRequest, DeleteRequest, SetDataRequest, CheckVersionRequest)


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiRequest:
    """All-or-nothing list of write ops (``MultiOperationRecord``, ``ZooKeeper.multi``).

    The size limit applies to the whole request: the data of all ops together may be at most
    jute.maxbuffer bytes.
    """

    ops: tuple[WriteOp, ...]

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        for op in ops:
            if not isinstance(op, _WRITE_OPS):
                # ZooKeeper.multi: a transaction holds only create/delete/setData/check
                raise TypeError(f"a multi holds only write ops, not {type(op).__name__}")
        total = sum(len(op.data) for op in ops if isinstance(op, (CreateRequest, SetDataRequest)))
        if total > JUTE_MAXBUFFER:
            raise DataTooLargeError(
                None,
                f"the multi carries {total:,} bytes of data, over jute.maxbuffer = "
                f"{JUTE_MAXBUFFER:,} bytes; refused unsent",
            )
        object.__setattr__(self, "ops", ops)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateSessionRequest:
    """Open a session with an already negotiated ``timeout`` in ms (``ConnectRequest``)."""

    timeout: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseSessionRequest:
    """Close the requesting session and delete its ephemerals (``OpCode.closeSession``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticatedRequest:
    """A write with the identities of the connection that sent it (``Request.authInfo``).

    A replicated server prepares writes on the leader, far from the client's connection, so
    the identities travel with the request; ``prepare`` checks ACLs against them.
    """

    request: object
    auth: tuple[Id, ...]


def as_received(cls: type, **fields: object) -> object:
    """A request as a server receives it off the wire: none of the client-side checks ran.

    ZooKeeper's server cannot assume its clients validated anything, so ``prepare`` repeats
    the path checks in ``PrepRequestProcessor``'s own order (create checks the parent before
    the full path, delete refuses only NUL and system nodes, ...). Built with this, a
    request skips ``__post_init__``; ``prepare`` is the only judge.
    """
    request = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(request, name, value)
    for name in cls.__dataclass_fields__:
        if name not in fields:
            object.__setattr__(request, name, cls.__dataclass_fields__[name].default)
    return request


Request = Union[
    CreateRequest,
    DeleteRequest,
    SetDataRequest,
    CheckVersionRequest,
    MultiRequest,
    SetACLRequest,
    CreateSessionRequest,
    CloseSessionRequest,
]


# --- txns -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Txn:
    """Fields every txn carries, like ZooKeeper's ``TxnHeader``.

    ``zxid`` orders it, ``time`` (ms) becomes ctime/mtime, ``session_id`` is the client that
    asked (``TxnHeader.clientId``), which owns the node an ephemeral create makes.
    """

    zxid: int
    time: int
    session_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateTxn(Txn):
    """Create ``path`` (final name); the parent's stored cversion becomes ``parent_cversion``."""

    path: str
    data: bytes
    ephemeral: bool
    parent_cversion: int
    acl: tuple[ACL, ...] = ()  # () is open to all; ZooKeeper's CreateTxn carries the ACL too

    def __post_init__(self) -> None:
        object.__setattr__(self, "acl", tuple(_as_acl(a) for a in self.acl))


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteTxn(Txn):
    """Delete ``path`` (``DeleteTxn``)."""

    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetDataTxn(Txn):
    """Set ``path``'s data; its version becomes ``version`` (``SetDataTxn``)."""

    path: str
    data: bytes
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckVersionTxn(Txn):
    """A passed version check inside a multi; changes nothing (``CheckVersionTxn``).

    ``version`` is the version that was checked (ZooKeeper stores checkAndIncVersion's
    result, the version plus one, which nothing reads).
    """

    path: str
    version: int


def _as_acl(entry: object) -> ACL:
    # the txn log stores an ACL as nested tuples; accept both
    if isinstance(entry, ACL):
        return entry
    perms, ident = entry  # type: ignore[misc]
    return ACL(perms, ident if isinstance(ident, Id) else Id(*ident))


@dataclass(frozen=True, slots=True, kw_only=True)
class SetACLTxn(Txn):
    """Set ``path``'s ACL; its aversion becomes ``aversion`` (``SetACLTxn``)."""

    path: str
    acl: tuple[ACL, ...]
    aversion: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "acl", tuple(_as_acl(a) for a in self.acl))


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorTxn(Txn):
    """A refused write or multi sub-op: ``err`` is its ``KeeperException.Code`` (``ErrorTxn``).

    ZooKeeper logs a refused write as an error txn, so it still uses up a zxid.
    """

    err: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "err", int(self.err))  # plain data, not a Code member


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiTxn(Txn):
    """The txns of one multi, sharing its zxid, time and session (``MultiTxn``).

    If any sub-txn is an ``ErrorTxn`` the multi failed and applying it changes nothing.
    """

    txns: tuple[Txn, ...]

    def __post_init__(self) -> None:
        txns = tuple(self.txns)
        for txn in txns:
            if not isinstance(txn, (CreateTxn, DeleteTxn, SetDataTxn, CheckVersionTxn, ErrorTxn)):
                raise TypeError(f"a multi txn cannot hold a {type(txn).__name__}")
            if (txn.zxid, txn.time, txn.session_id) != (self.zxid, self.time, self.session_id):
                raise ValueError("every sub-txn of a multi shares its zxid, time and session")
        object.__setattr__(self, "txns", txns)

    @property
    def failed(self) -> bool:
        """True if one sub-op was refused, so the multi changes nothing."""
        return any(isinstance(txn, ErrorTxn) for txn in self.txns)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateSessionTxn(Txn):
    """Session ``session_id`` opened with ``timeout`` ms (``CreateSessionTxn``)."""

    timeout: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseSessionTxn(Txn):
    """Session ``session_id`` ended; delete its ephemerals ``paths`` (``CloseSessionTxn``)."""

    paths: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", tuple(self.paths))


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateResult:
    """A create succeeded: its final ``path`` and new ``stat`` (``OpResult.CreateResult``)."""

    path: str
    stat: Stat


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """A delete succeeded (``OpResult.DeleteResult``)."""

    path: str


@dataclass(frozen=True, slots=True)
class SetDataResult:
    """A setData succeeded: the node's new ``stat`` (``OpResult.SetDataResult``)."""

    path: str
    stat: Stat


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A version check passed (``OpResult.CheckResult``)."""

    path: str


@dataclass(frozen=True, slots=True)
class SetACLResult:
    """A setACL succeeded: the node's new ``stat`` (aversion moved)."""

    path: str
    stat: Stat


@dataclass(frozen=True, slots=True)
class ErrorResult:
    """An op that did not happen, with its ``KeeperException.Code`` (``OpResult.ErrorResult``).

    In a failed multi: 0 (OK) for ops before the failing one, its own code for the failing
    op, -2 (RuntimeInconsistency) for every op after it.
    """

    err: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "err", int(self.err))


@dataclass(frozen=True, slots=True)
class MultiResult:
    """Per-op results of a multi, in op order (``MultiResponse``)."""

    results: tuple[OpResult, ...]

    @property
    def failed(self) -> bool:
        """True if the multi was refused (then every result is an ``ErrorResult``)."""
        return any(isinstance(r, ErrorResult) for r in self.results)

    @property
    def first_error(self) -> int:
        """The first non-OK code (what the synchronous API raises), or 0 if none."""
        for r in self.results:
            if isinstance(r, ErrorResult) and r.err != Code.OK:
                return r.err
        return 0


@dataclass(frozen=True, slots=True)
class CreateSessionResult:
    """Session ``session_id`` is open with ``timeout`` ms."""

    session_id: int
    timeout: int


@dataclass(frozen=True, slots=True)
class CloseSessionResult:
    """Session ``session_id`` is closed; ``deleted`` are the ephemerals that went with it."""

    session_id: int
    deleted: tuple[str, ...]


OpResult = Union[
    CreateResult,
    DeleteResult,
    SetDataResult,
    CheckResult,
    SetACLResult,
    ErrorResult,
    MultiResult,
    CreateSessionResult,
    CloseSessionResult,
]


# --- the prepare step -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """A node as prepared but not yet applied (``ZooKeeperServer.ChangeRecord``).

    ``stat`` is None for a pending delete. ``zxid`` is the txn that made the change (-1 for a
    record read straight from the tree).
    """

    zxid: int
    path: str
    stat: StatPersisted | None
    child_count: int
    acl: tuple[ACL, ...] = ()


class OutstandingChanges:
    """Changes prepared but not yet applied (``ZooKeeperServer.outstandingChanges``).

    A server that prepares request n+1 before txn n is applied (a Zab leader does) passes the
    same ``OutstandingChanges`` to every ``prepare`` and calls ``discard_applied(zxid)`` after
    applying each txn, as ``FinalRequestProcessor`` does. Only the latest record per path is
    kept: it is the only one a later request can see.
    """

    def __init__(self) -> None:
        self._by_path: dict[str, ChangeRecord] = {}

    def get(self, path: str) -> ChangeRecord | None:
        """The pending record for ``path``, or None if nothing is pending there."""
        return self._by_path.get(path)

    def add(self, record: ChangeRecord) -> None:
        """Record a prepared change (``PrepRequestProcessor.addChangeRecord``)."""
        self._by_path[record.path] = record

    def records(self) -> list[ChangeRecord]:
        """Pending records in zxid order."""
        return sorted(self._by_path.values(), key=lambda r: (r.zxid, r.path))

    def discard_applied(self, zxid: int) -> None:
        """Forget every record made by a txn with zxid <= ``zxid``: the tree has it now."""
        for path in [p for p, r in self._by_path.items() if r.zxid <= zxid]:
            del self._by_path[path]

    def __len__(self) -> int:
        return len(self._by_path)


class _View:
    """The tree as a request sees it: tree, then outstanding changes, then this request's own.

    ``PrepRequestProcessor.getRecordForPath`` reads outstanding changes first; ``changes``
    collects what the request being prepared would do (``addChangeRecord``), so a multi's
    later ops see its earlier ones. Nothing reaches ``outstanding`` unless ``commit`` is called.
    """

    def __init__(
        self, tree: DataTree, outstanding: OutstandingChanges | None, auth: list[Id] | None = None
    ) -> None:
        self.tree = tree
        self.outstanding = outstanding
        self.auth = auth  # None: the caller is trusted and no ACL is checked
        self.changes: dict[str, ChangeRecord] = {}

    def get(self, path: str) -> ChangeRecord | None:
        record = self.changes.get(path)
        if record is None and self.outstanding is not None:
            record = self.outstanding.get(path)
        if record is None:
            stat = self.tree.stat_persisted(path)
            if stat is None:
                return None
            record = ChangeRecord(-1, path, stat, self.tree.num_children(path), self.tree.acl_of(path))
        return record if record.stat is not None else None

    def put(self, record: ChangeRecord) -> None:
        self.changes[record.path] = record

    def check(self, record: ChangeRecord, perm: int, path: str) -> None:
        """``ZooKeeperServer.checkACL`` against the record's ACL, if this request has an identity."""
        if self.auth is not None:
            check_acl(record.acl, perm, self.auth, path)

    def commit(self) -> None:
        if self.outstanding is not None:
            for record in self.changes.values():
                self.outstanding.add(record)


def prepare(
    tree: DataTree,
    request: Request,
    session_id: int,
    zxid: int,
    time: int,
    outstanding: OutstandingChanges | None = None,
    auth: list[Id] | None = None,
) -> Txn:
    """Check ``request`` against ``tree`` and return the txn that performs it.

    Rule from ``PrepRequestProcessor.pRequest2Txn``: every check runs, in ZooKeeper's order,
    against the tree plus ``outstanding`` changes; the sequential suffix and new versions are
    fixed here, so applying the txn decides nothing.

    Args:
        tree: read only; ``prepare`` never changes it.
        request: a request dataclass (already validated when it was built).
        session_id: the requesting session; it owns ephemerals this request creates.
        zxid, time: the txn header the server assigned (time in ms, becomes ctime/mtime).
        outstanding: changes prepared earlier but not yet applied; updated only on success.
        auth: the identities of the requesting connection (``ServerCnxn.getAuthInfo``); ACLs
            are checked where ZooKeeper checks them. None (in-process callers) skips ACLs.

    Returns:
        The txn. A multi always returns a ``MultiTxn``: if one of its ops fails, its sub-txns
        carry the error codes (and applying it changes nothing), as ZooKeeper logs it.

    Raises:
        KeeperError: the request must fail (NoNode, NodeExists, BadVersion, ...). Nothing
            changed. ZooKeeper would still log an ``ErrorTxn`` for it; the caller decides.
    """
    if isinstance(request, AuthenticatedRequest):
        request, auth = request.request, request.auth
    view = _View(tree, outstanding, None if auth is None else list(auth))
    header = {"zxid": zxid, "time": time, "session_id": session_id}
    if isinstance(request, MultiRequest):
        txn = _prepare_multi(view, request, header)
        if not txn.failed:
            view.commit()  # a failed multi rolls its pending changes back (ZOOKEEPER-2052)
        return txn
    if isinstance(request, CloseSessionRequest):
        txn = _prepare_close_session(view, header)
    elif isinstance(request, CreateSessionRequest):
        txn = CreateSessionTxn(timeout=request.timeout, **header)
    elif isinstance(request, _WRITE_OPS):
        txn = _prepare_op(view, request, header)
    elif isinstance(request, SetACLRequest):
        txn = _prepare_set_acl(view, request, header)
    else:
        raise TypeError(f"not a request: {request!r}")
    view.commit()
    return txn


def _prepare_op(view: _View, op: WriteOp, header: dict) -> Txn:
    if isinstance(op, CreateRequest):
        return _prepare_create(view, op, header)
    if isinstance(op, DeleteRequest):
        return _prepare_delete(view, op, header)
    if isinstance(op, SetDataRequest):
        return _prepare_set_data(view, op, header)
    return _prepare_check(view, op, header)


def _prepare_create(view: _View, op: CreateRequest, header: dict) -> CreateTxn:
    """``PrepRequestProcessor.pRequest2TxnCreate``, step by step."""
    session_id, zxid = header["session_id"], header["zxid"]
    # 1. create-mode checks. An ephemeral needs an owner; 0 means "no owner" in ephemeralOwner.
    if op.mode.is_ephemeral and session_id == 0:
        raise SessionExpiredError(op.path, "an ephemeral node needs a live session (id 0 is none)")
    # 2. validatePathForCreate: only "has a '/'" and "no NUL"; the full check comes at step 6,
    #    after the parent lookup, so "/missing/bad/" is NoNode, not BadArguments.
    if "/" not in op.path or "\0" in op.path:
        raise BadArgumentsError(op.path, "no '/' or a NUL in the path (validatePathForCreate)")
    # ZooKeeper's parent of "/" is "" (its name for the root): creating "/" is NodeExists.
    parent_path = ROOT_PATH if op.path == ROOT_PATH else parent_of(op.path)
    # 2b. fixupACL: the requested ACL must be well formed ("auth" expands to the caller).
    acl = op.acl if view.auth is None else fixup_acl(op.path, view.auth, op.acl)
    # 3. the parent must exist.
    parent = view.get(parent_path)
    if parent is None:
        raise NoNodeError(op.path, f"parent {parent_path} does not exist")
    view.check(parent, Perms.CREATE, op.path)
    # 4. parent ACL: /zookeeper/config is READ_ACL_UNSAFE (ZOOKEEPER-2014).
    if parent_path == CONFIG_PATH:
        raise NoAuthError(op.path, f"{CONFIG_PATH} is read-only (ZOOKEEPER-2014)")
    # 5. the sequence number is the parent's stored cversion *before* this create.
    path = op.path
    if op.mode.is_sequential:
        path = f"{op.path}{parent.stat.cversion:010d}"
    # 6. full validation of the final name.
    validate_path(path)
    # 7. the node must not exist yet.
    if view.get(path) is not None:
        raise NodeExistsError(path, "node already exists")
    # 8. ephemerals have no children.
    if parent.stat.ephemeralOwner != 0:
        raise NoChildrenForEphemeralsError(
            path, f"parent {parent_path} is ephemeral (owner 0x{parent.stat.ephemeralOwner:x})"
        )
    # (9. quotas are not modelled.)
    new_cversion = to_int32(parent.stat.cversion + 1)
    parent_stat = replace(parent.stat, cversion=new_cversion, pzxid=zxid)
    view.put(ChangeRecord(zxid, parent_path, parent_stat, parent.child_count + 1, parent.acl))
    owner = session_id if op.mode.is_ephemeral else 0
    view.put(ChangeRecord(zxid, path, StatPersisted.for_create(zxid, header["time"], owner), 0, acl))
    return CreateTxn(
        path=path,
        data=op.data,
        ephemeral=op.mode.is_ephemeral,
        parent_cversion=new_cversion,
        acl=acl,
        **header,
    )


def _prepare_delete(view: _View, op: DeleteRequest, header: dict) -> DeleteTxn:
    """``PrepRequestProcessor.pRequest2Txn``, case delete."""
    zxid = header["zxid"]
    # getParentPathAndValidate: no '/', a NUL, or one of ZooKeeper's own nodes. Nothing
    # else about the path is checked: "/a/" is simply NoNode.
    if "/" not in op.path or "\0" in op.path:
        raise BadArgumentsError(op.path, "no '/' or a NUL in the path (getParentPathAndValidate)")
    if is_special_path(op.path):
        raise BadArgumentsError(op.path, "is a system node and cannot be deleted")
    parent_path = parent_of(op.path)
    parent = view.get(parent_path)
    if parent is None:
        raise NoNodeError(op.path, f"parent {parent_path} does not exist")
    view.check(parent, Perms.DELETE, op.path)  # on the parent
    node = view.get(op.path)
    if node is None:
        raise NoNodeError(op.path, "node does not exist")
    _check_expected_version(op.path, node.stat.version, op.version)  # before NotEmpty
    if node.child_count > 0:
        raise NotEmptyError(op.path, f"node has {node.child_count} children")
    # Delete moves pzxid but not the stored cversion (ZOOKEEPER-1046).
    parent_stat = replace(parent.stat, pzxid=zxid)
    view.put(ChangeRecord(zxid, parent_path, parent_stat, parent.child_count - 1, parent.acl))
    view.put(ChangeRecord(zxid, op.path, None, 0))
    return DeleteTxn(path=op.path, **header)


def _prepare_set_data(view: _View, op: SetDataRequest, header: dict) -> SetDataTxn:
    """``PrepRequestProcessor.pRequest2Txn``, case setData."""
    zxid = header["zxid"]
    validate_path(op.path)  # the full PathUtils check, before the lookup
    node = view.get(op.path)
    if node is None:
        raise NoNodeError(op.path, "node does not exist")
    if op.path == CONFIG_PATH:
        raise NoAuthError(op.path, "is read-only (ZOOKEEPER-2014)")
    view.check(node, Perms.WRITE, op.path)
    # (quotas are not modelled.)
    version = _check_expected_version(op.path, node.stat.version, op.version)
    stat = replace(node.stat, version=version, mtime=header["time"], mzxid=zxid)
    view.put(ChangeRecord(zxid, op.path, stat, node.child_count, node.acl))
    return SetDataTxn(path=op.path, data=op.data, version=version, **header)


def _prepare_check(view: _View, op: CheckVersionRequest, header: dict) -> CheckVersionTxn:
    """``PrepRequestProcessor.pRequest2Txn``, case check: the version test, no change."""
    validate_path(op.path)
    node = view.get(op.path)
    if node is None:
        raise NoNodeError(op.path, "node does not exist")
    view.check(node, Perms.READ, op.path)
    _check_expected_version(op.path, node.stat.version, op.version)
    return CheckVersionTxn(path=op.path, version=node.stat.version, **header)


def _prepare_set_acl(view: _View, op: SetACLRequest, header: dict) -> SetACLTxn:
    """``PrepRequestProcessor.pRequest2Txn``, case setACL: path, fixupACL, ADMIN, aversion."""
    validate_path(op.path)
    acl = op.acl if view.auth is None else fixup_acl(op.path, view.auth, op.acl)
    node = view.get(op.path)
    if node is None:
        raise NoNodeError(op.path, "node does not exist")
    view.check(node, Perms.ADMIN, op.path)
    aversion = _check_expected_version(op.path, node.stat.aversion, op.version)
    stat = replace(node.stat, aversion=aversion)
    view.put(ChangeRecord(header["zxid"], op.path, stat, node.child_count, acl))
    return SetACLTxn(path=op.path, acl=acl, aversion=aversion, **header)


def _check_expected_version(path: str, current: int, expected: int) -> int:
    """``checkAndIncVersion``: -1 matches any version, else it must equal; return the next."""
    if expected != -1 and expected != current:
        raise BadVersionError(path, f"expected version {expected}, node has version {current}")
    return next_version(current)


def _prepare_multi(view: _View, request: MultiRequest, header: dict) -> MultiTxn:
    """``PrepRequestProcessor.pRequestHelper``, case multi.

    Ops are prepared in order against the view, so each sees the ones before it. At the first
    failure the op becomes ``ErrorTxn(code)`` and every later op ``ErrorTxn(-2)``; the earlier
    sub-txns stay in the log as they are, and apply turns them into ``ErrorResult(0)``.
    """
    txns: list[Txn] = []
    failed = False
    for op in request.ops:
        if failed:
            txns.append(ErrorTxn(err=Code.RUNTIMEINCONSISTENCY, **header))
            continue
        try:
            txns.append(_prepare_op(view, op, header))
        except KeeperError as error:
            failed = True
            txns.append(ErrorTxn(err=error.code, **header))
    return MultiTxn(txns=tuple(txns), **header)


def _prepare_close_session(view: _View, header: dict) -> CloseSessionTxn:
    """``PrepRequestProcessor.pRequest2Txn``, case closeSession.

    The session's ephemerals: those in the tree, plus pending creates it owns, minus pending
    deletes. All are deleted by this one txn (one zxid); sorted for reproducibility.
    """
    session_id, zxid = header["session_id"], header["zxid"]
    paths = set(view.tree.ephemerals(session_id))
    if view.outstanding is not None:
        for record in view.outstanding.records():
            if record.stat is None:
                paths.discard(record.path)
            elif record.stat.ephemeralOwner == session_id:
                paths.add(record.path)
    for path in sorted(paths):
        parent_path = parent_of(path)
        parent = view.get(parent_path)
        if parent is not None:
            parent_stat = replace(parent.stat, pzxid=zxid)
            view.put(ChangeRecord(zxid, parent_path, parent_stat, parent.child_count - 1, parent.acl))
        view.put(ChangeRecord(zxid, path, None, 0))
    return CloseSessionTxn(paths=tuple(sorted(paths)), **header)


