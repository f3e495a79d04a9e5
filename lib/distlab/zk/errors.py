"""ZooKeeper's error codes as Python exceptions (``KeeperException.Code``).

One exception class per code, named as kazoo names them (``kazoo/exceptions.py``), so code
written against distlab catches the same names as code written against a real ``KazooClient``.
Every class carries ZooKeeper's numeric ``code`` (NoNode is -101) and every instance the
``path`` it is about. Messages name the path and the rule that was broken::

    NoNode: /a/b: parent /a does not exist

Codes from -1 to -14 are ZooKeeper's "system" errors; codes at or below -100 are "API" errors
(the caller's request was refused). ``error_for_code`` maps a code back to its class, which is
how a multi's per-op results are turned into exceptions.

distlab adds three descriptive subclasses where it knows more than a ZooKeeper client can:

- ``DataTooLargeError`` (a ``ConnectionLossError``, code -4): a request bigger than
  jute.maxbuffer. ZooKeeper closes the connection and the client sees a bare ConnectionLoss,
  not knowing whether the op ran; distlab refuses the request before it reaches the server,
  so nothing was applied, and says why.
- ``TxnOrderError`` (a ``RuntimeInconsistencyError``): a txn handed to ``DataTree.apply`` whose
  zxid is not after the last one applied.
- ``ConnectionClosedError`` (a ``SessionExpiredError``, as in kazoo): using a client after
  ``close()``.
"""

from __future__ import annotations

import enum
from typing import Any, Sequence

__all__ = [
    "Code",
    "KeeperError",
    "ZookeeperError",
    "error_for_code",
    # one class per KeeperException.Code, kazoo's names
    "RolledBackError",
    "SystemZookeeperError",
    "RuntimeInconsistencyError",
    "DataInconsistencyError",
    "ConnectionLossError",
    "MarshallingError",
    "UnimplementedError",
    "OperationTimeoutError",
    "BadArgumentsError",
    "UnknownSessionError",
    "NewConfigNoQuorumError",
    "ReconfigInProcessError",
    "APIError",
    "NoNodeError",
    "NoAuthError",
    "BadVersionError",
    "NoChildrenForEphemeralsError",
    "NodeExistsError",
    "NotEmptyError",
    "SessionExpiredError",
    "InvalidCallbackError",
    "InvalidACLError",
    "AuthFailedError",
    "SessionMovedError",
    "NotReadOnlyCallError",
    "EphemeralOnLocalSessionError",
    "NoWatcherError",
    "RequestTimeoutError",
    "ReconfigDisabledError",
    "SessionClosedRequireSaslError",
    "QuotaExceededError",
    "ThrottledOpError",
    # kazoo's spellings without the "Error" suffix
    "RuntimeInconsistency",
    "DataInconsistency",
    "ConnectionLoss",
    # distlab's descriptive subclasses
    "DataTooLargeError",
    "TxnOrderError",
    "ConnectionClosedError",
]


class Code(enum.IntEnum):
    """The numeric codes of ``KeeperException.Code``, spelled as ZooKeeper spells them.

    The canonical members are ``Code``'s constants (``Code.NONODE``); the mixed-case names of
    ZooKeeper's deprecated int constants (``Code.NoNode``) are aliases of the same members.
    """

    OK = 0
    SYSTEMERROR = -1
    RUNTIMEINCONSISTENCY = -2
    DATAINCONSISTENCY = -3
    CONNECTIONLOSS = -4
    MARSHALLINGERROR = -5
    UNIMPLEMENTED = -6
    OPERATIONTIMEOUT = -7
    BADARGUMENTS = -8
    UNKNOWNSESSION = -12
    NEWCONFIGNOQUORUM = -13
    RECONFIGINPROGRESS = -14
    APIERROR = -100
    NONODE = -101
    NOAUTH = -102
    BADVERSION = -103
    NOCHILDRENFOREPHEMERALS = -108
    NODEEXISTS = -110
    NOTEMPTY = -111
    SESSIONEXPIRED = -112
    INVALIDCALLBACK = -113
    INVALIDACL = -114
    AUTHFAILED = -115
    SESSIONMOVED = -118
    NOTREADONLY = -119
    EPHEMERALONLOCALSESSION = -120
    NOWATCHER = -121
    REQUESTTIMEOUT = -122
    RECONFIGDISABLED = -123
    SESSIONCLOSEDREQUIRESASLAUTH = -124
    QUOTAEXCEEDED = -125
    THROTTLEDOP = -127

    # The older spellings (``KeeperException.CodeDeprecated`` / ``getCodeMessage``) as aliases,
    # so ``Code.NoNode is Code.NONODE``.
    Ok = 0
    SystemError = -1
    RuntimeInconsistency = -2
    DataInconsistency = -3
    ConnectionLoss = -4
    MarshallingError = -5
    Unimplemented = -6
    OperationTimeout = -7
    BadArguments = -8
    UnknownSession = -12
    NewConfigNoQuorum = -13
    ReconfigInProgress = -14
    APIError = -100
    NoNode = -101
    NoAuth = -102
    BadVersion = -103
    NoChildrenForEphemerals = -108
    NodeExists = -110
    NotEmpty = -111
    SessionExpired = -112
    InvalidCallback = -113
    InvalidACL = -114
    AuthFailed = -115
    SessionMoved = -118
    NotReadOnly = -119
    EphemeralOnLocalSession = -120
    NoWatcher = -121
    RequestTimeout = -122
    ReconfigDisabled = -123
    SessionClosedRequireSaslAuth = -124
    QuotaExceeded = -125
    ThrottledOp = -127


class KeeperError(Exception):
    """Base of every ZooKeeper error (``KeeperException``; kazoo calls it ``ZookeeperError``).

    Args:
        path: the znode path the error is about, or None.
        detail: which rule was broken, e.g. "parent /a does not exist".
        results: for a failed multi, the per-op results (``ops.OpResult`` values), as
            ``KeeperException.getResults()`` gives them; None otherwise.

    ``str(error)`` reads ``"<CodeName>: <path>: <detail>"``. The base class is abstract:
    instantiate a subclass, e.g. ``NoNodeError("/a", "no node at /a")``.
    """

    code: Code  # set on each concrete class by @_code
    code_name: str  # ZooKeeper's short name for the code (KeeperException.Code's constant)

    def __init__(
        self,
        path: str | None = None,
        detail: str | None = None,
        *,
        results: Sequence[Any] | None = None,
    ) -> None:
        if type(self) is KeeperError:
            # Like h11's ProtocolError: only a concrete code says what went wrong.
            raise TypeError("KeeperError is abstract; raise one of its subclasses")
        self.path = path
        self.detail = detail
        self.results = None if results is None else tuple(results)
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [self.code_name]
        if self.path is not None:
            # A path with control characters is shown quoted, so the message stays readable.
            parts.append(self.path if self.path.isprintable() else repr(self.path))
        if self.detail:
            parts.append(self.detail)
        return ": ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, {self.detail!r})"


ZookeeperError = KeeperError  # kazoo's name for the base class

_BY_CODE: dict[int, type[KeeperError]] = {}


def _code(code: Code, name: str):
    """Register the decorated class as the one raised for ``code``."""

    def register(cls: type[KeeperError]) -> type[KeeperError]:
        cls.code = code
        cls.code_name = name
        _BY_CODE[int(code)] = cls
        return cls

    return register


def error_for_code(code: int) -> type[KeeperError]:
    """The exception class for a ``KeeperException.Code`` value (``KeeperException.create``).

    >>> error_for_code(-101).__name__
    'NoNodeError'

    Raises:
        ValueError: ``code`` is not one of ZooKeeper's codes.
    """
    try:
        return _BY_CODE[int(code)]
    except KeyError:
        raise ValueError(f"unknown ZooKeeper error code {code!r}") from None


@_code(Code.OK, "Ok")
class RolledBackError(KeeperError):
    """0 inside a failed multi (``OpResult.ErrorResult`` with ``Code.OK``): this op was fine
    but was rolled back. ZooKeeper has no exception for it; the name is kazoo's."""


@_code(Code.SYSTEMERROR, "SystemError")
class SystemZookeeperError(KeeperError):
    """-1 (``KeeperException.SystemErrorException``): a system or server-side error."""


@_code(Code.RUNTIMEINCONSISTENCY, "RuntimeInconsistency")
class RuntimeInconsistencyError(KeeperError):
    """-2 (``KeeperException.RuntimeInconsistencyException``):
    a runtime inconsistency; in a failed multi, every op after the failing one.
    """


@_code(Code.DATAINCONSISTENCY, "DataInconsistency")
class DataInconsistencyError(KeeperError):
    """-3 (``KeeperException.DataInconsistencyException``): a data inconsistency was found."""


@_code(Code.CONNECTIONLOSS, "ConnectionLoss")
class ConnectionLossError(KeeperError):
    """-4 (``KeeperException.ConnectionLossException``):
    the connection was lost; the outcome of an in-flight op is unknown.
    """


@_code(Code.MARSHALLINGERROR, "MarshallingError")
class MarshallingError(KeeperError):
    """-5 (``KeeperException.MarshallingErrorException``):
    bytes could not be (de)serialised; distlab raises it for a corrupt snapshot.
    """


@_code(Code.UNIMPLEMENTED, "Unimplemented")
class UnimplementedError(KeeperError):
    """-6 (``KeeperException.UnimplementedException``):
    the operation is not implemented (distlab: containers, TTLs, ACLs, quotas).
    """


@_code(Code.OPERATIONTIMEOUT, "OperationTimeout")
class OperationTimeoutError(KeeperError):
    """-7 (``KeeperException.OperationTimeoutException``): the operation timed out."""


@_code(Code.BADARGUMENTS, "BadArguments")
class BadArgumentsError(KeeperError):
    """-8 (``KeeperException.BadArgumentsException``):
    invalid arguments, e.g. a path that breaks ``PathUtils.validatePath``.
    """


@_code(Code.UNKNOWNSESSION, "UnknownSession")
class UnknownSessionError(KeeperError):
    """-12 (``KeeperException.UnknownSessionException``):
    the session id is not known to the server (``SessionTrackerImpl.checkSession``).
    """


@_code(Code.NEWCONFIGNOQUORUM, "NewConfigNoQuorum")
class NewConfigNoQuorumError(KeeperError):
    """-13 (``KeeperException.NewConfigNoQuorum``):
    a reconfig found no synced quorum in the new configuration.
    """


@_code(Code.RECONFIGINPROGRESS, "ReconfigInProgress")
class ReconfigInProcessError(KeeperError):
    """-14 (``KeeperException.ReconfigInProgress``):
    another reconfig is in progress (kazoo's spelling).
    """


@_code(Code.APIERROR, "APIError")
class APIError(KeeperError):
    """-100 (``KeeperException.APIErrorException``):
    generic API error; codes at or below it are refusals of the caller's request.
    """


@_code(Code.NONODE, "NoNode")
class NoNodeError(KeeperError):
    """-101 (``KeeperException.NoNodeException``):
    the node (or, for create, its parent) does not exist.
    """


@_code(Code.NOAUTH, "NoAuth")
class NoAuthError(KeeperError):
    """-102 (``KeeperException.NoAuthException``): the node's ACL does not allow the operation."""


@_code(Code.BADVERSION, "BadVersion")
class BadVersionError(KeeperError):
    """-103 (``KeeperException.BadVersionException``):
    the expected version does not match (``PrepRequestProcessor.checkAndIncVersion``).
    """


@_code(Code.NOCHILDRENFOREPHEMERALS, "NoChildrenForEphemerals")
class NoChildrenForEphemeralsError(KeeperError):
    """-108 (``KeeperException.NoChildrenForEphemeralsException``):
    ephemeral nodes may not have children.
    """


@_code(Code.NODEEXISTS, "NodeExists")
class NodeExistsError(KeeperError):
    """-110 (``KeeperException.NodeExistsException``): the node already exists."""


@_code(Code.NOTEMPTY, "NotEmpty")
class NotEmptyError(KeeperError):
    """-111 (``KeeperException.NotEmptyException``):
    the node has children, so it cannot be deleted.
    """


@_code(Code.SESSIONEXPIRED, "SessionExpired")
class SessionExpiredError(KeeperError):
    """-112 (``KeeperException.SessionExpiredException``): the session has expired or is closing."""


@_code(Code.INVALIDCALLBACK, "InvalidCallback")
class InvalidCallbackError(KeeperError):
    """-113 (``KeeperException.InvalidCallbackException``): invalid callback."""


@_code(Code.INVALIDACL, "InvalidACL")
class InvalidACLError(KeeperError):
    """-114 (``KeeperException.InvalidACLException``): invalid ACL."""


@_code(Code.AUTHFAILED, "AuthFailed")
class AuthFailedError(KeeperError):
    """-115 (``KeeperException.AuthFailedException``): client authentication failed."""


@_code(Code.SESSIONMOVED, "SessionMoved")
class SessionMovedError(KeeperError):
    """-118 (``KeeperException.SessionMovedException``): the session moved to another server."""


@_code(Code.NOTREADONLY, "NotReadOnly")
class NotReadOnlyCallError(KeeperError):
    """-119 (``KeeperException.NotReadOnlyException``): a write on a read-only server."""


@_code(Code.EPHEMERALONLOCALSESSION, "EphemeralOnLocalSession")
class EphemeralOnLocalSessionError(KeeperError):
    """-120 (``KeeperException.EphemeralOnLocalSessionException``):
    an ephemeral create on a local session.
    """


@_code(Code.NOWATCHER, "NoWatcher")
class NoWatcherError(KeeperError):
    """-121 (``KeeperException.NoWatcherException``): no such watcher (removeWatches)."""


@_code(Code.REQUESTTIMEOUT, "RequestTimeout")
class RequestTimeoutError(KeeperError):
    """-122 (``KeeperException.RequestTimeoutException``): the request timed out."""


@_code(Code.RECONFIGDISABLED, "ReconfigDisabled")
class ReconfigDisabledError(KeeperError):
    """-123 (``KeeperException.ReconfigDisabledException``): reconfig is disabled."""


@_code(Code.SESSIONCLOSEDREQUIRESASLAUTH, "SessionClosedRequireSaslAuth")
class SessionClosedRequireSaslError(KeeperError):
    """-124 (``KeeperException.SessionClosedRequireAuthException``):
    session closed because the client failed to authenticate.
    """


@_code(Code.QUOTAEXCEEDED, "QuotaExceeded")
class QuotaExceededError(KeeperError):
    """-125 (``KeeperException.QuotaExceededException``): a hard quota was exceeded."""


@_code(Code.THROTTLEDOP, "ThrottledOp")
class ThrottledOpError(KeeperError):
    """-127 (``KeeperException.ThrottledOpException``): the op was throttled under high load."""


# kazoo spells these three without the "Error" suffix.
RuntimeInconsistency = RuntimeInconsistencyError
DataInconsistency = DataInconsistencyError
ConnectionLoss = ConnectionLossError


class DataTooLargeError(ConnectionLossError):
    """A request larger than jute.maxbuffer (``NIOServerCnxn.readLength``), refused unsent.

    ZooKeeper closes the connection on an oversized packet, so its client sees ConnectionLoss
    (-4) and cannot tell whether the op ran. distlab keeps the code (so ``except
    ConnectionLossError`` still works) but refuses the request before it reaches the server:
    nothing was applied, and the message gives the size and the limit.
    """


class TxnOrderError(RuntimeInconsistencyError):
    """``DataTree.apply`` got a txn whose zxid is not after ``last_processed_zxid``.

    ZooKeeper's ``DataTree.processTxn`` tolerates replays (fuzzy snapshots) by moving pzxid
    and cversion only forward; distlab's snapshots are never fuzzy, so it refuses instead.
    """


class ConnectionClosedError(SessionExpiredError):
    """The client was closed with ``close()`` (kazoo's ``ConnectionClosedError``)."""
