"""The `distlab` command and the benchmarks' output contract (a table, then one JSON line)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from distlab.cli import main


def test_bench_sim_prints_a_table_then_json_with_the_ratio(capsys):
    assert main(["bench", "sim", "--duration", "300", "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert {"events_per_s", "bare_events_per_s", "ratio"} <= set(summary)
    assert summary["ratio"] == pytest.approx(summary["events_per_s"] / summary["bare_events_per_s"], rel=0.01)
    assert any("bare heapq loop" in line for line in lines[:-1])


def test_bench_tree_prints_ops_per_second(capsys):
    assert main(["bench", "tree", "--ops", "300"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("create_ops_per_s", "get_ops_per_s", "set_ops_per_s", "delete_ops_per_s"):
        assert summary[key] > 0


def test_unknown_benchmark_is_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "nope"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "distlab", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("distlab ")
