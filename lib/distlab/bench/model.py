"""``distlab bench model``: the model checker's speed on Fast Leader Election.

Three measurements on 3 servers with at most 1 crash (restarts free, FIFO links):

- states per second of a breadth-first search (wall clock and CPU, single process);
- the full exploration of that configuration: reachable states, transitions and time;
- time to the minimal counterexample for each planted mistake (a vote order that ignores the
  epoch — the issue's headline figure —, no finalize wait, half of the voters as a quorum).

    distlab bench model [--quick]

``--quick`` stops the full exploration at 200,000 states (for tests). Table, then one JSON
object as the last line.
"""

from __future__ import annotations

import argparse
import time

from distlab.bench import print_report

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from distlab.check.model import ElectionModel, explore
    from distlab.check.model_cli import MISTAKES
    from distlab.cli import plain

    parser = argparse.ArgumentParser(prog="distlab bench model", description=plain(__doc__))
    parser.add_argument("--quick", action="store_true", help="bound the full exploration at 200,000 states")
    parser.add_argument("--crashes", type=int, default=1, help="crashes allowed (default 1)")
    args = parser.parse_args(argv)

    rows = []
    cpu = time.process_time()
    full = explore(ElectionModel(3, crashes=args.crashes), max_states=200_000 if args.quick else None)
    cpu = time.process_time() - cpu
    rows.append(["reference, full exploration" if full.complete else "reference, first 200,000 states",
                 full.states, full.transitions, full.depth, round(full.seconds, 2), round(full.states_per_second),
                 round(full.states / cpu) if cpu else 0, full.verdict])
    summary = {"benchmark": "model", "servers": 3, "crashes": args.crashes, "states": full.states,
               "transitions": full.transitions, "depth": full.depth, "complete": full.complete,
               "seconds": round(full.seconds, 2), "states_per_s": round(full.states_per_second),
               "states_per_cpu_s": round(full.states / cpu) if cpu else 0, "verdict": full.verdict}
    for name, (seam, fn) in MISTAKES.items():
        found = explore(ElectionModel(3, crashes=args.crashes, **{seam: fn}))
        rows.append([name, found.states, found.transitions, found.depth, round(found.seconds, 3),
                     round(found.states_per_second), "", f"{found.verdict} in {len(found.trace)} steps"])
        summary[f"{name}_seconds"] = round(found.seconds, 3)
        summary[f"{name}_steps"] = len(found.trace)
        summary[f"{name}_found"] = found.violation is not None
    print_report("model checker: Fast Leader Election, 3 servers, <= %d crash" % args.crashes,
                 ["configuration", "states", "transitions", "depth", "seconds", "states/s", "states/cpu-s",
                  "verdict"], rows, summary)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
