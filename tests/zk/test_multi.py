"""multi: all-or-nothing, one zxid, per-op result codes (reference notes 5.5; ``MultiOperationTest``)."""

from __future__ import annotations

import pytest

from distlab.zk.ops import (
    CheckResult,
    CheckVersionRequest,
    CreateRequest,
    CreateResult,
    CreateTxn,
    DeleteRequest,
    DeleteResult,
    ErrorResult,
    ErrorTxn,
    MultiRequest,
    MultiResult,
    MultiTxn,
    SetDataRequest,
    SetDataResult,
    prepare,
)
from distlab.zk.stat import CreateMode
from distlab.zk.tree import DataTree

SESSION = 0x1


def create(path: str, data: bytes = b"", mode: CreateMode = CreateMode.PERSISTENT) -> CreateRequest:
    return CreateRequest(path=path, data=data, mode=mode)


def delete(path: str, version: int = -1) -> DeleteRequest:
    return DeleteRequest(path=path, version=version)


def set_data(path: str, data: bytes, version: int = -1) -> SetDataRequest:
    return SetDataRequest(path=path, data=data, version=version)


def check(path: str, version: int) -> CheckVersionRequest:
    return CheckVersionRequest(path=path, version=version)


def run_multi(tree: DataTree, *ops, zxid: int | None = None):
    zxid = tree.last_processed_zxid + 1 if zxid is None else zxid
    txn = prepare(tree, MultiRequest(ops=ops), SESSION, zxid, 5000)
    applied = tree.apply(txn)
    assert isinstance(applied.result, MultiResult)
    return txn, applied


def codes(result: MultiResult) -> list[int | str]:
    return [r.err if isinstance(r, ErrorResult) else type(r).__name__ for r in result.results]


# (id, ops, expected per-op results); a name means that result type, an int an ErrorResult code
RESULT_CASES = [
    ("testCreate", [create("/multi0"), create("/multi1"), create("/multi2")], ["CreateResult"] * 3),
    ("testCreateDelete", [create("/multi"), delete("/multi", 0)], ["CreateResult", "DeleteResult"]),
    ("testInvalidVersion", [create("/multi"), delete("/multi", 1)], [0, -103]),
    (
        "testNestedCreate",
        [create("/multi"), create("/multi/a"), create("/multi/a/1"), delete("/multi/a/1", 0), delete("/multi/a", 0), delete("/multi", 0)],
        ["CreateResult"] * 3 + ["DeleteResult"] * 3,
    ),
    (
        "testSetData",
        [create("/m0"), set_data("/m0", b"/m0", 0), create("/m1"), set_data("/m1", b"/m1", 0)],
        ["CreateResult", "SetDataResult", "CreateResult", "SetDataResult"],
    ),
    ("testUpdateConflict", [create("/multi"), set_data("/multi", b"X", 0), set_data("/multi", b"Y", 0)], [0, 0, -103]),
    ("testUpdateConflict fixed", [create("/multi"), set_data("/multi", b"X", 0), set_data("/multi", b"Y", 1)], ["CreateResult", "SetDataResult", "SetDataResult"]),
    ("testDeleteUpdateConflict", [create("/multi"), delete("/multi", 0), set_data("/multi", b"Y", 0)], [0, 0, -101]),
    ("testGetResults", [create("/multi"), delete("/multi", 0), set_data("/multi", b"Y", 0), create("/foo")], [0, 0, -101, -2]),
    ("failing first op", [delete("/nope"), create("/a"), create("/b")], [-101, -2, -2]),
    ("check passes", [create("/c"), check("/c", 0), set_data("/c", b"x", 0)], ["CreateResult", "CheckResult", "SetDataResult"]),
    ("check fails", [create("/c"), check("/c", 3), create("/d")], [0, -103, -2]),
    ("NodeExists inside", [create("/a"), create("/a")], [0, -110]),
    ("NotEmpty inside", [create("/a"), create("/a/b"), delete("/a")], [0, 0, -111]),
    ("ephemeral parent inside", [create("/e", mode=CreateMode.EPHEMERAL), create("/e/x")], [0, -108]),
    ("system node", [create("/a"), delete("/zookeeper")], [0, -8]),
]


@pytest.mark.parametrize("ops, expected", [c[1:] for c in RESULT_CASES], ids=[c[0] for c in RESULT_CASES])
def test_per_op_results(ops, expected) -> None:
    tree = DataTree()
    before = tree.digest()
    txn, applied = run_multi(tree, *ops)
    assert codes(applied.result) == expected
    if any(isinstance(code, int) for code in expected):
        # all-or-nothing: a failed multi changes no node and fires nothing
        assert tree.digest() == before
        assert applied.events == ()
        assert txn.failed
    # one zxid for the whole multi, failed or not (the failed one is logged too)
    assert tree.last_processed_zxid == txn.zxid == 1


def test_all_sub_ops_share_one_zxid() -> None:
    tree = DataTree()
    txn, applied = run_multi(tree, create("/a"), create("/a/b"), set_data("/a", b"x"))
    assert {sub.zxid for sub in txn.txns} == {1}
    a = tree.exists("/a")
    b = tree.exists("/a/b")
    assert a.czxid == a.mzxid == a.pzxid == b.czxid == 1


def test_later_ops_see_earlier_ones() -> None:
    # "create then setData v0 works"
    tree = DataTree()
    _, applied = run_multi(tree, create("/a", b"0"), set_data("/a", b"1", 0), set_data("/a", b"2", 1))
    assert not applied.result.failed
    data, stat = tree.get_data("/a")
    assert (data, stat.version) == (b"2", 2)


def test_sequential_names_inside_a_multi_are_consecutive() -> None:
    tree = DataTree()
    run_multi(tree, create("/q"))
    _, applied = run_multi(
        tree,
        create("/q/n-", mode=CreateMode.PERSISTENT_SEQUENTIAL),
        create("/q/n-", mode=CreateMode.PERSISTENT_SEQUENTIAL),
    )
    assert [r.path for r in applied.result.results] == ["/q/n-0000000000", "/q/n-0000000001"]


def test_failed_multi_rolls_back_its_sequence_numbers() -> None:
    # ZOOKEEPER-2052: pending changes of a failed multi are rolled back.
    tree = DataTree()
    run_multi(tree, create("/q"))
    run_multi(tree, create("/q/n-", mode=CreateMode.PERSISTENT_SEQUENTIAL), delete("/nope"))
    _, applied = run_multi(tree, create("/q/n-", mode=CreateMode.PERSISTENT_SEQUENTIAL))
    assert applied.result.results[0].path == "/q/n-0000000000"


def test_result_values() -> None:
    tree = DataTree()
    run_multi(tree, create("/x"))
    _, applied = run_multi(tree, create("/a", b"abc"), set_data("/a", b"abcd"), check("/a", 1), delete("/x"))
    created, set_result, checked, deleted = applied.result.results
    assert created == CreateResult("/a", created.stat) and created.stat.dataLength == 3
    assert isinstance(set_result, SetDataResult) and set_result.stat.version == 1
    assert checked == CheckResult("/a")
    assert deleted == DeleteResult("/x")
    assert applied.result.first_error == 0


def test_failed_multi_txn_keeps_earlier_sub_txns_as_zookeeper_logs_them() -> None:
    # pRequestHelper: earlier ops keep their txns; the failing op and later ones are ErrorTxns.
    tree = DataTree()
    txn, applied = run_multi(tree, create("/a"), delete("/nope"), create("/b"))
    assert [type(t) for t in txn.txns] == [CreateTxn, ErrorTxn, ErrorTxn]
    assert [t.err for t in txn.txns[1:]] == [-101, -2]
    assert applied.result.first_error == -101


def test_empty_multi() -> None:
    tree = DataTree()
    txn, applied = run_multi(tree)
    assert txn == MultiTxn(txns=(), zxid=1, time=5000, session_id=SESSION)
    assert applied.result == MultiResult(())


def test_multi_txn_sub_txns_share_the_header() -> None:
    with pytest.raises(ValueError, match="shares its zxid"):
        MultiTxn(txns=(ErrorTxn(err=0, zxid=2, time=0, session_id=1),), zxid=1, time=0, session_id=1)
