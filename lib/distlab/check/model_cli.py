"""``distlab check model election`` — exhaustive model checking of a small configuration.

    distlab check model election --servers 3 [--crashes 1] [--drops 0] [--depth N]
    distlab check model election --mistake vote-order-ignores-epoch --save-trace cex.jsonl
    distlab check model 2pc --participants 2 [--crashes 1] [--mistake commit-on-any-yes]
    distlab check model zk-lock --clients 3 [--expiries 1] [--mistake predecessor-by-whole-name]

Prints a table (states, transitions, depth reached, seconds, states/s, verdict), the
counterexample if an invariant broke (and where its simulator trace was saved, with the
command that replays it), and one JSON object as the last line. Exit status 0: no violation;
1: a violation or a stuck state; 2: bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Callable

__all__ = ["main", "MISTAKES"]


def _vote_order_ignores_epoch(new, current):
    return (new.zxid, new.leader) > (current.zxid, current.leader)


def _no_finalize_wait(state, n, vote_order, has_quorum):
    from distlab.zab.election import handle_notification

    step = handle_notification(state, n, vote_order, has_quorum)
    if step.finalize and step.decided is None:
        return replace(step, finalize=False, decided=step.state.proposal)
    return step


def _half_is_a_quorum(acks, voters):
    return sum(1 for sid in set(acks) if sid in voters) >= len(voters) // 2


def _commit_on_any_yes(participants, votes, timed_out):
    from distlab.txn.two_phase import decide

    return "COMMIT" if any(votes.values()) else decide(participants, votes, timed_out)


def _coordinator_forgets_commits(log):
    return {r[1]: "ABORT" for r in log if r[0] == "BEGIN"}


# Planted mistakes, for seeing what a counterexample looks like (and for the tests).
MISTAKES: dict[str, tuple[str, Callable]] = {
    "vote-order-ignores-epoch": ("vote_order", _vote_order_ignores_epoch),
    "no-finalize-wait": ("handle_notification", _no_finalize_wait),
    "half-is-a-quorum": ("has_quorum", _half_is_a_quorum),
}
def _predecessor_by_whole_name(children, me, blocked_by=frozenset({"lock", "write"})):
    from distlab.locks.zk import NodeVanished, parse_node

    if me not in children:
        raise NodeVanished(f"{me} is gone")
    lower = [c for c in sorted(children) if c < me and parse_node(c) is not None]  # sorts on the prefix too
    return lower[-1] if lower else None


LOCK_MISTAKES: dict[str, tuple[str, Callable]] = {
    "predecessor-by-whole-name": ("predecessor", _predecessor_by_whole_name),
}
TWO_PC_MISTAKES: dict[str, tuple[str, Callable]] = {
    "commit-on-any-yes": ("decide", _commit_on_any_yes),
    "recovery-forgets-commits": ("recover_coordinator", _coordinator_forgets_commits),
}
MODELS = ("election", "2pc", "zk-lock", "sync")


def build_parser() -> argparse.ArgumentParser:
    from distlab.cli import plain

    parser = argparse.ArgumentParser(prog="distlab check", description=plain(__doc__))
    parser.add_argument("what", choices=("model",), help="model: explore every schedule of a small configuration")
    parser.add_argument("config", choices=MODELS, help="which configuration (election, 2pc and zk-lock are built so far)")
    parser.add_argument("--servers", type=int, default=3, help="election: voters (default 3)")
    parser.add_argument("--participants", type=int, default=2, help="2pc: participants (default 2)")
    parser.add_argument("--clients", type=int, default=3, help="zk-lock: clients (default 3)")
    parser.add_argument("--expiries", type=int, default=1, help="zk-lock: session expiries allowed (default 1)")
    parser.add_argument("--crashes", type=int, default=1, help="crashes allowed (default 1); restarts are free")
    parser.add_argument("--drops", type=int, default=0, help="messages that may be lost (default 0)")
    parser.add_argument("--dups", type=int, default=0, help="messages that may be duplicated (default 0)")
    parser.add_argument("--depth", type=int, default=None, help="stop after this many steps (default: no bound)")
    parser.add_argument("--strategy", choices=("bfs", "dfs"), default="bfs",
                        help="bfs finds a shortest counterexample; dfs needs --depth")
    parser.add_argument("--max-states", type=int, default=None, help="stop after this many states")
    parser.add_argument("--multiset", action="store_true",
                        help="any in-flight message may arrive next (default: FIFO links, as TCP and the simulator)")
    parser.add_argument("--mistake", choices=sorted(MISTAKES) + sorted(TWO_PC_MISTAKES) + sorted(LOCK_MISTAKES), default=None,
                        help="check a planted mistake instead of the reference")
    parser.add_argument("--save-trace", default=None, metavar="PATH",
                        help="write the counterexample's simulator trace here (default: election-counterexample.jsonl)")
    return parser


def format_table(rows: list[dict]) -> str:
    head = ("model", "states", "transitions", "depth", "seconds", "states/s", "verdict")
    lines = [" ".join(f"{h:>12}" for h in head)]
    for r in rows:
        lines.append(" ".join(f"{v:>12}" for v in (r["model"], r["states"], r["transitions"], r["depth"],
                                                    f"{r['seconds']:.2f}", r["states_per_s"], r["verdict"])))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from distlab.check.model import check_election, counterexample_trace, describe_counterexample, replay_command

    args = build_parser().parse_args(argv)
    if args.config == "2pc":
        return _two_phase(args)
    if args.config == "zk-lock":
        return _zk_lock(args)
    if args.config != "election":
        print(f"distlab check model {args.config}: not built yet — only election, 2pc and zk-lock are "
              "(issue 15)", file=sys.stderr)
        return 2
    if args.strategy == "dfs" and args.depth is None:
        print("distlab check model: --strategy dfs needs --depth", file=sys.stderr)
        return 2
    functions = {}
    if args.mistake:
        if args.mistake not in MISTAKES:
            print(f"distlab check model election: {args.mistake} is a 2pc mistake", file=sys.stderr)
            return 2
        seam, fn = MISTAKES[args.mistake]
        functions[seam] = fn
    result = check_election(args.servers, args.crashes, args.drops, args.dups, depth=args.depth,
                            strategy=args.strategy, max_states=args.max_states, fifo=not args.multiset, **functions)
    out = result.as_json()
    out["mistake"] = args.mistake
    print(format_table([out]))
    status = 0
    if result.violation:
        status = 1
        print()
        print(describe_counterexample(result))
        path = args.save_trace or "election-counterexample.jsonl"
        counterexample_trace(result, servers=args.servers, **functions).save(path)
        out["trace"] = path
        out["replay"] = replay_command(path)
        print(f"\nsimulator trace: {path}\nstep through it: {out['replay']}")
    elif result.stuck:
        status = 1
        print(f"\nstuck: {result.stuck}\n" + "\n".join(f"  {i:2}. {a.describe()}"
                                                   for i, a in enumerate(result.stuck_trace, 1)))
    print(json.dumps(out, default=str))
    return status


def _zk_lock(args: argparse.Namespace) -> int:
    from distlab.check.model import ZkLockModel, describe_counterexample, explore

    if args.mistake and args.mistake not in LOCK_MISTAKES:
        print(f"distlab check model zk-lock: {args.mistake} is not a lock mistake", file=sys.stderr)
        return 2
    functions = {LOCK_MISTAKES[args.mistake][0]: LOCK_MISTAKES[args.mistake][1]} if args.mistake else {}
    result = explore(ZkLockModel(args.clients, args.expiries, **functions), strategy=args.strategy,
                     depth=args.depth, max_states=args.max_states)
    out = result.as_json()
    out["mistake"] = args.mistake
    print(format_table([out]))
    status = 0
    if result.violation:
        status = 1
        print()
        print(describe_counterexample(result))
        print("\n(the lock model runs the recipe against one atomic server, not the simulator: no trace to replay yet)")
    elif result.stuck:
        status = 1
        print(f"\nstuck: {result.stuck}")
    print(json.dumps(out, default=str))
    return status


def _two_phase(args: argparse.Namespace) -> int:
    from distlab.check.model import describe_counterexample, explore, replay_processes, two_phase_model
    from distlab.txn.two_phase import TxnImpl

    if args.mistake and args.mistake not in TWO_PC_MISTAKES:
        print(f"distlab check model 2pc: {args.mistake} is an election mistake", file=sys.stderr)
        return 2
    impl = TxnImpl(**{TWO_PC_MISTAKES[args.mistake][0]: TWO_PC_MISTAKES[args.mistake][1]}) if args.mistake else None
    model = two_phase_model(args.participants, args.crashes, args.drops, args.dups, impl=impl)
    result = explore(model, strategy=args.strategy, depth=args.depth, max_states=args.max_states)
    out = result.as_json()
    out["mistake"] = args.mistake
    print(format_table([out]))
    status = 0
    if result.violation:
        status = 1
        print()
        print(describe_counterexample(result))
        path = args.save_trace or "2pc-counterexample.jsonl"
        replay_processes(model, result.trace).trace.save(path)
        out["trace"] = path
        print(f"\nsimulator trace: {path} (Trace.load(path); the HTML viewer draws Zab runs only so far)")
    elif result.stuck:
        status = 1
        print(f"\nstuck: {result.stuck}\n" + "\n".join(f"  {i:2}. {a.describe()}"
                                                     for i, a in enumerate(result.stuck_trace, 1)))
    print(json.dumps(out, default=str))
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
