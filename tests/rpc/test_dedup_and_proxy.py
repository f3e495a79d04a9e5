"""The two pure decisions around a call: the provider's duplicate suppression (``admit``) and
the stub's result return (``settle``, Dubbo's ``DefaultFuture.received`` lookup)."""

from __future__ import annotations

import copy
import random

import pytest

from distlab.rpc import NoProvider, RemoteError, RpcTimeout, result_of, settle
from distlab.rpc.dedup import admit, remember_reply, table_size
from distlab.rpc.proxy import check_settle_answer

R1, R2 = {"ok": True, "result": 1}, {"ok": True, "result": 2}


@pytest.mark.parametrize("table, request_, action, after", [
    ({}, {"client": "c", "id": 1, "acked": 1}, "execute", {"c": {"acked": 1, "replies": {1: None}}}),
    ({"c": {"acked": 1, "replies": {1: None}}}, {"client": "c", "id": 1, "acked": 1}, "wait",
     {"c": {"acked": 1, "replies": {1: None}}}),
    ({"c": {"acked": 1, "replies": {1: R1}}}, {"client": "c", "id": 1, "acked": 1}, "replay",
     {"c": {"acked": 1, "replies": {1: R1}}}),
    ({"c": {"acked": 1, "replies": {1: R1}}}, {"client": "c", "id": 2, "acked": 2}, "execute",
     {"c": {"acked": 2, "replies": {2: None}}}),
    ({"c": {"acked": 2, "replies": {2: R2}}}, {"client": "c", "id": 1, "acked": 1}, "stale",
     {"c": {"acked": 2, "replies": {2: R2}}}),
    ({"a": {"acked": 1, "replies": {1: R1}}}, {"client": "b", "id": 1, "acked": 1}, "execute",
     {"a": {"acked": 1, "replies": {1: R1}}, "b": {"acked": 1, "replies": {1: None}}}),
], ids=["first", "retry-while-running", "retry-after-reply", "next-forgets", "late-copy-keeps-mark", "per-client"])
def test_admit(table, request_, action, after):
    before = copy.deepcopy(table)
    assert admit(table, request_) == (action, after)
    assert table == before  # the argument is not changed


def test_admit_over_random_streams_keeps_the_table_bounded():
    rng = random.Random(4)
    table, pending, next_id = {}, [], 1
    for _ in range(500):
        if rng.random() < 0.5 or not pending:
            pending.append(next_id)
            next_id += 1
        request = {"client": "c", "id": rng.choice(pending), "acked": min(pending)}
        action, table = admit(table, request)
        if action == "execute":
            remember_reply(table, "c", request["id"], {"ok": True, "result": request["id"]})
        if rng.random() < 0.4:
            pending.remove(rng.choice(pending))
        assert all(rid >= table["c"]["acked"] for rid in table["c"]["replies"])
        assert table_size(table) <= len(pending) + 1 or table_size(table) <= next_id - table["c"]["acked"]


def test_remember_reply_ignores_what_the_client_has_moved_past():
    table = {"c": {"acked": 5, "replies": {5: None}}}
    remember_reply(table, "c", 3, R1)
    remember_reply(table, "x", 5, R1)
    remember_reply(table, "c", 5, R2)
    assert table == {"c": {"acked": 5, "replies": {5: R2}}}


ERROR = {"type": "ZeroDivisionError", "message": "division by zero"}


@pytest.mark.parametrize("pending, reply, settled", [
    ({7: "add"}, {"id": 7, "ok": True, "result": 5}, (7, "return", 5)),
    ({7: "div"}, {"id": 7, "ok": False, "error": ERROR}, (7, "raise", "ZeroDivisionError", "division by zero")),
    ({8: "add"}, {"id": 7, "ok": True, "result": 5}, None),
    ({7: "get"}, {"id": 7, "ok": True, "result": None}, (7, "return", None)),
    ({}, {"id": 1, "ok": True, "result": 1}, None),
    ({7: "get"}, {"ok": True, "result": 1}, None),
], ids=["value", "remote-exception", "late-reply", "none-result", "nothing-pending", "no-id"])
def test_settle(pending, reply, settled):
    assert settle(pending, reply) == settled


def test_a_settled_answer_must_name_a_pending_call():
    with pytest.raises(ValueError, match="not pending"):
        check_settle_answer((9, "return", 1), {7: "add"})
    with pytest.raises(ValueError):
        check_settle_answer((7, "raise", "KeyError"), {7: "add"})
    assert check_settle_answer([7, "return", 1], {7: "add"}) == (7, "return", 1)


@pytest.mark.parametrize("outcome, raised", [
    (("raise", "KeyError", "'x'"), RemoteError), (("timeout", "no reply"), RpcTimeout),
    (("no_provider", "none"), NoProvider)])
def test_result_of_raises_what_an_outcome_means(outcome, raised):
    with pytest.raises(raised):
        result_of(outcome)
    assert result_of(("return", [1])) == [1]
