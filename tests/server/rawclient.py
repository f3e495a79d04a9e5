"""A bare-socket ZooKeeper client for sending exactly the bytes a test wants."""

from __future__ import annotations

import socket
import struct

from distlab.server.connection import frame
from distlab.server.jute import ConnectRequest, ConnectResponse, OpCode, Writer, encode_request


class RawClient:
    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.xid = 0

    def connect(self, session_id: int = 0, passwd: bytes = b"", timeout: int = 4000,
                last_zxid: int = 0) -> ConnectResponse:
        self.send_frame(ConnectRequest(0, last_zxid, timeout, session_id, passwd or bytes(16)).encode())
        return ConnectResponse.decode(self.read_frame())

    def send_frame(self, payload: bytes) -> None:
        self.sock.sendall(frame(payload))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, op_type: int, body: bytes = b"", xid: int | None = None) -> tuple[int, int, int, bytes]:
        """Send one request; return (xid, zxid, err, body) of the next non-notification reply."""
        if xid is None:
            self.xid += 1
            xid = self.xid
        self.send_frame(encode_request(xid, op_type, body))
        while True:
            reply = self.read_frame()
            got_xid, zxid, err = struct.unpack_from(">iqi", reply)
            if got_xid != -1:
                return got_xid, zxid, err, reply[16:]

    def exists(self, path: str, watch: bool = False) -> int:
        return self.request(OpCode.exists, Writer().string(path).bool(watch).getvalue())[2]

    def read_frame(self) -> bytes:
        (length,) = struct.unpack(">i", self._read_exactly(4))
        return self._read_exactly(length)

    def is_closed(self) -> bool:
        """True once the server has closed the connection (EOF), after any pending bytes."""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def _read_exactly(self, n: int) -> bytes:
        chunks = b""
        while len(chunks) < n:
            data = self.sock.recv(n - len(chunks))
            if not data:
                raise ConnectionError("closed by the server")
            chunks += data
        return chunks

    def close(self) -> None:
        self.sock.close()


def four_letter_word(port: int, word: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(word.encode("ascii"))
        out = b""
        while True:
            data = sock.recv(65536)
            if not data:
                return out.decode()
            out += data
