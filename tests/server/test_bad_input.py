"""Bad bytes get what ZooKeeper gives them, and the server keeps serving everyone else.

Rules from ``NIOServerCnxn.readLength`` (negative or over-jute.maxbuffer length: "Len error",
connection closed before anything is read), ``UnimplementedRequestProcessor`` (unknown op
code: Unimplemented, then the connection is closed), ``FinalRequestProcessor`` (a record that
does not parse: MarshallingError) and ``NIOServerCnxnFactory`` (a connection without a
ConnectRequest is closed after the sessionless timeout). The session always outlives the
connection; the connection's watches do not.
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distlab.server.connection import frame
from distlab.server.jute import ConnectRequest, OpCode, Writer, encode_request
from distlab.server.standalone import StandaloneServer
from distlab.zk.stat import JUTE_MAXBUFFER
from tests.server.rawclient import RawClient, four_letter_word


def zxid_of(port: int) -> int:
    line = next(l for l in four_letter_word(port, "srvr").splitlines() if l.startswith("Zxid:"))
    return int(line.split()[1], 16)


def watch_count(port: int) -> int:
    line = next(l for l in four_letter_word(port, "mntr").splitlines() if l.startswith("zk_watch_count"))
    return int(line.split()[1])


def test_frame_over_maxbuffer_closes_the_connection_but_not_the_session(server) -> None:
    client = RawClient(server.port)
    hello = client.connect()
    assert client.exists("/watched", watch=True) == -101  # a watch on a missing node
    assert watch_count(server.port) == 1
    before = zxid_of(server.port)
    path = Writer().string("/big").getvalue()
    body = path + Writer().buffer(b"x" * (JUTE_MAXBUFFER - len(path))).getvalue()
    payload = encode_request(2, OpCode.setData, body + struct.pack(">i", -1))
    assert len(payload) > JUTE_MAXBUFFER
    client.send_frame(payload)
    assert client.is_closed()
    assert zxid_of(server.port) == before  # nothing was read, so no zxid was used
    assert watch_count(server.port) == 0  # the connection's watches went with it
    again = RawClient(server.port)
    resumed = again.connect(session_id=hello.session_id, passwd=hello.passwd)
    assert resumed.session_id == hello.session_id and resumed.timeout == hello.timeout
    again.close()
    assert "Len error" in server.log


def test_kazoo_sees_connection_loss_for_an_oversized_request_and_keeps_its_session(kazoo) -> None:
    from kazoo.exceptions import ConnectionLoss

    session = kazoo.client_id
    try:
        kazoo.create("/big", b"x" * JUTE_MAXBUFFER)
    except ConnectionLoss:
        pass
    else:
        raise AssertionError("an oversized frame must cost the connection")
    kazoo.retry(kazoo.exists, "/")
    assert kazoo.client_id == session
    assert kazoo.exists("/big") is None


def test_negative_length_truncated_and_headerless_frames_close_only_their_connection(server) -> None:
    negative = RawClient(server.port)
    negative.connect()
    negative.send_raw(struct.pack(">i", -5))
    assert negative.is_closed()

    truncated = RawClient(server.port)
    truncated.connect()
    truncated.send_raw(struct.pack(">i", 100) + b"only ten b")
    truncated.close()  # the rest never comes

    headerless = RawClient(server.port)
    headerless.connect()
    headerless.send_frame(b"\x00\x01\x02")
    assert headerless.is_closed()

    bad_connect = RawClient(server.port)
    bad_connect.send_frame(b"\x00\x00")  # too short to be a ConnectRequest
    assert bad_connect.is_closed()

    survivor = RawClient(server.port)
    survivor.connect()
    assert survivor.exists("/") == 0
    assert four_letter_word(server.port, "ruok") == "imok"
    assert "Len error -5" in server.log and "Malformed request header" in server.log


def test_unknown_op_code_is_unimplemented_then_disconnected(server) -> None:
    client = RawClient(server.port)
    hello = client.connect()
    xid, _zxid, err, _ = client.request(999)
    assert (xid, err) == (1, -6)
    assert client.is_closed()
    again = RawClient(server.port)
    assert again.connect(session_id=hello.session_id, passwd=hello.passwd).session_id == hello.session_id


def test_malformed_record_is_marshalling_error_and_the_connection_stays(server) -> None:
    client = RawClient(server.port)
    client.connect()
    # getData whose path claims 1000 bytes but carries 3
    _, _, err, _ = client.request(OpCode.getData, struct.pack(">i", 1000) + b"abc")
    assert err == -5
    assert client.exists("/") == 0


def test_client_ahead_of_the_server_is_refused(server) -> None:
    client = RawClient(server.port)
    client.send_frame(ConnectRequest(0, 1 << 40, 4000, 0, bytes(16)).encode())
    assert client.is_closed()
    assert "client must try another server" in server.log


def test_wrong_password_or_unknown_session_gets_timeout_zero(server) -> None:
    client = RawClient(server.port)
    answer = client.connect(session_id=0x1234, passwd=b"x" * 16)
    assert (answer.timeout, answer.session_id) == (0, 0)
    assert client.is_closed()


# --- the pure core: time and fuzzing without sockets ------------------------------------------


def connected(server: StandaloneServer, conn: str, now: int = 0) -> None:
    server.open(conn, ("127.0.0.1", 1), now)
    out = server.receive(conn, frame(ConnectRequest(0, 0, 4000, 0, bytes(16)).encode()), now)
    assert out.sends and not out.closes


def test_a_connection_without_connect_request_is_closed_after_the_sessionless_timeout() -> None:
    server = StandaloneServer(tick_time=500, now=0)
    server.open("silent", ("127.0.0.1", 1), 0)
    assert server.tick(9_999).closes == []
    out = server.tick(10_000)
    assert out.closes == ["silent"]
    assert any("sent no ConnectRequest" in message for _, message in out.logs)


def test_timeout_is_negotiated_into_two_to_twenty_ticks() -> None:
    """``ZooKeeperServer.processConnectRequest``: clamp into [2*tickTime, 20*tickTime]."""
    server = StandaloneServer(tick_time=500, now=0)
    for requested, negotiated in ((10, 1000), (4000, 4000), (60_000, 10_000)):
        server.open(requested, ("127.0.0.1", 1), 0)
        out = server.receive(requested, frame(ConnectRequest(0, 0, requested, 0, b"").encode()), 0)
        (_, data), = out.sends
        assert struct.unpack_from(">ii", data, 4)[1] == negotiated


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.binary(max_size=64), chunks=st.lists(st.binary(max_size=300), max_size=8),
       connect_first=st.booleans())
def test_random_bytes_never_crash_the_server(before: bytes, chunks: list[bytes], connect_first: bool) -> None:
    server = StandaloneServer(tick_time=500, now=0)
    connected(server, "good")
    server.open("fuzz", ("127.0.0.1", 2), 0)
    if connect_first:
        server.receive("fuzz", frame(ConnectRequest(0, 0, 4000, 0, bytes(16)).encode()), 0)
    server.receive("fuzz", before, 1)
    for i, chunk in enumerate(chunks):
        # half the chunks are framed, so they reach the request decoder
        server.receive("fuzz", frame(chunk) if i % 2 else chunk, 2 + i)
    server.tick(100)
    out = server.receive("good", frame(encode_request(1, OpCode.exists, Writer().string("/").bool(False).getvalue())), 200)
    (_, reply), = out.sends
    assert struct.unpack_from(">iqi", reply, 4)[2] == 0


def test_random_bytes_over_a_socket(server) -> None:
    import random

    rng = random.Random(12)
    for _ in range(20):
        client = RawClient(server.port, timeout=2)
        if rng.random() < 0.5:
            client.connect()
        client.send_raw(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 400))))
        client.close()
    assert four_letter_word(server.port, "ruok") == "imok"
    survivor = RawClient(server.port)
    survivor.connect()
    assert survivor.exists("/zookeeper") == 0
