"""``distlab.bench.tree`` runs and ends with its JSON line (no timing targets here)."""

from __future__ import annotations

import json

from distlab.bench.tree import main


def test_bench_tree_prints_a_table_then_json(capsys) -> None:
    assert main(["--ops", "200", "--seed", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    for key in ("create_ops_per_s", "get_ops_per_s", "set_ops_per_s", "delete_ops_per_s"):
        assert summary[key] > 0
    assert summary["ops"] == 200
    assert summary["seed"] == 3
    assert any(line.startswith("create") for line in lines)


def test_bench_tree_is_reproducible(capsys) -> None:
    main(["--ops", "100", "--seed", "5"])
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    main(["--ops", "100", "--seed", "5"])
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["digest"] == second["digest"]
    assert first["snapshot_bytes"] == second["snapshot_bytes"]
