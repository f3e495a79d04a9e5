"""``distlab bench tree``: znode operations per second on a ``DataTree``.

Writes go through the same two steps a server uses (``ops.prepare`` then
``DataTree.apply``), reads straight to the tree (a server answers reads without a txn).
The nodes are spread over 64 directories under /bench, so ``get_children`` lists a
realistic number of names. Keys are visited in a seeded random order.

    PYTHONPATH=lib python3 -c "from distlab.bench.tree import main; main()"
    PYTHONPATH=lib python3 -m distlab.bench.tree --ops 50000 --seed 3

Only this driver reads a clock (``time.perf_counter``); the core never does.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Callable, Sequence

from distlab.bench import print_report
from distlab.zk.ops import CreateRequest, DeleteRequest, Request, SetDataRequest, prepare
from distlab.zk.tree import DataTree

__all__ = ["main"]

_DIRECTORIES = 64
_SESSION_ID = 1
_VALUE_BYTES = 32


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table, then one JSON line; return 0."""
    from distlab.cli import plain  # the docstring without its reST markup

    parser = argparse.ArgumentParser(prog="distlab bench tree", description=plain(__doc__))
    parser.add_argument("--ops", type=int, default=20_000, help="ops per kind (default 20000)")
    parser.add_argument("--seed", type=int, default=7, help="seed for order and values (default 7)")
    args = parser.parse_args(argv)
    if args.ops <= 0:
        parser.error("--ops must be positive")

    rng = random.Random(args.seed)
    tree = DataTree()
    clock = _TxnClock()

    def write(request: Request) -> None:
        zxid = clock.next_zxid()
        tree.apply(prepare(tree, request, _SESSION_ID, zxid, zxid))

    directories = [f"/bench/d{d:02d}" for d in range(_DIRECTORIES)]
    for path in ["/bench", *directories]:
        write(CreateRequest(path=path))
    paths = [f"{directories[i % _DIRECTORIES]}/n{i:07d}" for i in range(args.ops)]
    values = [rng.randbytes(_VALUE_BYTES) for _ in range(args.ops)]

    def shuffled() -> list[str]:
        order = paths[:]
        rng.shuffle(order)
        return order

    timings: list[tuple[str, int, float]] = []
    creates = [CreateRequest(path=p, data=v) for p, v in zip(paths, values)]
    timings.append(_timed("create", creates, write))
    timings.append(_timed("get", shuffled(), tree.get_data))
    timings.append(_timed("exists", shuffled(), tree.exists))
    listings = [directories[rng.randrange(_DIRECTORIES)] for _ in range(args.ops)]
    timings.append(_timed("get_children", listings, tree.get_children))
    sets = [SetDataRequest(path=p, data=values[-1 - i]) for i, p in enumerate(shuffled())]
    timings.append(_timed("set", sets, write))
    snapshot_nodes = len(tree)
    start = time.perf_counter()
    snapshot = tree.snapshot()
    digest = tree.digest()
    snapshot_s = time.perf_counter() - start
    timings.append(_timed("delete", [DeleteRequest(path=p) for p in shuffled()], write))

    rows = [[name, n, seconds, n / seconds, seconds / n * 1e6] for name, n, seconds in timings]
    # One snapshot and one digest of the full tree, reported per node.
    rows.append([
        "snapshot+digest (per node)",
        snapshot_nodes,
        snapshot_s,
        snapshot_nodes / snapshot_s,
        snapshot_s / snapshot_nodes * 1e6,
    ])
    summary = {f"{name}_ops_per_s": round(count / seconds) for name, count, seconds in timings}
    summary.update(
        ops=args.ops,
        seed=args.seed,
        snapshot_bytes=len(snapshot),
        snapshot_digest_ms=round(snapshot_s * 1000, 3),
        digest=digest[:16],
    )
    print_report(
        f"distlab.zk DataTree: {args.ops:,} ops per kind, writes via prepare + apply, "
        f"seed {args.seed}",
        ["op", "count", "seconds", "ops/s", "us/op"],
        rows,
        summary,
    )
    return 0


class _TxnClock:
    """Zxids for the benchmark's txns (epoch 0); the txn time reuses the zxid (ms)."""

    def __init__(self) -> None:
        self._zxid = 0

    def next_zxid(self) -> int:
        self._zxid += 1
        return self._zxid


def _timed(
    name: str, items: Sequence[object], operation: Callable[[object], object]
) -> tuple[str, int, float]:
    start = time.perf_counter()
    for item in items:
        operation(item)
    return name, len(items), time.perf_counter() - start


if __name__ == "__main__":
    raise SystemExit(main())
