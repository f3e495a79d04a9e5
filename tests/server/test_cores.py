"""The protocol cores stay sans-I/O, and the disk format round-trips.

``jute``, ``connection``, ``requests``, ``fourletter``, ``standalone`` and ``quorum_front``
are pure (bytes and messages in, bytes and actions out, like h11): no sockets, clocks,
threads or event loops. Only the drivers (``tcp``, ``realtime``, ``ensemble``, ``serve``)
and ``storage``'s ``DiskStore`` touch the world.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import distlab.server
from distlab.server.connection import ClientConnection, ConnectReceived, FourLetterWord, ProtocolError, frame
from distlab.server.jute import ConnectRequest, Reader, Writer
from distlab.server.storage import DiskStore, decode_txn, encode_txn
from distlab.zk.acl import ACL, Id, Perms, digest
from distlab.zk.ops import CreateTxn, ErrorTxn, MultiTxn, SetACLTxn
from distlab.zk.tree import DataTree

PACKAGE = Path(distlab.server.__file__).parent
PURE = ["jute", "connection", "requests", "fourletter", "standalone", "quorum_front"]
FORBIDDEN = {"socket", "asyncio", "time", "threading", "selectors", "subprocess", "random", "os"}


@pytest.mark.parametrize("module", PURE)
def test_protocol_cores_do_no_io(module: str) -> None:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0] if not node.module.startswith("distlab") else node.module)
    assert not imported & FORBIDDEN
    assert not {m for m in imported if m in ("distlab.server.tcp", "distlab.server.realtime")}


def test_framing_in_pieces_and_four_letter_words() -> None:
    """NIOServerCnxn: a frame may arrive a byte at a time; 'ruok' first is a command."""
    conn = ClientConnection()
    data = frame(ConnectRequest(0, 0, 4000, 0, bytes(16)).encode())
    events = [e for byte in data for e in conn.receive_data(bytes([byte]))]
    assert [type(e) for e in events] == [ConnectReceived]
    assert conn.receive_data(b"\xff\xff\xff\xf0") and conn.state.name == "CLOSED"
    assert ClientConnection().receive_data(b"ruok") == [FourLetterWord("ruok")]
    assert isinstance(ClientConnection().receive_data(b"\x00\x10\x00\x00")[0], ProtocolError)  # 1 MiB


def test_jute_reader_refuses_lies() -> None:
    r = Reader(Writer().int(1_000_000).getvalue())
    with pytest.raises(ValueError):
        r.buffer()
    with pytest.raises(ValueError):
        Reader(Writer().int(5).getvalue()).vector(Reader.string)


def test_digest_is_zookeepers() -> None:
    """DigestAuthenticationProvider.generateDigest: ZooKeeper's own tests use super:test's."""
    assert digest("super:test") == "super:D/InIHSb7yEEbrWz8b9l71RjZJU="  # QuorumPeerMainMultiAddressTest
    assert Perms.ALL == 31


def test_txn_log_round_trips_and_survives_a_torn_line(tmp_path: Path) -> None:
    acl = (ACL(Perms.READ, Id("digest", digest("bob:pw"))),)
    txns = [
        CreateTxn(path="/a", data=b"\x00\xff", ephemeral=False, parent_cversion=1, acl=acl,
                  zxid=1, time=5, session_id=9),
        MultiTxn(txns=(ErrorTxn(err=-101, zxid=2, time=6, session_id=9),), zxid=2, time=6, session_id=9),
        SetACLTxn(path="/a", acl=acl, aversion=1, zxid=3, time=7, session_id=9),
    ]
    for txn in txns:
        assert decode_txn(encode_txn(txn)) == txn
    store = DiskStore(tmp_path, fsync=False)
    store.append(txns[:2])
    tree = DataTree()
    for txn in txns[:2]:
        tree.apply(txn)
    store.snapshot(tree.snapshot(), tree.last_processed_zxid)
    store.append(txns[2:])
    store.close()
    with open(next(tmp_path.glob("log.*")), "ab") as log:
        log.write(b'{"t":"CreateTxn","pa')  # a crash mid-write
    restored, after = DiskStore(tmp_path).restore()
    assert restored.acl_of("/a") == acl and after == txns[2:]
