"""Snapshots and digests: exact round trips, replicas agree, any node difference shows."""

from __future__ import annotations

import base64
import json

import pytest

from distlab.zk.errors import MarshallingError
from distlab.zk.ops import (
    CloseSessionRequest,
    CreateRequest,
    CreateSessionRequest,
    DeleteRequest,
    MultiRequest,
    Request,
    SetDataRequest,
    prepare,
)
from distlab.zk.stat import CreateMode
from distlab.zk.tree import DataTree

SCRIPT: list[tuple[int, Request]] = [
    (1, CreateSessionRequest(timeout=4000)),
    (2, CreateSessionRequest(timeout=6000)),
    (1, CreateRequest(path="/app", data=b"\x00\xffbinary")),
    (1, CreateRequest(path="/app/lock-", mode=CreateMode.EPHEMERAL_SEQUENTIAL)),
    (2, CreateRequest(path="/app/lock-", mode=CreateMode.EPHEMERAL_SEQUENTIAL)),
    (1, CreateRequest(path="/app/tmp")),
    (1, DeleteRequest(path="/app/tmp")),
    (2, SetDataRequest(path="/app", data=b"v2")),
    (1, MultiRequest(ops=(CreateRequest(path="/m"), SetDataRequest(path="/m", data=b"x", version=0)))),
    (2, CreateRequest(path="/\u4e2d", data="unicode".encode())),
]


def build(script=SCRIPT, time_step: int = 1000) -> DataTree:
    tree = DataTree()
    for zxid, (session, request) in enumerate(script, start=1):
        tree.apply(prepare(tree, request, session, zxid, zxid * time_step))
    return tree


def test_round_trip_gives_an_equal_tree() -> None:
    tree = build()
    restored = DataTree.restore(tree.snapshot())
    assert restored == tree
    assert restored.snapshot() == tree.snapshot()
    assert restored.digest() == tree.digest()
    assert restored.last_processed_zxid == tree.last_processed_zxid == len(SCRIPT)
    assert dict(restored.sessions) == {1: 4000, 2: 6000}
    assert restored.get_data("/app") == tree.get_data("/app")
    for path in tree.paths():
        assert restored.exists(path) == tree.exists(path)


def test_restored_tree_continues_like_the_original() -> None:
    # sequence counters and ephemeral owners survive the round trip
    tree = build()
    restored = DataTree.restore(tree.snapshot())
    for t in (tree, restored):
        t.apply(prepare(t, CreateRequest(path="/app/lock-", mode=CreateMode.EPHEMERAL_SEQUENTIAL), 2, 100, 0))
        t.apply(prepare(t, CloseSessionRequest(), 1, 101, 0))
    assert restored == tree
    assert restored.get_children("/app") == ["lock-0000000001", "lock-0000000003"]
    assert restored.ephemerals(2) == {"/app/lock-0000000001", "/app/lock-0000000003"}
    assert restored.ephemerals(1) == frozenset()


def test_snapshot_is_canonical_json_without_watches() -> None:
    tree = build()
    tree.get_data("/app", "w1")
    doc = json.loads(tree.snapshot())
    assert doc["format"] == "distlab.zk.snapshot/1"
    assert [n["path"] for n in doc["nodes"]] == sorted(tree.paths())
    app = next(n for n in doc["nodes"] if n["path"] == "/app")
    assert base64.b64decode(app["data"]) == b"v2"
    assert app["stat"]["cversion"] == 3  # stored counter: three creates under /app
    assert DataTree.restore(tree.snapshot()).watch_count == 0
    assert tree.snapshot() == tree.snapshot()


def test_replicas_that_applied_the_same_txns_agree() -> None:
    leader = DataTree()
    follower = DataTree()
    for zxid, (session, request) in enumerate(SCRIPT, start=1):
        txn = prepare(leader, request, session, zxid, zxid * 1000)
        leader.apply(txn)
        follower.apply(txn)  # followers apply the leader's txns, they never prepare
    assert follower.digest() == leader.digest()
    assert follower == leader
    assert build().digest() == leader.digest()


def test_digest_ignores_watches_and_last_zxid() -> None:
    tree = build()
    digest = tree.digest()
    tree.exists("/anything", "w")
    assert tree.digest() == digest
    from distlab.zk.ops import ErrorTxn

    tree.apply(ErrorTxn(err=-101, zxid=500, time=0, session_id=1))
    assert tree.digest() == digest


DIFFERENCES = [
    ("same-length data", [(1, SetDataRequest(path="/app", data=b"v3"))]),
    ("version only (same data again)", [(1, SetDataRequest(path="/app", data=b"v2"))]),
    ("cversion only (create+delete a child)", [(1, CreateRequest(path="/m/x")), (1, DeleteRequest(path="/m/x"))]),
    ("an extra empty node", [(1, CreateRequest(path="/extra"))]),
]


@pytest.mark.parametrize("extra", [e for _, e in DIFFERENCES], ids=[i for i, _ in DIFFERENCES])
def test_any_node_difference_changes_the_digest(extra) -> None:
    assert build().digest() != build(SCRIPT + extra).digest()


def test_a_time_difference_changes_the_digest() -> None:
    # ctime/mtime are part of the stat
    assert build(time_step=1000).digest() != build(time_step=1001).digest()


def test_an_ephemeral_owner_difference_changes_the_digest() -> None:
    script = [(1, CreateRequest(path="/e", mode=CreateMode.EPHEMERAL))]
    other = [(2, CreateRequest(path="/e", mode=CreateMode.EPHEMERAL))]
    assert build(script).digest() != build(other).digest()


def _doc() -> dict:
    return json.loads(build().snapshot())


def _dump(doc: dict) -> bytes:
    return json.dumps(doc).encode()


def _drop(path: str) -> bytes:
    doc = _doc()
    doc["nodes"] = [n for n in doc["nodes"] if n["path"] != path]
    return _dump(doc)


def _duplicate() -> bytes:
    doc = _doc()
    doc["nodes"].append(doc["nodes"][-1])
    return _dump(doc)


def _bad_data() -> bytes:
    doc = _doc()
    doc["nodes"][-1]["data"] = "***"
    return _dump(doc)


def _invalid_path() -> bytes:
    doc = _doc()
    doc["nodes"].append({**doc["nodes"][-1], "path": "/app/./x"})
    return _dump(doc)


def _missing_stat_field() -> bytes:
    doc = _doc()
    del doc["nodes"][-1]["stat"]["pzxid"]
    return _dump(doc)


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda: b"not json", "not a valid distlab snapshot"),
        (lambda: _dump({**_doc(), "format": "other/9"}), "format is 'other/9'"),
        (lambda: _drop("/app"), "has no parent"),
        (lambda: _drop("/"), "no parent|no root"),
        (_duplicate, "appears twice"),
        (_bad_data, "not a valid"),
        (_missing_stat_field, "pzxid"),
        (_invalid_path, "relative path segment"),
    ],
    ids=["not json", "wrong format", "orphan node", "no root", "duplicate node", "bad base64", "missing stat field", "invalid path"],
)
def test_corrupt_snapshots_are_refused(make, why: str) -> None:
    with pytest.raises(MarshallingError, match=why):
        DataTree.restore(make())
