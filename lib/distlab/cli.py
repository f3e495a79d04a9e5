"""The ``distlab`` command: argument parsing only; the work lives in the library.

    distlab bench sim      simulator events/s against a bare heapq loop (JSON last line)
    distlab bench tree     ZooKeeper data tree operations per second (JSON last line)
    distlab bench zab      elections and commits per wall second; 300 fuzz schedules timed
    distlab bench locks    lock acquire+release cycles per second, ours beside the peer libraries
    distlab bench viz      milliseconds per rendered frame, size of an exported replay
    distlab fuzz zab       random fault schedules with client load, every property checked
    distlab replay election|sync|broadcast ...   a run as one self-contained HTML file
    distlab grade PATH [--lab N] [--format table|json|gradescope|junit] [--out DIR] [--jobs N]
    distlab labs build [--check]                  generate labs/ from solutions/
    distlab serve --port 2181 [--data DIR]        ZooKeeper's wire protocol for real clients
"""

from __future__ import annotations

import argparse
import importlib
import sys

from distlab import __version__

# Each benchmark is a module in distlab.bench with main(argv) -> exit code.
BENCHMARKS = {
    "sim": ("distlab.bench.sim", "simulator events/s against a bare heapq event loop"),
    "tree": ("distlab.bench.tree", "znode create/get/set/delete operations per second"),
    "zab": ("distlab.bench.zab", "elections and commits per wall second, fuzz schedules timed"),
    "locks": ("distlab.bench.locks", "lock cycles per second, ours and the peer libraries"),
    "viz": ("distlab.bench.viz", "milliseconds per rendered frame, exported HTML size"),
    "grade": ("distlab.bench.grade", "seconds to grade one solution per lab, and a batch of 30"),
}
REPLAYS = ("election", "sync", "broadcast")
# Each fuzz target is a module with main(argv) -> exit code.
FUZZERS = {
    "zab": ("distlab.testing.fuzz_cli", "random fault schedules on a simulated ensemble"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distlab",
        description="distlab: learn distributed coordination by building it.",
    )
    parser.add_argument("--version", action="version", version=f"distlab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    bench = commands.add_parser(
        "bench",
        help="run a benchmark: a table, then one JSON object as the last line",
        description="Run a benchmark. Options after the name go to the benchmark "
        "(e.g. `distlab bench sim --help`).",
    )
    bench.add_argument("name", choices=sorted(BENCHMARKS), help="; ".join(
        f"{name}: {text}" for name, (_, text) in sorted(BENCHMARKS.items())))
    bench.add_argument("options", nargs=argparse.REMAINDER, help="passed to the benchmark")

    fuzz = commands.add_parser(
        "fuzz",
        help="run random fault schedules and check every property; last line one JSON object",
        description="Fuzz a protocol. Options after the name go to the fuzzer "
        "(e.g. `distlab fuzz zab --help`).",
    )
    fuzz.add_argument("name", choices=sorted(FUZZERS), help="; ".join(
        f"{name}: {text}" for name, (_, text) in sorted(FUZZERS.items())))
    fuzz.add_argument("options", nargs=argparse.REMAINDER, help="passed to the fuzzer")

    replay = commands.add_parser(
        "replay",
        help="export a simulated run as one self-contained HTML step-through",
        description="Replay a run and export it (e.g. `distlab replay election --servers 5 "
        "--seed 7 --out run.html`; `distlab replay election --help` for options).",
    )
    replay.add_argument("kind", choices=REPLAYS, help="which protocol phase to show")
    replay.add_argument("options", nargs=argparse.REMAINDER, help="passed to the replay")

    grade = commands.add_parser("grade", help="grade a lab notebook or a folder of submissions",
                                add_help=False)
    grade.add_argument("options", nargs=argparse.REMAINDER, help="see `distlab grade --help`")
    labs = commands.add_parser("labs", help="`labs build [--check]`: generate labs/ from solutions/",
                               add_help=False)
    labs.add_argument("options", nargs=argparse.REMAINDER, help="see `distlab labs --help`")
    from distlab.server.serve import build_parser as serve_parser  # its options, parsed here

    commands.add_parser("serve", parents=[serve_parser()], add_help=False,
                        help="serve distlab's ZooKeeper to real clients (kazoo, zkCli.sh)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "grade":
        from distlab.grading.cli import grade_main

        return grade_main(args.options)
    if args.command == "labs":
        from distlab.grading.cli import labs_main

        return labs_main(args.options)
    if args.command == "serve":
        from distlab.server.serve import run

        return run(args)
    if args.command == "replay":
        module = importlib.import_module("distlab.viz.replay")
        return module.main([args.kind, *args.options])
    if args.command in ("bench", "fuzz"):
        table = BENCHMARKS if args.command == "bench" else FUZZERS
        module = importlib.import_module(table[args.name][0])
        return module.main(args.options)
    return 2  # unreachable: argparse requires a command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
