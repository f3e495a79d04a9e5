"""The wire format: serialisation (序列化) for network transport (网络传输) — explicit,
versioned frames with a JSON body.

:Status: reference implementation for Lab 8, part A (``decode_frame``)

An RPC's bytes travel on a connection that has no message boundaries, so every message is
a **frame** (帧): a fixed 16-byte header, then the body. The header copies the shape of
Dubbo's own 16-byte header (Dubbo documentation, "Dubbo2 Protocol Spec"; ``ExchangeCodec``:
magic ``0xdabb``, a flag byte with the serialisation id, a status byte, an 8-byte request id
and a 4-byte body length), with distlab's own magic and a version byte::

    offset  size  field
    0       2     magic          0xd1 0x5b ("distlab"): not ours, not a frame
    2       1     version        PROTOCOL_VERSION (1); a peer that speaks another is refused
    3       1     kind           1 request, 2 response, 3 hello, 4 welcome
    4       8     request id     unsigned, big-endian; matches a response to its request
    12      4     body length    unsigned, big-endian; at most MAX_BODY bytes
    16      n     body           a JSON object, UTF-8

**Decoding** (:func:`decode_frame`) checks, in this order, and raises :class:`FrameError`
with the first problem's *reason* (the order matters: a frame of another protocol is
"magic", not "truncated"):

1. ``truncated`` — fewer than 16 bytes: not even a header;
2. ``magic`` — the first two bytes are not ``0xd1 0x5b``;
3. ``version`` — a version this side does not speak;
4. ``kind`` — not one of the four kinds;
5. ``oversized`` — the header announces more than ``MAX_BODY`` bytes. Refused from the
   header alone: a decoder that first waits for (and allocates) 4 GB has already lost;
6. ``truncated`` — fewer body bytes than announced;
7. ``trailing`` — more bytes than announced (two frames glued together, or garbage);
8. ``body`` — the body is not UTF-8 JSON, or not a JSON object.

A decoded frame is plain data: ``{"version": 1, "kind": "request", "id": 7, "body": {...}}``.

**Bodies** (the five RPC steps' messages)::

    request   {"service": "calc", "method": "add", "args": [2, 3], "acked": 5, "session": 0}
    response  {"ok": true, "result": 5}
              {"ok": false, "error": {"type": "ZeroDivisionError", "message": "division by zero"}}
    hello     {"service": "calc", "versions": [1]}          (step 1: the connection handshake)
    welcome   {"service": "calc", "version": 1, "methods": ["add", "div"]}

``acked`` is the lowest request id the consumer still waits for: every reply below it has
arrived, so the provider may forget them (see :mod:`distlab.rpc.dedup`). ``session`` is the
consumer's incarnation: ids restart at 1 after a consumer restarts.

**Caveats**

- JSON has no tuples, bytes or sets: a tuple argument arrives as a list; bytes are refused
  with ``unserialisable`` by :func:`encode_frame`. Real frameworks use binary formats
  (Dubbo's default is Hessian2; gRPC uses Protocol Buffers); the header is the same idea.
- :class:`FrameBuffer` cuts a byte *stream* into frames (what a TCP reader must do). The
  simulator delivers whole messages, so the processes decode one frame per message.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Protocol

__all__ = [
    "MAGIC",
    "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS",
    "HEADER_SIZE",
    "MAX_BODY",
    "KINDS",
    "REASONS",
    "FrameError",
    "FrameDecoder",
    "encode_frame",
    "decode_frame",
    "FrameBuffer",
    "request_frame",
    "response_frame",
    "error_body",
    "reply_of",
]

MAGIC = b"\xd1\x5b"
PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (1,)
HEADER_SIZE = 16
MAX_BODY = 64 * 1024  # bytes; Dubbo's own limit (the ``payload`` parameter) defaults to 8 MB
MAX_ID = 2**64 - 1

# kind byte <-> name
KINDS = {1: "request", 2: "response", 3: "hello", 4: "welcome"}
_KIND_BYTES = {name: byte for byte, name in KINDS.items()}

# Every reason a FrameError may give, in the order decode_frame checks them.
REASONS = ("truncated", "magic", "version", "kind", "oversized", "trailing", "body", "unserialisable")

_HEADER = struct.Struct(">2sBBQI")  # magic, version, kind, request id, body length


class FrameError(ValueError):
    """A frame that cannot be encoded or decoded; ``reason`` says which rule it broke.

    ``str(error)`` reads ``"<reason>: <detail>"``, e.g. ``"version: frame speaks version 2;
    this side speaks 1"``. ``reason`` is one of :data:`REASONS`.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown FrameError reason {reason!r}; reasons are {REASONS}")
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class FrameDecoder(Protocol):
    """The ``decode_frame`` seam: bytes of one frame in, a decoded frame dict out.

    Raises :class:`FrameError` with the first broken rule's reason (see the module docstring
    for the order). A learner's version replaces :func:`decode_frame` in a provider through
    ``RpcImpl(decode_frame=...)``.
    """

    def __call__(self, frame: bytes, max_body: int = MAX_BODY) -> dict: ...


def encode_frame(kind: str, request_id: int, body: dict, version: int = PROTOCOL_VERSION,
                 max_body: int = MAX_BODY) -> bytes:
    """One frame: the 16-byte header, then ``body`` as compact, key-sorted UTF-8 JSON.

    Args:
        kind: ``"request"``, ``"response"``, ``"hello"`` or ``"welcome"``.
        request_id: 0 .. 2**64-1; a response carries its request's id.
        body: a dict of JSON values (tuples become lists).
        version: the protocol version to write (tests write others on purpose).

    Raises:
        FrameError: ``unserialisable`` (a value JSON cannot carry, e.g. bytes or NaN) or
            ``oversized`` (the body exceeds ``max_body``). Nothing is sent in either case.
    """
    if kind not in _KIND_BYTES:
        raise ValueError(f"kind must be one of {sorted(_KIND_BYTES)}, got {kind!r}")
    if not isinstance(request_id, int) or isinstance(request_id, bool) or not 0 <= request_id <= MAX_ID:
        raise ValueError(f"request id must be an int in [0, 2**64), got {request_id!r}")
    if not isinstance(body, dict):
        raise FrameError("unserialisable", f"a body is a JSON object (dict), got {type(body).__name__}")
    try:
        data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise FrameError("unserialisable", str(error)) from None
    if len(data) > max_body:
        raise FrameError("oversized", f"body of {len(data)} bytes exceeds the limit of {max_body}")
    return _HEADER.pack(MAGIC, version, _KIND_BYTES[kind], request_id, len(data)) + data


def decode_frame(frame: bytes, max_body: int = MAX_BODY) -> dict:
    """Decode one whole frame; the reference version of Lab 8's first part.

    Returns:
        ``{"version": v, "kind": "request" | "response" | "hello" | "welcome",
        "id": request_id, "body": dict}``.

    Raises:
        FrameError: with the reason of the first rule (module docstring, steps 1-8) the
            frame breaks. Nothing else: any other exception would be a decoder bug.

    ============================================  ==========================
    frame                                         outcome
    ============================================  ==========================
    ``encode_frame("request", 7, {"a": 1})``      ``{..., "id": 7, ...}``
    ``b"\\xd1\\x5b\\x01"``                           ``FrameError(truncated)``
    ``b"GET / HTTP/1.1\\r\\n..."``                   ``FrameError(magic)``
    header says version 2                         ``FrameError(version)``
    header says 10**9 body bytes                  ``FrameError(oversized)``
    body ``b"[1, 2]"``                            ``FrameError(body)``
    ============================================  ==========================
    """
    if not isinstance(frame, (bytes, bytearray)):
        raise FrameError("body", f"a frame is bytes, got {type(frame).__name__}")
    if len(frame) < HEADER_SIZE:
        raise FrameError("truncated", f"{len(frame)} bytes, but the header alone is {HEADER_SIZE}")
    version, kind, request_id, length = _check_header(frame, max_body)
    available = len(frame) - HEADER_SIZE
    if available < length:
        raise FrameError("truncated", f"header announces {length} body bytes, only {available} arrived")
    if available > length:
        raise FrameError("trailing", f"{available - length} bytes after the {length}-byte body")
    try:
        body = json.loads(bytes(frame[HEADER_SIZE:]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise FrameError("body", f"not UTF-8 JSON: {error}") from None
    if not isinstance(body, dict):
        raise FrameError("body", f"a body must be a JSON object, got {type(body).__name__}")
    return {"version": version, "kind": KINDS[kind], "id": request_id, "body": body}


def _check_header(frame: bytes | bytearray, max_body: int) -> tuple[int, int, int, int]:
    """Steps 2-5 on a frame of at least HEADER_SIZE bytes; (version, kind, id, length)."""
    magic, version, kind, request_id, length = _HEADER.unpack_from(frame)
    if magic != MAGIC:
        raise FrameError("magic", f"starts with {bytes(magic)!r}, not {MAGIC!r}: not a distlab RPC frame")
    if version not in SUPPORTED_VERSIONS:
        raise FrameError("version", f"frame speaks version {version}; this side speaks "
                                    f"{', '.join(map(str, SUPPORTED_VERSIONS))}")
    if kind not in KINDS:
        raise FrameError("kind", f"unknown frame kind {kind}; kinds are {dict(sorted(KINDS.items()))}")
    if length > max_body:
        raise FrameError("oversized", f"header announces {length} body bytes; the limit is {max_body}")
    return version, kind, request_id, length


class FrameBuffer:
    """Cuts a byte stream into whole frames (the reading half of a TCP connection).

    ``feed(data)`` returns every frame completed by ``data`` (decoded), keeping the rest for
    the next call, like h11's ``receive_data`` / ``next_event``. A bad header raises
    :class:`FrameError` at once (a stream with a broken frame cannot be resynchronised: the
    connection must be closed), and the buffer refuses further data.
    """

    def __init__(self, max_body: int = MAX_BODY) -> None:
        self.max_body = max_body
        self._data = bytearray()
        self.broken: FrameError | None = None

    def feed(self, data: bytes) -> list[dict]:
        if self.broken is not None:
            raise FrameError(self.broken.reason, f"the stream broke earlier ({self.broken.detail}); "
                                                 "close the connection")
        self._data += data
        frames = []
        try:
            while len(self._data) >= HEADER_SIZE:
                _check_header(bytes(self._data[:HEADER_SIZE]), self.max_body)
                end = HEADER_SIZE + _HEADER.unpack_from(self._data)[4]
                if len(self._data) < end:
                    break  # the rest of this frame has not arrived yet
                frames.append(decode_frame(bytes(self._data[:end]), self.max_body))
                del self._data[:end]
        except FrameError as error:
            self.broken = error
            raise
        return frames

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a whole frame."""
        return len(self._data)


# ---------------------------------------------------------------- message helpers --------
def request_frame(request_id: int, service: str, method: str, args: list | tuple, acked: int = 0,
                  session: int = 0, version: int = PROTOCOL_VERSION) -> bytes:
    """A request frame (step 3's payload): which service and method, with which arguments.

    ``session`` numbers the consumer's incarnations: request ids restart at 1 when a consumer
    restarts, so a provider tells old and new calls apart by (consumer, session, id).
    """
    return encode_frame("request", request_id, {"service": service, "method": method, "args": list(args),
                                                "acked": acked, "session": session}, version=version)


def error_body(error_type: str, message: str) -> dict:
    """The body of a failed call: the remote exception's type name and message."""
    return {"ok": False, "error": {"type": error_type, "message": message}}


def response_frame(request_id: int, ok: bool, value: Any = None, error_type: str = "", message: str = "") -> bytes:
    """A response frame (step 5): a result, or the remote exception's type and message."""
    body = {"ok": True, "result": value} if ok else error_body(error_type, message)
    try:
        return encode_frame("response", request_id, body)
    except FrameError as error:
        # A result JSON cannot carry (or too big) is itself an error the caller must see.
        return encode_frame("response", request_id, error_body("UnserialisableResult", str(error)))


def reply_of(frame: dict) -> dict:
    """A decoded response frame as the flat reply a stub settles: ``{"id", "ok", "result" | "error"}``."""
    body = frame.get("body", {})
    reply = {"id": frame.get("id"), "ok": body.get("ok") is True}
    if reply["ok"]:
        reply["result"] = body.get("result")
    else:
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        reply["error"] = {"type": str(error.get("type", "RemoteError")), "message": str(error.get("message", ""))}
    return reply
