"""Lab 7's whole-component parts: the follower's side of broadcast and the recovery of the
acknowledged history. The reference passes; each plausible mistake loses the part, with a
message that names the rule it broke."""

from __future__ import annotations

import pytest

from distlab.grading.lab7 import _follower_rows, _step_kind, check_follower_step, check_recover_history
from distlab.zab.follower import FollowerLog, FollowerStep, continues, follower_step
from distlab.zab.messages import Commit, ProposalPacket
from distlab.zab.recovery import recover_history
from distlab.zab.zxid import epoch_of

SEEDS = (1, 2, 3)


def test_the_documented_rows_are_what_the_reference_does():
    for logged, applied, pending, packet, documented, why in _follower_rows():
        assert _step_kind(follower_step(FollowerLog(logged, applied, pending), packet)) == _step_kind(documented), why


@pytest.mark.parametrize("seed", SEEDS)
def test_the_references_pass(seed):
    assert check_follower_step(follower_step, seed).passed is True
    assert check_recover_history(recover_history, seed).passed is True


# ------------------------------------------------------------------ follower_step mistakes -
def ack_without_logging(log, packet):
    step = follower_step(log, packet)
    return FollowerStep(ack=step.ack) if step.log else step


def apply_on_proposal(log, packet):
    step = follower_step(log, packet)
    if step.log and log.pending:
        return FollowerStep(log=True, ack=step.ack, apply=log.pending[0])
    return step


def accepts_holes(log, packet):
    if isinstance(packet, ProposalPacket) and packet.zxid > log.last_logged:
        return FollowerStep(log=True, ack=packet.zxid)
    return follower_step(log, packet)


def applies_whatever_is_committed(log, packet):
    if isinstance(packet, Commit) and packet.zxid > log.last_applied:
        return FollowerStep(apply=packet.zxid)
    return follower_step(log, packet)


def relogs_duplicates(log, packet):
    if isinstance(packet, ProposalPacket) and packet.zxid <= log.last_logged:
        return FollowerStep(log=True, ack=packet.zxid)
    return follower_step(log, packet)


def any_new_epoch_txn(log, packet):
    if isinstance(packet, ProposalPacket) and epoch_of(packet.zxid) > epoch_of(log.last_logged):
        return FollowerStep(log=True, ack=packet.zxid)
    return follower_step(log, packet)


def gives_up_on_duplicate_commits(log, packet):
    if isinstance(packet, Commit) and packet.zxid <= log.last_applied:
        return FollowerStep(give_up="already applied?")
    return follower_step(log, packet)


def never_acks(log, packet):
    step = follower_step(log, packet)
    return FollowerStep(log=True) if step.log else step


@pytest.mark.parametrize("mistake, words", [
    (ack_without_logging, "An ACK promises the txn is on disk"),
    (apply_on_proposal, "apply only on COMMIT"),
    (accepts_holes, "hole"),
    (applies_whatever_is_committed, "COMMIT out of order"),
    (relogs_duplicates, "duplicate"),
    (any_new_epoch_txn, "hole"),
    (gives_up_on_duplicate_commits, "duplicate"),
    (never_acks, "Log, then ACK"),
], ids=lambda v: getattr(v, "__name__", "words"))
def test_a_plausible_follower_mistake_loses_the_part(mistake, words):
    outcomes = [check_follower_step(mistake, seed) for seed in SEEDS]
    assert all(o.passed is False for o in outcomes)
    assert words in outcomes[0].message and "Follower.processPacket" in outcomes[0].message, outcomes[0].message


# ------------------------------------------------------------------ recover_history mistakes
def only_the_current_epoch(log, last_applied, current_epoch):
    return tuple(p for p in recover_history(log, last_applied, current_epoch) if epoch_of(p.zxid) >= current_epoch)


def trusts_the_snapshot(log, last_applied, current_epoch):
    return ()


def replays_everything(log, last_applied, current_epoch):
    return tuple(log)


def newest_first(log, last_applied, current_epoch):
    return tuple(reversed(recover_history(log, last_applied, current_epoch)))


def drops_the_unacknowledged_tail(log, last_applied, current_epoch):
    return recover_history(log, last_applied, current_epoch)[:-1]


def only_the_previous_epochs(log, last_applied, current_epoch):
    return tuple(p for p in recover_history(log, last_applied, current_epoch) if epoch_of(p.zxid) < current_epoch)


@pytest.mark.parametrize("mistake", [only_the_current_epoch, trusts_the_snapshot, replays_everything, newest_first,
                                     drops_the_unacknowledged_tail, only_the_previous_epochs],
                         ids=lambda f: f.__name__)
def test_a_plausible_recovery_mistake_loses_the_part(mistake):
    outcomes = [check_recover_history(mistake, seed) for seed in SEEDS]
    assert all(o.passed is False for o in outcomes)
    assert "ZKDatabase.fastForwardDataBase" in outcomes[0].message, outcomes[0].message


def test_dropping_the_acknowledged_tail_loses_a_committed_txn_in_the_crash_scenario():
    from distlab.grading.lab7 import _committed_before_the_crash

    outcome = _committed_before_the_crash(drops_the_unacknowledged_tail, 1)
    assert outcome.passed is False and "持久性" in outcome.message, outcome.message
    assert _committed_before_the_crash(trusts_the_snapshot, 3).passed is False


def test_continuity_is_zookeepers_rule():
    assert continues(0x100000005, 0x100000004) and not continues(0x100000006, 0x100000004)
    assert continues(0x200000001, 0x100000004) and not continues(0x200000002, 0x100000004)
