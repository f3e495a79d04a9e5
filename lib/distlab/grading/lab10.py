"""Lab 10 — the capstone: a ZooKeeper of your own, assembled from Labs 3-7.

One graded cell holds the learner's pieces: the data tree (Lab 3), the vote order and the
election step (Lab 5), the sync choice (Lab 6), the quorum and commit rules, the new epoch,
the follower and the recovery (Lab 7). Together they are an ``Impl``
(:mod:`distlab.grading.system`): every server of a simulated ensemble runs the learner's code
and nothing else of the protocol's decisions. Each seed is one fuzz case (``distlab fuzz
zab``): random crashes, restarts, partitions and message loss under client load, then a heal;
the grade is the verdict of every checker — one leader per epoch, agreement, no committed txn
lost, the clients' order, linearizability of the znodes, and liveness (the healed ensemble
serves again). A failure names the property in the course's words, with the fault schedule
and the command that replays it.
"""

from __future__ import annotations

import random
from typing import Any

from distlab.grading.parts import Outcome, Part, register, reraise_if_fatal
from distlab.sim.world import ProcessError

# (name, kind) of every piece the graded cell must define
COMPONENTS = (
    ("vote_order", "function"), ("check_leader", "function"), ("handle_notification", "function"),
    ("queue_committed_proposals", "function"), ("choose_sync_mode", "function"), ("sync_step", "function"),
    ("has_quorum", "function"), ("process_ack", "function"), ("epoch_to_propose", "function"),
    ("follower_step", "function"), ("recover_history", "function"),
    ("ZnodeTree", "class"), ("ZkDataTree", "class"),
)

# check.zab / check.client / the fuzzer's property names, in the course's words
PROPERTIES = {
    "liveness": "liveness (活性): a healed majority must elect a leader and serve again",
    "one leader per epoch": "one leader per epoch (每个纪元只有一个领导者)",
    "agreement": "agreement (一致性): every server applies the same txn at each zxid",
    "order": "order (顺序性): every server applies txns in zxid order",
    "durability": "no committed txn lost (持久性)",
    "fifo": "FIFO client order (顺序一致性): a session's requests take effect in order",
    "single system image": "single system image (单一视图): a client never sees the state go back",
    "linearizability": "linearizable writes (线性一致性)",
}


def _named(violation: Any) -> str:
    prop = str(getattr(violation, "invariant", "")).lower()
    words = next((text for key, text in PROPERTIES.items() if prop.startswith(key)), prop or "a property")
    return f"{words} broke: {getattr(violation, 'detail', violation)}"


def check_my_zookeeper(system: Any, seed: int) -> Outcome:
    """Two stories every ZooKeeper must survive, then a random fault schedule."""
    from distlab.grading.lab5 import _election
    from distlab.grading.lab7 import committed_then_crash

    impl = system.impl()
    for story, run in (
            ("leader election (领导者选举) from servers with different histories, then the winner crashes",
             lambda: _election(seed, impl, voters=5, crash_winner=True)),
            ("leader election (领导者选举) where a server that joined a newer epoch has fewer txns",
             lambda: _newer_epoch_wins(impl, seed)),
            ("a leader that committed a write and crashed before telling the followers",
             lambda: committed_then_crash(impl, seed, "your ZooKeeper")),
            ("a session that ends with an ephemeral node (临时节点)", lambda: _ephemeral_goes(impl, seed))):
        try:
            outcome = run()
        except ProcessError as error:
            outcome = _crashed(error, story)
        if outcome.passed is not True:
            return Outcome.fail(f"your ZooKeeper, in {story}: {outcome.message}", outcome.excerpt)
    return _fuzzed(impl, seed)


def _newer_epoch_wins(impl: Any, seed: int) -> Outcome:
    """FastLeaderElection.totalOrderPredicate compares currentEpoch first: a server that
    acknowledged epoch 2 beats one whose longer history stopped in epoch 1 (that tail was
    never committed: the epoch-2 leader did not have it)."""
    from distlab.sim.ensemble import Ensemble, disk_with_history
    from distlab.zab.zxid import format_zxid, make_zxid

    from distlab.zab.messages import Proposal
    from distlab.zk.ops import CreateTxn
    from distlab.zk.tree import DataTree

    rng = random.Random(f"lab10/epochs/{seed}")
    newer, longer = rng.sample((1, 2, 3), 2)
    base = disk_with_history(make_zxid(1, 3))
    tree = DataTree.restore(base["snapshot"][1])
    log = []  # one history: epoch 1's txns 4..9 after the snapshot at (1, 3)
    for counter in range(4, 10):
        txn = CreateTxn(zxid=make_zxid(1, counter), time=0, session_id=0, path=f"/t{counter}", data=b"",
                        ephemeral=False, parent_cversion=tree.stat_persisted("/").cversion + 1)
        tree.apply(txn)
        log.append(Proposal(txn.zxid, txn))
    disks = {sid: dict(base) for sid in (1, 2, 3)}
    disks[newer] = dict(base, log=log[:2], current_epoch=2, accepted_epoch=2)  # acked epoch 2 at (1, 5)
    disks[longer] = dict(base, log=log)  # logged (1, 6..9), which epoch 2 never had
    ensemble = Ensemble(3, seed=seed, impl=impl, durable=disks)
    try:
        leader = ensemble.wait_for_leader(max_ms=120_000)
    except TimeoutError:
        return Outcome.fail(f"liveness (活性): no leader within 120 s of simulated time ({ensemble.states()})")
    if leader != newer:
        return Outcome.fail(f"server {leader} was elected, but server {newer} (currentEpoch 2, zxid "
                            f"{format_zxid(make_zxid(1, 5))}) beats server {longer} (currentEpoch 1, zxid "
                            f"{format_zxid(make_zxid(1, 9))}): votes compare the epoch first, then the zxid, "
                            "then the id (FastLeaderElection.totalOrderPredicate)")
    return Outcome.ok()


def _ephemeral_goes(impl: Any, seed: int) -> Outcome:
    """An ephemeral node lives as long as its session: closing it removes the node everywhere."""
    from distlab.sim.ensemble import Ensemble
    from distlab.zk.errors import KeeperError

    ensemble = Ensemble(3, seed=seed, impl=impl)
    try:
        ensemble.wait_for_leader()
        owner = ensemble.client(timeout_ms=20_000)
        owner.create("/app", b"")
        owner.create("/app/worker-", b"w", ephemeral=True, sequence=True)
        owner.close()
        ensemble.quiesce()
    except (TimeoutError, KeeperError) as error:
        return Outcome.fail(f"liveness (活性): the ensemble did not serve a create and a close: {error}")
    left = {sid: ensemble.peer(sid).tree.get_children("/app") for sid in ensemble.servers}
    if any(left.values()):
        return Outcome.fail(f"the session that created an ephemeral node (临时节点) was closed, yet the node is still "
                            f"there: children of /app per server {left} (DataTree.killSession)")
    return Outcome.ok()


def _crashed(error: ProcessError, setting: str, replay: str = "") -> Outcome:
    from distlab.grading.sandbox import LearnerError

    cause = error.__cause__
    reraise_if_fatal(cause)
    what = cause.message if isinstance(cause, LearnerError) else f"{type(cause).__name__}: {cause}"
    detail = cause.detail if isinstance(cause, LearnerError) else ""
    return Outcome.fail(f"your ZooKeeper crashed: server {error.node} at t={error.time} ms: {what} ({setting})",
                        (detail + "\n" if detail else "") + replay)


def _fuzzed(impl: Any, seed: int) -> Outcome:
    from distlab.sim.faults import describe
    from distlab.testing.fuzz import random_case, run_case

    rng = random.Random(f"lab10/{seed}")
    case = random_case(seed, servers=rng.choice((3, 3, 5)), observers=rng.choice((0, 0, 1)), duration_ms=4000)
    faults = ", ".join(f"{describe(f)} at {at} ms" for at, f in case.schedule.entries) or "no faults"
    setting = (f"{case.servers} voters, {case.observers} observer(s), {case.drop:.0%} message loss; {faults}")
    try:
        result, _ = run_case(case, impl=impl, settle_ms=60_000)
    except ProcessError as error:
        return _crashed(error, setting, f"replay the case: {case.replay_command()}")
    if result.violations:
        return Outcome.fail(f"your ZooKeeper ({setting}): {_named(result.violations[0])}",
                            "\n".join(str(v) for v in result.violations[1:4])
                            + f"\nreplay the case: {case.replay_command()}")
    if result.commits == 0:
        return Outcome.fail(f"liveness (活性): your ZooKeeper committed no write in the whole run ({setting})",
                            f"replay the case: {case.replay_command()}")
    return Outcome.ok()


register(
    10, "Capstone: a ZooKeeper of your own", "lab10-capstone.ipynb",
    Part(10, "my_zookeeper", "Your pieces of Labs 3-7 as one ensemble", 20,
         "with every decision of every server yours (tree, election, sync, quorum, commit, follower, recovery), "
         "fuzzed runs with crashes, partitions and loss keep one leader per epoch, agreement, no committed txn "
         "lost, the clients' guarantees and linearizable znodes, and serve again once healed",
         check_my_zookeeper, kind="system", components=COMPONENTS),
)
