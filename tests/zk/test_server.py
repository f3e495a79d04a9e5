"""The single-server facade: zxids, kazoo-shaped client calls, watches, sessions and expiry."""

from __future__ import annotations

import pytest

from distlab.zk.errors import (
    BadArgumentsError,
    BadVersionError,
    ConnectionClosedError,
    ConnectionLossError,
    DataTooLargeError,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistencyError,
    SessionExpiredError,
)
from distlab.zk.ops import CreateRequest, DeleteRequest, ErrorResult, SetDataRequest
from distlab.zk.server import Client, ZooKeeperServer, make_zxid, zxid_counter, zxid_epoch
from distlab.zk.stat import JUTE_MAXBUFFER, Stat
from distlab.zk.watches import EventType, KeeperState, WatchedEvent


class Recorder:
    """A watch callable that remembers the events it got."""

    def __init__(self) -> None:
        self.events: list[WatchedEvent] = []

    def __call__(self, event: WatchedEvent) -> None:
        self.events.append(event)

    @property
    def seen(self) -> list[tuple[EventType, str]]:
        return [(e.type, e.path) for e in self.events]


@pytest.fixture
def server() -> ZooKeeperServer:
    return ZooKeeperServer(tick_time=2000)


@pytest.fixture
def client(server: ZooKeeperServer) -> Client:
    return server.connect(timeout=6000)


# --- zxids ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "epoch, counter, zxid",
    [(0, 1, 1), (0, 0xFFFFFFFF, 0xFFFFFFFF), (1, 0, 1 << 32), (0xF, 5, 0xF00000005)],
    ids=["first txn", "last counter", "new epoch", "epoch 0xf"],
)
def test_zxid_layout(epoch: int, counter: int, zxid: int) -> None:
    # ZxidUtils: epoch in the high 32 bits, counter in the low 32
    assert make_zxid(epoch, counter) == zxid
    assert (zxid_epoch(zxid), zxid_counter(zxid)) == (epoch, counter)


def test_every_txn_takes_the_next_zxid(server: ZooKeeperServer, client: Client) -> None:
    assert server.last_zxid == 1  # the CreateSessionTxn
    client.create("/a")
    client.set("/a", b"x")
    assert client.exists("/a") == Stat(2, 3, 0, 0, 1, 0, 0, 0, 1, 0, 2)
    assert server.last_zxid == 3
    client.get("/a")  # reads take no zxid
    assert server.last_zxid == 3


def test_counter_rollover_starts_a_new_epoch(server: ZooKeeperServer, client: Client) -> None:
    # ZOOKEEPER-1277: counter 0xffffffff is never used
    server._counter = 0xFFFFFFFE
    client.create("/a")
    assert server.last_zxid == make_zxid(1, 1)


def test_refused_write_uses_a_zxid_like_zookeepers_error_txn(server: ZooKeeperServer, client: Client) -> None:
    digest = server.tree.digest()
    with pytest.raises(NoNodeError, match="parent /missing does not exist"):
        client.create("/missing/x")
    assert server.last_zxid == 2
    assert server.tree.digest() == digest


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda c: c.create("bad"), BadArgumentsError),
        (lambda c: c.get("/a/"), BadArgumentsError),
        (lambda c: c.create("/big", b"x" * (JUTE_MAXBUFFER + 1)), DataTooLargeError),
        (lambda c: c.set("/big", b"x" * (JUTE_MAXBUFFER + 1)), DataTooLargeError),
    ],
    ids=["bad path", "bad read path", "create over 1 MB", "set over 1 MB"],
)
def test_requests_refused_before_sending_take_no_zxid(server: ZooKeeperServer, client: Client, call, error) -> None:
    snapshot = server.tree.snapshot()
    with pytest.raises(error):
        call(client)
    assert server.tree.snapshot() == snapshot  # not even the last zxid moved


# --- kazoo-shaped calls -------------------------------------------------------------------------


def test_kazoo_calls_and_return_values(client: Client) -> None:
    assert client.create("/app", b"v0") == "/app"
    data, stat = client.get("/app")
    assert (data, stat.version) == (b"v0", 0)
    assert client.set("/app", b"v1").version == 1
    assert client.exists("/app").dataLength == 2
    assert client.exists("/nope") is None
    assert client.create("/app/n-", sequence=True) == "/app/n-0000000000"
    assert client.create("/app/e", ephemeral=True) == "/app/e"
    assert client.get_children("/app") == ["e", "n-0000000000"]
    children, app_stat = client.get_children("/app", include_data=True)
    assert app_stat.numChildren == 2
    assert client.delete("/app/e") is True
    assert client.sync("/app") == "/app"
    assert client.exists("/app/n-0000000000").ephemeralOwner == 0


def test_ephemeral_sequential_belongs_to_the_session(client: Client) -> None:
    client.create("/q")
    path = client.create("/q/lock-", ephemeral=True, sequence=True)
    assert path == "/q/lock-0000000000"
    assert client.exists(path).owner_session_id == client.session_id


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda c: c.create("/a"), NodeExistsError),
        (lambda c: c.delete("/a"), NotEmptyError),
        (lambda c: c.delete("/a", version=3), BadVersionError),
        (lambda c: c.set("/a", b"", version=3), BadVersionError),
        (lambda c: c.get("/nope"), NoNodeError),
        (lambda c: c.get_children("/nope"), NoNodeError),
        (lambda c: c.delete("/"), BadArgumentsError),
        (lambda c: c.delete("/zookeeper/quota"), BadArgumentsError),
        (lambda c: c.set("/zookeeper/config", b"x"), NoAuthError),
        (lambda c: c.create("/zookeeper/config/x"), NoAuthError),
        (lambda c: c.create("/a", "text"), TypeError),
    ],
    ids=["exists", "not empty", "delete bad version", "set bad version", "get missing", "children missing",
         "delete root", "delete quota", "set config", "create under config", "str value"],
)
def test_errors_are_kazoos(client: Client, call, error) -> None:
    client.create("/a")
    client.create("/a/b")
    with pytest.raises(error):
        call(client)


def test_makepath_and_ensure_path(server: ZooKeeperServer, client: Client) -> None:
    assert client.create("/x/y/z", b"leaf", makepath=True) == "/x/y/z"
    assert client.get("/x/y")[0] == b""
    assert client.create("/s/t/", sequence=True, makepath=True) == "/s/t/0000000000"
    assert client.ensure_path("/x/y/z") is True
    assert client.ensure_path("/") is True
    with pytest.raises(NoNodeError):
        client.create("/no/parent")


def test_recursive_delete(client: Client) -> None:
    for path in ("/r", "/r/a", "/r/a/1", "/r/b"):
        client.create(path)
    assert client.delete("/r", recursive=True) is True
    assert client.exists("/r") is None
    assert client.delete("/r", recursive=True) is True  # already gone is fine


# --- transactions -------------------------------------------------------------------------------


def test_transaction_commit_returns_kazoo_results(client: Client) -> None:
    client.create("/old")
    t = client.transaction()
    t.create("/new", b"1")
    t.set_data("/new", b"2", version=0)
    t.check("/new", 1)
    t.delete("/old")
    path, stat, checked, deleted = t.commit()
    assert (path, stat.version, checked, deleted) == ("/new", 1, True, True)
    with pytest.raises(ValueError, match="already committed"):
        t.commit()


def test_failed_transaction_returns_exceptions_and_changes_nothing(server: ZooKeeperServer, client: Client) -> None:
    digest = server.tree.digest()
    t = client.transaction()
    t.create("/t")
    t.delete("/nonexisting")
    t.create("/u")
    rolled_back, failed, after = t.commit()  # kazoo: no exception, errors as results
    assert type(rolled_back) is RolledBackError
    assert type(failed) is NoNodeError and failed.path == "/nonexisting"
    assert type(after) is RuntimeInconsistencyError
    assert client.exists("/t") is None
    assert server.tree.digest() == digest


def test_transaction_as_a_context_manager_commits_on_success(client: Client) -> None:
    with client.transaction() as t:
        t.create("/cm")
    assert t.committed
    assert client.exists("/cm") is not None
    with pytest.raises(KeyError):
        with client.transaction() as t2:
            t2.create("/never")
            raise KeyError("abandon")
    assert not t2.committed
    assert client.exists("/never") is None


def test_sync_multi_raises_the_first_error_with_results(client: Client) -> None:
    ops = [CreateRequest(path="/multi"), DeleteRequest(path="/multi", version=0), SetDataRequest(path="/multi", data=b"Y", version=0), CreateRequest(path="/foo")]
    with pytest.raises(NoNodeError) as caught:
        client.multi(ops)  # MultiOperationTest.testGetResults
    assert caught.value.path == "/multi"
    assert caught.value.results == (ErrorResult(0), ErrorResult(0), ErrorResult(-101), ErrorResult(-2))
    assert client.exists("/multi") is None


def test_empty_transaction_takes_a_zxid(server: ZooKeeperServer, client: Client) -> None:
    """PrepRequestProcessor, case multi: getNextZxid before the ops are read, so even []."""
    zxid = server.last_zxid
    assert client.transaction().commit() == []
    assert client.multi([]) == []
    assert server.last_zxid == zxid + 2


def test_transaction_over_1mb_is_refused_whole(server: ZooKeeperServer, client: Client) -> None:
    t = client.transaction()
    t.create("/a", b"x" * 700_000)
    t.create("/b", b"x" * 700_000)
    snapshot = server.tree.snapshot()
    with pytest.raises(DataTooLargeError):
        t.commit()
    assert server.tree.snapshot() == snapshot


# --- watches ------------------------------------------------------------------------------------


def test_watch_callbacks_fire_once_after_the_op(client: Client) -> None:
    client.create("/w", b"0")
    data_watch, exists_watch, child_watch = Recorder(), Recorder(), Recorder()
    client.get("/w", watch=data_watch)
    client.exists("/w/c", watch=exists_watch)
    client.get_children("/w", watch=child_watch)
    client.set("/w", b"1")
    client.create("/w/c")
    client.set("/w", b"2")  # one-shot: data_watch does not fire again
    assert data_watch.seen == [(EventType.NodeDataChanged, "/w")]
    assert exists_watch.seen == [(EventType.NodeCreated, "/w/c")]
    assert child_watch.seen == [(EventType.NodeChildrenChanged, "/w")]
    assert data_watch.events[0].state is KeeperState.SyncConnected


def test_deleted_node_notifies_data_and_child_callbacks_once_each(client: Client) -> None:
    client.create("/d")
    a, b = Recorder(), Recorder()
    client.get("/d", watch=a)
    client.get_children("/d", watch=a)
    client.exists("/d", watch=b)
    client.delete("/d")
    assert a.seen == [(EventType.NodeDeleted, "/d")]
    assert b.seen == [(EventType.NodeDeleted, "/d")]


def test_other_sessions_watches_fire(server: ZooKeeperServer, client: Client) -> None:
    other = server.connect(timeout=6000)
    client.create("/shared")
    seen = Recorder()
    other.get("/shared", watch=seen)
    client.set("/shared", b"x")
    assert seen.events[0].zxid == server.last_zxid


def test_a_callback_may_call_the_client_and_events_stay_in_order(client: Client) -> None:
    # the lock recipe pattern: a watch re-reads and re-watches
    order: list[str] = []

    def rewatch(event: WatchedEvent) -> None:
        order.append(f"{event.type.name} {event.path}")
        if len(order) < 3:
            client.exists("/r", watch=rewatch)
            client.set("/r", str(len(order)).encode())

    client.create("/r")
    client.exists("/r", watch=rewatch)
    client.set("/r", b"start")
    assert order == ["NodeDataChanged /r"] * 3
    assert client.get("/r")[0] == b"2"


def test_failing_callback_does_not_stop_the_others(client: Client) -> None:
    client.create("/f")
    later = Recorder()

    def boom(event: WatchedEvent) -> None:
        raise RuntimeError("boom")

    client.get("/f", watch=boom)
    client.exists("/f", watch=later)
    with pytest.raises(RuntimeError, match="boom"):
        client.set("/f", b"x")
    assert later.seen == [(EventType.NodeDataChanged, "/f")]
    assert client.get("/f")[0] == b"x"  # the write itself was applied


# --- sessions and time --------------------------------------------------------------------------


def test_connect_negotiates_the_timeout(server: ZooKeeperServer) -> None:
    assert server.connect(timeout=1).timeout == 4000
    assert server.connect(timeout=10**9).timeout == 40_000
    assert dict(server.tree.sessions).keys() == {1, 2}


def test_connected_clients_ping_and_never_expire(server: ZooKeeperServer, client: Client) -> None:
    client.create("/e", ephemeral=True)
    for now in range(0, 200_000, 50_000):
        assert server.tick(now) == []
    assert client.exists("/e") is not None


def test_silent_session_expires_with_its_ephemerals_in_one_txn(server: ZooKeeperServer) -> None:
    holder = server.connect(timeout=6000)
    watcher = server.connect(timeout=6000)
    holder.create("/locks")
    holder.create("/locks/a", ephemeral=True)
    holder.create("/locks/b", ephemeral=True)
    gone, children = Recorder(), Recorder()
    watcher.exists("/locks/a", watch=gone)
    watcher.get_children("/locks", watch=children)
    holder.disconnect()  # stops pinging at time 0: deadline (0 + 6000) // 2000 + 1 ticks = 8000
    assert server.tick(7999) == []
    zxid = server.last_zxid
    assert server.tick(8000) == [holder.session_id]
    assert server.last_zxid == zxid + 1  # one CloseSessionTxn
    assert watcher.get_children("/locks") == []
    assert gone.events[0].type is EventType.NodeDeleted and gone.events[0].zxid == zxid + 1
    assert children.seen == [(EventType.NodeChildrenChanged, "/locks")]
    assert holder.state is KeeperState.Expired
    with pytest.raises(SessionExpiredError):
        holder.get("/locks")
    with pytest.raises(SessionExpiredError):
        holder.reconnect()
    assert holder.session_id not in server.sessions
    assert holder.session_id not in server.tree.sessions


def test_disconnected_client_gets_connection_loss_then_held_events(server: ZooKeeperServer) -> None:
    a = server.connect(timeout=6000)
    b = server.connect(timeout=6000)
    a.create("/n")
    seen = Recorder()
    a.get("/n", watch=seen)
    a.disconnect()
    with pytest.raises(ConnectionLossError):
        a.get("/n")
    b.set("/n", b"changed")
    assert seen.events == []
    server.tick(5000)  # within the timeout
    a.reconnect()
    assert seen.seen == [(EventType.NodeDataChanged, "/n")]
    assert a.get("/n")[0] == b"changed"


def test_close_deletes_ephemerals_and_ends_the_client(server: ZooKeeperServer, client: Client) -> None:
    client.create("/e", ephemeral=True)
    other = server.connect()
    client.close()
    assert other.exists("/e") is None
    assert client.state is KeeperState.Closed
    with pytest.raises(ConnectionClosedError):
        client.create("/x")
    with pytest.raises(SessionExpiredError):  # ConnectionClosedError is a SessionExpiredError
        client.exists("/e")
    client.close()  # closing twice is fine


def test_closing_session_receives_its_own_events_first(server: ZooKeeperServer, client: Client) -> None:
    """FinalRequestProcessor: closeSession's txn fires watches (the closer's too), then replies."""
    mine = client.create("/mine", ephemeral=True)
    seen = Recorder()
    client.exists(mine, watch=seen)
    client.close()
    assert seen.seen == [(EventType.NodeDeleted, mine)]
    assert server.tree.watch_count == 0


def test_watches_of_a_closed_session_are_dropped(server: ZooKeeperServer, client: Client) -> None:
    other = server.connect()
    other.create("/x")
    seen = Recorder()
    client.get("/x", watch=seen)
    client.close()
    other.set("/x", b"1")
    assert seen.events == []
    assert server.tree.watch_count == 0


def test_time_only_moves_forward(server: ZooKeeperServer) -> None:
    server.tick(10_000)
    with pytest.raises(ValueError, match="backwards"):
        server.tick(9_999)
    assert server.advance(12_000) == []


def test_connect_with_now_advances_time(server: ZooKeeperServer) -> None:
    client = server.connect(timeout=4000, now=3000)
    assert server.now == 3000
    client.create("/a")
    assert client.exists("/a").ctime == 3000
