"""The ``distlab`` command: argument parsing only; the work lives in the library.

    distlab bench sim      simulator events/s against a bare heapq loop (JSON last line)
    distlab bench tree     ZooKeeper data tree operations per second (JSON last line)
    distlab bench zab      elections and commits per wall second; 300 fuzz schedules timed
    distlab bench locks    lock acquire+release cycles per second, ours beside the peer libraries
    distlab bench viz      milliseconds per rendered frame, size of an exported replay
    distlab fuzz zab       random fault schedules with client load, every property checked
    distlab replay election|sync|broadcast ...   a run as one self-contained HTML file
    distlab grade PATH [--lab N] [--format table|json|gradescope|junit] [--out DIR] [--jobs N]
    distlab labs build [--check] [--solutions DIR --labs DIR]   generate labs/ from solutions/
    distlab course init DIR [--force]             copy the chapters and labs into DIR
    distlab gradescope build --lab N --out autograder.zip   Gradescope's autograder bundle
    distlab serve --port 2181 [--data DIR]        ZooKeeper's wire protocol for real clients
    distlab check model election --servers 3 [--crashes K] [--depth N]   every schedule, explored

Each subcommand is one row of :data:`SUBCOMMANDS`: its name, a one-line help, a function that
adds its arguments to its parser, and a function that runs it. ``grade`` and ``labs`` are
*forwarded*: everything after their name (``--help`` too) goes to their own parser
(:mod:`distlab.grading.cli`); so is ``serve`` (:mod:`distlab.server.serve`), imported only
when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from distlab import __version__

# Each benchmark is a module in distlab.bench with main(argv) -> exit code.
BENCHMARKS = {
    "sim": ("distlab.bench.sim", "simulator events/s against a bare heapq event loop"),
    "tree": ("distlab.bench.tree", "znode create/get/set/delete operations per second"),
    "zab": ("distlab.bench.zab", "elections and commits per wall second, fuzz schedules timed"),
    "locks": ("distlab.bench.locks", "lock cycles per second, ours and the peer libraries"),
    "viz": ("distlab.bench.viz", "milliseconds per rendered frame, exported HTML size"),
    "grade": ("distlab.bench.grade", "seconds to grade one solution per lab, and a batch of 30"),
    "serve": ("distlab.bench.serve", "kazoo ops/s and failover, distlab serve beside real ZooKeeper"),
    "model": ("distlab.bench.model", "model-checker states/s, full election exploration, time to a counterexample"),
}
REPLAYS = ("election", "sync", "broadcast")
# Each fuzz target is a module with main(argv) -> exit code.
FUZZERS = {
    "zab": ("distlab.testing.fuzz_cli", "random fault schedules on a simulated ensemble"),
}


def plain(doc: str) -> str:
    """A docstring's first paragraph as plain words for ``--help`` (reST markup removed)."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    paragraph = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", paragraph)   # :mod:`x` -> x
    return re.sub(r"``([^`]+)``", r"\1", paragraph)                 # ``x`` -> x


@dataclass(frozen=True)
class Subcommand:
    """One ``distlab NAME`` command."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    forwarded: bool = False  # True: the words after NAME go, unparsed, to run's own parser


# ----------------------------------------------------------------- bench, fuzz, replay ----
def _table_command(table: dict, what: str) -> tuple[Callable, Callable]:
    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", choices=sorted(table), help="; ".join(
            f"{name}: {text}" for name, (_, text) in sorted(table.items())))
        parser.add_argument("options", nargs=argparse.REMAINDER, help=f"passed to the {what}")

    def run(args: argparse.Namespace) -> int:
        return importlib.import_module(table[args.name][0]).main(args.options)

    return configure, run


def _configure_replay(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=REPLAYS, help="which protocol phase to show")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="passed to the replay")


def _run_replay(args: argparse.Namespace) -> int:
    return importlib.import_module("distlab.viz.replay").main([args.kind, *args.options])


# ----------------------------------------------------------------------- grade, labs ----
def _configure_forwarded(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("options", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def _run_grade(args: argparse.Namespace) -> int:
    from distlab.grading.cli import grade_main

    return grade_main(args.options)


def _labs_options(options: list[str]) -> list[str] | None:
    """``labs`` options with --solutions/--labs filled in where a checkout does not give them.

    In a repository checkout the defaults are its solutions/ and labs/. Elsewhere (an installed
    distlab) the current folder's solutions/ and labs/ are used if solutions/ exists;
    otherwise None: the caller says what to give.
    """
    from distlab.course import source_tree

    if source_tree() is not None or any(o in ("-h", "--help") for o in options):
        return options
    given = {o.split("=")[0] for o in options}
    if "--solutions" not in given and (Path.cwd() / "solutions").is_dir():
        options = [*options, "--solutions", str(Path.cwd() / "solutions")]
        given.add("--solutions")
    if "--labs" not in given:
        options = [*options, "--labs", str(Path.cwd() / "labs")]
    return options if "--solutions" in {o.split("=")[0] for o in options} else None


def _run_labs(args: argparse.Namespace) -> int:
    from distlab.grading.cli import labs_main

    options = _labs_options(args.options)
    if options is None:
        print("distlab labs build: not in a distlab repository and no solutions/ here; give the "
              "folders: distlab labs build --solutions DIR --labs DIR", file=sys.stderr)
        return 2
    return labs_main(options)


# ---------------------------------------------------------------------------- course ----
def _configure_course(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="copy the chapters (course/) and the labs (labs/) into DIR",
                              description="Copy the course's chapters into DIR/course and the learner "
                              "labs into DIR/labs (the solutions are not part of an installed distlab). "
                              "Then open DIR in JupyterLab: jupyter lab DIR")
    init.add_argument("dir", type=Path, help="the folder to create or fill")
    init.add_argument("--force", action="store_true", help="overwrite files that are already there")


def _run_course(args: argparse.Namespace) -> int:
    from distlab.course import CourseNotFound, init_course

    try:
        written = init_course(args.dir, force=args.force)
    except (CourseNotFound, FileExistsError, OSError) as error:
        print(f"distlab course init: {error}", file=sys.stderr)
        return 1
    chapters = sum(1 for p in written if p.parent.name == "course" and p.suffix == ".ipynb")
    labs = sum(1 for p in written if p.parent.name == "labs")
    print(f"distlab course init: {chapters} chapters in {args.dir / 'course'}, {labs} labs in "
          f"{args.dir / 'labs'}; start with {args.dir / 'course' / 'README.md'} (jupyter lab {args.dir})")
    return 0


# ------------------------------------------------------------------------ gradescope ----
GRADESCOPE_BUILD_HELP = """\
Write Gradescope's autograder zip for one lab: setup.sh (installs python3, python3-venv and
bubblewrap with apt on Gradescope's Ubuntu image, then this grader's wheel and its dependencies
with pip), run_autograder (grades the one notebook a student uploads; with none or several,
the student sees one failed test saying so) and the grader as a wheel built from this checkout
(no solutions). Upload the zip as the assignment's autograder (base image Ubuntu 22.04 or newer).

If DISTLAB_GRADER_SECRET or DISTLAB_GRADER_SECRET_FILE is set, the secret that hidden seeds
derive from goes into the zip: keep that zip private (it is written readable by you only).
Without one, hidden seeds derive from a built-in value that anyone with distlab can compute."""


def _configure_gradescope(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="write the autograder zip for one lab",
                               description=GRADESCOPE_BUILD_HELP,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("--lab", type=int, required=True, help="the lab to grade (its number)")
    build.add_argument("--out", type=Path, default=Path("autograder.zip"),
                       help="the zip to write (default: autograder.zip)")
    build.add_argument("--wheel", type=Path, help="bundle this distlab wheel instead of building one "
                       "from the checkout (needed when distlab is not run from a checkout)")


def _run_gradescope(args: argparse.Namespace) -> int:
    from distlab.grading.gradescope import BundleError, build_bundle

    try:
        bundle = build_bundle(args.lab, args.out, wheel=args.wheel)
    except (BundleError, OSError) as error:
        print(f"distlab gradescope build: {error}", file=sys.stderr)
        return 1
    print(f"distlab gradescope build: {bundle.path} for lab {bundle.lab} ({bundle.max_score:g} points): "
          + ", ".join(bundle.names))
    print("  hidden seeds: " + ("from the instructor's secret, which is in the zip: keep it private"
                                if bundle.has_secret else
                                "built-in, NOT secret (set DISTLAB_GRADER_SECRET or DISTLAB_GRADER_SECRET_FILE)"))
    return 0


# ----------------------------------------------------------------------------- serve ----
def _run_serve(args: argparse.Namespace) -> int:
    # Imported only when serving: the other commands never depend on the server's modules.
    from distlab.server.serve import build_parser, run

    return run(build_parser().parse_args(args.options))


def _run_check(args: argparse.Namespace) -> int:
    from distlab.check.model_cli import main as check_main

    return check_main(args.options)


_bench_configure, _bench_run = _table_command(BENCHMARKS, "benchmark")
_fuzz_configure, _fuzz_run = _table_command(FUZZERS, "fuzzer")

SUBCOMMANDS: list[Subcommand] = [
    Subcommand("bench", "run a benchmark: a table, then one JSON object as the last line",
               _bench_configure, _bench_run),
    Subcommand("fuzz", "run random fault schedules and check every property; last line one JSON object",
               _fuzz_configure, _fuzz_run),
    Subcommand("replay", "export a simulated run as one self-contained HTML step-through",
               _configure_replay, _run_replay),
    Subcommand("grade", "grade a lab notebook or a folder of submissions (distlab grade --help)",
               _configure_forwarded, _run_grade, forwarded=True),
    Subcommand("labs", "generate the learner labs from the solutions: labs build [--check]",
               _configure_forwarded, _run_labs, forwarded=True),
    Subcommand("course", "copy the course's chapters and labs into a folder: course init DIR",
               _configure_course, _run_course),
    Subcommand("gradescope", "build Gradescope's autograder zip for a lab: gradescope build --lab N",
               _configure_gradescope, _run_gradescope),
    Subcommand("serve", "serve distlab's ZooKeeper to real clients (kazoo, zkCli.sh)",
               _configure_forwarded, _run_serve, forwarded=True),
    Subcommand("check", "model-check a small configuration: check model election --servers 3 [--crashes K]",
               _configure_forwarded, _run_check, forwarded=True),
]

DESCRIPTIONS = {
    "bench": "Run a benchmark. Options after the name go to the benchmark (e.g. distlab bench sim --help).",
    "fuzz": "Fuzz a protocol. Options after the name go to the fuzzer (e.g. distlab fuzz zab --help).",
    "replay": "Replay a run and export it, e.g. distlab replay election --servers 5 --seed 7 --out run.html "
              "(distlab replay election --help lists the options).",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distlab",
        description="distlab: learn distributed coordination by building it. "
        "Every command answers --help.",
    )
    parser.add_argument("--version", action="version", version=f"distlab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for command in SUBCOMMANDS:
        # A forwarded command's own parser answers --help.
        sub = commands.add_parser(command.name, help=command.help, add_help=not command.forwarded,
                                  description=DESCRIPTIONS.get(command.name, command.help[0].upper()
                                                               + command.help[1:] + "."))
        command.configure(sub)
        sub.set_defaults(subcommand=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    forwarded = {c.name: c for c in SUBCOMMANDS if c.forwarded}
    # A forwarded command's words (--help included) go to its own parser untouched: argparse's
    # REMAINDER would refuse options that come first.
    first = next((i for i, word in enumerate(argv) if not word.startswith("-")), None)
    if first == 0 and argv[0] in forwarded:
        return forwarded[argv[first]].run(argparse.Namespace(options=argv[first + 1:]))
    args = parser.parse_args(argv)
    return args.subcommand.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
