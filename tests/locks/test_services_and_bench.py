"""The service scripts (scripts/services/) and `distlab bench locks`.

The scripts refuse a port another program holds and leave a running server of theirs alone;
the benchmark prints a table and then one JSON line with each figure and the ratios.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from distlab.cli import main

from tests.locks.conftest import SERVICES_SCRIPTS, require

REAL = pytest.mark.real_server


def run_script(name: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SERVICES_SCRIPTS / name), *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_redis_script_refuses_a_port_another_program_holds(busy_port, tmp_path):
    result = run_script("redis.sh", "start", DISTLAB_REDIS_PORT=str(busy_port), DISTLAB_SERVICES_DIR=str(tmp_path))
    assert result.returncode == 1
    assert f"port {busy_port} is taken by another program; refusing to start redis" in result.stderr


def test_zookeeper_script_refuses_a_port_another_program_holds(busy_port, tmp_path):
    if not os.path.exists("/usr/share/java/zookeeper.jar"):
        pytest.skip("Debian's zookeeper package is not installed (make services-up installs it)")
    result = run_script("zookeeper.sh", "start", "standalone", DISTLAB_ZK_PORT=str(busy_port),
                        DISTLAB_SERVICES_DIR=str(tmp_path))
    assert result.returncode == 1
    assert f"port {busy_port} is taken by another program; refusing to start ZooKeeper standalone" in result.stderr


def test_status_of_servers_that_were_never_started(tmp_path):
    result = run_script("redis.sh", "status", DISTLAB_REDIS_PORT="1", DISTLAB_SERVICES_DIR=str(tmp_path))
    assert result.returncode == 1 and result.stdout.strip() == "redis down"


@REAL
def test_starting_a_running_server_again_leaves_it_alone():
    require("redis")
    result = run_script("redis.sh", "start")
    assert result.returncode == 0 and "already running" in result.stderr


@REAL
def test_zookeeper_status_names_each_servers_mode():
    require("zk-standalone")
    require("zk-ensemble")
    lines = run_script("zookeeper.sh", "status").stdout.splitlines()
    assert "zookeeper standalone up on 127.0.0.1:12181 (standalone)" in lines
    modes = sorted(line.rsplit("(", 1)[1].rstrip(")") for line in lines[1:])
    assert modes == ["follower", "follower", "leader"]


QUICK = ["--cycles", "30", "--zk-cycles", "20", "--contended-cycles", "10", "--zk-contended-cycles", "5",
         "--rounds", "1", "--warmup", "5"]


def test_bench_locks_embedded_prints_a_table_then_json(capsys):
    assert main(["bench", "locks", "--embedded-only", *QUICK]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["db_sqlite_cycles_per_s"] > 0 and summary["zk_sim_cycles_per_s"] > 0
    assert summary["redis_fakeredis_ratio"] > 0  # ours / redis-py's Lock, both on fakeredis
    assert any(line.startswith("redis / fakeredis (embedded)") for line in lines)


@REAL
def test_bench_locks_on_the_real_servers_reports_every_ratio_and_the_herd(capsys):
    for service in ("redis", "postgres", "zk-standalone", "zk-ensemble"):
        require(service)
    assert main(["bench", "locks", "--no-start", *QUICK]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert not [k for k in summary if k.endswith("_error")], summary
    for key in ("redis_ratio", "zk_standalone_ratio", "zk_ensemble_ratio", "redis_contended_ratio",
                "zk_standalone_contended_ratio", "zk_ensemble_contended_ratio"):
        assert summary[key] > 0, key
    assert summary["redis_floor_ping_per_s"] > 0 and summary["zk_standalone_floor_exists_per_s"] > 0
    assert summary["db_postgres_cycles_per_s"] > 0
    assert summary["zk_notifications_per_release_ours"] == 1.0
    assert summary["zk_notifications_per_release_naive"] > 1.0
