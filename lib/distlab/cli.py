"""The ``distlab`` command: argument parsing only; the work lives in the library.

    distlab bench sim      simulator events/s against a bare heapq loop (JSON last line)
    distlab bench tree     ZooKeeper data tree operations per second (JSON last line)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        module = importlib.import_module(BENCHMARKS[args.name][0])
        return module.main(args.options)
    return 2  # unreachable: argparse requires a command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
