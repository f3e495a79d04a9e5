"""Crashes and clients: the notes' 宕机处理 cases and the client guarantees across failures.

Follower crashes keep the service up; a leader crash triggers a new election that picks the
best survivor by the FLE order, and recovery brings everyone to the same history; a
restarted server comes back through the sync mode its history calls for; a proposal in
flight when the leader dies is either kept everywhere or dropped everywhere. Clients keep
their sessions across a leader change, lose their ephemeral nodes when a session expires,
never see the state go back in time, and get their answers in request order.
"""

from __future__ import annotations

import pytest

from distlab.check.client import check_fifo_order
from distlab.sim.ensemble import Ensemble
from distlab.sim.network import Fixed, LinkConfig
from distlab.zab.client import ClientState
from distlab.zab.clientproto import ConnectRefused, GetData
from distlab.zab.messages import Commit, ProposalPacket, Snap
from distlab.zk.errors import ConnectionLossError, OperationTimeoutError, SessionExpiredError
from distlab.zk.ops import CreateRequest, SetDataRequest
from distlab.zk.watches import EventType

from .test_scenarios import (
    LONG_SESSION_MS,
    assert_one_leader_all_follow,
    best_by_vote_order,
    committed_zxids,
    converge,
    durable_vote,
    facts,
    finish,
    retrying,
    send_async,
    sync_modes_of,
)

SEEDS = [1, 7, 23]


# ================================================================ 5. crashes ==============

@pytest.mark.parametrize("voters, seed", [(3, 1), (3, 7), (5, 2), (5, 23)], ids=lambda v: str(v))
def test_follower_crashes_keep_the_service_up_and_they_rejoin_by_diff(voters, seed):
    """宕机处理, follower: with as many followers down as the ensemble tolerates the leader still
    has a quorum, so writes and reads go on; the restarted followers catch up with DIFF
    (``syncFollower`` case 4)."""
    e = Ensemble(servers=voters, seed=seed)
    leader = e.wait_for_leader()
    zk = e.client(servers=[leader], timeout_ms=LONG_SESSION_MS)
    zk.create("/a", b"1")
    crashed = sorted(sid for sid in e.servers if sid != leader)[:(voters - 1) // 2]  # all it tolerates
    for sid in crashed:
        e.crash(sid)
    zk.set("/a", b"2")
    zk.create("/b", b"3")
    e.run(20_000)  # well past syncLimit: the leader still has its quorum
    assert e.leader() == leader and e.peer(leader).current_epoch == 1
    assert zk.get("/a")[0] == b"2"
    mark = len(e.world.trace)
    for sid in crashed:
        e.restart(sid)
    converge(e)
    for sid in crashed:
        assert sync_modes_of(e, sid, mark) == ["DIFF"]
        assert e.states()[sid] == "FOLLOWING"
        assert e.peer(sid).tree.get_data("/b")[0] == b"3"
    assert e.leader() == leader
    finish(e)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_leader_crash_elects_the_most_up_to_date_survivor(seed):
    """宕机处理, leader: the survivors run FLE and elect the best (currentEpoch, zxid, sid) among
    them: server 4 missed the last writes (its link from the leader was cut), so 3 wins over
    the higher sid 4. Nothing committed is lost, and the old leader rejoins as a follower by
    DIFF (FLETest; ``Leader.lead`` discovery/sync)."""
    e = Ensemble(servers=5, seed=seed)
    old = e.wait_for_leader()
    assert old == 5
    zk = e.client(servers=[1, 2, 3], timeout_ms=LONG_SESSION_MS)
    zk.create("/all", b"1")
    converge(e)
    e.world.cut(old, 4)  # 4 stops hearing proposals; it still looks like a follower for a while
    for i in range(3):
        zk.create(f"/w{i}", b"x")
    committed = set(committed_zxids(e))
    e.crash(old)
    e.heal()
    survivors = [1, 2, 3, 4]
    assert durable_vote(e, 4)[1] < durable_vote(e, 3)[1]
    expected = best_by_vote_order(e, survivors)
    assert expected == 3
    new = e.wait_for_leader()
    assert new == expected
    assert_one_leader_all_follow(e, new)
    assert e.peer(new).current_epoch == 2
    assert retrying(lambda: zk.get("/w2"))[0] == b"x"
    mark = len(e.world.trace)
    e.restart(old)
    converge(e)
    assert e.states()[old] == "FOLLOWING"
    assert sync_modes_of(e, old, mark) == ["DIFF"]
    assert committed <= set(committed_zxids(e))
    finish(e)


def _crash_leader_after_proposing(seed: int, reach: str):
    """Crash the leader in the very step it logs and sends a PROPOSAL; ``reach`` says which
    followers still receive the packet: "none", "low" (only the lower-sid follower) or "all"."""
    e = Ensemble(servers=3, seed=seed)
    leader = e.wait_for_leader()
    low, high = sorted(sid for sid in e.servers if sid != leader)
    zk = e.client(servers=[leader], timeout_ms=LONG_SESSION_MS, name="writer")
    zk.create("/base", b"b")
    converge(e)
    logged = len(e.peer(leader).log)
    send_async(zk, CreateRequest(path="/p", data=b"in flight"))
    assert e.world.run_until(lambda w: len(e.peer(leader).log) > logged, e.world.now + 5_000)
    proposal = e.peer(leader).log[-1]
    assert proposal.zxid not in committed_zxids(e)
    keep = {"none": set(), "low": {low}, "all": {low, high}}[reach]
    for message in e.world.in_flight():
        if isinstance(message.msg, ProposalPacket) and message.dst not in keep:
            e.world.drop_message(message.msg_id, "the leader crashed before sending it")
    e.crash(leader)
    return e, leader, low, high, proposal


@pytest.mark.parametrize("reach", ["none", "low", "all"])
@pytest.mark.parametrize("seed", [2, 5])
def test_leader_crash_right_after_proposing_keeps_or_drops_the_txn_everywhere(seed, reach):
    """A proposal the dead leader sent but never committed is decided by the next epoch: if any
    survivor logged it, that survivor has the highest zxid, wins the election and commits it
    to all; if none did, the old leader's copy is truncated when it rejoins. Either way every
    server ends with the txn, or none does (Zab: "skipped proposals" are never committed;
    ZOOKEEPER-1154 / reference 7.1)."""
    e, old, low, high, proposal = _crash_leader_after_proposing(seed, reach)
    new = e.wait_for_leader()
    if reach == "low":
        assert new == low, "the survivor holding the proposal has the higher zxid and must lead"
    else:
        assert new == high
    mark = len(e.world.trace)
    e.restart(old)
    converge(e)
    present = {sid: e.peer(sid).tree.exists("/p") is not None for sid in e.servers}
    assert len(set(present.values())) == 1, present
    assert present[old] is (reach != "none")
    if reach == "none":
        assert sync_modes_of(e, old, mark) == ["TRUNC"]
        assert all(p.zxid != proposal.zxid for p in e.peer(old).log)
    else:
        assert all(proposal in e.peer(sid).log for sid in e.servers)
    finish(e)


@pytest.mark.parametrize("seed", SEEDS)
def test_leader_crash_right_after_committing_never_loses_the_txn(seed):
    """The leader commits and applies a txn, then dies before any COMMIT leaves: the followers
    only logged it, yet a quorum holds it, so the next leader has it and commits it in the new
    epoch; nothing a leader committed is lost (Zab "durability"; ZOOKEEPER-3911's point)."""
    e = Ensemble(servers=3, seed=seed)
    leader = e.wait_for_leader()
    zk = e.client(servers=[leader], timeout_ms=LONG_SESSION_MS, name="writer")
    zk.create("/base", b"b")
    converge(e)
    before = len(committed_zxids(e))
    send_async(zk, CreateRequest(path="/c", data=b"committed"))
    assert e.world.run_until(lambda w: len(committed_zxids(e)) > before, e.world.now + 5_000)
    zxid = committed_zxids(e)[-1]
    for message in e.world.in_flight():
        if isinstance(message.msg, Commit):
            e.world.drop_message(message.msg_id, "the leader crashed before sending it")
    e.crash(leader)
    new = e.wait_for_leader()
    assert any(p.zxid == zxid for p in e.peer(new).log)
    e.restart(leader)
    converge(e)
    assert all(e.peer(sid).tree.get_data("/c")[0] == b"committed" for sid in e.servers)
    finish(e)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_leader_cut_off_with_a_minority_steps_down_and_its_side_never_commits(seed):
    """Split brain (脑裂) cannot happen: with 5 servers cut 2 | 3, the old leader's side has no
    quorum, commits nothing and steps down after syncLimit, while the majority elects a leader
    of a new epoch; after the heal there is one history (Zab "one leader per epoch"; quorum
    intersection)."""
    e = Ensemble(servers=5, seed=seed)
    old = e.wait_for_leader()
    minority = [old, min(sid for sid in e.servers if sid != old)]
    majority = [sid for sid in e.servers if sid not in minority]
    small = e.client(servers=minority, timeout_ms=LONG_SESSION_MS, name="small")
    big = e.client(servers=majority, timeout_ms=LONG_SESSION_MS, name="big")
    big.create("/shared", b"0")
    converge(e)
    committed = len(committed_zxids(e))
    e.partition(minority + ["small"], majority + ["big"])
    small.call_timeout_ms = 5_000
    with pytest.raises((OperationTimeoutError, ConnectionLossError)):
        small.set("/shared", b"minority")
    assert len(committed_zxids(e)) == committed
    retrying(lambda: big.set("/shared", b"majority"))
    new = e.leader()
    assert new in majority and e.peer(new).current_epoch > e.peer(old).current_epoch
    assert e.states()[old] == "LOOKING", "the old leader stepped down"
    assert [n for n, _ in facts(e, "committed")][committed:] == [new] * (len(committed_zxids(e)) - committed)
    finish(e)
    assert big.get("/shared")[0] == b"majority"


@pytest.mark.parametrize("mode", ["DIFF", "SNAP"])
@pytest.mark.parametrize("seed", SEEDS)
def test_a_follower_syncing_while_writes_stream_misses_none(seed, mode):
    """Writes keep committing while a follower syncs: the leader picks the sync point and starts
    forwarding at the same step, so every later PROPOSAL/COMMIT reaches the learner exactly
    once (``LearnerHandler.syncFollower`` + ``Leader.startForwarding``; protocol-spec issues
    (i) and (ii), reference 7.14)."""
    config = {"committed_log_size": 3, "txn_log_sync": False} if mode == "SNAP" else {}
    e = Ensemble(servers=3, seed=seed, **config)
    leader = e.wait_for_leader()
    follower = min(sid for sid in e.servers if sid != leader)
    zk = e.client(servers=[leader], timeout_ms=LONG_SESSION_MS)
    zk.create("/k", b"0")
    e.crash(follower)
    for i in range(6):
        zk.set("/k", str(i).encode())
    mark = len(e.world.trace)
    e.restart(follower)
    xids = []
    for i in range(300):  # a write every 7 ms for about 2 s, spanning the whole sync
        xids.append(send_async(zk, SetDataRequest(path="/k", data=f"p{i}".encode())))
        e.run(7)
    assert e.world.run_until(lambda w: all(x in zk.process.results for x in xids), e.world.now + 10_000)
    assert all(zk.process.results[x].ok for x in xids)
    converge(e)
    assert sync_modes_of(e, follower, mark) == [mode]
    assert e.peer(follower).tree.get_data("/k")[0] == b"p299"
    applied = [d["zxid"] for n, d in facts(e, "applied") if n == follower]
    assert len(applied) == len(set(applied))
    finish(e)


@pytest.mark.parametrize("seed", [1, 4])
def test_an_interrupted_snap_sync_leaves_nothing_durable(seed):
    """A SNAP sync cut short before NEWLEADER must leave the learner's disk as it was.

    ZooKeeper's learner loads a SNAP into memory and writes its snapshot only when NEWLEADER
    arrives (``Learner.syncWithLeader``; reference 3.3 and 4.4), and clears its in-memory
    database if the sync is cut short (ZOOKEEPER-3642, reference 7.8).

    The run: leader 3 is cut off with a client and logs three txns it cannot commit (up to
    1:6; the others stop at 1:3). Server 2 leads epoch 2 with server 1 and dies right after
    writing currentEpoch 2, before 1 is synced. Server 3 (best vote among 1 and 3) then leads
    epoch 3 and sends server 1 a SNAP at 1:6 — and dies before NEWLEADER. When 2 comes back it
    wins (currentEpoch 2) and syncs server 1, whose disk still ends at 1:3: all three servers
    agree on 1:3, and 3's txns are gone everywhere. (When the learner persisted the SNAP at
    once, server 1 got ``TRUNC 1:3`` below its snapshot at 1:6 and ``truncate_log`` raised
    its ZOOKEEPER-1549 guard, stopping the simulation.)
    """
    # A hand-built schedule: pin the network (partitions lose messages silently, so the
    # cut-off leader keeps leading, and logging, until syncLimit).
    e = Ensemble(servers=3, seed=seed, committed_log_size=2, txn_log_sync=False, network=LinkConfig())
    assert e.wait_for_leader() == 3
    main = e.client(servers=[1, 2], timeout_ms=LONG_SESSION_MS, name="main")
    main.create("/kept", b"k")
    lone = e.client(servers=[3], timeout_ms=LONG_SESSION_MS, name="lone")
    converge(e)
    e.partition([3, "lone"], [1, 2, "main"])
    for i in range(3):
        send_async(lone, CreateRequest(path=f"/lost{i}", data=b"x"))
    e.run(500)
    # Server 2 leads epoch 2 and dies once its currentEpoch is 2, before syncing 1.
    e.wait_for(lambda e: e.is_up(2) and e.peer(2).current_epoch == 2, 60_000, "2 to write currentEpoch 2")
    for message in e.world.in_flight():
        if message.src == 2:
            e.world.drop_message(message.msg_id, "2 crashed before sending it")
    e.crash(2)
    e.heal()
    # Server 3 leads epoch 3 and dies in the step it sends 1 the SNAP (NEWLEADER is lost).
    e.wait_for(lambda e: any(isinstance(m.msg, Snap) and m.dst == 1 for m in e.world.in_flight()),
               120_000, "3 to send 1 a SNAP")
    for message in e.world.in_flight():
        if message.src == 3 and not isinstance(message.msg, Snap):
            e.world.drop_message(message.msg_id, "3 crashed before sending it")
    e.crash(3)
    e.wait_for(lambda e: e.peer(1).tree.exists("/lost0") is not None, 1_000, "1 to load the SNAP in memory")
    assert "snapshot" not in e.world.durable(1), "nothing of the interrupted SNAP is on disk"
    e.restart(2)
    e.wait_for(lambda e: e.leader() == 2 and set(e.serving()) == {1, 2}, 120_000, "2 leading 1")
    assert e.peer(1).tree.exists("/lost0") is None
    e.restart(3)
    finish(e)
    assert main.exists("/lost0") is None and main.get("/kept")[0] == b"k"


@pytest.mark.parametrize("seed", SEEDS)
def test_a_server_down_for_a_whole_epoch_rejoins_by_diff(seed):
    """A follower that was down across a leader change comes back with an older epoch and
    zxid: the new leader's committed log still holds its last zxid, so it gets a DIFF that
    spans the epoch change (LearnerHandlerTest.testNewEpochZxid P2 spirit)."""
    e = Ensemble(servers=5, seed=seed)
    leader = e.wait_for_leader()
    zk = e.client(timeout_ms=LONG_SESSION_MS)
    zk.create("/e1", b"1")
    converge(e)
    sleeper = min(e.servers)
    e.crash(sleeper)
    e.crash(leader)
    retrying(lambda: zk.create("/e2", b"2"))
    new = e.wait_for_leader()
    assert e.peer(new).current_epoch == 2
    mark = len(e.world.trace)
    e.restart(sleeper)
    converge(e)
    assert sync_modes_of(e, sleeper, mark) == ["DIFF"]
    assert e.peer(sleeper).current_epoch == 2
    assert e.peer(sleeper).tree.get_data("/e2")[0] == b"2"
    finish(e)


# ================================================================ 6. clients ==============

@pytest.mark.parametrize("seed", SEEDS)
def test_a_session_and_its_ephemeral_node_survive_a_leader_change(seed):
    """Sessions belong to the ensemble, not to a server: after the leader dies, the client
    reconnects to another server with the same session id within its timeout, and its
    ephemeral node is still there (programmer's guide, "ZooKeeper Sessions")."""
    e = Ensemble(servers=3, seed=seed)
    leader = e.wait_for_leader()
    followers = [sid for sid in e.servers if sid != leader]
    zk = e.client(servers=followers, timeout_ms=30_000)
    session = zk.session_id
    zk.create("/owner", b"me", ephemeral=True)
    e.crash(leader)
    e.wait_for_leader()
    assert retrying(lambda: zk.get("/owner"))[0] == b"me"
    assert zk.session_id == session and zk.state is ClientState.CONNECTED
    assert ("state", ClientState.EXPIRED) not in zk.events
    zk.set("/owner", b"still me")
    finish(e)
    assert zk.get("/owner")[0] == b"still me"


@pytest.mark.parametrize("how", ["close", "crash", "partition"])
@pytest.mark.parametrize("seed", SEEDS)
def test_an_ended_session_loses_its_ephemerals_and_watchers_hear_it(seed, how):
    """When a session ends its ephemeral nodes go, and watches set by other clients fire
    (NodeDeleted on the node, NodeChildrenChanged on its parent). A session ends at once on
    ``close()``; when the client stops pinging (its process dies, or the network cuts it off)
    the leader expires it after its timeout with a closeSession txn (``SessionTrackerImpl``;
    programmer's guide "Ephemeral Nodes"; watches.mdx). A partitioned client learns of the
    expiry when it reconnects, and every later call fails with SessionExpired."""
    e = Ensemble(servers=3, seed=seed)
    e.wait_for_leader()
    owner = e.client(timeout_ms=4_000, name="owner")
    watcher = e.client(timeout_ms=LONG_SESSION_MS, name="watcher")
    watcher.create("/locks", b"")
    owner.create("/locks/lock", b"held", ephemeral=True)
    watcher.sync("/locks")  # another client's write: sync before reading it (no cross-client RYW)
    assert watcher.exists("/locks/lock", watch=True) is not None
    assert watcher.get_children("/locks", watch=True) == ["lock"]
    if how == "close":
        owner.close()
        assert owner.state is ClientState.CLOSED
    elif how == "crash":
        e.world.crash("owner")
    else:
        e.partition(["owner"], list(e.servers) + ["watcher"])
    e.run(15_000)
    assert watcher.exists("/locks/lock") is None and watcher.get_children("/locks") == []
    fired = [(ev.type, ev.path) for ev in watcher.events if hasattr(ev, "type")]
    assert fired == [(EventType.NodeDeleted, "/locks/lock"), (EventType.NodeChildrenChanged, "/locks")]
    expired = [r.text for r in e.world.trace.records if r.kind == "note" and r.node in e.servers
               and r.text.endswith("expired")]
    assert bool(expired) is (how != "close")
    if how == "partition":
        e.heal()
        e.run(5_000)
        assert owner.state is ClientState.EXPIRED
        with pytest.raises(SessionExpiredError):
            owner.get("/")
    finish(e)


def test_watches_fire_for_changes_missed_while_failing_over(seed=1):
    """BUG: a data watch misses a change made while its client was failing over.

    After a reconnect the client re-registers its watches with ``SetWatches(relativeZxid)``,
    where relativeZxid is the last zxid the client had seen *before* the reconnect
    (``ClientCnxn.SendThread.primeConnection``; ZooKeeper's ConnectResponse carries no zxid).
    The server fires at once every watch whose node changed after that zxid
    (``DataTree.setWatches``: NodeDataChanged if ``mzxid > relativeZxid``), so no change is
    missed ("a client will see a watch event for a znode it is watching before seeing the new
    data"; watches.mdx, "What ZooKeeper guarantees about watches"). distlab's client first
    raises ``last_zxid_seen`` to the zxid in the new server's ConnectResponse
    (``ZooKeeperClient._on_connected``) and only then sends SetWatches with it, so the change
    looks old and the NodeDataChanged event is never delivered (the NodeDeleted one is, since
    it does not depend on the zxid).
    """
    e = Ensemble(servers=3, seed=seed)
    leader = e.wait_for_leader()
    watcher = e.client(servers=[sid for sid in e.servers if sid != leader], timeout_ms=9_000, name="watcher")
    writer = e.client(servers=[leader], timeout_ms=LONG_SESSION_MS, name="writer")
    writer.create("/w", b"0")
    writer.create("/gone", b"0")
    watcher.sync("/")
    assert watcher.get("/w", watch=True)[0] == b"0"
    assert watcher.exists("/gone", watch=True) is not None
    near = watcher.server
    e.crash(near)
    writer.set("/w", b"1")
    writer.delete("/gone")
    e.wait_for(lambda e: watcher.state is ClientState.CONNECTED and watcher.server != near, 30_000,
               "the watcher to fail over")
    e.run(1_000)
    fired = sorted((ev.type.name, ev.path) for ev in watcher.events if hasattr(ev, "type"))
    assert fired == [("NodeDataChanged", "/w"), ("NodeDeleted", "/gone")]
    e.restart(near)
    finish(e)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_lagging_server_refuses_a_client_that_has_seen_newer_state(seed):
    """Single system image (单一视图): a client that fails over to a server behind its
    ``lastZxidSeen`` is refused there and tries another, so it never sees the state go back
    in time (``ZooKeeperServer.processConnectRequest``: "Refusing session request ... client
    must try another server"; consistency-guarantees.mdx)."""
    # A long syncLimit lets a follower on a very slow link keep following (and serving).
    e = Ensemble(servers=3, seed=seed, sync_limit=20)
    leader = e.wait_for_leader()
    followers = sorted(sid for sid in e.servers if sid != leader)
    zk = e.client(servers=followers, timeout_ms=9_000)
    near = zk.server
    lagging = next(sid for sid in followers if sid != near)
    zk.create("/ssi", b"0")
    converge(e)
    e.world.configure_link(leader, lagging, latency=Fixed(15_000))  # it will lag by 15 s
    zk.set("/ssi", b"1")
    seen = zk.process.last_zxid_seen
    assert e.peer(lagging).serving and e.peer(lagging).tree.last_processed_zxid < seen
    e.crash(near)  # the client must fail over, and the lagging server is the other one it knows

    def refusals() -> list[str]:
        return [r.msg.reason for r in e.world.trace.records if r.kind == "deliver" and r.dst == zk.name
                and r.src == lagging and isinstance(r.msg, ConnectRefused)]

    e.wait_for(lambda e: refusals(), 12_000, "the lagging server to refuse the client")
    assert e.peer(lagging).serving, "refused although it serves: it is behind the client"
    assert "behind the client" in refusals()[0]
    assert e.peer(lagging).tree.get_data("/ssi")[0] == b"0"  # what the client would have seen
    assert not [r for r in e.world.trace.records if r.kind == "deliver" and r.dst == zk.name
                and r.src == lagging and type(r.msg).__name__ in ("ConnectResponse", "ClientReply")]
    # Whether the session outlives the failover is a race with its expiry here (see
    # test_a_client_notices_a_silent_server_after_two_thirds_of_its_session_timeout).
    e.restart(near)
    e.world.configure_link(leader, lagging, latency=Fixed(3))
    finish(e)
    assert e.peer(lagging).tree.get_data("/ssi")[0] == b"1"


def test_a_follower_that_silently_missed_a_commit_catches_up():
    """BUG (the Ensemble's default network): a follower that lost the tail of the broadcast
    stays stale, and keeps serving it, for as long as the ensemble is idle.

    The leader's link to one follower is cut for 3 s (shorter than syncLimit, so neither side
    times out) while one write commits with the other follower's ACK; then the cut heals and
    no further write comes. In ZooKeeper the quorum link is one TCP connection: a packet is
    never lost while the connection lives (it is retransmitted after the heal, or the
    connection breaks and the follower goes back to LOOKING and rejoins by DIFF), so within a
    bounded time every follower has every committed txn ("Timeliness",
    consistency-guarantees.mdx). ``Ensemble()`` builds its network from ``LinkConfig()``,
    whose ``on_drop="silent"`` loses the in-flight PROPOSAL and COMMIT at the cut without
    telling either end; the follower keeps FOLLOWING, answers PINGs (so the leader never drops
    it), and only a later PROPOSAL would expose the hole (``Learner._continuous``). A minute
    later it still serves /t = 0, and ``check_zab`` would report the differing final trees.
    With TCP-like links (``on_drop="reset"``, as ``distlab.testing.fuzz`` uses) the same run
    converges: see the next test. Fix: default the Ensemble to reset links, or let the
    learner compare the leader's last zxid (ZooKeeper's PING carries it) with its own.
    """
    e = Ensemble(servers=3, seed=1)
    leader = e.wait_for_leader()
    follower = min(sid for sid in e.servers if sid != leader)
    zk = e.client(servers=[leader], timeout_ms=LONG_SESSION_MS)
    zk.create("/t", b"0")
    converge(e)
    e.world.cut(leader, follower)
    zk.set("/t", b"1")
    e.run(3_000)
    e.heal()
    e.run(60_000)
    stale = e.peer(follower).serving and e.peer(follower).tree.get_data("/t")[0] == b"0"
    assert not stale, "the follower still serves /t = 0 a minute after the write committed"
    assert e.peer(follower).tree.get_data("/t")[0] == b"1"
    finish(e)


def test_with_tcp_like_links_a_follower_that_missed_a_commit_resyncs(seed=1):
    """The same run over links that behave like TCP (``on_drop="reset"``: a lost packet breaks
    the connection and both ends are told): the follower drops out, rejoins by DIFF and has
    the write (``Follower.followLeader`` ends on an IOException)."""
    e = Ensemble(servers=3, seed=seed, network=LinkConfig(on_drop="reset"))
    leader = e.wait_for_leader()
    follower = min(sid for sid in e.servers if sid != leader)
    zk = e.client(servers=[leader], timeout_ms=LONG_SESSION_MS)
    zk.create("/t", b"0")
    converge(e)
    mark = len(e.world.trace)
    e.world.cut(leader, follower)
    zk.set("/t", b"1")
    e.run(3_000)
    e.heal()
    converge(e)
    assert sync_modes_of(e, follower, mark) == ["DIFF"]
    assert e.peer(follower).tree.get_data("/t")[0] == b"1"
    finish(e)


@pytest.mark.parametrize("server", ["leader", "follower"])
@pytest.mark.parametrize("seed", SEEDS)
def test_pipelined_writes_of_one_session_apply_and_answer_in_order(seed, server):
    """Per-session FIFO (顺序一致性): many writes sent without waiting are committed in the order
    sent — sequential node names rise in request order — and answered in that order."""
    e = Ensemble(servers=3, seed=seed)
    leader = e.wait_for_leader()
    target = leader if server == "leader" else min(sid for sid in e.servers if sid != leader)
    zk = e.client(servers=[target], timeout_ms=LONG_SESSION_MS)
    zk.create("/q", b"")
    xids = [send_async(zk, CreateRequest(path="/q/item-", data=str(i).encode(), mode=2)) for i in range(8)]
    xids.append(send_async(zk, SetDataRequest(path="/q", data=b"done")))
    results = zk.process.results
    assert e.world.run_until(lambda w: all(x in results for x in xids), e.world.now + 10_000)
    names = [results[x].result.path for x in xids[:-1]]
    assert names == sorted(names) and len(set(names)) == 8
    zxids = [results[x].zxid for x in xids]
    assert zxids == sorted(zxids) and len(set(zxids)) == len(zxids)
    for x, name in zip(xids, names):
        assert e.peer(target).tree.get_data(name)[0] == str(xids.index(x)).encode()
    assert check_fifo_order(e.world.trace) == []
    finish(e)


@pytest.mark.parametrize("server", ["leader", "follower"])
def test_a_read_pipelined_after_a_write_waits_for_that_write(server, seed=1):
    """BUG: per-session FIFO for a read queued behind the same session's write.

    ZooKeeper answers a session's requests in the order it sent them: ``CommitProcessor``
    holds a read while an earlier write of the same session is pending, so ``create(/f)``
    then ``get(/f)`` sent back to back (kazoo's ``create_async`` + ``get_async``) answers the
    create first, and the get sees the node ("Sequential Consistency: updates from a client
    will be applied in the order that they were sent" and replies come back in order,
    ``ClientCnxn`` fails the connection otherwise). distlab's server answers the read at
    once from its tree (``QuorumPeer._on_client_request``), before the write commits: the get
    returns NoNode and its reply overtakes the create's.
    """
    e = Ensemble(servers=3, seed=seed)
    leader = e.wait_for_leader()
    target = leader if server == "leader" else min(sid for sid in e.servers if sid != leader)
    zk = e.client(servers=[target], timeout_ms=LONG_SESSION_MS)
    write = send_async(zk, CreateRequest(path="/f", data=b"1"))
    read = send_async(zk, GetData("/f"))
    results = zk.process.results
    assert e.world.run_until(lambda w: write in results and read in results, e.world.now + 10_000)
    assert results[write].ok
    assert check_fifo_order(e.world.trace) == []
    assert results[read].ok and results[read].result[0] == b"1"
    finish(e)


def test_a_client_notices_a_silent_server_after_two_thirds_of_its_session_timeout(seed=1):
    """BUG: the client notices a silent (crashed) server only after about the whole session
    timeout, not after two thirds of it.

    ZooKeeper's ``ClientCnxn`` sets ``readTimeout = sessionTimeout * 2 / 3`` and drops the
    connection as soon as nothing has been received for that long, which leaves the last third
    of the session timeout to reconnect elsewhere before the leader expires the session
    (programmer's guide, "ZooKeeper Sessions"; distlab's own client docstring says the same:
    "if the server is silent for two thirds of it, the client is disconnected"). distlab's
    client checks only when its ping timer fires (every third of the timeout) and with a
    strict ``>``, so after the last answer it pings at T/3 and 2T/3 (silence just under 2T/3
    both times) and disconnects at about T, when the leader may already expire the session.
    """
    e = Ensemble(servers=3, seed=seed)
    leader = e.wait_for_leader()
    timeout = 6_000
    zk = e.client(servers=[sid for sid in e.servers if sid != leader], timeout_ms=timeout)
    e.run(1_000)
    last_heard = zk.process.last_heard
    e.crash(zk.server)
    e.wait_for(lambda e: zk.state is ClientState.CONNECTING, 2 * timeout, "the client to notice")
    silent_for = e.world.now - last_heard
    assert silent_for <= timeout * 2 // 3 + timeout // 10, (
        f"the client noticed after {silent_for} ms of silence; its session timeout is {timeout} ms")
    finish(e)
