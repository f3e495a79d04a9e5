"""A real-time driver for any sans-I/O process: TCP between servers, real timers, a disk.

The simulator (``distlab.sim``) is one driver of the ``step(event) -> Effects`` contract
(``distlab.sansio``); this is another, for OS processes on real machines. It knows nothing
about the protocol it runs: it turns sockets, timers and the clock into ``Start``,
``Deliver``, ``Timer`` and ``Disconnected`` events, and carries out each step's effects in
the contract's order — durable ``writes`` (a journal file, fsync'd), the new ``state``, the
``sends``, the ``timers``, the ``notes``.

- **Links.** Every server listens on its peer address; to send to another server it opens
  one outgoing connection and writes length-prefixed frames on it. TCP keeps each link FIFO.
  When an established link breaks, or an incoming one closes, the process gets
  ``Disconnected(peer)`` (the contract's "TCP reset"); a message to a server that cannot be
  reached is dropped, as on a lossy link (election traffic retries by itself).
- **Local endpoints.** Destinations that are not servers (client connections, e.g.
  ``"client:7"``) are callbacks registered by the front end that owns them.
- **Messages** are pickled. Only ``distlab`` classes and plain builtins may be unpickled
  (``SafeUnpickler``), and the peer port should stay on a trusted network: this is a
  teaching ensemble, not a hardened one.
- **Durable state** is a journal of the writes (``persist``/``append``/``truncate``),
  replayed at start; the incarnation counts restarts.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import pickle
import random
import struct
import time
from pathlib import Path
from typing import Any, Callable, Hashable

from distlab.sansio import Deliver, Disconnected, Start, Timer

__all__ = ["RealtimeDriver", "Journal", "SafeUnpickler", "dumps", "loads", "wall_ms"]

log = logging.getLogger("distlab.server")

_LENGTH = struct.Struct(">I")
_MAX_FRAME = 256 << 20  # a SNAP carries the whole database


def wall_ms() -> int:
    return int(time.time() * 1000)


class SafeUnpickler(pickle.Unpickler):
    """Unpickles distlab's own message and txn classes and plain builtins, nothing else."""

    _BUILTINS = frozenset({"set", "frozenset", "tuple", "list", "dict", "bytes", "bytearray",
                           "int", "str", "bool", "float", "complex", "NoneType", "slice", "range"})

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("distlab.") or (module == "builtins" and name in self._BUILTINS) \
                or (module == "collections" and name in ("deque", "OrderedDict")) \
                or (module == "copyreg" and name == "_reconstructor"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def dumps(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def loads(data: bytes) -> Any:
    return SafeUnpickler(io.BytesIO(data)).load()


class Journal:
    """The durable dict, as a replayable journal of writes (plus an incarnation counter)."""

    def __init__(self, directory: str | os.PathLike, fsync: bool = True) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.path = self.dir / "journal"
        self.durable: dict[str, Any] = {}
        self._records = 0
        if self.path.exists():
            self._replay()
        counter = self.dir / "incarnation"
        self.incarnation = int(counter.read_text()) + 1 if counter.exists() else 0
        counter.write_text(str(self.incarnation))
        self._file = open(self.path, "ab")

    def _replay(self) -> None:
        data = self.path.read_bytes()
        pos = 0
        while pos + 4 <= len(data):
            (n,) = _LENGTH.unpack_from(data, pos)
            if pos + 4 + n > len(data):
                log.warning("journal %s ends in a torn record; dropping it", self.path)
                break
            try:
                op, key, value = loads(data[pos + 4 : pos + 4 + n])
            except Exception:  # a torn or foreign record: stop where the good part ends
                log.warning("journal %s has an unreadable record at %d; dropping the rest", self.path, pos)
                break
            self._apply(op, key, value)
            pos += 4 + n
            self._records += 1

    def _apply(self, op: str, key: str, value: Any) -> None:
        if op == "set":
            self.durable[key] = value
        elif op == "append":
            self.durable.setdefault(key, []).append(value)
        elif op == "truncate":
            self.durable[key] = list(self.durable.get(key, []))[:value]

    def write(self, writes: list[tuple[str, str, Any]]) -> None:
        for op, key, value in writes:
            self._apply(op, key, value)
            record = dumps((op, key, value))
            self._file.write(_LENGTH.pack(len(record)) + record)
            self._records += 1
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        if self._records > 20_000:
            self._compact()

    def _compact(self) -> None:
        tmp = self.dir / "journal.tmp"
        with open(tmp, "wb") as f:
            for key, value in self.durable.items():
                record = dumps(("set", key, value))
                f.write(_LENGTH.pack(len(record)) + record)
            f.flush()
            os.fsync(f.fileno())
        self._file.close()
        os.replace(tmp, self.path)
        self._file = open(self.path, "ab")
        self._records = len(self.durable)

    def close(self) -> None:
        self._file.close()


class _PeerLink:
    """The outgoing connection to one server; connects on first use, reconnects on demand."""

    def __init__(self, driver: RealtimeDriver, sid: int, address: tuple[str, int]) -> None:
        self.driver, self.sid, self.address = driver, sid, address
        self.writer: asyncio.StreamWriter | None = None
        self.queue: list[bytes] = []
        self.connecting = False

    def send(self, msg: Any) -> None:
        data = dumps(msg)
        packet = _LENGTH.pack(len(data)) + data
        if self.writer is not None:
            self.writer.write(packet)
            return
        self.queue.append(packet)
        if not self.connecting:
            self.connecting = True
            asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*self.address), 2)
        except (OSError, asyncio.TimeoutError):
            self.queue.clear()  # lost, like packets to a dead host
            self.connecting = False
            return
        hello = dumps(self.driver.me)
        writer.write(_LENGTH.pack(len(hello)) + hello)
        for packet in self.queue:
            writer.write(packet)
        self.queue.clear()
        self.writer, self.connecting = writer, False
        # The other side never writes on this connection: EOF means it went away.
        try:
            await reader.read()
        except (OSError, ConnectionError):
            pass
        if self.writer is writer:
            self.writer = None
            writer.close()
            self.driver.disconnected(self.sid)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class RealtimeDriver:
    """Runs one sans-I/O process in real time, linked to its peers over TCP.

    Args:
        process: the state machine (``step(event) -> Effects``).
        me: its id; ``peers[me]`` is the address it listens on for other servers.
        peers: every server's id -> (host, port) of its peer listener.
        journal: where its durable writes go.
    """

    def __init__(self, process: Any, me: int, peers: dict[int, tuple[str, int]], journal: Journal,
                 on_state: Callable[[str], None] | None = None) -> None:
        self.process = process
        self.me = me
        self.peers = peers
        self.journal = journal
        self.on_state = on_state
        self.endpoints: dict[Hashable, Callable[[Any], None]] = {}
        self._links = {sid: _PeerLink(self, sid, addr) for sid, addr in peers.items() if sid != me}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._incoming: dict[int, asyncio.StreamWriter] = {}
        self._server: asyncio.base_events.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        host, port = self.peers[self.me]
        self._server = await asyncio.start_server(self._accept, host, port)
        rng = random.Random(os.urandom(16))
        self.run(Start(wall_ms(), dict(self.journal.durable), self.journal.incarnation, rng))

    async def stop(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._server is not None:
            self._server.close()
        for link in self._links.values():
            link.close()
        for writer in list(self._incoming.values()):
            writer.close()
        self.journal.close()

    # --- events in ---------------------------------------------------------------------------

    def deliver(self, src: Hashable, msg: Any) -> None:
        """A local endpoint (a client connection) sends ``msg`` to the process."""
        self.run(Deliver(wall_ms(), src, msg))

    def disconnected(self, node: Hashable) -> None:
        self.run(Disconnected(wall_ms(), node))

    def run(self, event: Any) -> None:
        fx = self.process.step(event)
        if fx is None:
            return
        if fx.writes:
            self.journal.write(fx.writes)
        if fx.state and self.on_state is not None:
            self.on_state(fx.state)
        for dst, msg in fx.sends or ():
            self._send(dst, msg)
        for name, delay in fx.timers or ():
            old = self._timers.pop(name, None)
            if old is not None:
                old.cancel()
            if delay is not None:
                self._timers[name] = self._loop.call_later(delay / 1000, self._fire, name)
        for text, _data in fx.notes or ():
            log.debug("%s", text)

    def _fire(self, name: str) -> None:
        self._timers.pop(name, None)
        self.run(Timer(wall_ms(), name))

    def _send(self, dst: Hashable, msg: Any) -> None:
        if dst == self.me:
            self._loop.call_soon(self.deliver, self.me, msg)  # loopback, after this step
        elif dst in self._links:
            self._links[dst].send(msg)
        elif dst in self.endpoints:
            self.endpoints[dst](msg)
        # else: a client that has gone; its message is lost with its connection

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        src = None
        try:
            src = loads(await self._read_frame(reader))
            if src not in self.peers or src == self.me:
                raise ValueError(f"unknown server id {src!r}")
            old = self._incoming.get(src)
            if old is not None:
                old.close()
            self._incoming[src] = writer
            while True:
                msg = loads(await self._read_frame(reader))
                self.deliver(src, msg)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except (ValueError, pickle.UnpicklingError) as error:
            log.warning("closing peer connection from %s: %s", writer.get_extra_info("peername"), error)
        finally:
            writer.close()
            if src is not None and self._incoming.get(src) is writer:
                del self._incoming[src]
                self.disconnected(src)

    @staticmethod
    async def _read_frame(reader: asyncio.StreamReader) -> bytes:
        (n,) = _LENGTH.unpack(await reader.readexactly(4))
        if n > _MAX_FRAME:
            raise ValueError(f"peer frame of {n} bytes")
        return await reader.readexactly(n)
