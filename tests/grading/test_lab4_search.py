"""Lab 4's search test (issue 15): the learner's predecessor inside ZkLock's recipe, every schedule."""

from __future__ import annotations

from distlab.grading import lab4
from distlab.locks.zk import parse_node, predecessor


def reference(children, me):
    return predecessor(children, me)


def by_whole_name(children, me):
    """Sorts the names as strings: the random prefixes, not the sequence numbers, decide."""
    lower = [c for c in sorted(children) if c < me and parse_node(c) is not None]
    return lower[-1] if lower else None


def test_the_reference_passes_the_search_test():
    lab4._SEARCHED.clear()
    assert lab4.search_test(reference).passed


def test_sorting_on_whole_names_fails_the_search_test_with_a_counterexample():
    lab4._SEARCHED.clear()
    outcome = lab4.search_test(by_whole_name)
    assert not outcome.passed
    assert "mutual exclusion" in outcome.message and "ZkLockModel" in outcome.message


def test_the_reference_passes_the_whole_predecessor_check():
    lab4._SEARCHED.clear()
    assert lab4.check_predecessor(reference, 1).passed
