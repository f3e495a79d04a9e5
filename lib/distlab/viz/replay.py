"""``distlab replay election|sync|broadcast`` — a simulated run as one self-contained HTML file.

    distlab replay election --servers 5 --seed 7 [--crash-leader-at MS] --out run.html
    distlab replay sync --mode diff|snap|trunc --servers 3 --seed 7 --out sync.html
    distlab replay broadcast --writes 3 --servers 3 --seed 7 --out broadcast.html
    distlab replay election --trace saved.jsonl [--since MS] --out saved.html   # a saved trace

The page has every frame as an inline SVG, a slider and buttons in plain JavaScript, and the
one-line explanation of each event; it needs no network. The last line printed is one JSON
object (frames, bytes, path).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from distlab.sansio import UsageError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    from distlab.cli import plain  # the docstring without its reST markup

    parser = argparse.ArgumentParser(prog="distlab replay", description=plain(__doc__))
    parser.add_argument("kind", choices=("election", "sync", "broadcast"))
    parser.add_argument("--servers", type=int, default=None, help="voters (default 5 for election, 3 otherwise)")
    parser.add_argument("--observers", type=int, default=0, help="observers (ids after the voters)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--crash-leader-at", type=int, default=None, metavar="MS",
                        help="election: crash whoever leads at this virtual time; watch the next election")
    parser.add_argument("--histories", default="random",
                        help="election: last zxid on each disk: random (from the seed), empty, or "
                             "a list like 1:3,1:7,1:7,1:2,1:5")
    parser.add_argument("--mode", choices=("diff", "snap", "trunc"), default="diff",
                        help="sync: which sync the lagging learner gets")
    parser.add_argument("--writes", type=int, default=3, help="broadcast: client writes; sync: writes missed")
    parser.add_argument("--trace", default=None, help="view a trace saved with Trace.save instead of running one")
    parser.add_argument("--since", type=int, default=0, metavar="MS",
                        help="with --trace: show events from this virtual time on (earlier ones set the scene)")
    parser.add_argument("--out", default=None, help="the HTML file to write (default: <kind>.html)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from distlab.sim.trace import Trace
    from distlab.viz.frames import Timeline
    from distlab.viz.html import export_html
    from distlab.viz.runs import Run, Scenario, parse_histories

    out = Path(args.out or f"{args.kind}.html")
    try:
        if args.trace:
            trace = Trace.load(args.trace)
            start = next((i for i, r in enumerate(trace.records) if r.time >= args.since), len(trace))
            timeline = Timeline(trace, start=start)
            title = f"Replay of {Path(args.trace).name}"
            subtitle = f"{len(timeline)} events"
        else:
            servers = args.servers if args.servers is not None else (5 if args.kind == "election" else 3)
            histories = parse_histories(args.histories, servers, args.seed) if args.kind == "election" else None
            scenario = Scenario(args.kind, servers, args.seed, observers=args.observers, histories=histories,
                                crash_leader_at=args.crash_leader_at, mode=args.mode, writes=args.writes)
            run = Run(scenario)
            timeline = run.timeline
            title = scenario.title
            options = [args.kind, "--servers", str(servers), "--seed", str(args.seed)]
            if args.kind == "election":
                options += ["--histories", args.histories]
                if args.crash_leader_at is not None:
                    options += ["--crash-leader-at", str(args.crash_leader_at)]
            elif args.kind == "sync":
                options += ["--mode", args.mode, "--writes", str(args.writes)]
            else:
                options += ["--writes", str(args.writes)]
            subtitle = (f"distlab replay {' '.join(options)} · {len(timeline)} events"
                        + (f" from t = {timeline[0].time} ms" if len(timeline) else ""))
        if len(timeline) == 0:
            raise UsageError("the run produced no events to show")
        export_html(timeline, out, title, subtitle)
    except (UsageError, ValueError, OSError) as error:
        print(f"distlab replay: {error}", file=sys.stderr)
        return 2
    size = out.stat().st_size
    changes = len(timeline.state_changes())
    print(f"{title}: {len(timeline)} frames ({changes} with a state change) -> {out} ({size:,} bytes)")
    print(json.dumps({"replay": args.kind, "frames": len(timeline), "state_changes": changes,
                      "bytes": size, "path": str(out)}, sort_keys=True))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
