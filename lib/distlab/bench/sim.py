"""``distlab bench sim`` — simulator throughput against a bare ``heapq`` event loop.

Workload (message-heavy, like an election storm): ``--nodes`` processes keep ``--in-flight``
messages circulating; each delivery makes the receiver forward the message to a peer chosen by
its own RNG, over links with uniform random latency. The simulator runs it with tracing on.

The baseline is the least any event loop must do for the same events: pop a ``heapq``
entry, call the same forwarding decision, draw the same latency, push the next entry. Both run
in this process, one after the other, the same number of events; the ratio
``events_per_s / bare_events_per_s`` is what the target (>= 0.25) is about. Each side is
timed ``--repeat`` times and the best run counts (the usual way to time on a noisy machine).
"""

from __future__ import annotations

import argparse
import heapq
import random
import time

from distlab.bench import print_report
from distlab.sansio import Deliver, Effects, Start
from distlab.sim import LinkConfig, Uniform, World

TARGET_RATIO = 0.25


class Forwarder:
    """A sans-I/O process that forwards every message it receives to a random peer."""

    __slots__ = ("me", "peers", "rng", "seed_messages", "received")

    def __init__(self, me: int, peers: list[int], seed_messages: int) -> None:
        self.me = me
        self.peers = peers
        self.seed_messages = seed_messages
        self.received = 0
        self.rng: random.Random | None = None

    def step(self, event):
        fx = Effects()
        if type(event) is Deliver:
            self.received += 1
            fx.send(self.peers[self.rng.randrange(len(self.peers))], event.msg)
        elif type(event) is Start:
            self.rng = event.rng
            for n in range(self.seed_messages):
                fx.send(self.peers[n % len(self.peers)], (self.me, n))
        return fx


def run_simulator(nodes: int, in_flight: int, duration_ms: int, seed: int) -> tuple[float, int, int]:
    """Run ``duration_ms`` of virtual time the normal way (``run``); (seconds, events, records)."""
    world = World(seed=seed, network=LinkConfig(latency=Uniform(1, 10)))
    ids = list(range(1, nodes + 1))
    per_node = in_flight // nodes
    for me in ids:
        peers = [p for p in ids if p != me]
        world.add_node(me, lambda node, peers=peers: Forwarder(node, peers, per_node))
    start = time.perf_counter()
    world.run(duration_ms)
    elapsed = time.perf_counter() - start
    return elapsed, world.events_processed, len(world.trace)


def run_bare(nodes: int, in_flight: int, events: int, seed: int) -> tuple[float, int]:
    """The same workload as a bare heapq loop: no trace, no network model, no processes."""
    rng = random.Random(seed)
    node_rngs = {me: random.Random(f"{seed}/{me}") for me in range(1, nodes + 1)}
    peers = {me: [p for p in range(1, nodes + 1) if p != me] for me in range(1, nodes + 1)}
    heap: list[tuple] = []
    seq = 0
    per_node = in_flight // nodes
    for me in range(1, nodes + 1):
        for n in range(per_node):
            heapq.heappush(heap, (rng.randrange(1, 11), seq, peers[me][n % len(peers[me])], (me, n)))
            seq += 1
    pop, push, random_ = heapq.heappop, heapq.heappush, rng.random
    done = 0
    start = time.perf_counter()
    while done < events:
        now, _, dst, msg = pop(heap)
        mine = peers[dst]
        nxt = mine[node_rngs[dst].randrange(len(mine))]
        push(heap, (now + 1 + int(random_() * 10), seq, nxt, msg))  # as Uniform(1, 10).sample
        seq += 1
        done += 1
    elapsed = time.perf_counter() - start
    return elapsed, done


def main(argv: list[str] | None = None) -> int:
    from distlab.cli import plain  # the docstring without its reST markup

    parser = argparse.ArgumentParser(prog="distlab bench sim", description=plain(__doc__))
    parser.add_argument("--duration", type=int, default=10_000,
                        help="virtual milliseconds the simulator runs (about 18 events per ms)")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--in-flight", type=int, default=100, help="messages circulating at once")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per side; the best counts")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.nodes < 2 or args.in_flight < args.nodes or args.repeat < 1:
        parser.error("need --duration > 0, --nodes >= 2, --in-flight >= --nodes, --repeat >= 1")

    sim_runs = [run_simulator(args.nodes, args.in_flight, args.duration, args.seed) for _ in range(args.repeat)]
    # The baseline does exactly as many events as the simulator did.
    bare_runs = [run_bare(args.nodes, args.in_flight, sim_runs[0][1], args.seed) for _ in range(args.repeat)]
    sim_time, sim_events, records = min(sim_runs)
    bare_time, bare_events = min(bare_runs)
    events_per_s = sim_events / sim_time
    bare_events_per_s = bare_events / bare_time
    ratio = events_per_s / bare_events_per_s
    rows = [
        ("distlab.sim World (trace on)", sim_events, round(sim_time, 3), round(events_per_s), records),
        ("bare heapq loop", bare_events, round(bare_time, 3), round(bare_events_per_s), 0),
    ]
    print_report(
        f"distlab bench sim: {args.nodes} nodes, {args.in_flight} messages in flight, best of {args.repeat}",
        ("loop", "events", "seconds", "events/s", "trace records"),
        rows,
        {
            "benchmark": "sim",
            "events": sim_events,
            "events_per_s": round(events_per_s),
            "bare_events_per_s": round(bare_events_per_s),
            "ratio": round(ratio, 3),
            "target_ratio": TARGET_RATIO,
            "meets_target": ratio >= TARGET_RATIO,
            "trace_records": records,
        },
    )
    return 0
