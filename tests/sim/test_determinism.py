"""Same seed and same inputs => the same trace, bit for bit, in this process and in another."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from distlab.sim import FaultSchedule, LinkConfig, Trace, Uniform, random_schedule

from .processes import gossip_world

ROOT = Path(__file__).resolve().parents[2]

# Ids are strings on purpose: str hashes differ between processes, so any iteration over a set
# of node ids in the simulator would show up as a different trace in the subprocess.
NODES = ("alpha", "bravo", "charlie", "delta", "echo")
NETWORK = LinkConfig(latency=Uniform(1, 20), drop=0.05, duplicate=0.05, reorder=True)


def faulty_run(seed: int) -> Trace:
    world = gossip_world(seed, ids=NODES, network=NETWORK)
    random_schedule(seed, NODES, 400, crashes=2, partitions=2, downtime_ms=(20, 100)).install(world)
    world.run(500)
    return world.trace


def test_same_seed_same_digest_twice_in_one_process():
    first, second = faulty_run(42), faulty_run(42)
    assert len(first) > 200
    assert first.digest() == second.digest()
    kinds = {r.kind for r in first}
    assert {"send", "deliver", "drop", "duplicate", "timer", "crash", "restart", "state",
            "note", "partition", "heal", "start"} <= kinds  # the run exercises every kind


def test_different_seeds_give_different_traces():
    assert faulty_run(42).digest() != faulty_run(43).digest()


def test_the_global_random_module_is_never_used():
    random.seed(1)
    first = faulty_run(9).digest()
    random.seed(2)
    random.random()
    assert faulty_run(9).digest() == first


SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
sys.path.insert(0, {lib!r})
from tests.sim.test_determinism import faulty_run
print(faulty_run(42).digest())
"""


def test_same_digest_in_another_process_with_another_hash_seed():
    code = SCRIPT.format(tests=str(ROOT), lib=str(ROOT / "lib"))
    digests = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert digests == {faulty_run(42).digest()}


def test_trace_round_trips_through_json(tmp_path):
    trace = faulty_run(5)
    path = tmp_path / "run.jsonl"
    trace.save(path)
    lines = path.read_text().splitlines()
    assert len(lines) == len(trace)
    assert all(json.loads(line)["seq"] == n for n, line in enumerate(lines))
    reloaded = Trace.load(path)
    assert reloaded.to_json() == trace.to_json()
    assert reloaded.digest() == trace.digest()


def test_fault_schedule_round_trips_and_replays_identically():
    schedule = random_schedule(3, NODES, 400, crashes=2, partitions=1, downtime_ms=(20, 100))
    again = FaultSchedule.from_json(json.loads(json.dumps(schedule.to_json())))
    assert again == schedule

    def run(s):
        world = gossip_world(1, ids=NODES, network=NETWORK)
        s.install(world)
        world.run(500)
        return world.trace.digest()

    assert run(schedule) == run(again)
