"""Lab 9's search test (issue 15): the learner's 2PC functions run under the model checker."""

from __future__ import annotations

import pytest

from distlab.check.model_cli import TWO_PC_MISTAKES
from distlab.grading import lab9
from distlab.txn.two_phase import decide, recover_coordinator, recover_participant


@pytest.mark.parametrize("seam, fn", [("decide", decide), ("recover_coordinator", recover_coordinator),
                                      ("recover_participant", recover_participant)])
def test_the_reference_passes_the_search_test(seam, fn):
    lab9._SEARCHED.clear()
    assert lab9.search_test(fn, seam).passed


@pytest.mark.parametrize("mistake", sorted(TWO_PC_MISTAKES))
def test_mistakes_fail_the_search_test_with_a_counterexample(mistake):
    seam, fn = TWO_PC_MISTAKES[mistake]
    lab9._SEARCHED.clear()
    outcome = lab9.search_test(fn, seam)
    assert not outcome.passed and "atomicity" in outcome.message and "replay_processes" in outcome.message


def test_a_recovery_that_forgets_commits_fails_every_seed_of_its_part():
    seam, fn = TWO_PC_MISTAKES["recovery-forgets-commits"]
    lab9._SEARCHED.clear()
    outcomes = [lab9.check_recover_coordinator(fn, seed) for seed in range(1, 4)]
    assert not any(o.passed for o in outcomes)
