"""``distlab bench zab`` — how fast the simulated ensemble elects, commits and gets fuzzed.

For 3, 5 and 7 voters:

- **elections per wall second**: ensembles whose servers start with random histories
  (random epochs and zxids on disk) elect and settle (leader established, every learner up
  to date); each election also checks that the winner has the highest (epoch, zxid, id);
- **commits per wall second**: one client writes sequentially to a settled ensemble; each
  write is a full PROPOSAL / ACK / COMMIT round in the simulator;

then the wall time of ``--fuzz-runs`` fuzz schedules (crashes, partitions, loss, client load,
every property checked) on a 5-voter ensemble. Target: 300 schedules in under 60 s.
"""

from __future__ import annotations

import argparse
import random
import time

from distlab.bench import print_report
from distlab.sim.ensemble import Ensemble, disk_with_history
from distlab.testing.fuzz import random_case, run_case
from distlab.zab.zxid import epoch_of, make_zxid

FUZZ_TARGET_S = 60.0


def random_disks(rng: random.Random, voters: int) -> dict[int, dict]:
    disks = {}
    for sid in range(1, voters + 1):
        epoch = rng.randint(0, 3)
        zxid = make_zxid(epoch, rng.randint(1, 50)) if epoch else 0
        disks[sid] = disk_with_history(zxid)
    return disks


def bench_elections(voters: int, runs: int, seed: int) -> tuple[float, int]:
    """Elections per wall second; raises if a winner breaks the vote order."""
    rng = random.Random(seed)
    started = time.perf_counter()
    for run in range(runs):
        disks = random_disks(rng, voters)
        ensemble = Ensemble(voters, seed=seed + run, durable=disks)
        leader = ensemble.wait_for_leader()
        best = max((epoch_of(d["snapshot"][0]) if d["snapshot"] else 0,
                    d["snapshot"][0] if d["snapshot"] else 0, sid) for sid, d in disks.items())
        if leader != best[2]:
            raise AssertionError(f"run {run}: {leader} won, but {best[2]} has the best (epoch, zxid, id)")
    elapsed = time.perf_counter() - started
    return runs / elapsed, runs


def bench_commits(voters: int, writes: int, seed: int) -> tuple[float, float]:
    """(commits per wall second, simulated ms per commit) for sequential writes."""
    ensemble = Ensemble(voters, seed=seed)
    ensemble.wait_for_leader()
    client = ensemble.client()
    client.create("/bench", b"")
    start_sim = ensemble.world.now
    started = time.perf_counter()
    for n in range(writes):
        client.set("/bench", str(n).encode())
    elapsed = time.perf_counter() - started
    return writes / elapsed, (ensemble.world.now - start_sim) / writes


def bench_fuzz(runs: int, voters: int, seed: int) -> tuple[float, int]:
    started = time.perf_counter()
    failures = 0
    for n in range(runs):
        result, _ = run_case(random_case(seed + n, voters))
        failures += not result.ok
    return time.perf_counter() - started, failures


def main(argv: list[str] | None = None) -> int:
    from distlab.cli import plain  # the docstring without its reST markup

    parser = argparse.ArgumentParser(prog="distlab bench zab", description=plain(__doc__))
    parser.add_argument("--elections", type=int, default=30, help="elections per ensemble size")
    parser.add_argument("--writes", type=int, default=300, help="sequential writes per ensemble size")
    parser.add_argument("--fuzz-runs", type=int, default=300, help="fuzz schedules on 5 voters")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.elections < 1 or args.writes < 1 or args.fuzz_runs < 0:
        parser.error("need --elections >= 1, --writes >= 1, --fuzz-runs >= 0")

    rows, summary = [], {"benchmark": "zab"}
    for voters in (3, 5, 7):
        elections_per_s, _ = bench_elections(voters, args.elections, args.seed)
        commits_per_s, sim_ms = bench_commits(voters, args.writes, args.seed)
        rows.append((f"{voters} voters", round(elections_per_s, 1), round(commits_per_s), round(sim_ms, 1)))
        summary[f"elections_per_s_{voters}"] = round(elections_per_s, 1)
        summary[f"commits_per_s_{voters}"] = round(commits_per_s)
    fuzz_s, failures = bench_fuzz(args.fuzz_runs, 5, args.seed) if args.fuzz_runs else (0.0, 0)
    rows.append((f"fuzz: {args.fuzz_runs} schedules, 5 voters", "", "", f"{fuzz_s:.1f} s wall"))
    summary.update({"fuzz_runs": args.fuzz_runs, "fuzz_wall_s": round(fuzz_s, 2), "fuzz_failures": failures,
                    "fuzz_target_s": FUZZ_TARGET_S,
                    "meets_target": bool(args.fuzz_runs >= 300 and fuzz_s < FUZZ_TARGET_S)})
    print_report(
        "distlab bench zab: simulated ensembles, wall-clock rates",
        ("ensemble", "elections/s", "commits/s", "sim ms/commit"),
        rows,
        summary,
    )
    return 1 if failures else 0
