"""Typed trace events: emitted on purpose, described in one place, round-tripped by the codec."""

from __future__ import annotations

import dataclasses

import pytest

from distlab.check.zab import check_zab
from distlab.codec import Foreign
from distlab.sim.ensemble import Ensemble
from distlab.sim.trace import TRACE_CODEC, Trace
from distlab.zab import events as ev


def _run(seed: int = 3) -> Ensemble:
    e = Ensemble(servers=3, seed=seed)
    e.wait_for_leader()
    zk = e.client()
    zk.create("/a", b"1")
    zk.set("/a", b"2")
    e.quiesce()
    e.record_final_state()
    return e


@pytest.fixture(scope="module")
def run() -> Ensemble:
    return _run()


def test_every_event_has_one_description_and_is_a_frozen_keyword_only_dataclass():
    for cls in ev.EVENT_TYPES:
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls
        assert cls.__slots__, cls
        with pytest.raises(TypeError):
            cls(*range(len(dataclasses.fields(cls))))  # keyword-only
    with pytest.raises(TypeError):
        ev.describe("not an event")


def test_a_run_emits_the_events_the_checkers_and_viewer_read(run):
    kinds = {type(r.event) for r in run.world.trace if r.kind == "note" and r.event is not None}
    assert {ev.BecameLooking, ev.ElectionStarted, ev.LeaderElected, ev.EpochProposed, ev.EpochAcked,
            ev.SyncPlanChosen, ev.SyncStarted, ev.Established, ev.LearnerUpToDate, ev.Committed,
            ev.Applied, ev.FinalState, ev.Proposed, ev.Acked} <= kinds
    for r in run.world.trace:
        if r.kind == "note" and r.event is not None:
            assert r.text == ev.describe(r.event) == str(r.event)


def test_the_trace_codec_round_trips_records_messages_and_events(run):
    trace = run.world.trace
    text = trace.dumps()
    back = Trace.loads(text)
    assert back.dumps() == text and back.digest() == trace.digest()
    assert list(back.records) == list(trace.records)  # the same objects, not their JSON form
    assert not any(isinstance(getattr(r, "msg", None), Foreign) for r in back)
    assert check_zab(back) == []


def test_same_seed_same_digest_and_a_learners_own_class_comes_back_foreign():
    assert _run(5).world.trace.digest() == _run(5).world.trace.digest()

    @dataclasses.dataclass(frozen=True)
    class MyPing:
        n: int

    data = TRACE_CODEC.encode(MyPing(3))
    value = TRACE_CODEC.decode(data)
    assert isinstance(value, Foreign) and value["type"] == "MyPing" and value["n"] == 3
    assert TRACE_CODEC.encode(value) == data


ZAB_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
sys.path.insert(0, {lib!r})
from tests.zab.test_events import _run
print(_run(5).world.trace.digest())
"""


def test_a_zab_trace_with_its_events_is_the_same_across_hash_seeds():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    script = ZAB_SCRIPT.format(tests=str(root), lib=str(root / "lib"))
    digests = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
               for seed in ("1", "2")}
    assert digests == {_run(5).world.trace.digest()}
