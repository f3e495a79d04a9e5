"""Call semantics: at-most-once, at-least-once, and retries made safe by duplicate suppression.

:Status: reference implementation for Lab 8, part E (``admit``)

A timeout tells a caller nothing about the outcome: the request may have been lost, or it
may have run and only the reply was lost. What the caller does next fixes the semantics
(Birrell and Nelson, "Implementing Remote Procedure Calls", 1984; chapter 05):

=====================  ==========================  ================  ===========================
semantics              consumer                    provider          a call runs
=====================  ==========================  ================  ===========================
at-most-once (最多一次)  never retries               suppresses dups   0 or 1 times; a timeout
                                                                      leaves the outcome unknown
at-least-once (至少一次) retries until answered      runs every copy   1 or more times: only for
                                                                      idempotent (幂等) methods
effectively once       retries, **same request id**  suppresses dups   once, while the provider
                       to the same provider                          remembers the id
=====================  ==========================  ================  ===========================

(The network can duplicate too, so even at-most-once needs the provider's suppression.)

**The provider's table.** Duplicate suppression (去重) remembers, per consumer, the reply to
every request id it ran. Memory is bounded by the consumer's *acknowledgement*: every
request frame carries ``acked``, the lowest id the consumer still waits for, so every reply
below it has arrived and may be forgotten (the idea of RIFL's and Raft's client sessions).
:func:`admit` decides what to do with one request, in this order:

1. Raise the consumer's mark to ``max(mark, request["acked"])`` — never lower it: a copy
   delayed in the network carries an old mark — and forget the replies below the mark.
2. ``id < mark``: **stale**. The consumer has this reply; the request is a late copy. Drop
   it: running it would run the call a second time, and its reply is forgotten.
3. ``id`` remembered with a reply: **replay** the remembered reply; do not run it again.
4. ``id`` remembered as running (``None``): **wait**. A retry overtook a slow execution;
   the reply goes out when the first execution ends.
5. Otherwise: **execute**, remembering the id as running (``None``).

The table is plain data: ``{client: {"acked": mark, "replies": {request_id: reply | None}}}``.

**Caveats**

- The table is volatile here: a provider that crashes forgets it, and a retry that reaches
  the restarted provider runs again. Exactly-once across crashes needs the table written
  durably together with the call's effects (one local transaction).
- Suppression is per provider. A retry *failed over* to another provider runs there too,
  which is why Dubbo's documentation recommends its Failover mode (retry elsewhere) for
  idempotent reads and Failfast for writes ("Cluster Fault Tolerance").
- Request ids are per consumer process; a restarted consumer starts a new numbering, so it
  must present itself as a new client (here: its incarnation is part of its client name).
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

__all__ = ["ACTIONS", "Admit", "admit", "remember_reply", "table_size"]

ACTIONS = ("execute", "wait", "replay", "stale")


class Admit(Protocol):
    """The ``admit`` seam: ``(table, request) -> (action, new_table)``; see the module docstring."""

    def __call__(self, table: dict, request: dict) -> tuple[str, dict]: ...


def admit(table: dict, request: dict) -> tuple[str, dict]:
    """What a provider does with one request: ``"execute"``, ``"wait"``, ``"replay"`` or ``"stale"``.

    Args:
        table: ``{client: {"acked": int, "replies": {request_id: reply or None}}}``; not changed.
        request: ``{"client": "consumer-1#0", "id": 7, "acked": 5}``.

    Returns:
        ``(action, new_table)``. After ``"execute"`` the new table remembers the id as running
        (``None``); the provider stores the reply with :func:`remember_reply` when the call ends.

    =====================================  ============  ====================================
    table for "c" (acked, replies)         request        action, then
    =====================================  ============  ====================================
    (0, {})                                id 1, acked 1  execute; replies {1: None}
    (1, {1: None})                         id 1, acked 1  wait
    (1, {1: r})                            id 1, acked 1  replay r
    (1, {1: r})                            id 2, acked 2  execute; 1 forgotten (2 > 1)
    (2, {2: r2})                           id 1, acked 1  stale; mark stays 2
    =====================================  ============  ====================================
    """
    client, request_id, acked = request["client"], request["id"], request["acked"]
    table = copy.deepcopy(table)
    entry = table.setdefault(client, {"acked": 0, "replies": {}})
    entry["acked"] = max(entry["acked"], acked)
    entry["replies"] = {rid: reply for rid, reply in entry["replies"].items() if rid >= entry["acked"]}
    if request_id < entry["acked"]:
        return "stale", table
    if request_id in entry["replies"]:
        return ("wait" if entry["replies"][request_id] is None else "replay"), table
    entry["replies"][request_id] = None
    return "execute", table


def remember_reply(table: dict, client: Any, request_id: int, reply: Any) -> None:
    """Store the reply of a call that ended (in place), unless the consumer has moved past it."""
    entry = table.get(client)
    if isinstance(entry, dict) and isinstance(entry.get("replies"), dict) and request_id in entry["replies"]:
        entry["replies"][request_id] = reply


def table_size(table: dict) -> int:
    """How many replies the table remembers, over all consumers."""
    return sum(len(entry.get("replies", {})) for entry in table.values() if isinstance(entry, dict))
