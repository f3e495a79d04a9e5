"""What a ZooKeeper client is promised, checked on a simulator trace.

From ZooKeeper's *consistency guarantees* (the notes' 顺序一致性 and 单一视图):

- **FIFO client order** (sequential consistency): a client's requests are answered in the order
  it sent them, and its successful writes take effect in that order (their zxids increase);
- **single system image**: a client never sees the service go back in time — every answer it
  gets (replies, pings, a reconnect) carries a zxid at least as new as any it has seen before,
  even after it fails over to another server.

Linearizability of writes is the separate, stronger check in
:mod:`distlab.check.linearizability`.
"""

from __future__ import annotations

from typing import Any, Iterable

from distlab.check.zab import Violation
from distlab.zab.events import ClientDisconnected
from distlab.zab.zxid import format_zxid

__all__ = ["check_fifo_order", "check_single_system_image", "check_clients", "accepted_by_clients"]

_ZXID_CARRIERS = ("ClientReply", "PingReply", "ConnectResponse")


def accepted_by_clients(trace: Iterable[Any]):
    """(seq, record, type name) of each message a client accepted from its current connection.

    A client ignores what arrives on a connection it gave up: an answer to an older connection
    attempt, anything from a server it left, a reply to a request sent on an earlier
    connection, and copies the network duplicated. The checks judge only what it accepted,
    reconstructed from the trace: the ``Connect`` attempts it sent, the ``ConnectResponse``
    that matched its latest attempt, and the connection each ``ClientRequest`` went out on.
    """
    last_attempt: dict[str, int] = {}
    connection: dict[str, tuple[Any, int]] = {}  # client -> (server, attempt) it is attached to
    sent_on: dict[tuple[str, int], tuple[Any, int] | None] = {}  # (client, xid) -> connection
    delivered: set[int] = set()
    for seq, record in enumerate(trace):
        if record.kind == "note" and type(record.event) is ClientDisconnected:
            connection.pop(record.node, None)  # the client gave this connection up
            continue
        if record.kind == "send" and isinstance(record.src, str):
            name = type(record.msg).__name__
            if name == "Connect":
                last_attempt[record.src] = record.msg.attempt
                connection.pop(record.src, None)  # connecting: nothing but the answer counts
            elif name == "ClientRequest":
                sent_on[(record.src, record.msg.xid)] = connection.get(record.src)
            continue
        if record.kind != "deliver" or not isinstance(record.dst, str) or record.msg_id in delivered:
            continue
        delivered.add(record.msg_id)
        client, msg, name = record.dst, record.msg, type(record.msg).__name__
        if name == "ConnectResponse":
            if msg.attempt != last_attempt.get(client):
                continue
            connection[client] = (record.src, msg.attempt)
        elif name in ("ClientReply", "PingReply", "WatchNotification"):
            current = connection.get(client)
            if current is None or current[0] != record.src:
                continue
            if name == "ClientReply" and sent_on.get((client, msg.xid)) != current:
                continue
        else:
            continue
        yield seq, record, name


def check_fifo_order(trace: Iterable[Any]) -> list[Violation]:
    """Replies reach each client in request order; its successful writes commit in that order."""
    last_xid: dict[str, int] = {}
    last_write_zxid: dict[str, int] = {}
    found = []
    for seq, record, name in accepted_by_clients(trace):
        if name != "ClientReply":
            continue
        client, reply = record.dst, record.msg
        if reply.xid <= last_xid.get(client, 0):
            found.append(Violation("FIFO client order", f"{client} got the reply to request {reply.xid} "
                                   f"after the reply to request {last_xid[client]}", seq, record.time))
        last_xid[client] = max(last_xid.get(client, 0), reply.xid)
        if reply.ok and type(reply.result).__name__ in ("CreateResult", "SetDataResult", "DeleteResult"):
            if reply.zxid <= last_write_zxid.get(client, -1):
                found.append(Violation("FIFO client order", f"{client}'s write {reply.xid} committed at "
                                       f"{format_zxid(reply.zxid)}, before its earlier write at "
                                       f"{format_zxid(last_write_zxid[client])}", seq, record.time))
            last_write_zxid[client] = reply.zxid
    return found


def check_single_system_image(trace: Iterable[Any]) -> list[Violation]:
    """No client ever receives a zxid older than one it already saw (across reconnects too)."""
    seen: dict[str, tuple[int, Any]] = {}
    found = []
    for seq, record, name in accepted_by_clients(trace):
        if name not in _ZXID_CARRIERS:
            continue
        client, zxid = record.dst, record.msg.zxid
        if name == "ClientReply" and record.msg.code == -4:
            continue  # a ConnectionLoss answer carries no view of the data
        best, server = seen.get(client, (0, None))
        if zxid < best:
            found.append(Violation("single system image", f"{client} saw {format_zxid(best)} from server "
                                   f"{server}, then {format_zxid(zxid)} from server {record.src}", seq, record.time))
        else:
            seen[client] = (zxid, record.src)
    return found


def check_clients(trace: Iterable[Any]) -> list[Violation]:
    trace = list(trace)
    return check_fifo_order(trace) + check_single_system_image(trace)
