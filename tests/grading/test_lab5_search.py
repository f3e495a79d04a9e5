"""Lab 5's search test (issue 15): the learner's election functions run under the model checker.

A learner who skips FLE's finalize wait in one plausible case — deciding at once when the
proposed leader's own vote completes the quorum — passes the random table and the random
elections on every public and hidden seed today; the search test finds the 4-step schedule
where it elects the wrong leader, and so fails every seed, with the counterexample shown.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from distlab.grading import lab5
from distlab.zab.election import handle_notification, vote_order

ROOT = Path(__file__).resolve().parents[2]
SEEDS = range(1, 11)


def decides_when_the_leader_confirms(state, n, vote_order, has_quorum):
    step = handle_notification(state, n, vote_order, has_quorum)
    if step.finalize and step.decided is None and n.sid == step.state.proposal.leader:
        return replace(step, finalize=False, decided=step.state.proposal)  # "the leader agrees: no need to wait"
    return step


def decides_on_its_own_vote(state, n, vote_order, has_quorum):
    step = handle_notification(state, n, vote_order, has_quorum)
    if step.finalize and step.decided is None and n.sid == state.me:
        return replace(step, finalize=False, decided=step.state.proposal)
    return step


def test_the_reference_passes_the_search_test():
    lab5._SEARCHED.clear()
    assert lab5.search_test(handle_notification, "handle_notification").passed
    assert lab5.search_test(vote_order, "vote_order").passed


@pytest.mark.parametrize("variant", [decides_when_the_leader_confirms, decides_on_its_own_vote])
def test_skipping_the_finalize_wait_fails_every_seed_with_a_counterexample(variant):
    lab5._SEARCHED.clear()
    outcomes = [lab5.check_handle_notification(variant, seed) for seed in SEEDS]
    assert not any(o.passed for o in outcomes)
    message = outcomes[0].message
    assert message.startswith("search test") and "validity" in message and "distlab replay election" in message
    assert "deliver" in message  # the schedule, step by step


def test_without_the_search_test_the_leader_confirms_variant_survives_the_random_seeds(monkeypatch):
    """Why the search test exists: the random cases and elections alone pass this bug."""
    monkeypatch.setattr(lab5, "search_test", lambda fn, seam: lab5.Outcome.ok())
    assert all(lab5.check_handle_notification(decides_when_the_leader_confirms, seed).passed for seed in SEEDS)


def test_search_test_through_the_sandbox(tmp_path):
    from distlab.grading.runner import grade_notebook

    notebook = json.loads((ROOT / "solutions" / "lab5-election.ipynb").read_text())
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).get("distlab", {}).get("part") == "handle_notification":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = source + """

from dataclasses import replace as _replace
_step = handle_notification


def handle_notification(state, n, vote_order, has_quorum):
    step = _step(state, n, vote_order, has_quorum)
    if step.finalize and step.decided is None and n.sid == step.state.proposal.leader:
        return _replace(step, finalize=False, decided=step.state.proposal)
    return step
"""
    submission = tmp_path / "student.ipynb"
    submission.write_text(json.dumps(notebook))
    (part,) = grade_notebook(submission, only_part="handle_notification").parts
    assert part.points == 0, [s.outcome.message for s in part.seeds]
    assert all(not s.outcome.passed for s in part.seeds)
    assert part.first_failure().outcome.message.startswith("search test")
