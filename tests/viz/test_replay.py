"""``distlab replay`` and the standalone HTML; ``distlab bench viz``."""

from __future__ import annotations

import json
import re

import pytest

from distlab.cli import main as distlab
from distlab.viz.html import html_document
from distlab.viz.runs import Run, Scenario


def data_of(page: str) -> dict:
    payload = re.search(r'<script type="application/json" id="frames">(.*?)</script>', page, re.S).group(1)
    return json.loads(payload.replace("<\\/", "</"))


def frames_of(page: str) -> list[dict]:
    return data_of(page)["frames"]


@pytest.mark.parametrize("argv, kind", [
    (["election", "--servers", "5", "--seed", "7", "--crash-leader-at", "1000"], "election"),
    (["sync", "--mode", "trunc"], "sync"),
    (["broadcast", "--writes", "2"], "broadcast"),
    (["sync", "--servers", "5", "--mode", "snap"], "sync"),
])
def test_replay_writes_one_self_contained_page(tmp_path, capsys, argv, kind):
    out = tmp_path / "run.html"
    assert distlab(["replay", *argv, "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["replay"] == kind and summary["bytes"] == out.stat().st_size
    page = out.read_text()
    frames = frames_of(page)
    assert len(frames) == summary["frames"] > 5
    assert all(f["e"] and isinstance(f["t"], int) for f in frames)  # data, drawn in the page
    assert "<svg" not in page.split('id="frames">', 1)[1].split("</script>", 1)[0]
    # No network: nothing is fetched from anywhere.
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script src" not in page and "<link" not in page
    for control in ('id="slider"', 'id="step"', 'id="back"', 'id="play"', 'id="next"'):
        assert control in page


def test_election_replay_is_deterministic_and_small(tmp_path):
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    for path in (a, b):
        assert distlab(["replay", "election", "--servers", "5", "--seed", "7", "--out", str(path)]) == 0
    assert a.read_bytes() == b.read_bytes()
    assert len(frames_of(a.read_text())) == 161 and a.stat().st_size <= 300_000


def test_the_page_inlines_the_packaged_assets():
    from distlab.viz.html import asset

    run = Run(Scenario("broadcast", 3, 7, writes=1))
    page = html_document(run.timeline, "t")
    assert "function Picture(data)" in asset("viewer.js") and ".dl-viewer" in asset("viewer.css")
    assert asset("viewer.css") in page and "function Picture(data)" in page


def test_replay_of_a_saved_trace(tmp_path, plain_election_run):
    saved = tmp_path / "trace.jsonl"
    plain_election_run.trace.save(saved)
    out = tmp_path / "saved.html"
    assert distlab(["replay", "election", "--trace", str(saved), "--out", str(out)]) == 0
    assert len(frames_of(out.read_text())) == len(plain_election_run)
    later = tmp_path / "later.html"
    assert distlab(["replay", "election", "--trace", str(saved), "--since", "200", "--out", str(later)]) == 0
    frames = frames_of(later.read_text())
    assert 0 < len(frames) < len(plain_election_run) and all(f["t"] >= 200 for f in frames)


def test_replay_reports_bad_options(tmp_path, capsys):
    assert distlab(["replay", "election", "--histories", "1:2", "--out", str(tmp_path / "x.html")]) == 2
    assert "one zxid per server" in capsys.readouterr().err


def test_the_page_escapes_script_endings():
    run = Run(Scenario("broadcast", 3, 7, writes=1))
    page = html_document(run.timeline, "t</script><b>")
    assert "t&lt;/script&gt;" in page
    body = page.split('id="frames">', 1)[1].split("</script>", 1)[0]
    assert "</" not in body


def test_bench_viz_prints_a_json_last_line(capsys):
    from distlab.bench.viz import main

    assert main(["--frames", "10"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["benchmark"] == "viz" and summary["frames"] > 100
    assert summary["ms_per_frame_median"] > 0 and 50_000 < summary["html_bytes"] <= 300_000
    assert summary["play_fps"] > 0 and "table" not in lines[-1]
