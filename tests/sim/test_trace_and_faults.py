"""Trace records, JSON conversion and fault schedules."""

from __future__ import annotations

import dataclasses
import enum

import pytest

from distlab.sansio import UsageError
from distlab.sim import Crash, Cut, FaultSchedule, Heal, Partition, Restart, Trace, World, random_schedule
from distlab.sim.trace import to_jsonable

from .processes import Counter


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass(frozen=True)
class Vote:
    leader: int
    zxid: int


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        (3, 3),
        ("x", "x"),
        (Color.RED, "RED"),
        (b"\x01\xff", {"bytes": "01ff"}),
        ((1, [2, 3]), [1, [2, 3]]),
        ({1: "a"}, {"1": "a"}),
        (frozenset({3, 1}), [1, 3]),
        (Vote(2, 0x100000001), {"type": "Vote", "leader": 2, "zxid": 0x100000001}),
    ],
    ids=["none", "int", "str", "enum", "bytes", "tuple", "dict", "set", "dataclass"],
)
def test_to_jsonable(value, expected):
    assert to_jsonable(value) == expected


def test_to_jsonable_refuses_opaque_objects_and_nan():
    with pytest.raises(TypeError, match="cannot put a object in a trace"):
        to_jsonable(object())
    with pytest.raises(TypeError, match="NaN"):
        to_jsonable(float("nan"))


def test_from_json_names_the_bad_row():
    with pytest.raises(ValueError, match="row 1: unknown kind 'teleport'"):
        Trace.from_json([{"kind": "heal", "time": 0}, {"kind": "teleport"}])
    with pytest.raises(ValueError, match=r"row 0 \(crash\): missing field\(s\) \['node'\]"):
        Trace.from_json([{"kind": "crash", "time": 0}])


def test_of_kind_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="unknown trace kind"):
        Trace().of_kind("sned")


def test_load_names_the_bad_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"kind": "heal", "time": 0}\nnot json\n')
    with pytest.raises(ValueError, match=r"t.jsonl:2: not a JSON trace line"):
        Trace.load(path)


def three_counters(seed=0):
    world = World(seed=seed)
    for node in (1, 2, 3):
        world.add_node(node, Counter)
    return world


def test_schedule_applies_faults_at_their_times():
    world = three_counters()
    FaultSchedule([(30, Crash(2)), (10, Partition([[1], [2, 3]])), (50, Heal()), (60, Restart(2)),
                   (70, Cut(3, 1))]).install(world)
    world.run(100)
    timeline = [(r.time, r.kind) for r in world.trace if r.kind in ("crash", "restart", "partition", "heal")]
    assert timeline == [(10, "partition"), (30, "crash"), (50, "heal"), (60, "restart"), (70, "partition")]


def test_schedule_skips_impossible_faults_with_a_note():
    world = three_counters()
    FaultSchedule([(5, Crash(1)), (6, Crash(1)), (7, Restart(2))]).install(world)
    world.run(10)
    texts = [r.text for r in world.trace.of_kind("note")]
    assert "fault skipped: crash 1, already down" in texts
    assert "fault skipped: restart 2, already up" in texts


@pytest.mark.parametrize(
    "entries, message",
    [
        ([(5,)], "must be \\(at_ms, fault\\)"),
        ([(-1, Heal())], "int of ms >= 0"),
        ([(5, "crash 1")], "is not a Fault"),
    ],
    ids=["not a pair", "negative time", "not a fault"],
)
def test_bad_schedule_entries_are_refused(entries, message):
    with pytest.raises(UsageError, match=message):
        FaultSchedule(entries)


def test_from_json_rejects_unknown_faults():
    with pytest.raises(UsageError, match="unknown fault 'meteor'"):
        FaultSchedule.from_json([{"at": 3, "fault": "meteor"}])
    with pytest.raises(UsageError, match="missing field 'node'"):
        FaultSchedule.from_json([{"at": 3, "fault": "crash"}])


@pytest.mark.parametrize("seed", range(30))
def test_random_schedule_keeps_a_majority_up_and_heals_everything(seed):
    nodes = [1, 2, 3, 4, 5]
    schedule = random_schedule(seed, nodes, 5000, crashes=4, partitions=3)
    assert schedule == random_schedule(seed, nodes, 5000, crashes=4, partitions=3)
    down: set[int] = set()
    partitioned = False
    for at, fault in schedule.entries:
        assert 0 <= at < 5000
        if isinstance(fault, Crash):
            assert fault.node not in down
            down.add(fault.node)
            assert len(down) <= 2  # a minority of five
        elif isinstance(fault, Restart):
            down.remove(fault.node)
        elif isinstance(fault, Partition):
            assert not partitioned
            partitioned = True
        elif isinstance(fault, Heal):
            partitioned = False
    assert not down and not partitioned
