"""Lab 3's data-tree parts (ZnodeTree, ZkDataTree) catch plausible mistakes and name the rule.

The solution notebook's classes pass the public seeds; each mistake below is a subclass of
them with one method changed the way a learner gets it wrong, run through the part's check
directly (no sandbox) on the public seeds: it must fail at least one, with a message naming
the broken rule in the course's words.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from distlab.grading import lab3_tree
from distlab.grading.notebook import graded_cells, read_notebook, setup_code
from distlab.grading.parts import PUBLIC_SEEDS
from distlab.sim.ensemble import Ensemble
from distlab.zab.config import Impl
from distlab.zk.ops import CreateRequest, ErrorResult, MultiResult
from distlab.zk.paths import basename, parent_of
from distlab.zk.plugged import tree_factory
from distlab.zk.stat import StatPersisted
from distlab.zk.watches import EventType, WatchedEvent

ROOT = Path(__file__).resolve().parents[2]
NS: dict = {"__name__": "lab3_tree_solution"}
_nb = read_notebook(ROOT / "solutions" / "lab3-znode-tree.ipynb")
exec(compile(setup_code(_nb), "lab3 setup", "exec"), NS)
for _part, _cell in graded_cells(_nb).items():
    exec(compile(_cell.source, f"lab3 {_part}", "exec"), NS)
ZnodeTree, ZkDataTree, Node = NS["ZnodeTree"], NS["ZkDataTree"], NS["Node"]


def failures(check, cls) -> list:
    return [o for o in (check(cls, seed) for seed in PUBLIC_SEEDS) if o.passed is not True]


def assert_loses(check, cls, *words: str) -> None:
    failed = failures(check, cls)
    assert failed, f"{cls.__name__} passed every public seed"
    for outcome in failed:
        for word in words:
            assert word in outcome.message, f"{word!r} not in: {outcome.message}"


def test_the_solutions_pass():
    assert not failures(lab3_tree.check_ZnodeTree, ZnodeTree)
    assert not failures(lab3_tree.check_ZkDataTree, ZkDataTree)


# ------------------------------------------------------------------ Part E mistakes ---------
class CversionFromChildren(ZnodeTree):
    """The parent's stored cversion set to its number of children (as if it were numChildren)."""

    def create_node(self, txn, events):
        result = super().create_node(txn, events)
        parent = self.nodes[parent_of(txn.path)]
        parent.stat = replace(parent.stat, cversion=len(parent.children))
        return result


class CversionBumpedOnDelete(ZnodeTree):
    """"cversion counts child changes", so a delete bumps the stored counter too."""

    def delete_node(self, path, zxid, events):
        parent = self.nodes[parent_of(path)]
        super().delete_node(path, zxid, events)
        parent.stat = replace(parent.stat, cversion=parent.stat.cversion + 1)


class EphemeralOwnerNotSet(ZnodeTree):
    """Every node stored as persistent: ephemeralOwner 0 (an ephemeral child of an ephemeral slips by)."""

    def create_node(self, txn, events):
        return super().create_node(replace(txn, ephemeral=False), events)


class PzxidNotUpdatedOnDelete(ZnodeTree):
    def delete_node(self, path, zxid, events):
        parent = self.nodes[parent_of(path)]
        before = parent.stat.pzxid
        super().delete_node(path, zxid, events)
        parent.stat = replace(parent.stat, pzxid=before)


class WatchesNotOneShot(ZnodeTree):
    def trigger(self, table, path, event_type, zxid, suppress=()):
        return [WatchedEvent(event_type, path, zxid, w) for w in table.get(path, {}) if w not in suppress]


class NoNodeDeletedForChildWatch(ZnodeTree):
    """Only the data watches of a deleted node hear NodeDeleted; its child watches are forgotten."""

    def trigger(self, table, path, event_type, zxid, suppress=()):
        events = super().trigger(table, path, event_type, zxid, suppress)
        if table is self.child_watches and event_type == EventType.NodeDeleted:
            return []
        return events


class DeletedChildStaysListed(ZnodeTree):
    """The node is dropped but its name stays in the parent's children (NotEmpty wrongly later)."""

    def delete_node(self, path, zxid, events):
        parent = self.nodes[parent_of(path)]
        super().delete_node(path, zxid, events)
        parent.children.add(basename(path))


class SetDataBumpsOwnVersion(ZnodeTree):
    """setData computes version + 1 itself and forgets mzxid."""

    def set_data(self, txn, events):
        node = self.nodes[txn.path]
        result = super().set_data(txn, events)
        node.stat = replace(node.stat, mzxid=node.stat.czxid)
        return result


class SetDataFiresParentChildWatch(ZnodeTree):
    def set_data(self, txn, events):
        result = super().set_data(txn, events)
        if txn.path != "/":
            events += self.trigger(self.child_watches, parent_of(txn.path), EventType.NodeChildrenChanged, txn.zxid)
        return result


@pytest.mark.parametrize("mistake, words", [
    (CversionFromChildren, ("cversion", "顺序节点")),
    (CversionBumpedOnDelete, ("cversion", "ZOOKEEPER-1046")),
    (EphemeralOwnerNotSet, ("临时节点",)),
    (PzxidNotUpdatedOnDelete, ("pzxid",)),
    (WatchesNotOneShot, ("监视",)),
    (NoNodeDeletedForChildWatch, ("NodeDeleted",)),
    (DeletedChildStaysListed, ("children",)),
    (SetDataBumpsOwnVersion, ("mzxid", "DataTree.setData")),
    (SetDataFiresParentChildWatch, ("NodeDataChanged",)),
])
def test_part_e_mistakes_lose_points(mistake, words):
    assert_loses(lab3_tree.check_ZnodeTree, mistake, *words)


# ------------------------------------------------------------------ Part F mistakes ---------
class MultiAppliesOpsBeforeTheFailure(ZkDataTree):
    def apply_multi(self, txn, events):
        if txn.failed:
            for sub in txn.txns:
                if isinstance(sub, NS["ErrorTxn"]):
                    break
                self.process(sub, events)
        return super().apply_multi(txn, events)


class MultiResultsAllTheError(ZkDataTree):
    """Every op of a failed multi reports the failing op's code."""

    def apply_multi(self, txn, events):
        if txn.failed:
            err = next(sub.err for sub in txn.txns if isinstance(sub, NS["ErrorTxn"]))
            return MultiResult(tuple(ErrorResult(err) for _ in txn.txns))
        return super().apply_multi(txn, events)


class MultiRolledBackAsMinusTwoEverywhere(ZkDataTree):
    def apply_multi(self, txn, events):
        if txn.failed:
            return MultiResult(tuple(ErrorResult(sub.err if isinstance(sub, NS["ErrorTxn"]) else -2)
                                     for sub in txn.txns))
        return super().apply_multi(txn, events)


class CloseSessionWithoutWatches(ZkDataTree):
    """Ephemerals removed straight from the dict: no watch fires, the parent is not touched."""

    def kill_session(self, txn, events):
        deleted = []
        for path in txn.paths:
            if path in self.nodes:
                del self.nodes[path]
                self.nodes[parent_of(path)].children.discard(basename(path))
                deleted.append(path)
        self.owned.pop(txn.session_id, None)
        self.open_sessions.pop(txn.session_id, None)
        return NS["CloseSessionResult"](txn.session_id, tuple(deleted))


class CloseSessionKeepsTheSession(ZkDataTree):
    def kill_session(self, txn, events):
        timeout = self.open_sessions.get(txn.session_id)
        result = super().kill_session(txn, events)
        if timeout is not None:
            self.open_sessions[txn.session_id] = timeout
        return result


class MultiResultsNotPerOp(ZkDataTree):
    """A successful multi answers with the last op's result only."""

    def apply_multi(self, txn, events):
        result = super().apply_multi(txn, events)
        if txn.failed:
            return result
        return MultiResult(result.results[-1:])


class MultiEventsDropped(ZkDataTree):
    def apply_multi(self, txn, events):
        return super().apply_multi(txn, [])


@pytest.mark.parametrize("mistake, words", [
    (MultiAppliesOpsBeforeTheFailure, ("原子性",)),
    (MultiResultsAllTheError, ("ErrorResult(0)",)),
    (MultiRolledBackAsMinusTwoEverywhere, ("ErrorResult(-2)",)),
    (CloseSessionWithoutWatches, ("killSession",)),
    (CloseSessionKeepsTheSession, ("会话",)),
    (MultiResultsNotPerOp, ("one result per op",)),
    (MultiEventsDropped, ("监视",)),
])
def test_part_f_mistakes_lose_points(mistake, words):
    assert_loses(lab3_tree.check_ZkDataTree, mistake, *words)


def test_the_learner_tree_serves_an_ensemble_like_the_reference():
    ensemble = Ensemble(3, seed=5, impl=Impl(tree=tree_factory(ZkDataTree)))
    reference = Ensemble(3, seed=5)
    for e in (ensemble, reference):
        e.wait_for_leader()
        c = e.client()
        c.create("/app")
        c.create("/app/x-", b"1", sequence=True)
        e.quiesce()
    digests = {ensemble.peer(s).tree.digest() for s in ensemble.servers}
    assert len(digests) == 1
    assert digests == {reference.peer(s).tree.digest() for s in reference.servers}


def test_a_plugged_tree_snapshot_restores_into_the_same_state():
    factory = tree_factory(ZkDataTree)
    tree = factory()
    from distlab.zk.ops import prepare
    for zxid, path in enumerate(("/a", "/a/b"), 1):
        tree.apply(prepare(tree, CreateRequest(path=path, data=b"d"), 1, zxid, 7))
    again = factory.restore(tree.snapshot())
    assert again.snapshot() == tree.snapshot() and again.digest() == tree.digest()
