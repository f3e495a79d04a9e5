"""Jute, ZooKeeper's binary record format, and the client protocol's records (``zookeeper.jute``).

Pure: bytes in, records out and back. No sockets, no clocks. Everything is big-endian:

    int     4 bytes, signed            long    8 bytes, signed
    bool    1 byte (0 or 1)            buffer  int length, then the bytes (-1: null)
    ustring a buffer holding UTF-8     vector  int count, then the items (-1: null)

A request frame (after the 4-byte length prefix the connection strips) is a
``RequestHeader(xid, type)`` followed by the op's record; a reply is a
``ReplyHeader(xid, zxid, err)`` followed by the response record, only when ``err`` is 0
(``FinalRequestProcessor`` sends the header alone for an error). The very first frame of a
connection is a ``ConnectRequest`` with no header (``ClientCnxn.SendThread.primeConnection``).

Decoding never trusts a length: a count or length that runs past the frame raises
``JuteError`` (ZooKeeper's ``BinaryInputArchive`` throws an IOException and the server closes
the connection), and so does a string that is not UTF-8.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, TypeVar

from distlab.zk.acl import ACL, Id
from distlab.zk.stat import Stat

__all__ = [
    "JuteError",
    "Reader",
    "Writer",
    "OpCode",
    "Xid",
    "Id",
    "ACL",
    "ConnectRequest",
    "ConnectResponse",
    "RequestHeader",
    "ReplyHeader",
    "WatcherEvent",
    "decode_request",
    "encode_stat",
    "encode_reply",
    "encode_watcher_event",
    "encode_request",
]

T = TypeVar("T")

_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_STAT = struct.Struct(">qqqqiiiqiiq")
_REPLY_HEADER = struct.Struct(">iqi")


class JuteError(ValueError):
    """The bytes are not the record they claim to be (truncated, bad length, bad UTF-8)."""


class OpCode:
    """``ZooDefs.OpCode``: the ``type`` of a ``RequestHeader``."""

    notification = 0
    create = 1
    delete = 2
    exists = 3
    getData = 4
    setData = 5
    getACL = 6
    setACL = 7
    getChildren = 8
    sync = 9
    ping = 11
    getChildren2 = 12
    check = 13
    multi = 14
    create2 = 15
    reconfig = 16
    checkWatches = 17
    removeWatches = 18
    createContainer = 19
    deleteContainer = 20
    createTTL = 21
    multiRead = 22
    auth = 100
    setWatches = 101
    sasl = 102
    getEphemerals = 103
    getAllChildrenNumber = 104
    setWatches2 = 105
    addWatch = 106
    whoAmI = 107
    createSession = -10
    closeSession = -11
    error = -1

    @classmethod
    def name_of(cls, code: int) -> str:
        for name, value in vars(cls).items():
            if not name.startswith("_") and value == code and isinstance(value, int):
                return name
        return f"unknown({code})"


class Xid:
    """The special xids of ``ClientCnxn``: they are not part of the ordered request stream."""

    NOTIFICATION = -1
    PING = -2
    AUTH = -4
    SET_WATCHES = -8


class Reader:
    """Reads jute primitives from one frame; any overrun raises ``JuteError``."""

    __slots__ = ("_buf", "_pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self._buf = memoryview(buf)
        self._pos = pos

    @property
    def remaining(self) -> int:
        return len(self._buf) - self._pos

    def _take(self, n: int) -> memoryview:
        if n < 0 or self._pos + n > len(self._buf):
            raise JuteError(f"need {n} bytes at offset {self._pos}, frame has {len(self._buf)}")
        view = self._buf[self._pos : self._pos + n]
        self._pos += n
        return view

    def int(self) -> int:
        return _INT.unpack(self._take(4))[0]

    def long(self) -> int:
        return _LONG.unpack(self._take(8))[0]

    def bool(self) -> bool:
        return self._take(1)[0] != 0

    def buffer(self) -> bytes | None:
        n = self.int()
        if n == -1:
            return None
        if n < -1:
            raise JuteError(f"negative buffer length {n}")
        return bytes(self._take(n))

    def string(self) -> str | None:
        raw = self.buffer()
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise JuteError(f"string is not UTF-8: {error}") from None

    def vector(self, read_item: Callable[[Reader], T]) -> list[T] | None:
        n = self.int()
        if n == -1:
            return None
        # Each item takes at least one byte, so a count larger than what is left is a lie.
        if n < -1 or n > self.remaining:
            raise JuteError(f"vector count {n} with {self.remaining} bytes left")
        return [read_item(self) for _ in range(n)]

    def string_vector(self) -> list[str]:
        items = self.vector(Reader.string) or []
        return [s or "" for s in items]


class Writer:
    """Collects jute primitives into one record."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def int(self, value: int) -> Writer:
        self._parts.append(_INT.pack(value))
        return self

    def long(self, value: int) -> Writer:
        self._parts.append(_LONG.pack(value))
        return self

    def bool(self, value: bool) -> Writer:
        self._parts.append(b"\x01" if value else b"\x00")
        return self

    def buffer(self, value: bytes | None) -> Writer:
        if value is None:
            return self.int(-1)
        self._parts.append(_INT.pack(len(value)))
        self._parts.append(bytes(value))
        return self

    def string(self, value: str | None) -> Writer:
        return self.buffer(None if value is None else value.encode("utf-8"))

    def string_vector(self, values: list[str]) -> Writer:
        self.int(len(values))
        for value in values:
            self.string(value)
        return self

    def stat(self, stat: Stat) -> Writer:
        self._parts.append(encode_stat(stat))
        return self

    def acl_vector(self, acls: list[ACL]) -> Writer:
        self.int(len(acls))
        for acl in acls:
            self.int(acl.perms).string(acl.id.scheme).string(acl.id.id)
        return self

    def raw(self, data: bytes) -> Writer:
        self._parts.append(data)
        return self

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


# --- records --------------------------------------------------------------------------------


def read_acl(r: Reader) -> ACL:
    perms = r.int()
    return ACL(perms, Id(r.string() or "", r.string() or ""))


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    """``proto.ConnectRequest``; ``read_only`` is absent from clients older than 3.4."""

    protocol_version: int
    last_zxid_seen: int
    timeout: int
    session_id: int
    passwd: bytes
    read_only: bool = False

    @classmethod
    def decode(cls, frame: bytes) -> ConnectRequest:
        r = Reader(frame)
        fields = (r.int(), r.long(), r.int(), r.long(), r.buffer() or b"")
        read_only = r.bool() if r.remaining else False
        return cls(*fields, read_only)

    def encode(self) -> bytes:
        w = Writer().int(self.protocol_version).long(self.last_zxid_seen).int(self.timeout)
        return w.long(self.session_id).buffer(self.passwd).bool(self.read_only).getvalue()


@dataclass(frozen=True, slots=True)
class ConnectResponse:
    """``proto.ConnectResponse``: timeout 0 and session 0 mean "that session is gone"."""

    protocol_version: int
    timeout: int
    session_id: int
    passwd: bytes
    read_only: bool = False

    def encode(self) -> bytes:
        w = Writer().int(self.protocol_version).int(self.timeout).long(self.session_id)
        return w.buffer(self.passwd).bool(self.read_only).getvalue()

    @classmethod
    def decode(cls, frame: bytes) -> ConnectResponse:
        r = Reader(frame)
        fields = (r.int(), r.int(), r.long(), r.buffer() or b"")
        return cls(*fields, r.bool() if r.remaining else False)


@dataclass(frozen=True, slots=True)
class RequestHeader:
    """``proto.RequestHeader``: the client's sequence number ``xid`` and the op ``type``."""

    xid: int
    type: int


@dataclass(frozen=True, slots=True)
class ReplyHeader:
    """``proto.ReplyHeader``: the request's xid, the server's last zxid, an error code."""

    xid: int
    zxid: int
    err: int

    def encode(self) -> bytes:
        return _REPLY_HEADER.pack(self.xid, self.zxid, self.err)


@dataclass(frozen=True, slots=True)
class WatcherEvent:
    """``proto.WatcherEvent``: the body of a notification (xid -1)."""

    type: int
    state: int
    path: str


def encode_stat(stat: Stat) -> bytes:
    return _STAT.pack(
        stat.czxid,
        stat.mzxid,
        stat.ctime,
        stat.mtime,
        stat.version,
        stat.cversion,
        stat.aversion,
        stat.ephemeralOwner,
        stat.dataLength,
        stat.numChildren,
        stat.pzxid,
    )


def encode_reply(header: ReplyHeader, body: bytes = b"") -> bytes:
    """A reply frame's payload: the header, then the body only if the header says OK."""
    return header.encode() + (body if header.err == 0 else b"")


def encode_watcher_event(event: WatcherEvent) -> bytes:
    # 3.8's NIOServerCnxn.process sends zxid -1 with every notification.
    header = ReplyHeader(Xid.NOTIFICATION, -1, 0)
    return header.encode() + Writer().int(event.type).int(event.state).string(event.path).getvalue()


# --- op request records, decoded by op code ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateOp:
    """``CreateRequest`` / ``CreateTTLRequest`` (op create, create2, createContainer, createTTL)."""

    path: str
    data: bytes
    acl: list[ACL]
    flags: int
    ttl: int = -1


@dataclass(frozen=True, slots=True)
class DeleteOp:
    path: str
    version: int


@dataclass(frozen=True, slots=True)
class SetDataOp:
    path: str
    data: bytes
    version: int


@dataclass(frozen=True, slots=True)
class CheckOp:
    path: str
    version: int


@dataclass(frozen=True, slots=True)
class PathWatchOp:
    """``ExistsRequest``, ``GetDataRequest``, ``GetChildrenRequest``, ``GetChildren2Request``."""

    path: str
    watch: bool


@dataclass(frozen=True, slots=True)
class PathOp:
    """``SyncRequest``, ``GetACLRequest``: a path and nothing else."""

    path: str


@dataclass(frozen=True, slots=True)
class SetACLOp:
    path: str
    acl: list[ACL]
    version: int


@dataclass(frozen=True, slots=True)
class MultiOp:
    """``MultiOperationRecord``: (op code, record) pairs, in order."""

    ops: list[tuple[int, object]]


@dataclass(frozen=True, slots=True)
class SetWatchesOp:
    """``SetWatches`` (and ``SetWatches2``, whose persistent lists distlab refuses)."""

    relative_zxid: int
    data_watches: list[str]
    exist_watches: list[str]
    child_watches: list[str]
    persistent_watches: list[str]
    persistent_recursive_watches: list[str]


@dataclass(frozen=True, slots=True)
class AuthOp:
    """``AuthPacket``: ``addauth scheme auth``."""

    type: int
    scheme: str
    auth: bytes


@dataclass(frozen=True, slots=True)
class EmptyOp:
    """ping, closeSession, whoAmI: no body."""


def _create(r: Reader, ttl: bool = False) -> CreateOp:
    path = r.string() or ""
    data = r.buffer() or b""
    acl = r.vector(read_acl) or []
    flags = r.int()
    return CreateOp(path, data, acl, flags, r.long() if ttl else -1)


def _multi(r: Reader) -> MultiOp:
    ops: list[tuple[int, object]] = []
    while True:
        op_type, done, _err = r.int(), r.bool(), r.int()
        if done:
            return MultiOp(ops)
        if op_type not in _MULTI_DECODERS:
            raise JuteError(f"op {OpCode.name_of(op_type)} cannot be part of a multi")
        ops.append((op_type, _MULTI_DECODERS[op_type](r)))


def _set_watches(r: Reader, v2: bool) -> SetWatchesOp:
    zxid = r.long()
    lists = [r.string_vector() for _ in range(5 if v2 else 3)]
    if not v2:
        lists += [[], []]
    return SetWatchesOp(zxid, *lists)


_DECODERS: dict[int, Callable[[Reader], object]] = {
    OpCode.create: _create,
    OpCode.create2: _create,
    OpCode.createContainer: _create,
    OpCode.createTTL: lambda r: _create(r, ttl=True),
    OpCode.delete: lambda r: DeleteOp(r.string() or "", r.int()),
    OpCode.exists: lambda r: PathWatchOp(r.string() or "", r.bool()),
    OpCode.getData: lambda r: PathWatchOp(r.string() or "", r.bool()),
    OpCode.setData: lambda r: SetDataOp(r.string() or "", r.buffer() or b"", r.int()),
    OpCode.getACL: lambda r: PathOp(r.string() or ""),
    OpCode.setACL: lambda r: SetACLOp(r.string() or "", r.vector(read_acl) or [], r.int()),
    OpCode.getChildren: lambda r: PathWatchOp(r.string() or "", r.bool()),
    OpCode.getChildren2: lambda r: PathWatchOp(r.string() or "", r.bool()),
    OpCode.sync: lambda r: PathOp(r.string() or ""),
    OpCode.check: lambda r: CheckOp(r.string() or "", r.int()),
    OpCode.multi: _multi,
    OpCode.auth: lambda r: AuthOp(r.int(), r.string() or "", r.buffer() or b""),
    OpCode.setWatches: lambda r: _set_watches(r, v2=False),
    OpCode.setWatches2: lambda r: _set_watches(r, v2=True),
    OpCode.ping: lambda r: EmptyOp(),
    OpCode.closeSession: lambda r: EmptyOp(),
    OpCode.whoAmI: lambda r: EmptyOp(),
}
_MULTI_DECODERS = {
    code: _DECODERS[code]
    for code in (OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL,
                 OpCode.delete, OpCode.setData, OpCode.check)
}

def decode_request(frame: bytes) -> tuple[RequestHeader, object | None]:
    """Split a request frame into its header and its op record.

    Returns ``(header, None)`` for an op code distlab does not decode (the caller answers
    Unimplemented, as ``UnimplementedRequestProcessor`` does).

    Raises:
        JuteError: the frame is too short for a header, or the record does not parse.
    """
    r = Reader(frame)
    header = RequestHeader(r.int(), r.int())
    decoder = _DECODERS.get(header.type)
    if decoder is None:
        return header, None
    return header, decoder(r)


def encode_request(xid: int, op_type: int, body: bytes) -> bytes:
    """A request frame's payload (for tests and clients)."""
    return Writer().int(xid).int(op_type).raw(body).getvalue()
