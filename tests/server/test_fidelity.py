"""Server-side rules a wire protocol makes visible, each from the ZooKeeper class it names.

Driven through the sans-I/O core with raw request frames, so nothing a client library checks
first can hide the server's own behaviour.
"""

from __future__ import annotations

import struct

import pytest

from distlab.server.connection import frame
from distlab.server.jute import ConnectRequest, OpCode, Writer, encode_request
from distlab.server.standalone import StandaloneServer

OPEN_ACL = Writer().int(1).int(31).string("world").string("anyone").getvalue()


class Session:
    def __init__(self, server: StandaloneServer, name: str) -> None:
        self.server, self.name, self.xid = server, name, 0
        server.open(name, ("127.0.0.1", 1), 0)
        server.receive(name, frame(ConnectRequest(0, 0, 4000, 0, bytes(16)).encode()), 0)

    def send(self, op: int, body: bytes) -> list[tuple[int, int, int]]:
        """Every frame this connection gets back: (xid, zxid, err) of replies and events."""
        self.xid += 1
        out = self.server.receive(self.name, frame(encode_request(self.xid, op, body)), 0)
        return [struct.unpack_from(">iqi", data, 4) for conn, data in out.sends if conn == self.name]

    def err(self, op: int, body: bytes) -> int:
        return [e for x, _, e in self.send(op, body) if x == self.xid][0]

    def create(self, path: str, flags: int = 0) -> int:
        return self.err(OpCode.create, Writer().string(path).buffer(b"").raw(OPEN_ACL).int(flags).getvalue())

    def delete(self, path: str) -> int:
        return self.err(OpCode.delete, Writer().string(path).int(-1).getvalue())

    def set_data(self, path: str) -> int:
        return self.err(OpCode.setData, Writer().string(path).buffer(b"x").int(-1).getvalue())

    def read(self, op: int, path: str, watch: bool = False) -> int:
        return self.err(op, Writer().string(path).bool(watch).getvalue())


@pytest.fixture
def server() -> StandaloneServer:
    return StandaloneServer(tick_time=2000, now=0)


@pytest.fixture
def session(server: StandaloneServer) -> Session:
    s = Session(server, "a")
    assert s.create("/a") == 0
    return s


@pytest.mark.parametrize(("path", "err"), [
    ("/missing/bad/", -101),   # the parent is looked up before the full path check
    ("/a/", -8),               # parent /a exists, then PathUtils refuses the trailing '/'
    ("noslash", -8),           # validatePathForCreate: no '/'
    ("/a/x\0y", -8),           # validatePathForCreate: NUL
    ("/a/./b", -101),          # parent "/a/." does not exist: NoNode comes first
])
def test_create_checks_the_parent_before_the_path(session: Session, path: str, err: int) -> None:
    """PrepRequestProcessor.pRequest2TxnCreate: validatePathForCreate, parent, validatePath."""
    assert session.create(path) == err


@pytest.mark.parametrize(("path", "err"), [
    ("/a/", -101),        # getParentPathAndValidate checks no syntax: just no such node
    ("/a\0", -8),         # NUL
    ("/zookeeper", -8),   # a system node
    ("relative", -8),     # no '/'
])
def test_delete_refuses_only_nul_and_system_nodes(session: Session, path: str, err: int) -> None:
    """PrepRequestProcessor.getParentPathAndValidate."""
    assert session.delete(path) == err


def test_set_data_checks_the_full_path_first(session: Session) -> None:
    """PrepRequestProcessor, case setData: validatePath before getRecordForPath."""
    assert session.set_data("/missing/") == -8
    assert session.set_data("/missing") == -101


@pytest.mark.parametrize("op", [OpCode.getData, OpCode.getChildren, OpCode.getChildren2])
def test_reads_never_check_the_path(session: Session, op: int) -> None:
    """FinalRequestProcessor: reads look the node up; a malformed path is simply NoNode."""
    for path in ("/a/", "noslash", "/a//b", "/a\0"):
        assert session.read(op, path) == -101


def test_exists_refuses_only_a_nul(session: Session) -> None:
    """FinalRequestProcessor, case exists: the one read with a path check."""
    assert session.read(OpCode.exists, "/a\0") == -8
    assert session.read(OpCode.exists, "/a/") == -101


def test_every_refused_write_uses_a_zxid_and_reads_do_not(server: StandaloneServer, session: Session) -> None:
    """PrepRequestProcessor: a refused write becomes an ErrorTxn with the next zxid."""
    before = server.tree.last_processed_zxid
    session.create("/missing/x")
    session.delete("/a\0")
    session.set_data("/bad/")
    session.err(OpCode.multi, Writer().int(-1).bool(True).int(-1).getvalue())  # empty multi
    session.read(OpCode.getData, "/nope")
    session.read(OpCode.exists, "/a\0")
    assert server.tree.last_processed_zxid == before + 4


def test_close_session_sends_the_closers_own_events_before_the_reply(server: StandaloneServer) -> None:
    """FinalRequestProcessor: processTxn fires the watches, then the reply, then the close."""
    closer = Session(server, "closer")
    flags_ephemeral = 1
    assert closer.create("/e", flags_ephemeral) == 0
    assert closer.read(OpCode.exists, "/e", watch=True) == 0
    frames = closer.send(OpCode.closeSession, b"")
    assert [(xid, err) for xid, _, err in frames] == [(-1, 0), (closer.xid, 0)]  # event, reply
    assert server.connection_count == 0


def test_expired_session_loses_its_ephemerals_and_its_connection(server: StandaloneServer) -> None:
    """SessionTrackerImpl + ZooKeeperServer.expire: one closeSession txn, watchers told, cnxn closed."""
    owner, watcher = Session(server, "owner"), Session(server, "watcher")
    assert owner.create("/lease", 1) == 0
    assert watcher.read(OpCode.exists, "/lease", watch=True) == 0
    before = server.tree.last_processed_zxid
    # the watcher keeps pinging; the owner falls silent past its 4 s timeout
    for now in range(1000, 9001, 1000):
        server.receive("watcher", frame(encode_request(-2, OpCode.ping, b"")), now)
        out = server.tick(now)
        if "owner" in out.closes:
            break
    assert "owner" in out.closes and "/lease" not in server.tree
    assert server.tree.last_processed_zxid == before + 1  # one txn for the whole session
    events = [struct.unpack_from(">iqi", data, 4) for conn, data in out.sends if conn == "watcher"]
    assert [xid for xid, _, _ in events] == [-1]  # NodeDeleted reached the watcher
    assert any("Expiring session" in message for _, message in out.logs)
