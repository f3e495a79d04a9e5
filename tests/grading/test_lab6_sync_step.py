"""Lab 6's whole-component part: the learner's side of synchronisation. The reference passes;
each plausible mistake loses the part with a message naming the rule."""

from __future__ import annotations

import pytest

from distlab.grading.lab6 import _step_shape, _sync_rows, check_sync_step
from distlab.zab.learner_sync import SyncStep, committed_prefix, sync_step
from distlab.zab.messages import NewLeader, ProposalPacket, UpToDate

SEEDS = (1, 2, 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_reference_passes(seed):
    outcome = check_sync_step(sync_step, seed)
    assert outcome.passed is True, outcome.message


def test_every_row_is_a_distinct_rule_of_the_reference():
    shapes = [_step_shape(sync_step(view, packet)) for view, packet, _ in _sync_rows()]
    assert len(shapes) == len(_sync_rows()) and len(set(map(str, shapes))) > 8


def ack_newleader_before_logging(view, packet):
    step = sync_step(view, packet)
    return SyncStep(ack=step.ack) if isinstance(packet, NewLeader) and step.ack else step


def log_everything_at_newleader(view, packet):
    step = sync_step(view, packet)
    if isinstance(packet, NewLeader) and step.ack:
        return SyncStep(log=view.queued, apply=view.queued, ack=step.ack)
    return step


def no_acks_at_uptodate(view, packet):
    step = sync_step(view, packet)
    if isinstance(packet, UpToDate) and step.serve:
        return SyncStep(log=step.log, apply=step.apply, ack=step.ack[:1], serve=True)
    return step


def any_first_packet(view, packet):
    if view.mode is None and isinstance(packet, ProposalPacket):
        return SyncStep(queue=True)
    return sync_step(view, packet)


def accepts_holes(view, packet):
    step = sync_step(view, packet)
    if isinstance(packet, ProposalPacket) and step.give_up is not None:
        return SyncStep(queue=True)
    return step


def observer_acks_proposals(view, packet):
    step = sync_step(view, packet)
    if isinstance(packet, UpToDate) and step.serve and view.observer:
        return SyncStep(log=step.log, apply=step.apply, ack=(*step.ack, *view.queued), serve=True)
    return step


def applies_uncommitted_at_uptodate(view, packet):
    step = sync_step(view, packet)
    if isinstance(packet, UpToDate) and step.serve:
        return SyncStep(log=step.log, apply=view.queued, ack=step.ack, serve=True)
    return step


@pytest.mark.parametrize("mistake, words", [
    (ack_newleader_before_logging, "持久化"),
    (log_everything_at_newleader, "Only committed proposals are applied"),
    (no_acks_at_uptodate, "ACKed at UPTODATE"),
    (any_first_packet, "unexpected packet"),
    (accepts_holes, "hole"),
    (observer_acks_proposals, "observer"),
    (applies_uncommitted_at_uptodate, "Only committed proposals are applied"),
], ids=lambda v: getattr(v, "__name__", "words"))
def test_a_plausible_sync_mistake_loses_the_part(mistake, words):
    outcomes = [check_sync_step(mistake, seed) for seed in SEEDS]
    assert all(o.passed is False for o in outcomes)
    assert words in outcomes[0].message and "Learner.syncWithLeader" in outcomes[0].message, outcomes[0].message


def test_the_committed_prefix_stops_at_the_first_uncommitted():
    from distlab.zab.learner_sync import SyncView

    assert committed_prefix(SyncView("DIFF", 0, 0, (1, 2, 3), (1, 3))) == (1,)
