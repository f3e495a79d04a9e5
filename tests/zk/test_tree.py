"""DataTree and prepare: Stat rules, cversion and sequence numbers, validation order, limits.

Each test names the ZooKeeper rule or test it mirrors (reference notes, sections 5.1-5.3, 5.8).
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from distlab.zk.errors import (
    BadArgumentsError,
    BadVersionError,
    DataTooLargeError,
    KeeperError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RuntimeInconsistencyError,
    SessionExpiredError,
    TxnOrderError,
)
from distlab.zk.ops import (
    CheckVersionRequest,
    CreateRequest,
    CreateResult,
    CreateTxn,
    DeleteRequest,
    ErrorResult,
    ErrorTxn,
    MultiRequest,
    MultiTxn,
    OutstandingChanges,
    Request,
    SetDataRequest,
    prepare,
)
from distlab.zk.stat import JUTE_MAXBUFFER, CreateMode, Stat, next_version, to_int32
from distlab.zk.tree import ApplyResult, DataTree

SESSION = 0x1
OTHER_SESSION = 0x2


class Driver:
    """A tree and a zxid counter; writes go through prepare + apply, as on a server."""

    def __init__(self, tree: DataTree | None = None) -> None:
        self.tree = tree or DataTree()
        self.zxid = self.tree.last_processed_zxid

    def txn(self, request: Request, session: int = SESSION):
        self.zxid += 1
        return prepare(self.tree, request, session, self.zxid, 1000 * self.zxid)

    def write(self, request: Request, session: int = SESSION) -> ApplyResult:
        return self.tree.apply(self.txn(request, session))

    def create(self, path: str, data: bytes = b"", mode: CreateMode = CreateMode.PERSISTENT, session: int = SESSION) -> str:
        result = self.write(CreateRequest(path=path, data=data, mode=mode), session).result
        assert isinstance(result, CreateResult)
        return result.path

    def delete(self, path: str, version: int = -1) -> None:
        self.write(DeleteRequest(path=path, version=version))

    def set(self, path: str, data: bytes, version: int = -1) -> Stat:
        return self.write(SetDataRequest(path=path, data=data, version=version)).result.stat

    def stat(self, path: str) -> Stat:
        stat = self.tree.exists(path)
        assert stat is not None, path
        return stat


# --- a fresh tree -----------------------------------------------------------------------------


def test_fresh_tree_has_zookeepers_system_nodes() -> None:
    tree = DataTree()
    assert tree.paths() == ["/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"]
    assert tree.get_children("/zookeeper") == ["config", "quota"]
    assert tree.last_processed_zxid == 0


@pytest.mark.parametrize(
    "path, cversion, num_children, aversion",
    [("/", -1, 1, 0), ("/zookeeper", -2, 2, 0), ("/zookeeper/quota", 0, 0, 0), ("/zookeeper/config", 0, 0, -1)],
    ids=["root", "zookeeper", "quota", "config"],
)
def test_fresh_system_node_stats(path: str, cversion: int, num_children: int, aversion: int) -> None:
    # No creates were counted for the system nodes, so visible cversion = -numChildren;
    # addConfigNode's setACL(..., -1) leaves aversion -1 on /zookeeper/config.
    stat = DataTree().exists(path)
    assert stat == Stat(0, 0, 0, 0, 0, cversion, aversion, 0, 0, num_children, 0)


# --- StatTest -------------------------------------------------------------------------------


def test_stat_basic() -> None:
    # StatTest.testBasic
    d = Driver()
    d.create("/foo", b"/foo")
    _, stat = d.tree.get_data("/foo")
    assert stat.czxid == stat.mzxid == stat.pzxid
    assert stat.ctime == stat.mtime
    assert (stat.cversion, stat.version, stat.aversion, stat.ephemeralOwner) == (0, 0, 0, 0)
    assert stat.dataLength == len("/foo")
    assert stat.numChildren == 0


def test_stat_child() -> None:
    # StatTest.testChild
    d = Driver()
    d.create("/foo", b"/foo")
    d.create("/foo/bar", b"/foo/bar", CreateMode.EPHEMERAL)
    parent = d.stat("/foo")
    assert parent.czxid == parent.mzxid
    assert parent.pzxid == parent.czxid + 1
    assert parent.ctime == parent.mtime
    assert (parent.cversion, parent.version, parent.numChildren) == (1, 0, 1)
    child = d.stat("/foo/bar")
    assert child.czxid == child.mzxid == child.pzxid
    assert child.ephemeralOwner == SESSION
    assert child.dataLength == len("/foo/bar")


def test_stat_children() -> None:
    # StatTest.testChildren
    d = Driver()
    d.create("/foo", b"/foo")
    for i in range(10):
        d.create(f"/foo/bar{i}", b"", CreateMode.EPHEMERAL)
        stat = d.stat("/foo")
        assert stat.pzxid == stat.czxid + i + 1
        assert stat.cversion == i + 1
        assert stat.numChildren == i + 1
        assert stat.mzxid == stat.czxid  # child ops never touch mzxid/mtime/version
        assert stat.version == 0


def test_stat_data_size_change() -> None:
    # StatTest.testDataSizeChange
    d = Driver()
    d.create("/foo", b"/foo")
    d.set("/foo", b"/foo/foo")
    stat = d.stat("/foo")
    assert stat.mzxid != stat.czxid
    assert stat.pzxid == stat.czxid
    assert stat.mtime != stat.ctime
    assert (stat.cversion, stat.version, stat.dataLength) == (0, 1, 8)


def test_child_delete_moves_pzxid_but_not_mzxid() -> None:
    d = Driver()
    d.create("/p")
    d.create("/p/c")
    d.delete("/p/c")
    stat = d.stat("/p")
    assert stat.pzxid == d.zxid
    assert stat.mzxid == stat.czxid
    assert stat.cversion == 2  # one create + one delete


def test_set_data_on_child_does_not_touch_parent() -> None:
    d = Driver()
    d.create("/p")
    d.create("/p/c")
    before = d.stat("/p")
    d.set("/p/c", b"x")
    assert d.stat("/p") == before


def test_returned_stat_is_a_frozen_value() -> None:
    d = Driver()
    d.create("/a")
    stat = d.stat("/a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        stat.version = 7  # type: ignore[misc]
    d.set("/a", b"new")
    assert stat.version == 0  # a value, not a live view
    assert d.stat("/a").version == 1


def test_kazoo_stat_aliases() -> None:
    stat = Stat(1, 2, 3000, 4000, 5, 6, 7, 0, 9, 10, 11)
    assert (stat.creation_transaction_id, stat.last_modified_transaction_id) == (1, 2)
    assert (stat.created, stat.last_modified) == (3.0, 4.0)
    assert (stat.children_version, stat.acl_version) == (6, 7)
    assert stat.owner_session_id is None
    assert (stat.data_length, stat.children_count) == (9, 10)


# --- cversion storage and the sequential suffix (section 5.2) ---------------------------------


def test_sequential_suffix_example_from_the_notes() -> None:
    # create /p; /p/a- (seq); create+delete /p/x; /p/a- (seq) -> ...0002; stored 3, visible 4
    d = Driver()
    d.create("/p")
    assert d.create("/p/a-", mode=CreateMode.PERSISTENT_SEQUENTIAL) == "/p/a-0000000000"
    d.create("/p/x")
    d.delete("/p/x")
    assert d.create("/p/a-", mode=CreateMode.PERSISTENT_SEQUENTIAL) == "/p/a-0000000002"
    assert d.tree.stat_persisted("/p").cversion == 3
    stat = d.stat("/p")
    assert (stat.numChildren, stat.cversion) == (2, 4)


@pytest.mark.parametrize(
    "prefix, expected",
    [("/x-", "/x-0000000000"), ("/q/", "/q/0000000000"), ("/q/lock-", "/q/lock-0000000000")],
    ids=["under root (stored cversion 0)", "bare suffix after '/'", "named prefix"],
)
def test_first_sequential_name(prefix: str, expected: str) -> None:
    d = Driver()
    if prefix.startswith("/q"):
        d.create("/q")
    assert d.create(prefix, mode=CreateMode.EPHEMERAL_SEQUENTIAL) == expected


def test_sequence_counter_wraps_like_a_java_int() -> None:
    # data-model.mdx: after 2147483647 the next name is <path>-2147483648
    d = Driver()
    d.create("/p")
    doc = json.loads(d.tree.snapshot())
    for node in doc["nodes"]:
        if node["path"] == "/p":
            node["stat"]["cversion"] = 2**31 - 1
    d = Driver(DataTree.restore(json.dumps(doc).encode()))
    assert d.create("/p/n", mode=CreateMode.PERSISTENT_SEQUENTIAL) == "/p/n2147483647"
    assert d.create("/p/n", mode=CreateMode.PERSISTENT_SEQUENTIAL) == "/p/n-2147483648"


# --- node types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, flag, ephemeral, sequential",
    [
        (CreateMode.PERSISTENT, 0, False, False),
        (CreateMode.EPHEMERAL, 1, True, False),
        (CreateMode.PERSISTENT_SEQUENTIAL, 2, False, True),
        (CreateMode.EPHEMERAL_SEQUENTIAL, 3, True, True),
    ],
    ids=lambda v: v.name if isinstance(v, CreateMode) else None,
)
def test_create_modes_have_zookeepers_flags(mode: CreateMode, flag: int, ephemeral: bool, sequential: bool) -> None:
    assert mode == flag
    assert (mode.is_ephemeral, mode.is_sequential) == (ephemeral, sequential)
    assert CreateMode.of(ephemeral=ephemeral, sequence=sequential) is mode


def test_ephemeral_owner_and_index() -> None:
    d = Driver()
    d.create("/e1", mode=CreateMode.EPHEMERAL, session=SESSION)
    d.create("/e2", mode=CreateMode.EPHEMERAL, session=OTHER_SESSION)
    d.create("/p")
    assert d.stat("/e1").ephemeralOwner == SESSION
    assert d.stat("/p").ephemeralOwner == 0
    assert d.tree.ephemerals(SESSION) == {"/e1"}
    d.delete("/e1")
    assert d.tree.ephemerals(SESSION) == frozenset()


def test_ephemeral_needs_a_session() -> None:
    d = Driver()
    with pytest.raises(SessionExpiredError):
        d.txn(CreateRequest(path="/e", mode=CreateMode.EPHEMERAL), session=0)


# --- version arithmetic (checkAndIncVersion) ------------------------------------------------------


@pytest.mark.parametrize(
    "current, expected",
    [(0, 1), (41, 42), (2**31 - 1, -(2**31)), (-(2**31), -(2**31) + 1), (-2, 0)],
    ids=["first", "plain", "int overflow", "after overflow", "-1 is skipped (ZOOKEEPER-4743)"],
)
def test_next_version(current: int, expected: int) -> None:
    assert next_version(current) == expected


def test_to_int32() -> None:
    assert [to_int32(v) for v in (0, 2**31 - 1, 2**31, -(2**31) - 1)] == [0, 2**31 - 1, -(2**31), 2**31 - 1]


@pytest.mark.parametrize(
    "expected, ok",
    [(-1, True), (2, True), (1, False), (3, False)],
    ids=["-1 matches any", "equal matches", "older fails", "newer fails"],
)
def test_expected_version(expected: int, ok: bool) -> None:
    d = Driver()
    d.create("/a")
    d.set("/a", b"1")
    d.set("/a", b"2")  # version 2
    if ok:
        assert d.set("/a", b"3", version=expected).version == 3
    else:
        with pytest.raises(BadVersionError, match=f"expected version {expected}, node has version 2"):
            d.set("/a", b"3", version=expected)


# --- validation order per op (section 5.3) ------------------------------------------------------


def _setup(d: Driver) -> None:
    d.create("/p")
    d.create("/p/c")
    d.set("/p", b"v1")  # /p has version 1 and a child
    d.create("/e", mode=CreateMode.EPHEMERAL)
    d.create("/leaf")


ORDER_CASES = [
    # create
    (CreateRequest(path="/missing/x"), NoNodeError, "parent /missing does not exist"),
    (CreateRequest(path="/p"), NodeExistsError, "node already exists"),
    (CreateRequest(path="/e/x"), NoChildrenForEphemeralsError, "parent /e is ephemeral"),
    (CreateRequest(path="/zookeeper/config/x"), NoAuthError, "read-only"),
    (CreateRequest(path="/zookeeper"), NodeExistsError, "already exists"),
    (CreateRequest(path="/missing/x", mode=CreateMode.PERSISTENT_SEQUENTIAL), NoNodeError, "parent"),
    # delete
    (DeleteRequest(path="/"), BadArgumentsError, "system node"),
    (DeleteRequest(path="/zookeeper"), BadArgumentsError, "system node"),
    (DeleteRequest(path="/zookeeper/quota"), BadArgumentsError, "system node"),
    (DeleteRequest(path="/zookeeper/config"), BadArgumentsError, "system node"),
    (DeleteRequest(path="/missing/x"), NoNodeError, "parent /missing does not exist"),
    (DeleteRequest(path="/p/missing", version=5), NoNodeError, "node does not exist"),
    (DeleteRequest(path="/p", version=7), BadVersionError, "expected version 7"),
    (DeleteRequest(path="/p", version=1), NotEmptyError, "1 children"),
    (DeleteRequest(path="/p"), NotEmptyError, "1 children"),
    # setData
    (SetDataRequest(path="/missing", data=b"", version=9), NoNodeError, "node does not exist"),
    (SetDataRequest(path="/zookeeper/config", data=b"", version=9), NoAuthError, "read-only"),
    (SetDataRequest(path="/p", data=b"", version=0), BadVersionError, "expected version 0"),
    # check (only valid inside a multi on a server, but prepare handles it alone too)
    (CheckVersionRequest(path="/missing", version=9), NoNodeError, "node does not exist"),
    (CheckVersionRequest(path="/leaf", version=3), BadVersionError, "expected version 3"),
]
ORDER_IDS = [
    "create: parent missing -> NoNode",
    "create: exists -> NodeExists",
    "create: ephemeral parent -> NoChildrenForEphemerals",
    "create: under /zookeeper/config -> NoAuth",
    "create: /zookeeper exists",
    "create seq: parent missing -> NoNode",
    "delete: root -> BadArguments",
    "delete: /zookeeper -> BadArguments",
    "delete: /zookeeper/quota -> BadArguments",
    "delete: /zookeeper/config -> BadArguments",
    "delete: parent missing -> NoNode",
    "delete: node missing beats bad version",
    "delete: BadVersion before NotEmpty",
    "delete: right version, children -> NotEmpty",
    "delete: any version, children -> NotEmpty",
    "setData: NoNode before BadVersion",
    "setData: /zookeeper/config -> NoAuth",
    "setData: BadVersion",
    "check: NoNode before BadVersion",
    "check: BadVersion",
]


@pytest.mark.parametrize("request_, error, message", ORDER_CASES, ids=ORDER_IDS)
def test_validation_order(request_: Request, error: type[KeeperError], message: str) -> None:
    d = Driver()
    _setup(d)
    before = d.tree.snapshot()
    outstanding = OutstandingChanges()
    with pytest.raises(error, match=message) as caught:
        prepare(d.tree, request_, SESSION, d.zxid + 1, 0, outstanding)
    assert type(caught.value) is error
    # a rejected input changes nothing
    assert d.tree.snapshot() == before
    assert len(outstanding) == 0


def test_nodes_under_zookeeper_are_ordinary() -> None:
    # ZooKeeper's /zookeeper has an open ACL: clients may create and delete there.
    d = Driver()
    d.create("/zookeeper/mine")
    d.delete("/zookeeper/mine")
    assert d.tree.get_children("/zookeeper") == ["config", "quota"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: CreateRequest(path="relative"),
        lambda: CreateRequest(path="/a/"),
        lambda: DeleteRequest(path="/a//b"),
        lambda: SetDataRequest(path="/a/.", data=b""),
        lambda: CheckVersionRequest(path="", version=0),
    ],
    ids=["create relative", "create trailing slash", "delete empty segment", "set dot", "check empty"],
)
def test_requests_validate_their_paths_when_built(make) -> None:
    # The Java client runs PathUtils.validatePath before sending anything.
    with pytest.raises(BadArgumentsError):
        make()


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda: CreateRequest(path="/a", data="text"), TypeError),  # type: ignore[arg-type]
        (lambda: SetDataRequest(path="/a", data=None), TypeError),  # type: ignore[arg-type]
        (lambda: DeleteRequest(path="/a", version="1"), TypeError),  # type: ignore[arg-type]
        (lambda: DeleteRequest(path="/a", version=2**31), BadArgumentsError),
        (lambda: CreateRequest(path="/a", mode=4), ValueError),  # CONTAINER is not modelled
        (lambda: MultiRequest(ops=["/a"]), TypeError),  # type: ignore[list-item]
    ],
    ids=["str data", "None data", "str version", "version beyond int", "container mode", "non-op in multi"],
)
def test_requests_validate_their_fields(make, error: type[Exception]) -> None:
    with pytest.raises(error):
        make()


# --- jute.maxbuffer (section 5.8) ---------------------------------------------------------------


def test_data_up_to_the_limit_is_stored() -> None:
    d = Driver()
    d.create("/big", b"x" * JUTE_MAXBUFFER)
    assert d.stat("/big").dataLength == 1_048_575


@pytest.mark.parametrize(
    "make",
    [
        lambda: CreateRequest(path="/big", data=b"x" * (JUTE_MAXBUFFER + 1)),
        lambda: SetDataRequest(path="/small", data=b"x" * (JUTE_MAXBUFFER + 1)),
        lambda: MultiRequest(
            ops=(
                CreateRequest(path="/a", data=b"x" * 600_000),
                SetDataRequest(path="/small", data=b"y" * 600_000),
            )
        ),
    ],
    ids=["create one byte over", "setData one byte over", "multi over in total"],
)
def test_over_the_limit_is_refused_and_nothing_is_half_written(make) -> None:
    d = Driver()
    d.create("/small", b"s")
    before = d.tree.snapshot()
    with pytest.raises(DataTooLargeError, match="jute.maxbuffer = 1,048,575 bytes") as caught:
        make()
    assert caught.value.code == -4  # the ConnectionLoss code ZooKeeper's client would see
    assert d.tree.snapshot() == before
    assert d.tree.get_data("/small")[0] == b"s"


# --- apply: ordering and fit --------------------------------------------------------------------


def test_apply_refuses_a_replayed_or_older_zxid() -> None:
    d = Driver()
    txn = d.txn(CreateRequest(path="/a"))
    d.tree.apply(txn)
    before = d.tree.snapshot()
    with pytest.raises(TxnOrderError, match="not after last processed zxid 0x1"):
        d.tree.apply(txn)
    assert d.tree.snapshot() == before


def test_apply_zxid_argument_must_match_the_txn() -> None:
    d = Driver()
    txn = d.txn(CreateRequest(path="/a"))
    with pytest.raises(ValueError, match="zxid"):
        d.tree.apply(txn, txn.zxid + 1)
    assert d.tree.apply(txn, txn.zxid).zxid == txn.zxid


def test_apply_accepts_zxid_gaps_across_epochs() -> None:
    tree = DataTree()
    tree.apply(prepare(tree, CreateRequest(path="/a"), SESSION, 1, 0))
    tree.apply(prepare(tree, CreateRequest(path="/b"), SESSION, (1 << 32) | 1, 0))
    assert tree.last_processed_zxid == (1 << 32) | 1


def test_apply_refuses_a_stale_txn_without_changing_anything() -> None:
    d = Driver()
    first = d.txn(CreateRequest(path="/a"))
    second = d.txn(CreateRequest(path="/a"))  # prepared against the same, stale tree
    d.tree.apply(first)
    before = d.tree.snapshot()
    with pytest.raises(RuntimeInconsistencyError, match="does not fit the tree: node already exists"):
        d.tree.apply(second)
    assert d.tree.snapshot() == before
    assert d.tree.last_processed_zxid == first.zxid


def test_apply_refuses_a_multi_that_does_not_fit_halfway() -> None:
    d = Driver()
    header = {"zxid": 1, "time": 0, "session_id": SESSION}
    txn = MultiTxn(
        txns=(
            CreateTxn(path="/a", data=b"", ephemeral=False, parent_cversion=1, **header),
            CreateTxn(path="/b/c", data=b"", ephemeral=False, parent_cversion=1, **header),
        ),
        **header,
    )
    before = d.tree.snapshot()
    with pytest.raises(RuntimeInconsistencyError, match="parent /b does not exist"):
        d.tree.apply(txn)
    assert d.tree.snapshot() == before


def test_error_txn_uses_a_zxid_and_changes_no_node() -> None:
    # PrepRequestProcessor logs a refused write as an error txn with its own zxid.
    d = Driver()
    digest = d.tree.digest()
    applied = d.tree.apply(ErrorTxn(err=-101, zxid=1, time=0, session_id=SESSION))
    assert applied.result == ErrorResult(-101)
    assert applied.events == ()
    assert d.tree.last_processed_zxid == 1
    assert d.tree.digest() == digest


def test_create_result_carries_the_new_stat() -> None:
    d = Driver()
    applied = d.write(CreateRequest(path="/a", data=b"abc"))
    assert applied.result == CreateResult("/a", d.stat("/a"))
    assert applied.zxid == d.zxid


def test_children_are_sorted() -> None:
    d = Driver()
    d.create("/p")
    for name in ["m", "b", "z", "a"]:
        d.create(f"/p/{name}")
    assert d.tree.get_children("/p") == ["a", "b", "m", "z"]


@pytest.mark.parametrize("read", ["get_data", "get_children"])
def test_reads_of_a_missing_node_raise_no_node(read: str) -> None:
    with pytest.raises(NoNodeError, match="/nope: node does not exist"):
        getattr(DataTree(), read)("/nope")
    assert DataTree().exists("/nope") is None


# --- outstanding changes (pipelined prepares) ---------------------------------------------------


def test_prepares_before_apply_see_each_other_through_outstanding_changes() -> None:
    # PrepRequestProcessor.getRecordForPath reads zks.outstandingChanges first.
    tree = DataTree()
    outstanding = OutstandingChanges()
    t1 = prepare(tree, CreateRequest(path="/q"), SESSION, 1, 0, outstanding)
    t2 = prepare(tree, CreateRequest(path="/q/n-", mode=CreateMode.EPHEMERAL_SEQUENTIAL), SESSION, 2, 0, outstanding)
    t3 = prepare(tree, CreateRequest(path="/q/n-", mode=CreateMode.EPHEMERAL_SEQUENTIAL), SESSION, 3, 0, outstanding)
    assert (t2.path, t3.path) == ("/q/n-0000000000", "/q/n-0000000001")
    with pytest.raises(NodeExistsError):
        prepare(tree, CreateRequest(path="/q"), SESSION, 4, 0, outstanding)
    for txn in (t1, t2, t3):
        tree.apply(txn)
        outstanding.discard_applied(txn.zxid)
    assert len(outstanding) == 0
    assert tree.get_children("/q") == ["n-0000000000", "n-0000000001"]


def test_close_session_counts_pending_creates_and_deletes() -> None:
    from distlab.zk.ops import CloseSessionRequest

    tree = DataTree()
    outstanding = OutstandingChanges()
    txns = [
        prepare(tree, CreateRequest(path="/e1", mode=CreateMode.EPHEMERAL), SESSION, 1, 0, outstanding),
        prepare(tree, CreateRequest(path="/e2", mode=CreateMode.EPHEMERAL), SESSION, 2, 0, outstanding),
    ]
    tree.apply(txns[0])
    outstanding.discard_applied(1)
    prepare(tree, DeleteRequest(path="/e1"), SESSION, 3, 0, outstanding)
    close = prepare(tree, CloseSessionRequest(), SESSION, 4, 0, outstanding)
    assert close.paths == ("/e2",)  # /e1 is being deleted, /e2 is being created
