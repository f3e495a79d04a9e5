"""Debian's ``zkCli.sh`` (the Java client of ZooKeeper 3.8) against ``distlab serve``.

Each command runs non-interactively (``zkCli.sh -server HOST:PORT cmd args``), as an operator
would; the expected output lines are the Java client's own formatting.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.server.conftest import ZKCLI

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def zkcli_present() -> None:
    if not ZKCLI.exists():
        message = f"{ZKCLI} missing: install Debian's zookeeper package (scripts/services/up.sh does)"
        if os.environ.get("CI") or os.environ.get("DISTLAB_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)


def zkcli(hosts: str, *command: str) -> str:
    result = subprocess.run(
        [str(ZKCLI), "-server", hosts, *command],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "JVMFLAGS": "-Xmx64m -XX:TieredStopAtLevel=1"},
    )
    return result.stdout + result.stderr


def test_create_ls_get_stat_set_delete(server) -> None:
    hosts = server.hosts
    assert "Created /cli" in zkcli(hosts, "create", "/cli", "hello")
    assert "[cli, zookeeper]" in zkcli(hosts, "ls", "/")
    assert "hello" in zkcli(hosts, "get", "/cli").splitlines()
    stat = zkcli(hosts, "stat", "/cli")
    assert "dataVersion = 0" in stat and "dataLength = 5" in stat
    zkcli(hosts, "set", "/cli", "world")
    assert "world" in zkcli(hosts, "get", "/cli").splitlines()
    assert "dataVersion = 1" in zkcli(hosts, "stat", "/cli")
    zkcli(hosts, "delete", "/cli")
    assert "[zookeeper]" in zkcli(hosts, "ls", "/")
    assert "Node does not exist: /cli" in zkcli(hosts, "get", "/cli")
