"""Load balancing (负载均衡) on the consumer, as Dubbo does it.

:Status: reference implementation for Lab 8, part D (``smooth_round_robin``)

Dubbo balances on the client: each call, the consumer's ``LoadBalance`` picks one provider
from the list the registry pushed (Dubbo documentation, "Load Balancing"; the classes are in
``org.apache.dubbo.rpc.cluster.loadbalance``). Every strategy here is a pure function of the
provider table ``{address: weight}`` plus whatever state it needs, passed in and returned —
so it can be tested with a table and graded without a network:

========================  ===============================  ==================================
strategy (Dubbo name)     function                         idea
========================  ===============================  ==================================
``random`` (default)      :func:`weighted_random`          P(provider) = weight / total
``roundrobin``            :func:`smooth_round_robin`       Nginx's smooth weighted round
                                                           robin: exact shares, no bursts
``leastactive``           :func:`least_active`             fewest calls in flight; ties by
                                                           weighted random
``consistenthash``        :class:`ConsistentHashRing`      same first argument, same
                                                           provider; ketama ring, 160
                                                           virtual nodes per provider
========================  ===============================  ==================================

(Dubbo also ships ``shortestresponse`` and, in 3.x, adaptive and P2C strategies; chapter 06
sketches the first. Not built here.)

Providers are always taken in **sorted address order** where Dubbo takes the order of its
invoker list; that makes ties and the random walk reproducible from a seed.

**Weights and warm-up.** A provider's weight comes from its registry URL (``weight=100`` is
Dubbo's default). A provider that started less than ``warmup`` ago (10 minutes by default)
gets a reduced weight, growing linearly with its uptime, so a cold JVM is not flooded
(``AbstractLoadBalance.calculateWarmupWeight``): :func:`warmup_weight`.

**Caveats**

- Least active counts only *this consumer's* calls in flight; a thousand consumers each see
  a small part of a provider's load (Dubbo's ``RpcStatus`` has the same blind spot).
- Round robin's state lives in the consumer, per service (Dubbo keys it per method); two
  consumers interleave independently.
- Consistent hashing balances keys, not load: a hot key stays hot on one provider.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from typing import Any, Protocol

__all__ = [
    "Weights",
    "DEFAULT_WEIGHT",
    "DEFAULT_WARMUP_MS",
    "VIRTUAL_NODES",
    "SmoothRoundRobin",
    "weighted_random",
    "smooth_round_robin",
    "least_active",
    "warmup_weight",
    "ketama_hash",
    "ConsistentHashRing",
    "LoadBalance",
    "RandomLoadBalance",
    "RoundRobinLoadBalance",
    "LeastActiveLoadBalance",
    "ConsistentHashLoadBalance",
    "make_balance",
    "BALANCES",
]

Weights = dict  # {address: weight}, e.g. {"provider-1": 100, "provider-2": 200}
DEFAULT_WEIGHT = 100  # Dubbo's default provider weight
DEFAULT_WARMUP_MS = 10 * 60 * 1000  # Dubbo's default warm-up: 10 minutes
VIRTUAL_NODES = 160  # Dubbo's default ``hash.nodes``


def _check(weights: Weights) -> list[str]:
    if not weights:
        raise ValueError("no providers to choose from")
    for address, weight in weights.items():
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
            raise ValueError(f"weight of {address!r} must be an int >= 0, got {weight!r}")
    return sorted(weights)


# ---------------------------------------------------------------- random -------------------
def weighted_random(weights: Weights, rng: random.Random) -> str:
    """Dubbo's ``RandomLoadBalance`` (the default): a provider with probability weight/total.

    1. If every weight is the same (or all are 0), pick uniformly.
    2. Otherwise draw ``offset`` in [0, total) and walk the providers in order, subtracting
       each weight; the first that takes ``offset`` below 0 is chosen.

    ``rng`` is the caller's seeded generator (a process's ``Start.rng``), never the global one.
    """
    order = _check(weights)
    total = sum(weights[a] for a in order)
    if total == 0 or len({weights[a] for a in order}) == 1:
        return order[rng.randrange(len(order))]
    offset = rng.randrange(total)
    for address in order:
        offset -= weights[address]
        if offset < 0:
            return address
    raise AssertionError("unreachable: offset < total")


# ---------------------------------------------------------------- smooth round robin -------
class SmoothRoundRobin(Protocol):
    """The ``smooth_round_robin`` seam: ``(weights, current) -> (chosen, new_current)``."""

    def __call__(self, weights: Weights, current: dict) -> tuple[str, dict]: ...


def smooth_round_robin(weights: Weights, current: dict) -> tuple[str, dict]:
    """One pick of smooth weighted round robin (Dubbo's ``RoundRobinLoadBalance`` since 2.6.5,
    "based on Nginx's smooth weighted round-robin algorithm" — Dubbo documentation, "Load
    Balancing"; Nginx's ``ngx_http_upstream_get_peer``).

    Each provider keeps a running score, ``current``:

    1. every provider in ``weights`` adds its weight to its score (a provider new to
       ``current`` starts from 0);
    2. the provider with the highest score is chosen; a tie goes to the first in sorted
       address order (Dubbo: the first in its list — its comparison is a strict ``>``);
    3. the chosen one's score drops by the total weight;
    4. providers no longer in ``weights`` are forgotten. (Dubbo keeps them for 60 s,
       ``RECYCLE_PERIOD``, and resets a score to 0 when its weight changes.)

    Returns ``(chosen, new_current)``; ``current`` itself is not changed. Over any
    ``sum(weights)`` consecutive picks with a fixed table, each provider is chosen exactly
    ``weight`` times, and the heavy ones' turns are spread out instead of bunched:

    ========================  ===============================================
    weights                   picks from all-zero scores
    ========================  ===============================================
    a=5, b=1, c=1             a a b a c a a   (plain weighted RR: a a a a a b c)
    a=1, b=2, c=3             c b a c b c
    a=1, b=1                  a b a b
    ========================  ===============================================
    """
    order = _check(weights)
    total = sum(weights[a] for a in order)
    scores = {a: current.get(a, 0) + weights[a] for a in order}
    chosen = order[0]
    for address in order[1:]:
        if scores[address] > scores[chosen]:
            chosen = address
    scores[chosen] -= total
    return chosen, scores


# ---------------------------------------------------------------- least active -------------
def least_active(weights: Weights, active: dict, rng: random.Random) -> str:
    """Dubbo's ``LeastActiveLoadBalance``: fewest calls in flight, ties by weighted random.

    ``active[address]`` is the number of this consumer's calls that provider has not answered
    yet (``RpcStatus.getActive``). "Slower providers receive fewer requests, because slower
    providers have more calls in flight" (Dubbo documentation, "Load Balancing").

    1. Keep the providers whose active count is the smallest.
    2. One left: it. Several with different weights: weighted random among them. Otherwise
       uniform among them (:func:`weighted_random` does both).
    """
    order = _check(weights)
    fewest = min(active.get(a, 0) for a in order)
    tied = {a: weights[a] for a in order if active.get(a, 0) == fewest}
    if len(tied) == 1:
        return next(iter(tied))
    return weighted_random(tied, rng)


# ---------------------------------------------------------------- warm-up -----------------
def warmup_weight(weight: int, uptime_ms: int, warmup_ms: int = DEFAULT_WARMUP_MS) -> int:
    """A young provider's reduced weight (``AbstractLoadBalance.calculateWarmupWeight``).

    ``weight * uptime / warmup``, at least 1 and at most ``weight``; full weight once warm.
    """
    if weight <= 0 or uptime_ms >= warmup_ms:
        return weight
    ww = int(uptime_ms / (warmup_ms / weight))
    return max(1, min(ww, weight))


# ---------------------------------------------------------------- consistent hashing -------
def ketama_hash(digest: bytes, number: int) -> int:
    """The ``number``-th (0-3) 32-bit little-endian slice of an MD5 digest, as Dubbo's
    ``ConsistentHashSelector.hash`` and libketama take it."""
    b = digest[number * 4: number * 4 + 4]
    return b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24


def _md5(text: str) -> bytes:
    return hashlib.md5(text.encode("utf-8")).digest()


class ConsistentHashRing:
    """Dubbo's ``ConsistentHashLoadBalance``: a ketama ring of virtual nodes.

    Building (``ConsistentHashSelector``): for each provider and ``i`` in
    ``range(replicas // 4)``, ``md5(address + str(i))`` gives four 32-bit points
    (:func:`ketama_hash`), each owned by that provider — 160 points per provider by default
    (``hash.nodes``). Selecting: hash the key the same way (the first slice of its MD5) and
    take the first point clockwise, at or after it; past the last point, wrap to the first.

    "When a provider fails, the requests that went to it are spread over the others by the
    virtual nodes, without drastic change" (Dubbo documentation, "Load Balancing"): removing a
    provider moves only the keys it owned.

        >>> ring = ConsistentHashRing(["p1", "p2", "p3"])
        >>> ring.select("user-42") == ring.select("user-42")
        True
    """

    def __init__(self, addresses, replicas: int = VIRTUAL_NODES) -> None:
        if replicas < 4 or replicas % 4:
            raise ValueError(f"replicas must be a positive multiple of 4, got {replicas!r}")
        self.addresses = tuple(sorted(set(addresses)))
        if not self.addresses:
            raise ValueError("a ring needs at least one provider")
        self.replicas = replicas
        points: dict[int, str] = {}
        for address in self.addresses:
            for i in range(replicas // 4):
                digest = _md5(f"{address}{i}")
                for h in range(4):
                    # Dubbo's TreeMap.put: a colliding point goes to the provider put last.
                    points[ketama_hash(digest, h)] = address
        self._hashes = sorted(points)
        self._owners = [points[h] for h in self._hashes]

    def select(self, key: str) -> str:
        """The provider owning ``key`` (``selectForKey``: ceiling entry, else the first)."""
        h = ketama_hash(_md5(str(key)), 0)
        index = bisect.bisect_left(self._hashes, h)
        return self._owners[index if index < len(self._hashes) else 0]

    def __len__(self) -> int:
        return len(self._hashes)


# ---------------------------------------------------------------- LoadBalance objects ------
class LoadBalance(Protocol):
    """What a consumer asks of a strategy: pick, and hear when a call starts and ends."""

    name: str

    def select(self, providers: Weights, invocation: dict, rng: random.Random) -> str: ...

    def started(self, address: str) -> None: ...

    def finished(self, address: str) -> None: ...


class _Stateless:
    name = "?"

    def started(self, address: str) -> None:
        pass

    def finished(self, address: str) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class RandomLoadBalance(_Stateless):
    """``loadbalance="random"``: :func:`weighted_random`."""

    name = "random"

    def select(self, providers: Weights, invocation: dict, rng: random.Random) -> str:
        return weighted_random(providers, rng)


class RoundRobinLoadBalance(_Stateless):
    """``loadbalance="roundrobin"``: :func:`smooth_round_robin` (or a learner's version)."""

    name = "roundrobin"

    def __init__(self, select: SmoothRoundRobin = smooth_round_robin) -> None:
        self._select = select
        self.current: dict = {}
        self.history: list[tuple[dict, str]] = []  # (the table it chose from, the choice)

    def select(self, providers: Weights, invocation: dict, rng: random.Random) -> str:
        answer = self._select(dict(providers), dict(self.current))
        if not isinstance(answer, (tuple, list)) or len(answer) != 2 or not isinstance(answer[1], dict):
            raise ValueError(f"smooth_round_robin must return (chosen, current), got {answer!r}")
        chosen, current = answer
        if chosen not in providers:
            raise ValueError(f"round robin chose {chosen!r}, which is not a provider ({sorted(providers)})")
        self.current = dict(current)
        self.history.append((dict(providers), chosen))
        return chosen


class LeastActiveLoadBalance:
    """``loadbalance="leastactive"``: :func:`least_active` over this consumer's calls in flight."""

    name = "leastactive"

    def __init__(self) -> None:
        self.active: dict[str, int] = {}

    def select(self, providers: Weights, invocation: dict, rng: random.Random) -> str:
        return least_active(providers, self.active, rng)

    def started(self, address: str) -> None:
        self.active[address] = self.active.get(address, 0) + 1

    def finished(self, address: str) -> None:
        left = self.active.get(address, 0) - 1
        if left > 0:
            self.active[address] = left
        else:
            self.active.pop(address, None)

    def __repr__(self) -> str:
        return f"LeastActiveLoadBalance(active={self.active})"


class ConsistentHashLoadBalance(_Stateless):
    """``loadbalance="consistenthash"``: :class:`ConsistentHashRing` keyed by some arguments.

    ``arguments`` are the indexes of the call's arguments that form the key (``hash.arguments``,
    default the first); the ring is rebuilt only when the provider set changes, as Dubbo
    rebuilds its selector when the invoker list's identity changes.
    """

    name = "consistenthash"

    def __init__(self, replicas: int = VIRTUAL_NODES, arguments: tuple[int, ...] = (0,)) -> None:
        self.replicas = replicas
        self.arguments = tuple(arguments)
        self._ring: ConsistentHashRing | None = None

    def key(self, invocation: dict) -> str:
        args = invocation.get("args", ())
        return "".join(str(args[i]) for i in self.arguments if 0 <= i < len(args))

    def select(self, providers: Weights, invocation: dict, rng: random.Random) -> str:
        if self._ring is None or self._ring.addresses != tuple(sorted(providers)):
            self._ring = ConsistentHashRing(providers, self.replicas)
        return self._ring.select(self.key(invocation))


BALANCES = {"random": RandomLoadBalance, "roundrobin": RoundRobinLoadBalance,
            "leastactive": LeastActiveLoadBalance, "consistenthash": ConsistentHashLoadBalance}


def make_balance(spec: Any = "random") -> Any:
    """A LoadBalance from Dubbo's name (``"random"``, ``"roundrobin"``, ``"leastactive"``,
    ``"consistenthash"``) or an object that already is one."""
    if isinstance(spec, str):
        try:
            return BALANCES[spec]()
        except KeyError:
            raise ValueError(f"unknown load balance {spec!r}; Dubbo's names are {sorted(BALANCES)}") from None
    if callable(getattr(spec, "select", None)):
        return spec
    raise ValueError(f"a load balance is a name or has select(providers, invocation, rng), got {spec!r}")
