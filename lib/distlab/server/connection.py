"""One client connection's framing and handshake, as a pure state machine (like h11).

``ClientConnection.receive_data(bytes)`` returns the protocol events the bytes complete;
the driver owns the socket. The rules are ``NIOServerCnxn``'s (``readLength``,
``readConnectRequest``, ``checkFourLetterWord``):

- every frame is a 4-byte big-endian length, then that many bytes;
- a length below 0 or above jute.maxbuffer (1,048,575 bytes, the frame after its prefix:
  path, headers and data together) closes the connection ("Len error"); nothing of the frame
  is processed, so no zxid is used, and the session survives the connection;
- the first frame must be a ``ConnectRequest``; until one arrives no request is read;
- before that, if the first four bytes spell a four-letter word (``ruok``, ``srvr`` ...), the
  connection is a monitoring command: it gets one answer and is closed.

Transitions (state, what arrived) -> next state; anything else is a ``ProtocolError``::

    AWAITING_CONNECT  --ConnectRequest-->  CONNECTED
    AWAITING_CONNECT  --four letters-->    CLOSED (after the answer)
    CONNECTED         --request frame-->   CONNECTED
    any               --bad frame-->       CLOSED
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from distlab.server.jute import ConnectRequest, JuteError
from distlab.zk.stat import JUTE_MAXBUFFER

__all__ = [
    "ConnState",
    "ClientConnection",
    "ConnectReceived",
    "FrameReceived",
    "FourLetterWord",
    "ProtocolError",
    "FOUR_LETTER_WORDS",
    "frame",
]

_LENGTH = struct.Struct(">i")

# Every command ZooKeeper 3.8 recognises (FourLetterCommands); distlab answers some of them.
FOUR_LETTER_WORDS = frozenset({
    "ruok", "srvr", "stat", "mntr", "envi", "conf", "cons", "crst", "dump", "dirs", "gtmk",
    "isro", "srst", "stmk", "wchc", "wchp", "wchs", "hash",
})
_FOUR_LETTER_CODES = {_LENGTH.unpack(w.encode("ascii"))[0]: w for w in FOUR_LETTER_WORDS}


class ConnState(enum.Enum):
    AWAITING_CONNECT = "awaiting ConnectRequest"
    CONNECTED = "connected"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ConnectReceived:
    request: ConnectRequest


@dataclass(frozen=True, slots=True)
class FrameReceived:
    """One request frame (header and record, the length prefix removed)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class FourLetterWord:
    word: str


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """The connection must be closed; ``reason`` is what ZooKeeper would log."""

    reason: str


Event = ConnectReceived | FrameReceived | FourLetterWord | ProtocolError

# (state, kind of input) -> next state: the whole protocol of one connection, as data.
TRANSITIONS: dict[tuple[ConnState, str], ConnState] = {
    (ConnState.AWAITING_CONNECT, "connect"): ConnState.CONNECTED,
    (ConnState.AWAITING_CONNECT, "four_letter_word"): ConnState.CLOSED,
    (ConnState.CONNECTED, "frame"): ConnState.CONNECTED,
    (ConnState.AWAITING_CONNECT, "error"): ConnState.CLOSED,
    (ConnState.CONNECTED, "error"): ConnState.CLOSED,
}


def frame(payload: bytes) -> bytes:
    """``payload`` with its 4-byte length prefix."""
    return _LENGTH.pack(len(payload)) + payload


class ClientConnection:
    """Framing state of one connection; feed it bytes, act on the events it returns.

    Args:
        max_buffer: the largest frame accepted (jute.maxbuffer).
    """

    def __init__(self, max_buffer: int = JUTE_MAXBUFFER) -> None:
        self.state = ConnState.AWAITING_CONNECT
        self.max_buffer = max_buffer
        self._buffer = bytearray()
        self.bytes_received = 0

    def receive_data(self, data: bytes) -> list[Event]:
        """Take in bytes from the socket; return the events they complete, in order.

        After a ``ProtocolError`` or ``FourLetterWord`` the state is CLOSED and further
        bytes are ignored.
        """
        if self.state is ConnState.CLOSED:
            return []
        self.bytes_received += len(data)
        self._buffer += data
        events: list[Event] = []
        while self.state is not ConnState.CLOSED and len(self._buffer) >= 4:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if self.state is ConnState.AWAITING_CONNECT and length in _FOUR_LETTER_CODES:
                events.append(FourLetterWord(_FOUR_LETTER_CODES[length]))
                self._move("four_letter_word")
                break
            if length < 0 or length > self.max_buffer:
                events.append(self._error(f"Len error {length}"))
                break
            if len(self._buffer) < 4 + length:
                break  # wait for the rest of the frame
            payload = bytes(self._buffer[4 : 4 + length])
            del self._buffer[: 4 + length]
            events.append(self._frame(payload))
        return events

    def _frame(self, payload: bytes) -> Event:
        if self.state is ConnState.AWAITING_CONNECT:
            try:
                request = ConnectRequest.decode(payload)
            except JuteError as error:
                return self._error(f"malformed ConnectRequest: {error}")
            self._move("connect")
            return ConnectReceived(request)
        self._move("frame")
        return FrameReceived(payload)

    def error(self, reason: str) -> ProtocolError:
        """Close the connection because of what a frame held (decided above the framing)."""
        return self._error(reason)

    def _error(self, reason: str) -> ProtocolError:
        self._move("error")
        self._buffer.clear()
        return ProtocolError(reason)

    def close(self) -> None:
        """The server closes the connection (after a closeSession, an expiry ...)."""
        self.state = ConnState.CLOSED
        self._buffer.clear()

    def _move(self, kind: str) -> None:
        self.state = TRANSITIONS[(self.state, kind)]
