"""The same raw requests against ``distlab serve`` and a real ZooKeeper 3.8: same answers.

Each step sends exact bytes (no client library in between) and compares the error code and
how many zxids the step used, on both servers. This is the differential test the fidelity
gaps of issue 12 came from, kept as a regression test (``real_server``: it needs the
standalone ZooKeeper of ``make services-up``).
"""

from __future__ import annotations

import uuid

import pytest

from distlab.server.jute import OpCode, Writer
from tests.locks.conftest import ZK_PORT, require
from tests.server.rawclient import RawClient

OPEN_ACL = Writer().int(1).int(31).string("world").string("anyone").getvalue()


def create(path: str) -> tuple[int, bytes]:
    return OpCode.create, Writer().string(path).buffer(b"").raw(OPEN_ACL).int(0).getvalue()


def delete(path: str) -> tuple[int, bytes]:
    return OpCode.delete, Writer().string(path).int(-1).getvalue()


def set_data(path: str) -> tuple[int, bytes]:
    return OpCode.setData, Writer().string(path).buffer(b"x").int(-1).getvalue()


def read(op: int, path: str) -> tuple[int, bytes]:
    return op, Writer().string(path).bool(False).getvalue()


def multi(*ops: tuple[int, bytes]) -> tuple[int, bytes]:
    w = Writer()
    for op, body in ops:
        w.int(op).bool(False).int(-1).raw(body)
    return OpCode.multi, w.int(-1).bool(True).int(-1).getvalue()


def script(ns: str) -> list[tuple[str, tuple[int, bytes]]]:
    return [
        ("create the namespace", create(ns)),
        ("create under a missing parent, bad path", create(f"{ns}/missing/bad/")),
        ("create with a trailing slash", create(f"{ns}/")),
        ("create without a slash", create("noslash")),
        ("create with a NUL", create(f"{ns}/a\0b")),
        ("delete with a trailing slash", delete(f"{ns}/")),
        ("delete with a NUL", delete(f"{ns}\0")),
        ("delete a system node", delete("/zookeeper")),
        ("setData on a bad path", set_data(f"{ns}/missing/")),
        ("setData on a missing node", set_data(f"{ns}/missing")),
        ("getData on a bad path", read(OpCode.getData, f"{ns}//x")),
        ("getChildren on a bad path", read(OpCode.getChildren, f"{ns}/")),
        ("exists with a NUL", read(OpCode.exists, f"{ns}\0")),
        ("exists on a bad path", read(OpCode.exists, f"{ns}/")),
        ("an empty multi", multi()),
        ("a failing multi", multi(create(f"{ns}/a"), delete(f"{ns}/nope"))),
        ("a passing multi", multi(create(f"{ns}/b"), delete(f"{ns}/b"))),
        ("delete the namespace", delete(ns)),
    ]


def run(port: int, ns: str) -> list[tuple[str, int, int]]:
    client = RawClient(port)
    hello = client.connect()
    assert hello.session_id != 0
    zxid = client.request(OpCode.exists, Writer().string("/").bool(False).getvalue())[1]
    results = []
    for name, (op, body) in script(ns):
        _, new_zxid, err, _ = client.request(op, body)
        results.append((name, err, new_zxid - zxid))
        zxid = new_zxid
    client.close()
    return results


@pytest.mark.real_server
def test_distlab_answers_raw_requests_like_zookeeper(server) -> None:
    require("zk-standalone")
    ns = f"/diff-{uuid.uuid4().hex[:8]}"
    theirs = run(ZK_PORT, ns)
    ours = run(server.port, ns)
    assert ours == theirs
