"""The asyncio driver of ``StandaloneServer``: sockets, the wall clock and the disk.

The core decides, this module does (the split of ``distlab.sansio``): every socket event
becomes one core call, and each ``Output`` is carried out in its contract's order — txns to
the log, the snapshot, then the bytes to the clients, then the closes. One timer ticks the
core (session expiry, silent connections) every half tick.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

from distlab.server.standalone import Output, StandaloneServer
from distlab.server.storage import DiskStore

__all__ = ["TcpDriver", "wall_ms", "environment"]

log = logging.getLogger("distlab.server")


def environment() -> dict[str, str]:
    """The ``envi`` lines only a driver can know: host and runtime."""
    import platform
    import socket

    return {"host.name": socket.gethostname(), "python.version": platform.python_version(),
            "os.name": platform.system(), "os.arch": platform.machine()}


def wall_ms() -> int:
    """The wall clock in ms: session ids and ctime/mtime come from it, as in ZooKeeper."""
    return int(time.time() * 1000)


class TcpDriver:
    """Serve one ``StandaloneServer`` on ``host:port`` with asyncio streams."""

    def __init__(self, core: StandaloneServer, host: str, port: int,
                 store: DiskStore | None = None) -> None:
        self.core = core
        core.environment.update(environment())
        self.host = host
        self.port = port
        self.store = store
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._ids = itertools.count(1)
        self._server: asyncio.base_events.Server | None = None
        self._ticker: asyncio.Task | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=1 << 16)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ticker = asyncio.create_task(self._tick_forever())

    async def serve_forever(self) -> None:
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers.values()):
            writer.close()
        self._writers.clear()
        if self.store is not None:
            self.store.snapshot(self.core.snapshot(), self.core.tree.last_processed_zxid)
            self.store.close()

    async def _tick_forever(self) -> None:
        interval = max(0.05, self.core.tick_time / 2000)
        while True:
            await asyncio.sleep(interval)
            self.carry_out(self.core.tick(wall_ms()))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn_id = next(self._ids)
        self._writers[conn_id] = writer
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.carry_out(self.core.open(conn_id, (peer[0], peer[1]), wall_ms()))
        try:
            while conn_id in self._writers:
                data = await reader.read(1 << 16)
                if not data:
                    break
                self.carry_out(self.core.receive(conn_id, data, wall_ms()))
                if conn_id in self._writers:
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if self._writers.pop(conn_id, None) is not None:
                self.carry_out(self.core.closed(conn_id, wall_ms()))
                writer.close()

    def carry_out(self, out: Output) -> None:
        """Do what the core asked, in the contract's order."""
        if self.store is not None:
            self.store.append(out.txns)
            if out.snapshot is not None:
                self.store.snapshot(*out.snapshot)
        for conn_id, data in out.sends:
            writer = self._writers.get(conn_id)
            if writer is not None:
                writer.write(data)
        for conn_id in out.closes:
            writer = self._writers.pop(conn_id, None)
            if writer is not None:
                writer.close()  # flushes what was written, then closes
        for level, message in out.logs:
            log.log(level, message)
