"""Watches: which op fires which event for which watch (reference notes 5.4; ``WatchManager``)."""

from __future__ import annotations

import pytest

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
from distlab.zk.watches import EventType, WatchedEvent, WatchManager

Created, Deleted, Changed, Child = (
    EventType.NodeCreated,
    EventType.NodeDeleted,
    EventType.NodeDataChanged,
    EventType.NodeChildrenChanged,
)


class Driver:
    def __init__(self) -> None:
        self.tree = DataTree()
        self.zxid = 0

    def write(self, request: Request, session: int = 1):
        self.zxid += 1
        return self.tree.apply(prepare(self.tree, request, session, self.zxid, 0))


def fixture_tree() -> Driver:
    d = Driver()
    for path in ("/p", "/p/c"):
        d.write(CreateRequest(path=path))
    return d


def register(tree: DataTree, watches: list[tuple[str, str, str]]) -> None:
    """Register (kind, path, watcher) with kind in getData / exists / getChildren."""
    for kind, path, watcher in watches:
        if kind == "getData":
            tree.get_data(path, watcher)
        elif kind == "exists":
            tree.exists(path, watcher)
        else:
            tree.get_children(path, watcher)


# (id, watches, request, expected [(type, path, watcher)])
EVENT_TABLE = [
    (
        "create: exists watch on the new node, child watch on the parent",
        [("exists", "/p/n", "w1"), ("getChildren", "/p", "w2")],
        CreateRequest(path="/p/n"),
        [(Created, "/p/n", "w1"), (Child, "/p", "w2")],
    ),
    (
        "create: parent's data watch does not fire",
        [("getData", "/p", "w1")],
        CreateRequest(path="/p/n"),
        [],
    ),
    (
        "create under root: NodeChildrenChanged on /",
        [("getChildren", "/", "w1")],
        CreateRequest(path="/top"),
        [(Child, "/", "w1")],
    ),
    (
        "delete: data, exists and child watches on the node, child watch on the parent",
        [("getData", "/p/c", "w1"), ("exists", "/p/c", "w2"), ("getChildren", "/p/c", "w3"), ("getChildren", "/p", "w4"), ("getData", "/p", "w5")],
        DeleteRequest(path="/p/c"),
        [(Deleted, "/p/c", "w1"), (Deleted, "/p/c", "w2"), (Deleted, "/p/c", "w3"), (Child, "/p", "w4")],
    ),
    (
        "delete: data+child watcher on the node gets ONE NodeDeleted",
        [("getData", "/p/c", "w1"), ("getChildren", "/p/c", "w1")],
        DeleteRequest(path="/p/c"),
        [(Deleted, "/p/c", "w1")],
    ),
    (
        "setData: only data watches on the node",
        [("getData", "/p/c", "w1"), ("exists", "/p/c", "w2"), ("getChildren", "/p/c", "w3"), ("getChildren", "/p", "w4")],
        SetDataRequest(path="/p/c", data=b"x"),
        [(Changed, "/p/c", "w1"), (Changed, "/p/c", "w2")],
    ),
    (
        "multi: each sub-op fires as it applies",
        [("exists", "/p/m", "w1"), ("getChildren", "/p", "w2"), ("getData", "/p/c", "w3")],
        MultiRequest(ops=(CreateRequest(path="/p/m"), SetDataRequest(path="/p/c", data=b"y"), DeleteRequest(path="/p/m"))),
        [(Created, "/p/m", "w1"), (Child, "/p", "w2"), (Changed, "/p/c", "w3")],
    ),
    (
        "failed multi fires nothing (testNoWatchesTriggeredForFailedMultiRequest)",
        [("getChildren", "/", "w1")],
        MultiRequest(ops=(CreateRequest(path="/t"), DeleteRequest(path="/nonexisting"))),
        [],
    ),
    (
        "multi create+delete fires the root child watch (testWatchesTriggered)",
        [("getChildren", "/", "w1")],
        MultiRequest(ops=(CreateRequest(path="/t"), DeleteRequest(path="/t"))),
        [(Child, "/", "w1")],
    ),
]


@pytest.mark.parametrize("watches, request_, expected", [c[1:] for c in EVENT_TABLE], ids=[c[0] for c in EVENT_TABLE])
def test_event_table(watches, request_, expected) -> None:
    d = fixture_tree()
    register(d.tree, watches)
    applied = d.write(request_)
    assert [(e.type, e.path, e.watcher) for e in applied.events] == expected
    assert all(e.zxid == applied.zxid for e in applied.events)


def test_watches_are_one_shot() -> None:
    d = fixture_tree()
    d.tree.get_data("/p/c", "w1")
    assert len(d.write(SetDataRequest(path="/p/c", data=b"1")).events) == 1
    assert d.write(SetDataRequest(path="/p/c", data=b"2")).events == ()
    assert d.tree.watch_count == 0


def test_same_watcher_twice_on_a_path_gets_one_event() -> None:
    d = fixture_tree()
    d.tree.get_data("/p/c", "w1")
    d.tree.exists("/p/c", "w1")
    assert len(d.write(SetDataRequest(path="/p/c", data=b"1")).events) == 1


@pytest.mark.parametrize(
    "read, registered",
    [("exists", True), ("get_data", False), ("get_children", False)],
    ids=["exists watches a missing node", "getData does not", "getChildren does not"],
)
def test_watch_on_a_missing_node(read: str, registered: bool) -> None:
    # DataTree.statNode adds the watch before the lookup; getData/getChildren raise first.
    d = fixture_tree()
    try:
        getattr(d.tree, read)("/p/later", "w1")
    except Exception:
        pass
    assert d.tree.data_watches.contains("/p/later", "w1") is registered
    events = d.write(CreateRequest(path="/p/later")).events
    assert [(e.type, e.watcher) for e in events] == ([(Created, "w1")] if registered else [])


def test_removing_a_watcher_drops_all_its_watches() -> None:
    d = fixture_tree()
    register(d.tree, [("getData", "/p", "s1"), ("getChildren", "/p", "s1"), ("exists", "/x", "s1"), ("getData", "/p", "s2")])
    assert d.tree.remove_watcher("s1") == 3
    assert d.tree.watch_count == 1
    events = d.write(SetDataRequest(path="/p", data=b"x")).events
    assert [e.watcher for e in events] == ["s2"]


def test_session_close_fires_like_deletes_in_one_txn() -> None:
    d = fixture_tree()
    d.write(CreateSessionRequest(timeout=4000), session=7)
    d.write(CreateRequest(path="/p/e1", mode=CreateMode.EPHEMERAL), session=7)
    d.write(CreateRequest(path="/p/e2", mode=CreateMode.EPHEMERAL), session=7)
    register(d.tree, [("exists", "/p/e1", "w1"), ("getData", "/p/e2", "w2"), ("getChildren", "/p", "w3")])
    applied = d.write(CloseSessionRequest(), session=7)
    assert [(e.type, e.path, e.watcher) for e in applied.events] == [
        (Deleted, "/p/e1", "w1"),
        (Child, "/p", "w3"),  # one-shot: the second delete finds no child watch left
        (Deleted, "/p/e2", "w2"),
    ]
    assert {e.zxid for e in applied.events} == {applied.zxid}
    assert d.tree.get_children("/p") == ["c"]
    assert d.tree.exists("/p").pzxid == applied.zxid
    assert 7 not in d.tree.sessions


# --- WatchManager alone -------------------------------------------------------------------------


def test_watch_manager_basics() -> None:
    manager = WatchManager()
    assert manager.add_watch("/a", "w1") is True
    assert manager.add_watch("/a", "w1") is False
    manager.add_watch("/a", "w2")
    manager.add_watch("/b", "w1")
    assert manager.watchers_of("/a") == ["w1", "w2"]
    assert manager.paths_of("w1") == ["/a", "/b"]
    assert len(manager) == 3
    events = manager.trigger("/a", Changed, 9, suppress={"w2"})
    assert events == [WatchedEvent(Changed, "/a", 9, "w1")]
    # the suppressed watcher lost its watch too
    assert manager.watchers_of("/a") == []
    assert manager.paths_of("w2") == []
    assert manager.trigger("/a", Changed, 10) == []
