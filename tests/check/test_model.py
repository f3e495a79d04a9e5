"""The model checker (distlab.check.model, issue 15): the reference explores clean, planted
mistakes are caught with short counterexamples, the search is deterministic, and a
counterexample replays in the simulator as an ordinary trace."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from distlab.check.model import (
    ElectionModel,
    check_election,
    counterexample_trace,
    describe_counterexample,
    explore,
)
from distlab.check.model_cli import MISTAKES, main as check_main
from distlab.sim.trace import Trace


def test_reference_election_without_crashes_explores_completely_and_clean():
    result = check_election(crashes=0)
    assert result.complete and result.violation is None and result.stuck is None
    assert result.goal_states > 0  # a leader is elected on some path
    assert result.states == 99_481  # pinned: a change here means the model changed


def test_reference_election_with_a_crash_is_clean_in_its_first_states():
    result = check_election(crashes=1, max_states=60_000)
    assert result.violation is None and result.states >= 60_000


@pytest.mark.slow
def test_reference_election_with_a_crash_explores_completely_and_clean():
    result = check_election(crashes=1)
    assert result.complete and result.violation is None and result.stuck is None


@pytest.mark.parametrize("mistake, crashes, max_depth, invariant", [
    ("vote-order-ignores-epoch", 0, 8, "validity"),
    ("no-finalize-wait", 0, 3, "validity"),
    ("half-is-a-quorum", 1, 7, "quorum"),
    ("half-is-a-quorum", 0, 8, "quorum"),
])
def test_planted_mistakes_are_found_with_a_short_counterexample(mistake, crashes, max_depth, invariant):
    seam, fn = MISTAKES[mistake]
    result = check_election(crashes=crashes, **{seam: fn})
    assert result.violation is not None and result.violation.startswith(invariant), result.violation
    assert len(result.trace) <= max_depth, describe_counterexample(result)


def test_bfs_counterexample_is_shortest_and_dfs_agrees_after_shortening():
    seam, fn = MISTAKES["vote-order-ignores-epoch"]
    bfs = check_election(crashes=0, **{seam: fn})
    dfs = check_election(crashes=0, strategy="dfs", depth=30, **{seam: fn})
    assert dfs.violation is not None and len(dfs.trace) == len(bfs.trace)
    # Nothing shorter exists: a BFS bounded one step less finds nothing.
    shorter = explore(ElectionModel(3, crashes=0, **{seam: fn}), depth=len(bfs.trace) - 1)
    assert shorter.violation is None


def test_same_configuration_same_counts_and_same_counterexample():
    a = check_election(crashes=1, max_states=20_000)
    b = check_election(crashes=1, max_states=20_000)
    assert (a.states, a.transitions, a.depth) == (b.states, b.transitions, b.depth)
    seam, fn = MISTAKES["half-is-a-quorum"]
    x, y = check_election(crashes=1, **{seam: fn}), check_election(crashes=1, **{seam: fn})
    assert [s.describe() for s in x.trace] == [s.describe() for s in y.trace]


def test_multiset_network_has_more_schedules_than_fifo_links():
    fifo = check_election(crashes=0, depth=6)
    multiset = check_election(crashes=0, depth=6, fifo=False)
    assert multiset.states > fifo.states and multiset.violation is None


def test_drops_and_duplicates_are_explored_and_the_reference_survives_them():
    result = check_election(crashes=0, drops=1, dups=1, max_states=40_000)
    assert result.violation is None
    kinds = {a.kind for a in check_election(crashes=0, drops=1, **dict([MISTAKES["half-is-a-quorum"]])).trace}
    assert "deliver" in kinds


def test_counterexample_replays_in_the_simulator_as_an_ordinary_trace(tmp_path):
    seam, fn = MISTAKES["no-finalize-wait"]
    result = check_election(crashes=0, **{seam: fn})
    trace = counterexample_trace(result, **{seam: fn})
    delivered = [r for r in trace.records if r.kind == "deliver"]
    assert len(delivered) == len(result.trace)
    decided = [r for r in trace.records if r.kind == "state" and r.new in ("LEADING", "FOLLOWING")]
    assert decided and decided[-1].node == result.trace[-1].node
    path = tmp_path / "cex.jsonl"
    trace.save(path)
    assert len(Trace.load(path)) == len(trace)
    out = tmp_path / "cex.html"
    done = subprocess.run([sys.executable, "-m", "distlab", "replay", "election", "--trace", str(path),
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.exists()


def test_crash_and_timer_counterexamples_replay_too():
    seam, fn = MISTAKES["half-is-a-quorum"]
    result = check_election(crashes=1, **{seam: fn})
    trace = counterexample_trace(result, **{seam: fn})
    assert any(r.kind == "timer" for r in trace.records)


def test_cli_prints_a_table_then_one_json_object(capsys, tmp_path):
    status = check_main(["model", "election", "--crashes", "0", "--mistake", "no-finalize-wait",
                         "--save-trace", str(tmp_path / "t.jsonl")])
    out = capsys.readouterr().out.strip().splitlines()
    assert status == 1
    assert out[0].split()[:3] == ["model", "states", "transitions"]
    last = json.loads(out[-1])
    assert last["verdict"] == "VIOLATION" and last["replay"].startswith("distlab replay election --trace")
    assert check_main(["model", "election", "--crashes", "0", "--depth", "10"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["verdict"] == "ok (bounded)"
    assert check_main(["model", "sync"]) == 2  # not built yet


# ---------------------------------------------------------------- 2PC (any sans-I/O processes)
def test_reference_two_phase_commit_is_atomic_in_every_schedule_with_a_crash():
    from distlab.check.model import two_phase_model

    result = explore(two_phase_model(2, crashes=1))
    assert result.complete and result.verdict == "ok" and result.goal_states > 0
    assert result.states == explore(two_phase_model(2, crashes=1)).states  # deterministic


@pytest.mark.parametrize("mistake, drops, max_depth", [("commit-on-any-yes", 0, 12),
                                                       ("recovery-forgets-commits", 1, 10)])
def test_two_phase_mistakes_break_atomicity_with_a_short_counterexample(mistake, drops, max_depth):
    from distlab.check.model import replay_processes, two_phase_model
    from distlab.check.model_cli import TWO_PC_MISTAKES
    from distlab.txn.two_phase import TxnImpl, atomicity_violations

    seam, fn = TWO_PC_MISTAKES[mistake]
    model = two_phase_model(2, crashes=1, drops=drops, impl=TxnImpl(**{seam: fn}))
    result = explore(model)
    assert result.violation and result.violation.startswith("atomicity") and len(result.trace) <= max_depth
    world = replay_processes(model, result.trace)  # the same schedule in the simulator
    logs = {p: world.durable(p).get("log", []) for p in ("p1", "p2")}
    assert atomicity_violations(world.durable("c").get("log", []), logs, expect_resolved=False)


def test_cli_two_phase(capsys):
    assert check_main(["model", "2pc", "--participants", "2", "--crashes", "0"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["verdict"] == "ok"


# ---------------------------------------------------------------- the ZooKeeper lock recipe
def test_reference_lock_recipe_keeps_mutual_exclusion_in_every_schedule():
    from distlab.check.model import ZkLockModel

    for clients, expiries in [(3, 0), (2, 1)]:
        result = explore(ZkLockModel(clients, expiries))
        assert result.complete and result.verdict == "ok" and result.goal_states > 0


@pytest.mark.slow
def test_reference_lock_recipe_three_clients_one_expiry():
    from distlab.check.model import ZkLockModel

    assert explore(ZkLockModel(3, 1)).verdict == "ok"


def test_a_predecessor_that_sorts_on_whole_names_breaks_mutual_exclusion_in_4_steps(capsys):
    assert check_main(["model", "zk-lock", "--clients", "3", "--expiries", "0",
                       "--mistake", "predecessor-by-whole-name"]) == 1
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["violation"].startswith("mutual exclusion") and len(last["counterexample"]) <= 4
