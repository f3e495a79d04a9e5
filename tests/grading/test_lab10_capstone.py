"""The capstone grades a whole ZooKeeper: the learner's pieces of Labs 3-7 as one ensemble.
The solution passes; one plausible mistake in any piece makes some fuzzed run break a
property, and the message names it in the course's words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distlab.grading.lab10 import COMPONENTS, check_my_zookeeper
from distlab.grading.notebook import graded_cells, read_notebook, setup_code
from distlab.grading.system import LocalSystem

ROOT = Path(__file__).resolve().parents[2]
CAPSTONE = ROOT / "solutions" / "lab10-capstone.ipynb"
SEEDS = range(1, 9)


def solution_namespace() -> dict:
    notebook = read_notebook(CAPSTONE)
    namespace: dict = {"__name__": "capstone"}
    exec(compile(setup_code(notebook), "<setup>", "exec"), namespace)
    exec(compile(graded_cells(notebook)["my_zookeeper"].source, "<capstone>", "exec"), namespace)
    return namespace


def failures(namespace: dict) -> list[str]:
    system = LocalSystem(namespace, COMPONENTS)
    return [o.message for o in (check_my_zookeeper(system, seed) for seed in SEEDS) if o.passed is not True]


def test_the_solution_passes_every_seed():
    assert failures(solution_namespace()) == []


def test_the_capstone_is_built_from_the_labs_solutions():
    """The capstone's cell is the labs' graded cells, so it cannot drift from them."""
    source = graded_cells(read_notebook(CAPSTONE))["my_zookeeper"].source
    for lab, part in (("lab5-election", "handle_notification"), ("lab6-sync", "choose_sync_mode"),
                      ("lab7-broadcast", "follower_step"), ("lab3-znode-tree", "ZkDataTree")):
        cell = graded_cells(read_notebook(ROOT / "solutions" / f"{lab}.ipynb"))[part].source.strip()
        assert cell in source, f"{lab}'s {part} differs in the capstone: rebuild it from the solutions"


def _mistakes() -> dict:
    from distlab.zab.follower import FollowerStep

    def quorum_of_half(ns):
        ns["has_quorum"] = lambda acks, voters: len(set(acks) & set(voters)) >= len(voters) // 2

    def ack_without_logging(ns):
        right = ns["follower_step"]

        def follower_step(log, packet):
            step = right(log, packet)
            return FollowerStep(ack=step.ack) if step.log else step
        ns["follower_step"] = follower_step

    def recovery_drops_the_unacknowledged_tail(ns):
        right = ns["recover_history"]
        ns["recover_history"] = lambda log, last, epoch: right(log, last, epoch)[:-1]

    def applies_on_proposal(ns):
        right = ns["follower_step"]

        def follower_step(log, packet):
            step = right(log, packet)
            if step.log and log.pending:
                return FollowerStep(log=True, ack=step.ack, apply=log.pending[0])
            return step
        ns["follower_step"] = follower_step

    def tree_keeps_ephemerals_of_a_closed_session(ns):
        tree = ns["ZkDataTree"]

        class Forgetful(tree):
            def kill_session(self, txn, events):
                self.open_sessions.pop(txn.session_id, None)
                return ns["CloseSessionResult"](txn.session_id, ())
        Forgetful.__name__ = "ZkDataTree"
        ns["ZkDataTree"] = Forgetful

    def vote_order_without_epoch(ns):
        ns["vote_order"] = lambda new, current: (new.zxid, new.leader) > (current.zxid, current.leader)

    def sync_always_diff(ns):
        from distlab.zab.messages import Diff
        from distlab.zab.sync import SyncMode, SyncPlan

        def choose_sync_mode(peer_last_zxid, history):
            return SyncPlan(SyncMode.DIFF, (Diff(history.last_processed_zxid),), history.last_processed_zxid,
                            None, None, "always DIFF")
        ns["choose_sync_mode"] = choose_sync_mode

    return {f.__name__: f for f in (quorum_of_half, ack_without_logging, recovery_drops_the_unacknowledged_tail,
                                    applies_on_proposal, vote_order_without_epoch, sync_always_diff,
                                    tree_keeps_ephemerals_of_a_closed_session)}


@pytest.mark.parametrize("mistake", sorted(_mistakes()))
def test_a_plausible_mistake_in_one_piece_fails_the_capstone(mistake):
    namespace = solution_namespace()
    _mistakes()[mistake](namespace)
    messages = failures(namespace)
    assert messages, f"no fuzzed run of the capstone caught {mistake}"
    assert any(word in messages[0] for word in ("(活性)", "(一致性)", "(持久性)", "(顺序性)", "(线性一致性)",
                                                 "每个纪元", "单一视图", "(领导者选举)", "(临时节点)", "crashed")), messages[0]
