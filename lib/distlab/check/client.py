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
from distlab.zab.zxid import format_zxid

__all__ = ["check_fifo_order", "check_single_system_image", "check_clients"]

_ZXID_CARRIERS = ("ClientReply", "PingReply", "ConnectResponse")


def _deliveries_to_clients(trace: Iterable[Any]):
    """(seq, record, message type name) for every message a server delivered to a client."""
    for seq, record in enumerate(trace):
        if record.kind == "deliver" and isinstance(record.dst, str):
            yield seq, record, type(record.msg).__name__


def check_fifo_order(trace: Iterable[Any]) -> list[Violation]:
    """Replies reach each client in request order; its successful writes commit in that order."""
    last_xid: dict[str, int] = {}
    last_write_zxid: dict[str, int] = {}
    found = []
    for seq, record, name in _deliveries_to_clients(trace):
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
    attached: dict[str, Any] = {}  # the server a client last connected to: it ignores the others
    found = []
    for seq, record, name in _deliveries_to_clients(trace):
        if name not in _ZXID_CARRIERS:
            continue
        client, zxid = record.dst, record.msg.zxid
        if name == "ConnectResponse":
            attached[client] = record.src
        elif attached.get(client) != record.src:
            continue
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
