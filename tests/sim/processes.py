"""Small sans-I/O processes the simulator tests drive."""

from __future__ import annotations

from distlab.sansio import Deliver, Effects, Start, Timer


class Recorder:
    """Remembers everything it receives; sends what the test tells it to at start."""

    def __init__(self, node, sends_at_start=(), timers_at_start=()):
        self.node = node
        self.sends_at_start = list(sends_at_start)
        self.timers_at_start = list(timers_at_start)
        self.received: list[tuple[int, object, object]] = []
        self.fired: list[tuple[int, str]] = []
        self.start: Start | None = None

    def step(self, event):
        fx = Effects()
        if isinstance(event, Start):
            self.start = event
            for dst, msg in self.sends_at_start:
                fx.send(dst, msg)
            for name, delay in self.timers_at_start:
                if delay is None:
                    fx.cancel_timer(name)
                else:
                    fx.set_timer(name, delay)
        elif isinstance(event, Deliver):
            self.received.append((event.now, event.src, event.msg))
        elif isinstance(event, Timer):
            self.fired.append((event.now, event.name))
        return fx


class Counter:
    """Counts pings; persists the count only every other ping, to show what survives a crash."""

    def __init__(self, node):
        self.node = node
        self.count = 0
        self.durable_seen = None

    def step(self, event):
        fx = Effects()
        if isinstance(event, Start):
            self.durable_seen = dict(event.durable)
            self.count = event.durable.get("count", 0)
            fx.become("RUNNING")
        elif isinstance(event, Deliver):
            self.count += 1
            if self.count % 2 == 0:
                fx.persist("count", self.count)
        return fx


class Gossip:
    """Forwards each message to a peer chosen with its own RNG, a fixed number of hops."""

    def __init__(self, node, peers, hops=30):
        self.node = node
        self.peers = list(peers)
        self.hops = hops
        self.rng = None

    def step(self, event):
        fx = Effects()
        if isinstance(event, Start):
            self.rng = event.rng
            fx.become("GOSSIPING")
            fx.send(self.peers[0], (self.node, 0))
            fx.set_timer("tick", 7)
        elif isinstance(event, Deliver):
            origin, hop = event.msg
            if hop < self.hops:
                fx.send(self.rng.choice(self.peers), (origin, hop + 1))
            if hop == self.hops // 2:
                fx.persist("halfway", hop)
                fx.note(f"{self.node} saw message from {origin} at hop {hop}")
        elif isinstance(event, Timer):
            fx.set_timer("tick", 7 + self.rng.randrange(5))
            if event.now > 60:
                fx.become("TIRED")
        return fx


def gossip_world(seed, ids=(1, 2, 3, 4, 5), **world_kwargs):
    from distlab.sim import World

    world = World(seed=seed, **world_kwargs)
    for node in ids:
        peers = [p for p in ids if p != node]
        world.add_node(node, lambda n, peers=peers: Gossip(n, peers))
    return world
