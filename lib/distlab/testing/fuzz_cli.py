"""``distlab fuzz zab`` — argument parsing and reporting for :mod:`distlab.testing.fuzz`.

    distlab fuzz zab --runs 300 --seed 1 --servers 3
    distlab fuzz zab --replay '{"seed": 17, "servers": 3, ...}'

Prints one line per failing case (the seed, the broken property, the shrunk case and the
command that replays it), a summary table, and as its last line one JSON object with
``runs``, ``violations``, ``elections`` and ``commits``. Exit status 1 if anything failed.
"""

from __future__ import annotations

import argparse
import json
import time

from distlab.bench import print_report
from distlab.testing.fuzz import FuzzCase, random_case, run_case, shrink


def main(argv: list[str] | None = None) -> int:
    from distlab.cli import plain  # the docstring without its reST markup

    parser = argparse.ArgumentParser(prog="distlab fuzz zab", description=plain(__doc__))
    parser.add_argument("--runs", type=int, default=100, help="how many random cases")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first case (then seed+1, ...)")
    parser.add_argument("--servers", type=int, default=3, help="voters per ensemble")
    parser.add_argument("--observers", type=int, default=0)
    parser.add_argument("--duration", type=int, default=6000, help="virtual ms of faults and load per case")
    parser.add_argument("--replay", metavar="JSON", help="run exactly this case (as printed by a failure)")
    parser.add_argument("--no-shrink", action="store_true", help="report failures without shrinking them")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.servers < 1 or args.duration < 1000:
        parser.error("need --runs >= 1, --servers >= 1, --duration >= 1000")

    if args.replay:
        try:
            cases = [FuzzCase.from_json(json.loads(args.replay))]
        except (ValueError, TypeError) as error:
            parser.error(f"--replay needs the JSON a failure printed: {error}")
    else:
        cases = [random_case(args.seed + n, args.servers, args.observers, args.duration) for n in range(args.runs)]

    started = time.perf_counter()
    failures = elections = commits = events = 0
    for case in cases:
        result, _ = run_case(case)
        elections += result.elections
        commits += result.commits
        events += result.events
        if result.ok:
            continue
        failures += 1
        first = result.violations[0]
        small = case if args.no_shrink or args.replay else shrink(case, first.invariant)
        print(f"FAIL seed {case.seed}: {first}")
        for extra in result.violations[1:4]:
            print(f"     also: {extra}")
        print(f"     replay: {small.replay_command()}", flush=True)
    elapsed = time.perf_counter() - started
    print_report(
        f"distlab fuzz zab: {len(cases)} case(s), {args.servers} voters",
        ("cases", "failed", "elections", "commits", "events", "wall s"),
        [(len(cases), failures, elections, commits, events, round(elapsed, 2))],
        {"fuzz": "zab", "runs": len(cases), "violations": failures, "elections": elections,
         "commits": commits, "events": events, "servers": args.servers, "seed": args.seed,
         "wall_s": round(elapsed, 2)},
    )
    return 1 if failures else 0
