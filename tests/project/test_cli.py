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


# Every command and sub-command answers --help (and -h) with exit status 0, in plain words.
HELP = [[], ["grade"], ["labs"], ["bench"], ["bench", "sim"], ["bench", "tree"], ["bench", "zab"],
        ["bench", "locks"], ["bench", "viz"], ["bench", "grade"], ["fuzz"], ["fuzz", "zab"], ["replay"],
        ["replay", "election"], ["replay", "sync"], ["replay", "broadcast"], ["course"], ["course", "init"],
        ["gradescope"], ["gradescope", "build"], ["serve"], ["check"], ["bench", "model"]]


@pytest.mark.parametrize("words", HELP, ids=lambda w: " ".join(w) or "distlab")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_help_exits_zero_in_plain_words(words, flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*words, flag])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: distlab")
    assert "``" not in out and ":mod:" not in out and ":func:" not in out, "raw reST in the help"


def test_every_subcommand_in_the_table_has_a_help_test():
    from distlab.cli import SUBCOMMANDS

    assert {c.name for c in SUBCOMMANDS} <= {w[0] for w in HELP if w}


def test_version_and_invalid_input_exit_codes(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("distlab ")
    for argv in ([], ["nope"], ["grade"], ["grade", str(tmp_path / "missing.ipynb")], ["course", "init"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2, argv
    unreadable = tmp_path / "broken.ipynb"
    unreadable.write_text("not json")
    assert main(["grade", str(unreadable)]) != 0


def test_course_init_copies_chapters_and_labs_but_no_solutions(tmp_path, capsys):
    assert main(["course", "init", str(tmp_path / "mycourse")]) == 0
    copied = {p.relative_to(tmp_path / "mycourse").as_posix() for p in (tmp_path / "mycourse").rglob("*") if p.is_file()}
    assert "course/README.md" in copied and "course/10-zab.ipynb" in copied and "labs/lab5-election.ipynb" in copied
    assert not any(p.startswith("solutions") for p in copied)
    assert "11 chapters" in capsys.readouterr().out
    assert main(["course", "init", str(tmp_path / "mycourse")]) == 1  # refuses to overwrite
    assert "--force" in capsys.readouterr().err
    assert main(["course", "init", str(tmp_path / "mycourse"), "--force"]) == 0
