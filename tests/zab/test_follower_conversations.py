"""ZooKeeper's ``Zab1_0Test`` follower conversations, replayed against distlab's follower.

The test plays the leader by hand, packet by packet, as ``Zab1_0Test.testFollowerConversation``
does over a socket, and checks each packet the follower sends back and what it made durable
(``Learner.syncWithLeader``):

- ``testNormalFollowerRun``: SNAP at (1,1), NEWLEADER, then a PROPOSAL at (1,1000) — a gap
  3.8 logs and accepts — its COMMIT and UPTODATE: the follower ACKs NEWLEADER, then UPTODATE,
  then the proposal, and /foo holds the new data;
- ``testNormalFollowerRunWithDiff``: DIFF, a createSession PROPOSAL at (1,2) with its COMMIT,
  NEWLEADER, UPTODATE: two ACKs of (1,0), the session is durable, no snapshot was taken.
"""

from __future__ import annotations

import random

from distlab.sansio import Deliver, Start
from distlab.zab.config import EnsembleConfig
from distlab.zab.messages import (
    Ack,
    AckEpoch,
    Commit,
    Diff,
    LeaderInfo,
    NewLeader,
    Notification,
    ProposalPacket,
    ServerState,
    Snap,
    UpToDate,
)
from distlab.zab.peer import QuorumPeer
from distlab.zab.zxid import make_zxid
from distlab.zk.ops import CreateSessionTxn, CreateTxn, SetDataTxn
from distlab.zk.tree import DataTree

LEADER, FOLLOWER, OTHER = 2, 1, 3


class Conversation:
    """One follower, its durable state, and the packets it sends to the leader."""

    def __init__(self) -> None:
        self.peer = QuorumPeer(FOLLOWER, EnsembleConfig(voters=(1, 2, 3)))
        self.durable: dict = {}
        self.now = 0
        self.step(Start(0, {}, 0, random.Random(1)))
        # The ensemble is established: 2 leads, 3 follows, both in election round 1.
        for sid, state in ((LEADER, ServerState.LEADING), (OTHER, ServerState.FOLLOWING)):
            self.deliver(sid, Notification(LEADER, 0, 1, 0, state, sid))
        assert self.peer.state is ServerState.FOLLOWING

    def step(self, event) -> list:
        fx = self.peer.step(event)
        for op, key, value in fx.writes or ():
            if op == "set":
                self.durable[key] = value
            elif op == "append":
                self.durable.setdefault(key, []).append(value)
            else:
                self.durable[key] = self.durable.get(key, [])[:value]
        return [msg for dst, msg in fx.sends or () if dst == LEADER]

    def deliver(self, src: int, msg) -> list:
        self.now += 1
        return self.step(Deliver(self.now, src, msg))

    def from_leader(self, msg) -> list:
        return self.deliver(LEADER, msg)

    def register(self) -> None:
        sent = self.step(Deliver(self.now, LEADER, LeaderInfo(1)))
        assert sent == [AckEpoch(0, 0)]  # currentEpoch 0, last zxid 0
        assert (self.durable["accepted_epoch"], self.durable["current_epoch"]) == (1, 0)


def leader_db_with_foo() -> DataTree:
    tree = DataTree()
    tree.apply(CreateTxn(path="/foo", data=b"data1", ephemeral=False, parent_cversion=1,
                         zxid=make_zxid(1, 1), time=33, session_id=13))
    return tree


def test_normal_follower_run() -> None:
    """Zab1_0Test.testNormalFollowerRun."""
    c = Conversation()
    c.register()
    first = make_zxid(1, 1)
    assert c.from_leader(Snap(first, leader_db_with_foo().snapshot())) == []
    assert "snapshot" not in c.durable or c.durable["snapshot"] is None  # applied in memory only
    assert c.from_leader(NewLeader(make_zxid(1, 0))) == [Ack(make_zxid(1, 0))]
    assert c.durable["current_epoch"] == 1 and c.durable["snapshot"][0] == first
    proposal = make_zxid(1, 1000)  # a gap after (1,1): logged and accepted
    assert c.from_leader(ProposalPacket(proposal, SetDataTxn(path="/foo", data=b"data2", version=2,
                                                            zxid=proposal, time=55, session_id=4))) == []
    assert c.peer.tree.get_data("/foo")[0] == b"data1"  # not committed yet
    assert c.from_leader(Commit(proposal)) == []
    assert c.from_leader(UpToDate()) == [Ack(make_zxid(1, 0)), Ack(proposal)]
    assert c.peer.tree.get_data("/foo")[0] == b"data2"
    assert [p.zxid for p in c.durable["log"]] == [proposal]  # and the change is durable
    assert c.peer.state is ServerState.FOLLOWING


def test_normal_follower_run_with_diff() -> None:
    """Zab1_0Test.testNormalFollowerRunWithDiff."""
    c = Conversation()
    c.register()
    session_zxid = make_zxid(1, 2)
    assert c.from_leader(Diff(make_zxid(1, 1))) == []
    assert c.from_leader(ProposalPacket(session_zxid, CreateSessionTxn(timeout=30000, zxid=session_zxid,
                                                                     time=55, session_id=4))) == []
    assert c.from_leader(Commit(session_zxid)) == []
    assert c.from_leader(NewLeader(make_zxid(1, 0))) == [Ack(make_zxid(1, 0))]
    assert c.durable["current_epoch"] == 1
    assert c.peer.last_processed_zxid == session_zxid
    assert c.from_leader(UpToDate()) == [Ack(make_zxid(1, 0))]
    assert [p.zxid for p in c.durable["log"]] == [session_zxid]
    assert c.peer.tree.sessions[4] == 30000
    assert c.durable.get("snapshot") is None  # no snapshot during a simple DIFF
    assert c.peer.state is ServerState.FOLLOWING


def test_a_hole_inside_the_sync_stream_is_still_refused() -> None:
    """ZOOKEEPER-4925 (enforceContinuousProposal): after the first proposal, gaps are holes."""
    c = Conversation()
    c.register()
    c.from_leader(Diff(make_zxid(1, 1)))
    z2, z4 = make_zxid(1, 2), make_zxid(1, 4)
    c.from_leader(ProposalPacket(z2, CreateSessionTxn(timeout=30000, zxid=z2, time=1, session_id=4)))
    c.from_leader(ProposalPacket(z4, CreateSessionTxn(timeout=30000, zxid=z4, time=1, session_id=5)))
    assert c.peer.state is ServerState.LOOKING
