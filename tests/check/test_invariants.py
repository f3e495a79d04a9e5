"""The Zab and client checkers catch what they claim to, and pass correct runs."""

from __future__ import annotations

import pytest

from distlab.check.client import check_clients, check_fifo_order, check_single_system_image
from distlab.check.zab import (
    check_agreement,
    check_apply_order,
    check_durability,
    check_one_leader_per_epoch,
    check_zab,
)
from distlab.sim.ensemble import Ensemble
from distlab.sim.trace import Delivered, Noted, Sent, Trace
from distlab.zab.clientproto import ClientReply, ClientRequest, Connect, ConnectResponse, GetData
from distlab.zab.config import Impl
from distlab.zab.events import Applied, Committed, Established, FinalState, Truncated
from distlab.zab.zxid import make_zxid


def fact(node, time=0, zab=None, **data):
    """A note carrying the typed event the checkers read (``zab`` names its class)."""
    if zab == "established":
        event = Established(sid=node, epoch=data["epoch"], quorum=(node,))
    elif zab == "committed":
        event = Committed(sid=node, zxid=data["zxid"], txn=data["txn"], acks=(node,))
    elif zab == "applied":
        event = Applied(sid=node, zxid=data["zxid"], txn=data["txn"])
    elif zab == "reloaded":
        event = Truncated(sid=node, zxid=data["last_processed"], dropped=(), last_processed=data["last_processed"])
    elif zab == "final":
        event = FinalState(**{**data, "history": tuple(tuple(h) for h in data["history"])})
    else:
        raise AssertionError(zab)
    return Noted(time, node, str(event), {"event": event})


def test_two_leaders_in_one_epoch_is_caught():
    trace = Trace([fact(1, zab="established", epoch=3), fact(2, zab="established", epoch=3),
                   fact(2, zab="established", epoch=4)])
    found = check_one_leader_per_epoch(trace)
    assert len(found) == 1 and "servers 1 and 2 both established epoch 3" in str(found[0])


def test_one_zxid_naming_two_txns_is_caught():
    z = make_zxid(1, 4)
    trace = Trace([fact(1, zab="committed", zxid=z, txn="aaa"), fact(2, zab="applied", zxid=z, txn="aaa"),
                   fact(3, zab="applied", zxid=z, txn="bbb")])
    found = check_agreement(trace)
    assert len(found) == 1 and "0x1_00000004 is txn bbb on server 3" in found[0].detail


def test_applying_backwards_is_caught_but_a_reload_resets_the_position():
    a, b, c = make_zxid(1, 1), make_zxid(1, 2), make_zxid(1, 3)
    ok = Trace([fact(1, zab="applied", zxid=a, txn="x"), fact(1, zab="applied", zxid=b, txn="y"),
                fact(1, zab="reloaded", last_processed=a), fact(1, zab="applied", zxid=b, txn="y"),
                fact(1, zab="applied", zxid=c, txn="z")])
    assert check_apply_order(ok) == []
    bad = Trace([fact(1, zab="applied", zxid=b, txn="y"), fact(1, zab="applied", zxid=a, txn="x")])
    assert "server 1 applied 0x1_00000001 after 0x1_00000002" in str(check_apply_order(bad)[0])


def final(server, history, digest="d", snapshot_zxid=0):
    return fact(server, zab="final", server=server, history=history, digest=digest,
                snapshot_zxid=snapshot_zxid, last_processed=history[-1][0] if history else 0)


def test_a_lost_committed_txn_and_diverging_trees_are_caught():
    z1, z2 = make_zxid(1, 1), make_zxid(1, 2)
    committed = [fact(1, zab="committed", zxid=z1, txn="a"), fact(1, zab="committed", zxid=z2, txn="b")]
    good = Trace(committed + [final(1, [[z1, "a"], [z2, "b"]]), final(2, [[z1, "a"], [z2, "b"]])])
    assert check_durability(good) == []
    lost = Trace(committed + [final(1, [[z1, "a"], [z2, "b"]]), final(2, [[z1, "a"]], digest="e")])
    details = [v.detail for v in check_durability(lost)]
    assert any("different data trees" in d for d in details)
    assert any("0x1_00000002 (b, committed at t=0 ms) is missing on server 2" in d for d in details)
    assert "no final state" in check_durability(Trace(committed))[0].detail


def test_a_snapshot_covers_older_committed_txns():
    z1, z2 = make_zxid(1, 1), make_zxid(1, 2)
    trace = Trace([fact(1, zab="committed", zxid=z1, txn="a"), fact(1, zab="committed", zxid=z2, txn="b"),
                   final(1, [[z2, "b"]], snapshot_zxid=z1)])
    assert check_durability(trace) == []


def client_trace(*events):
    return Trace(list(events))


def test_a_client_seeing_an_older_zxid_after_reconnecting_is_caught():
    z_new, z_old = make_zxid(2, 5), make_zxid(2, 1)
    trace = client_trace(
        Sent(0, "c", 1, 1, Connect(None, 4000, 0, 1)),
        Delivered(1, 1, "c", 2, ConnectResponse(7, 4000, z_new, 1)),
        Sent(2, "c", 2, 3, Connect(7, 4000, z_new, 2)),
        Delivered(3, 2, "c", 4, ConnectResponse(7, 4000, z_old, 2)),
    )
    found = check_single_system_image(trace)
    assert len(found) == 1 and "c saw 0x2_00000005 from server 1, then 0x2_00000001 from server 2" in found[0].detail


def test_answers_on_an_abandoned_connection_do_not_count():
    z_new, z_old = make_zxid(2, 5), make_zxid(2, 1)
    trace = client_trace(
        Sent(0, "c", 1, 1, Connect(None, 4000, 0, 1)),
        Sent(1, "c", 2, 2, Connect(None, 4000, 0, 2)),  # gave up on attempt 1
        Delivered(2, 2, "c", 3, ConnectResponse(7, 4000, z_new, 2)),
        Delivered(3, 1, "c", 4, ConnectResponse(8, 4000, z_old, 1)),  # too late: ignored
    )
    assert check_clients(trace) == []


def test_replies_out_of_request_order_are_caught():
    trace = client_trace(
        Sent(0, "c", 1, 1, Connect(None, 4000, 0, 1)),
        Delivered(1, 1, "c", 2, ConnectResponse(7, 4000, 5, 1)),
        Sent(2, "c", 1, 3, ClientRequest(7, 1, GetData("/a"))),
        Sent(2, "c", 1, 4, ClientRequest(7, 2, GetData("/a"))),
        Delivered(3, 1, "c", 5, ClientReply(2, 5, (b"", None))),
        Delivered(4, 1, "c", 6, ClientReply(1, 5, (b"", None))),
    )
    found = check_fifo_order(trace)
    assert len(found) == 1 and "reply to request 1 after the reply to request 2" in found[0].detail


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_healthy_run_with_a_leader_crash_passes_every_check(seed):
    ensemble = Ensemble(3, seed=seed)
    leader = ensemble.wait_for_leader()
    zk = ensemble.client()
    for n in range(5):
        zk.create(f"/n{n}", b"x")
    ensemble.crash(leader)
    ensemble.wait_for_leader()
    zk.wait_connected()
    zk.set("/n0", b"y")
    ensemble.restart(leader)
    ensemble.quiesce()
    ensemble.record_final_state()
    trace = ensemble.world.trace
    assert check_zab(trace) == []
    assert check_clients(trace) == []


