"""The sync decision (``LearnerHandler.syncFollower``) and the learner's side of it.

Reference: ``LearnerHandlerTest`` (zookeeper-server/src/test/.../server/quorum/), every case of
reference notes section 9.1, plus the derived X1-X3. Plain ints are epoch-0 zxids, as in the
Java test; ``z(e, c)`` is ``makeZxid(e, c)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, example, find, given, settings
from hypothesis import strategies as st

from distlab.sansio import UsageError
from distlab.zab.messages import Commit, Diff, Proposal, ProposalPacket, Trunc
from distlab.zab.sync import (
    LeaderHistory,
    SyncMode,
    SyncPlan,
    apply_sync_to_log,
    choose_sync_mode,
    describe_plan,
)
from distlab.zab.zxid import epoch_of, make_zxid as z

DIFF, TRUNC, TRUNC_DIFF, SNAP = SyncMode.DIFF, SyncMode.TRUNC, SyncMode.TRUNC_DIFF, SyncMode.SNAP


def txn(zxid: int) -> tuple:
    return ("txn", zxid)


def log(*zxids: int) -> tuple[Proposal, ...]:
    """A history whose txn is derived from its zxid, so packets can be checked for payload."""
    return tuple(Proposal(x, txn(x)) for x in zxids)


def history(committed=(), last=0, txn_log=(), sync=True, force=False) -> LeaderHistory:
    return LeaderHistory(log(*committed), last, log(*txn_log), sync, force)


# Expected packets as (kind, zxid) pairs.
def D(x):
    return [("DIFF", x)]


def T(x):
    return [("TRUNC", x)]


def PC(*zxids):
    return [item for x in zxids for item in (("PROPOSAL", x), ("COMMIT", x))]


_KIND = {Diff: "DIFF", Trunc: "TRUNC", ProposalPacket: "PROPOSAL", Commit: "COMMIT"}


def shape(plan: SyncPlan) -> list[tuple[str, int]]:
    return [(_KIND[type(p)], p.zxid) for p in plan.packets]


F = 0xF
TXN_LOG_T = (2, 3, 5, 6, 7, 8, 9)
TXN_LOG_N = tuple(z(F, c) for c in (2, 3, 5, 6, 7, 8, 9))
NEW_EPOCH = dict(committed=(z(1, 1), z(1, 2)), last=z(2, 0), txn_log=(z(0, 1), z(1, 1), z(1, 2)))

# (peer, leader history, mode, packets, forward_from)
CASES = [
    # testEmptyCommittedLog
    pytest.param(3, history((), 1), TRUNC, T(1), 1, id="E1-empty-committed-log-peer-ahead"),
    pytest.param(1, history((), 1), DIFF, D(1), 1, id="E2-empty-committed-log-in-sync"),
    pytest.param(0, history((), 1, sync=False), SNAP, [], 1, id="E3-empty-committed-log-txnlog-disabled"),
    # testCommittedLog
    pytest.param(4, history((2, 3, 5), 6), TRUNC_DIFF, T(3) + PC(5), 5, id="C1-unseen-zxid-trunc-diff"),
    pytest.param(2, history((2, 3, 5), 6), DIFF, D(5) + PC(3, 5), 5, id="C2-in-range-diff-carries-max"),
    pytest.param(1, history((2, 3, 5), 6, sync=False), SNAP, [], 6, id="C3-below-log-txnlog-disabled"),
    # testTxnLog
    pytest.param(4, history((6, 7, 8), 9, TXN_LOG_T), TRUNC_DIFF, T(3) + PC(5, 6, 7, 8), 8,
                 id="T1-txnlog-trunc-diff-stops-at-max"),
    pytest.param(3, history((6, 7, 8), 9, TXN_LOG_T), DIFF, D(8) + PC(5, 6, 7, 8), 8,
                 id="T2-txnlog-diff"),
    # testTxnLogProposalIteratorClosure: the txn-log iterator is forced empty
    pytest.param(4, history((), 7, ()), SNAP, [], 7, id="closure-empty-txnlog-iterator"),
    # ... and the same with the stored [2, 3] that the mock's rule would have returned (derived)
    pytest.param(4, history((), 7, (2, 3)), SNAP, [], 7, id="closure-variant-txnlog-ends-below-peer"),
    # testTxnLogOnly
    pytest.param(4, history((), 7, (2, 3, 5, 6, 7, 8)), TRUNC_DIFF, T(3) + PC(5, 6, 7), 7,
                 id="O1-txnlog-only-trunc-diff"),
    pytest.param(2, history((), 7, (2, 3, 5, 6, 7, 8)), DIFF, D(7) + PC(3, 5, 6, 7), 7,
                 id="O2-txnlog-only-diff"),
    pytest.param(1, history((), 7, (2, 3, 5, 6, 7, 8)), SNAP, [], 7, id="O3-peer-before-txnlog"),
    # testTxnLogWithNegativeZxid (epoch 0xf)
    pytest.param(z(F, 4), history((z(F, 6), z(F, 7), z(F, 8)), z(F, 9), TXN_LOG_N), TRUNC_DIFF,
                 T(z(F, 3)) + PC(*(z(F, c) for c in (5, 6, 7, 8))), z(F, 8), id="N1-epoch-f-trunc-diff"),
    pytest.param(z(F, 3), history((z(F, 6), z(F, 7), z(F, 8)), z(F, 9), TXN_LOG_N), DIFF,
                 D(z(F, 8)) + PC(*(z(F, c) for c in (5, 6, 7, 8))), z(F, 8), id="N2-epoch-f-diff"),
    # testNewEpochZxid
    pytest.param(z(0, 0), history(**NEW_EPOCH), SNAP, [], z(2, 0), id="P1-new-epoch-peer-older-than-all"),
    pytest.param(z(1, 0), history(**NEW_EPOCH), DIFF, D(z(1, 2)) + PC(z(1, 1), z(1, 2)), z(1, 2),
                 id="P2-new-epoch-peer-diff-never-trunc"),
    pytest.param(z(2, 0), history(**NEW_EPOCH), DIFF, D(z(2, 0)), z(2, 0), id="P3-new-epoch-peer-in-sync"),
    # testDuplicatedTxn
    pytest.param(z(1, 0), history((z(1, 1), z(1, 2), z(1, 1), z(1, 2)), z(2, 0),
                                  (z(0, 1), z(1, 1), z(1, 2), z(1, 1), z(1, 2))),
                 DIFF, D(z(1, 2)) + PC(z(1, 1), z(1, 2)), z(1, 2), id="duplicated-txn-suppressed"),
    # testCrossEpochTrunc
    pytest.param(z(3, 1), history((), z(6, 0), (z(1, 1), z(2, 1), z(2, 2), z(4, 1))), SNAP, [], z(6, 0),
                 id="cross-epoch-trunc-becomes-snap"),
    # testTxnLogGap
    pytest.param(3, history((7, 8), 8, (2, 3, 4)), SNAP, [], 8, id="txnlog-gap-becomes-snap"),
    # Derived from the code (notes 9.1 "X" cases)
    pytest.param(z(1, 3), history((z(1, 1), z(1, 2), z(2, 1)), z(2, 1)), SNAP, [], z(1, 3),
                 id="X1-stale-tail-in-range-post-lock-fallback"),
    pytest.param(z(1, 2), history((z(1, 1), z(1, 2)), z(2, 0)), DIFF, D(z(1, 2)), z(1, 2),
                 id="X2-peer-is-max-committed-empty-diff"),
    pytest.param(z(5, 0), history((z(1, 1), z(1, 2)), z(2, 0)), SNAP, [], z(2, 0),
                 id="X3-new-epoch-peer-ahead-no-rule"),
    # forceSnapshotSync (LearnerHandler.FORCE_SNAP_SYNC), with a peer that would get a DIFF
    pytest.param(2, history((2, 3, 5), 6, force=True), SNAP, [], 6, id="force-snapshot-sync"),
]


def test_the_table_holds_every_learner_handler_test_case():
    ids = {case.id.split("-")[0] for case in CASES}
    expected = {"E1", "E2", "E3", "C1", "C2", "C3", "T1", "T2", "closure", "O1", "O2", "O3", "N1", "N2",
                "P1", "P2", "P3", "duplicated", "cross", "txnlog", "X1", "X2", "X3"}
    assert expected <= ids


@pytest.mark.parametrize("peer, leader, mode, packets, forward_from", CASES)
def test_choose_sync_mode_matches_learner_handler_test(peer, leader, mode, packets, forward_from):
    plan = choose_sync_mode(peer, leader)
    assert (plan.mode is SNAP) == (mode is SNAP)  # syncFollower's return value
    assert shape(plan) == packets
    assert plan.forward_from == forward_from  # the mock's "fwd"
    assert plan.mode is mode
    # every PROPOSAL carries the leader's txn for that zxid
    assert all(p.txn == txn(p.zxid) for p in plan.packets if isinstance(p, ProposalPacket))
    assert plan.trunc_zxid == (packets[0][1] if mode in (TRUNC, TRUNC_DIFF) else None)
    assert plan.snap_zxid == (leader.last_processed_zxid if mode is SNAP else None)
    assert plan.reason.startswith(mode.value + ":") and len(plan.reason) > len(mode.value) + 10
    assert "\n" not in plan.reason
    assert describe_plan(plan).startswith(mode.value + ":")


# --------------------------------------------------------------------- mode classification
@pytest.mark.parametrize("peer, leader, mode", [
    pytest.param(1, history((), 1), DIFF, id="starts-with-diff"),
    pytest.param(4, history((2, 3, 5), 6), TRUNC_DIFF, id="trunc-then-proposals"),
    pytest.param(3, history((), 1), TRUNC, id="trunc-alone"),
    pytest.param(3, history((7, 8), 8, (2, 3, 4)), SNAP, id="need-snap"),
])
def test_mode_follows_the_first_packet(peer, leader, mode):
    plan = choose_sync_mode(peer, leader)
    assert plan.mode is mode
    kinds = [kind for kind, _ in shape(plan)]
    if mode is DIFF:
        assert kinds[0] == "DIFF" and "TRUNC" not in kinds
    elif mode is TRUNC:
        assert kinds == ["TRUNC"]
    elif mode is TRUNC_DIFF:
        assert kinds[0] == "TRUNC" and kinds[1:] and set(kinds[1:]) == {"PROPOSAL", "COMMIT"}
    else:
        assert kinds == []


def test_trunc_diff_sends_no_diff_packet():
    plan = choose_sync_mode(4, history((2, 3, 5), 6))
    assert not any(isinstance(p, Diff) for p in plan.packets)


def test_reasons_say_why():
    assert "txn-log sync is disabled" in choose_sync_mode(1, history((2, 3, 5), 6, sync=False)).reason
    assert "gap" in choose_sync_mode(3, history((7, 8), 8, (2, 3, 4))).reason
    assert "another epoch" in choose_sync_mode(z(3, 1), history((), z(6, 0), (z(1, 1), z(4, 1)))).reason
    assert "forceSnapshotSync" in choose_sync_mode(2, history((2, 3, 5), 6, force=True)).reason
    assert "already at" in choose_sync_mode(1, history((), 1)).reason
    assert "new-epoch" in choose_sync_mode(z(1, 0), history(**NEW_EPOCH)).reason


def test_walk_ends_with_an_empty_diff_for_a_new_epoch_peer_it_never_passed():
    """``queueCommittedProposals``' closing rule, pinned on the walk itself.

    Inside ``choose_sync_mode`` the txn-log gap check (ZOOKEEPER-2418) turns this case into SNAP
    anyway, so only the walk shows it: a peer at (2, 0) and a log that ends below it.
    """
    from distlab.zab.sync import LearnerQueue

    queue = LearnerQueue()
    assert queue.queue_committed(log(z(1, 1), z(1, 2)), z(2, 0), None, z(1, 2)) == z(2, 0)
    assert queue.packets == [Diff(z(1, 2))] and not queue.need_op
    plain = LearnerQueue()
    assert plain.queue_committed(log(z(1, 1), z(1, 2)), z(1, 3), None, z(1, 2)) == z(1, 3)
    assert plain.packets == [] and plain.need_op


# --------------------------------------------------------------------- describe_plan -----
def test_describe_plan_lines():
    c1 = choose_sync_mode(z(1, 4), history((z(1, 2), z(1, 3), z(1, 5)), z(1, 6)))
    assert describe_plan(c1) == ("TRUNC+DIFF: truncate to 0x1_00000003, then send 0x1_00000005 "
                                 "(forward from 0x1_00000005)")
    assert describe_plan(choose_sync_mode(3, history((), 1))) == \
        "TRUNC: truncate to 0x0_00000001 (forward from 0x0_00000001)"
    assert describe_plan(choose_sync_mode(z(2, 0), history(**NEW_EPOCH))) == \
        "DIFF: nothing to send (forward from 0x2_00000000)"
    assert describe_plan(choose_sync_mode(3, history((6, 7, 8), 9, TXN_LOG_T))) == \
        "DIFF: send 0x0_00000005 .. 0x0_00000008 (4 txns) (forward from 0x0_00000008)"
    assert describe_plan(choose_sync_mode(z(1, 3), history((z(1, 1), z(1, 2), z(2, 1)), z(2, 1)))) == \
        "SNAP: snapshot at 0x2_00000001 (forward from 0x1_00000003)"
    with pytest.raises(UsageError, match="SyncPlan"):
        describe_plan("DIFF")


# --------------------------------------------------------------------- input errors ------
@pytest.mark.parametrize("peer, message", [
    pytest.param(-1, "peer_last_zxid", id="negative"),
    pytest.param("3", "peer_last_zxid", id="string"),
    pytest.param(True, "peer_last_zxid", id="bool"),
    pytest.param(2.0, "peer_last_zxid", id="float"),
    pytest.param(2**63, "peer_last_zxid", id="too-big"),
])
def test_bad_peer_zxid_is_a_usage_error(peer, message):
    with pytest.raises(UsageError, match=message):
        choose_sync_mode(peer, history((), 1))


def test_history_must_be_a_leader_history():
    with pytest.raises(UsageError, match="LeaderHistory"):
        choose_sync_mode(1, {"committed_log": (), "last_processed_zxid": 1})


@pytest.mark.parametrize("build, message", [
    pytest.param(lambda: LeaderHistory(log(2, 5, 3), 6), r"committed_log must be sorted by zxid: "
                 r"entry 2 has 0x0_00000003 after 0x0_00000005", id="committed-unsorted"),
    pytest.param(lambda: LeaderHistory((Proposal(2, None), 3), 6), r"committed_log\[1\] must be a Proposal",
                 id="committed-non-proposal"),
    pytest.param(lambda: LeaderHistory(((2, None),), 6), r"committed_log\[0\] must be a Proposal",
                 id="committed-tuple-entry"),
    pytest.param(lambda: LeaderHistory(iter(log(2)), 6), "committed_log must be a tuple", id="committed-iterator"),
    pytest.param(lambda: LeaderHistory(log(2, 3), -1), "last_processed_zxid", id="last-negative"),
    pytest.param(lambda: LeaderHistory(log(2, 3), "3"), "last_processed_zxid", id="last-string"),
    pytest.param(lambda: LeaderHistory(log(2, 3, 5), 4), r"reaches 0x0_00000005, above last_processed_zxid",
                 id="committed-ahead-of-datatree"),
    pytest.param(lambda: LeaderHistory((), 9, log(2, 4, 3)), "txn_log must be sorted", id="txnlog-unsorted"),
    pytest.param(lambda: LeaderHistory((), 9, (Proposal(2, None), "x")), r"txn_log\[1\] must be a Proposal",
                 id="txnlog-non-proposal"),
    pytest.param(lambda: LeaderHistory((), 9, (), 0), "txn_log_sync_enabled must be a bool", id="flag-int"),
    pytest.param(lambda: LeaderHistory((), 9, (), True, "yes"), "force_snap must be a bool", id="force-str"),
])
def test_bad_history_is_a_usage_error(build, message):
    with pytest.raises(UsageError, match=message):
        build()


def test_lists_are_accepted_and_stored_as_tuples():
    leader = LeaderHistory(list(log(2, 3)), 3, list(log(1, 2, 3)))
    assert isinstance(leader.committed_log, tuple) and isinstance(leader.txn_log, tuple)
    assert choose_sync_mode(3, leader).mode is DIFF


def test_a_repeat_is_a_duplicate_but_a_new_smaller_zxid_is_disorder():
    LeaderHistory(log(1, 2, 1, 2), 2)  # testDuplicatedTxn's shape is accepted
    with pytest.raises(UsageError, match="sorted by zxid"):
        LeaderHistory(log(1, 3, 2), 3)


@pytest.mark.parametrize("build, message", [
    pytest.param(lambda: SyncPlan("DIFF", (Diff(1),), 1, None, None, "DIFF: x"), "mode must be a SyncMode",
                 id="mode-str"),
    pytest.param(lambda: SyncPlan(DIFF, (Trunc(1),), 1, None, None, "DIFF: x"), "starts with a Diff",
                 id="diff-without-diff"),
    pytest.param(lambda: SyncPlan(SNAP, (Diff(1),), 1, None, 1, "SNAP: x"), "queues no packets",
                 id="snap-with-packets"),
    pytest.param(lambda: SyncPlan(SNAP, (), 1, None, None, "SNAP: x"), "snap_zxid", id="snap-no-zxid"),
    pytest.param(lambda: SyncPlan(TRUNC, (Trunc(1),), 1, 2, None, "TRUNC: x"), "differs from the Trunc",
                 id="trunc-mismatch"),
    pytest.param(lambda: SyncPlan(TRUNC, (Trunc(1), ProposalPacket(2, 0), Commit(2)), 2, 1, None, "TRUNC: x"),
                 "Trunc packet alone", id="trunc-with-proposals"),
    pytest.param(lambda: SyncPlan(TRUNC_DIFF, (Trunc(1),), 1, 1, None, "TRUNC+DIFF: x"),
                 "followed by PROPOSAL/COMMIT", id="trunc-diff-without-proposals"),
    pytest.param(lambda: SyncPlan(DIFF, (Diff(2), ProposalPacket(2, 0)), 2, None, None, "DIFF: x"),
                 "cannot be pairs", id="proposal-without-commit"),
    pytest.param(lambda: SyncPlan(DIFF, (Diff(2), ProposalPacket(2, 0), Commit(3)), 2, None, None, "DIFF: x"),
                 r"ProposalPacket\(z\) then Commit\(z\)", id="commit-of-other-zxid"),
    pytest.param(lambda: SyncPlan(DIFF, (Diff(3), ProposalPacket(3, 0), Commit(3), ProposalPacket(2, 0),
                                         Commit(2)), 3, None, None, "DIFF: x"), "proposals must rise",
                 id="proposals-fall"),
    pytest.param(lambda: SyncPlan(DIFF, (Diff(1), "PING"), 1, None, None, "DIFF: x"), r"packets\[1\]",
                 id="foreign-packet"),
    pytest.param(lambda: SyncPlan(DIFF, (Diff(1),), 1, None, None, ""), "reason", id="empty-reason"),
    pytest.param(lambda: SyncPlan(DIFF, (Diff(1),), -1, None, None, "DIFF: x"), "forward_from",
                 id="negative-forward"),
])
def test_malformed_plans_fail_where_they_are_made(build, message):
    with pytest.raises(UsageError, match=message):
        build()


# --------------------------------------------------------------------- learner side ------
def epoch_log(*runs: tuple[int, int]) -> tuple[Proposal, ...]:
    """``epoch_log((1, 3), (2, 2))`` is [1:1, 1:2, 1:3, 2:1, 2:2]."""
    return log(*(z(e, c) for e, count in runs for c in range(1, count + 1)))


def test_apply_diff_appends_what_the_learner_lacks():
    leader = epoch_log((1, 3), (2, 2))
    plan = choose_sync_mode(z(1, 2), LeaderHistory(leader, z(2, 2)))
    assert plan.mode is DIFF and shape(plan) == D(z(2, 2)) + PC(z(1, 3), z(2, 1), z(2, 2))
    assert apply_sync_to_log(epoch_log((1, 2)), plan, leader) == leader


def test_apply_diff_skips_zxids_already_held():
    plan = SyncPlan(DIFF, (Diff(z(1, 3)), ProposalPacket(z(1, 2), txn(z(1, 2))), Commit(z(1, 2)),
                           ProposalPacket(z(1, 3), txn(z(1, 3))), Commit(z(1, 3))), z(1, 3), None, None,
                    "DIFF: hand-made")
    assert apply_sync_to_log(epoch_log((1, 2)), plan) == epoch_log((1, 3))


def test_proposals_keep_their_client_cxid_through_sync():
    leader = (Proposal(z(1, 1), "create /a", cxid=7), Proposal(z(1, 2), "set /a", cxid=8),
              Proposal(z(1, 3), "delete /a", cxid=9))
    plan = choose_sync_mode(z(1, 1), LeaderHistory(leader, z(1, 3)))
    assert plan.mode is DIFF
    assert [p.cxid for p in plan.packets if isinstance(p, ProposalPacket)] == [8, 9]
    assert apply_sync_to_log(leader[:1], plan) == leader


def test_apply_empty_diff_changes_nothing():
    plan = choose_sync_mode(z(1, 2), LeaderHistory(epoch_log((1, 2)), z(1, 2)))
    assert shape(plan) == D(z(1, 2))
    assert apply_sync_to_log(epoch_log((1, 2)), plan) == epoch_log((1, 2))


def test_apply_snap_takes_the_leader_history_up_to_the_snapshot():
    leader = epoch_log((1, 3), (2, 2))
    plan = SyncPlan(SNAP, (), z(2, 1), None, z(2, 1), "SNAP: hand-made")
    assert apply_sync_to_log(epoch_log((1, 5)), plan, leader) == epoch_log((1, 3), (2, 1))


def test_apply_snap_needs_the_leader_history():
    plan = SyncPlan(SNAP, (), z(2, 1), None, z(2, 1), "SNAP: hand-made")
    with pytest.raises(UsageError, match=r"leader_log must hold .* no txn 0x2_00000001"):
        apply_sync_to_log(epoch_log((1, 2)), plan)
    # a snapshot at a new-epoch zxid of an empty leader is fine without one
    empty = SyncPlan(SNAP, (), z(2, 0), None, z(2, 0), "SNAP: hand-made")
    assert apply_sync_to_log(epoch_log((1, 2)), empty) == ()


class TestZookeeper1154:
    """An old leader A of epoch 1 proposed 1:4 and 1:5, which only it logged, then crashed.

    ZOOKEEPER-1154: A must lose 1:4 and 1:5, and end with exactly the new leader's history.
    """

    OLD_LEADER = epoch_log((1, 5))

    def test_before_the_new_leader_commits_anything_it_gets_trunc(self):
        committed = epoch_log((1, 3))
        plan = choose_sync_mode(z(1, 5), LeaderHistory(committed, z(2, 0)))
        assert plan.mode is TRUNC and plan.trunc_zxid == z(1, 3) and plan.forward_from == z(1, 3)
        assert apply_sync_to_log(self.OLD_LEADER, plan, committed) == committed

    def test_once_epoch_2_has_txns_modern_zookeeper_sends_snap(self):
        leader = epoch_log((1, 3), (2, 2))
        plan = choose_sync_mode(z(1, 5), LeaderHistory(leader, z(2, 2)))
        assert plan.mode is SNAP and "another epoch" in plan.reason  # TRUNC never crosses an epoch
        assert apply_sync_to_log(self.OLD_LEADER, plan, leader) == leader

    def test_the_trunc_diff_plan_of_zookeeper_1154_ends_with_the_leader_history(self):
        # What the 3.4 LearnerHandler queued here (before ZOOKEEPER-1413 added the epoch check):
        # TRUNC to the last shared zxid, then the leader's txns above it, forwarding from the
        # truncation point ("updates = zxidToSend").
        leader = epoch_log((1, 3), (2, 2))
        plan = SyncPlan(TRUNC_DIFF, (Trunc(z(1, 3)), ProposalPacket(z(2, 1), txn(z(2, 1))), Commit(z(2, 1)),
                                     ProposalPacket(z(2, 2), txn(z(2, 2))), Commit(z(2, 2))),
                        z(1, 3), z(1, 3), None, "TRUNC+DIFF: 3.4-era plan")
        assert apply_sync_to_log(self.OLD_LEADER, plan, leader) == leader

    def test_a_plain_diff_would_keep_the_uncommitted_tail(self):
        # The bug itself: A keeps 1:4 and 1:5 on top of the new leader's epoch-2 txns.
        plan = SyncPlan(DIFF, (Diff(z(2, 2)), ProposalPacket(z(2, 1), txn(z(2, 1))), Commit(z(2, 1))),
                        z(2, 1), None, None, "DIFF: pre-1154")
        assert apply_sync_to_log(self.OLD_LEADER, plan)[3:5] == log(z(1, 4), z(1, 5))


def test_trunc_diff_over_a_hole_is_rejected_by_the_learner():
    # C1's leader log [2, 3, 5] has a hole; a learner at 4 truncates to 3, then gets 5.
    plan = choose_sync_mode(4, history((2, 3, 5), 6))
    assert plan.mode is TRUNC_DIFF
    with pytest.raises(UsageError, match=r"gap in epoch 0: 0x0_00000003 is followed by 0x0_00000005"):
        apply_sync_to_log(log(1, 2, 3, 4), plan)


def test_a_committed_log_hole_propagates_as_a_gap_error():
    # ZOOKEEPER-4925: a leader whose committedLog lost 1:3 syncs a learner at 1:2.
    plan = choose_sync_mode(z(1, 2), LeaderHistory(log(z(1, 1), z(1, 2), z(1, 4)), z(1, 4)))
    assert plan.mode is DIFF
    with pytest.raises(UsageError, match="0x1_00000002 is followed by 0x1_00000004.*ZOOKEEPER-4925"):
        apply_sync_to_log(epoch_log((1, 2)), plan)


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: apply_sync_to_log(log(1, 3, 2), choose_sync_mode(3, history((), 3))),
                 "learner_log must be in strictly rising zxid order", id="learner-unsorted"),
    pytest.param(lambda: apply_sync_to_log(log(1, 1), choose_sync_mode(1, history((), 1))),
                 "learner_log must be in strictly rising", id="learner-duplicate"),
    pytest.param(lambda: apply_sync_to_log((1, 2), choose_sync_mode(2, history((), 2))),
                 r"learner_log\[0\] must be a Proposal", id="learner-ints"),
    pytest.param(lambda: apply_sync_to_log((), "DIFF"), "plan must be a SyncPlan", id="plan-str"),
    pytest.param(lambda: apply_sync_to_log((), choose_sync_mode(0, history((), 0)), log(2, 1)),
                 "leader_log must be in strictly rising", id="leader-unsorted"),
    pytest.param(lambda: apply_sync_to_log(log(1, 2, 4), SyncPlan(DIFF, (Diff(3), ProposalPacket(3, 0),
                                                                        Commit(3)), 3, None, None, "DIFF: x")),
                 "carries 0x0_00000003, below the learner's last zxid 0x0_00000004", id="diff-below-last"),
])
def test_bad_apply_inputs_are_usage_errors(call, message):
    with pytest.raises(UsageError, match=message):
        call()


# --------------------------------------------------------------------- property ----------
@dataclass(frozen=True)
class Scenario:
    """A leader's full committed history, what its ZKDatabase shows, and one learner."""

    full: tuple[Proposal, ...]  # every txn the leader has applied, all <= last_processed_zxid
    leader: LeaderHistory
    learner: tuple[Proposal, ...]
    peer: int  # what the learner reports: its last zxid, 0 when empty, or a new-epoch (e, 0)
    kind: str


def _make_scenario(full, last, window, txn_from, sync, learner, peer, kind):
    i, j = window
    txn_log = full[txn_from:] if txn_from is not None else ()
    return Scenario(full, LeaderHistory(full[i:j], last, txn_log, sync), learner, peer, kind)


@st.composite
def scenarios(draw) -> Scenario:
    # The leader's history: contiguous counters (e, 1..k) in a few rising epochs.
    epochs = sorted(draw(st.sets(st.integers(1, 8), max_size=4)))
    full = epoch_log(*((e, draw(st.integers(1, 4))) for e in epochs))
    last_epoch = epoch_of(full[-1].zxid) if full else 0
    # After an election lastProcessedZxid is (E, 0); once the leader proposes, its last txn.
    if not full or draw(st.booleans()):
        leader_epoch = draw(st.integers(last_epoch + (1 if full else 0), last_epoch + 2))
        last = z(leader_epoch, 0)
    else:
        leader_epoch, last = last_epoch, full[-1].zxid
    # The committedLog is a window ending at (or just before: it may lag) the newest txn; the
    # on-disk txn log is a longer suffix, or absent, or unusable.
    n = len(full)
    j = draw(st.integers(max(0, n - 2), n))
    i = draw(st.integers(0, j))
    txn_mode = draw(st.sampled_from(["suffix", "none", "disabled"]))
    txn_from = draw(st.integers(0, i)) if txn_mode == "suffix" else None
    sync = txn_mode != "disabled"

    # The learner: a prefix of the leader's history, maybe with a tail the leader never saw.
    kind = draw(st.sampled_from(["prefix", "same-epoch-tail", "unseen-epoch-tail", "new-epoch-zxid"]))
    m = draw(st.integers(0, n))
    learner = full[:m]
    if kind == "same-epoch-tail":
        # An old leader of epoch e whose last proposals never reached anyone else: only possible
        # where the leader's own epoch-e txns end, and for an epoch older than the leader's.
        ends = [k for k in range(1, n + 1)
                if (k == n or epoch_of(full[k].zxid) != epoch_of(full[k - 1].zxid))
                and epoch_of(full[k - 1].zxid) < leader_epoch]
        if ends:
            m = draw(st.sampled_from(ends))
            e, c = epoch_of(full[m - 1].zxid), full[m - 1].zxid & 0xFFFFFFFF
            tail = tuple(Proposal(z(e, c + t), ("uncommitted", e, c + t))
                         for t in range(1, draw(st.integers(1, 3)) + 1))
            learner = full[:m] + tail
        else:
            kind = "prefix"
    elif kind == "unseen-epoch-tail":
        # A leader of an epoch f that crashed before anyone else logged its proposals.
        lo = epoch_of(full[m - 1].zxid) if m else 0
        hi = epoch_of(full[m].zxid) if m < n else leader_epoch
        if hi - lo >= 2:
            f = draw(st.integers(lo + 1, hi - 1))
            tail = tuple(Proposal(z(f, t), ("uncommitted", f, t)) for t in range(1, draw(st.integers(1, 3)) + 1))
            learner = full[:m] + tail
        else:
            kind = "prefix"
    if kind == "new-epoch-zxid" and leader_epoch >= 1:
        # A learner that synced when epoch e began reports (e, 0) and holds everything before it.
        e = draw(st.integers(1, leader_epoch))
        learner = tuple(p for p in full if epoch_of(p.zxid) < e)
        peer = z(e, 0)
    else:
        if kind == "new-epoch-zxid":
            kind = "prefix"
        peer = learner[-1].zxid if learner else 0
    return _make_scenario(full, last, (i, j), txn_from, sync, learner, peer, kind)


_OLD_LEADER = _make_scenario(epoch_log((1, 3)), z(2, 0), (0, 3), 0, True, epoch_log((1, 5)), z(1, 5),
                             "same-epoch-tail")
_MOVED_ON = _make_scenario(epoch_log((1, 3), (2, 2)), z(2, 2), (0, 5), None, True, epoch_log((1, 5)),
                           z(1, 5), "same-epoch-tail")
_FROM_TXN_LOG = _make_scenario(epoch_log((1, 3), (2, 4)), z(3, 0), (4, 7), 0, True, epoch_log((1, 2)),
                               z(1, 2), "prefix")
_NEW_EPOCH = _make_scenario(epoch_log((1, 2), (3, 2)), z(3, 2), (1, 4), None, True, epoch_log((1, 2)),
                            z(3, 0), "new-epoch-zxid")


def _synced(s: Scenario):
    plan = choose_sync_mode(s.peer, s.leader)
    return plan, apply_sync_to_log(s.learner, plan, s.full)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
@example(_OLD_LEADER)
@example(_MOVED_ON)
@example(_FROM_TXN_LOG)
@example(_NEW_EPOCH)
def test_sync_leaves_the_learner_with_the_leader_history_up_to_the_sync_point(s: Scenario):
    """The invariant.

    Let ``H`` be the leader's committed history (every txn <= lastProcessedZxid ``L``) and let the
    learner hold a prefix of ``H`` (up to the zxid it reports), optionally followed by txns the
    leader never had. Let the sync point ``S`` be ``snap_zxid`` (= ``L``) for SNAP, else
    ``forward_from``. Then after applying the plan the learner holds exactly ``[p in H : p.zxid
    <= S]``, and ``S <= L``: every txn above ``S`` is in ``(forward_from, L]`` or later, which
    ``startForwarding`` delivers. With real (contiguous, one-leader-per-epoch) histories the
    plan is never TRUNC+DIFF.
    """
    plan, after = _synced(s)
    sync_point = plan.snap_zxid if plan.mode is SNAP else plan.forward_from
    last = s.leader.last_processed_zxid
    assert after == tuple(p for p in s.full if p.zxid <= sync_point), describe_plan(plan)
    assert sync_point <= last and plan.forward_from <= last
    if plan.mode is SNAP:
        assert after == s.full
    assert plan.mode is not TRUNC_DIFF, describe_plan(plan)
    # Nothing the learner held beyond the leader's history survives.
    assert set(after) <= set(s.full)
    # Whatever forwarding adds completes the history.
    assert after + tuple(p for p in s.full if p.zxid > sync_point) == s.full


@pytest.mark.parametrize("mode, kind", [
    (DIFF, "prefix"), (DIFF, "new-epoch-zxid"), (TRUNC, "same-epoch-tail"), (TRUNC, "prefix"),
    (SNAP, "same-epoch-tail"), (SNAP, "unseen-epoch-tail"), (SNAP, "prefix"), (DIFF, "txn-log"),
])
def test_the_generator_reaches_every_real_mode(mode, kind):
    """The property above is not vacuous: its generator produces each mode for each story."""
    def wanted(s: Scenario) -> bool:
        plan = choose_sync_mode(s.peer, s.leader)
        if kind == "txn-log":
            return plan.mode is mode and "txn log" in plan.reason and len(plan.packets) > 1
        return plan.mode is mode and s.kind == kind and (mode is not DIFF or len(plan.packets) > 1)

    found = find(scenarios(), wanted, settings=settings(database=None, derandomize=True, max_examples=5000))
    assert wanted(found)
