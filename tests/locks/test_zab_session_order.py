"""What the ZooKeeper lock relies on from the simulated ensemble: a session's order.

ZooKeeper answers one session's requests in the order they were sent, and a read queued
behind the same session's write is answered only once that write is applied
(``CommitProcessor`` holds a session's later requests while one of its writes is pending;
the programmer's guide: "Sequential Consistency", FIFO client order). kazoo and Curator rely
on it, and so does distlab's lock when it sends its create and its getChildren back to back
(one round trip instead of two). This was once broken in distlab's simulated server (found
while building the lock, fixed in zab); the test keeps it fixed.
"""

from __future__ import annotations

import pytest

from distlab.sim.ensemble import Ensemble
from distlab.zab import clientproto
from distlab.zab.client import ApiCall
from distlab.zk.ops import CreateRequest
from distlab.zk.stat import CreateMode


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_a_read_sent_behind_a_write_of_the_same_session_sees_it_and_is_answered_after_it(seed):
    ensemble = Ensemble(servers=3, seed=seed)
    ensemble.wait_for_leader()
    client = ensemble.client()
    client.create("/p")
    process, world = client.process, client.world
    world.inject(client.name, ApiCall(1001, CreateRequest(path="/p/n-", mode=CreateMode.EPHEMERAL_SEQUENTIAL)))
    world.inject(client.name, ApiCall(1002, clientproto.GetChildren("/p")))
    order: list[int] = []

    def both_answered(_world) -> bool:
        order.extend(x for x in (1001, 1002) if x in process.results and x not in order)
        return len(order) == 2

    assert world.run_until(both_answered, world.now + 10_000)
    assert order == [1001, 1002], "replies must come back in the order the requests were sent"
    assert process.results[1002].result == ["n-0000000000"], "the read must see the session's own create"
