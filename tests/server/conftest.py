"""``distlab serve`` in a subprocess on a free loopback port, for tests with real clients.

Every server a test starts is stopped by the fixture (SIGTERM, then SIGKILL), also when the
test fails; its log is shown on failure.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
ZKCLI = Path("/usr/share/zookeeper/bin/zkCli.sh")


class ServeProcess:
    """One ``distlab serve`` process: ``hosts`` for kazoo, ``log`` to read, ``stop``/``kill``."""

    def __init__(self, log_path: Path, *args: str) -> None:
        self.log_path = log_path
        self.args = args
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self, timeout: float = 10.0) -> ServeProcess:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "distlab", "serve", *self.args],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[offset:].decode(errors="replace")
            match = re.search(r"binding to port [\d.]+:(\d+)", text)
            if match:
                self.port = int(match.group(1))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"distlab serve did not start:\n{self.log}")

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """kill -9: no snapshot on the way out, only the txn log survives."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


@pytest.fixture
def serve_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator:
    started: list[ServeProcess] = []

    def make(*args: str, port: int = 0, name: str = "serve") -> ServeProcess:
        process = ServeProcess(tmp_path / f"{name}.log", "--port", str(port), "--tick-time", "500",
                               "--no-fsync", *args)
        started.append(process)
        return process.start()

    yield make
    for process in started:
        process.stop()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for process in started:
            print(f"--- {process.log_path.name} ---\n{process.log[-4000:]}")


@pytest.fixture
def server(serve_factory) -> ServeProcess:
    return serve_factory()


@pytest.fixture
def kazoo(server: ServeProcess) -> Iterator:
    from kazoo.client import KazooClient

    client = KazooClient(hosts=server.hosts, timeout=4)
    client.start(timeout=10)
    yield client
    client.stop()
    client.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # lets fixtures see whether the test failed
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
