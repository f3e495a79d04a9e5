"""Dubbo's load-balancing strategies: their distributions, and failover when a provider crashes.

Rules from Dubbo's documentation ("Load Balancing") and its ``org.apache.dubbo.rpc.cluster.loadbalance``
classes: RandomLoadBalance, RoundRobinLoadBalance (smooth, since 2.6.5), LeastActiveLoadBalance,
ConsistentHashLoadBalance (ketama, 160 virtual nodes), AbstractLoadBalance.calculateWarmupWeight.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from distlab.rpc import (
    Consumer,
    Provider,
    RetryPolicy,
    ServiceProxy,
    StaticRegistry,
    make_balance,
)
from distlab.rpc.balance import (
    ConsistentHashLoadBalance,
    ConsistentHashRing,
    LeastActiveLoadBalance,
    RoundRobinLoadBalance,
    ketama_hash,
    least_active,
    smooth_round_robin,
    warmup_weight,
    weighted_random,
)
from distlab.sim import LinkConfig, Uniform, World


def picks(weights: dict, n: int) -> list[str]:
    current, out = {}, []
    for _ in range(n):
        chosen, current = smooth_round_robin(weights, current)
        out.append(chosen)
    return out


# ---------------------------------------------------------------- smooth round robin -------
@pytest.mark.parametrize("weights, expected", [
    ({"a": 5, "b": 1, "c": 1}, list("aabacaa")),
    ({"a": 1, "b": 2, "c": 3}, list("cbacbc")),
    ({"a": 1, "b": 1}, list("ab")),
    ({"provider-10": 1, "provider-2": 1}, ["provider-10", "provider-2"]),
], ids=["nginx-5-1-1", "dubbo-1-2-3", "equal", "string-order"])
def test_smooth_round_robin_sequences(weights, expected):
    assert picks(weights, len(expected)) == expected


@pytest.mark.parametrize("seed", range(20))
def test_smooth_round_robin_gives_exact_shares_without_bursts(seed):
    rng = random.Random(seed)
    weights = {f"p{n}": rng.randint(1, 9) for n in range(rng.randint(1, 5))}
    total = sum(weights.values())
    sequence = picks(weights, 3 * total)
    for start in (0, total, 2 * total):
        assert Counter(sequence[start:start + total]) == Counter(weights)
    # Smooth: at every point each provider is within one pick of its exact share (plain
    # weighted round robin, a a a a a b c, is 1.43 picks ahead after five picks of 5-1-1).
    counts = Counter()
    for n, chosen in enumerate(sequence, 1):
        counts[chosen] += 1
        assert all(abs(counts[p] - n * w / total) <= 1 for p, w in weights.items())


def test_smooth_round_robin_forgets_providers_and_starts_new_ones_at_zero():
    chosen, current = smooth_round_robin({"a": 1}, {"a": 5, "gone": 99})
    assert (chosen, current) == ("a", {"a": 5})
    chosen, current = smooth_round_robin({"a": 1, "b": 1}, {"a": -1})
    assert current == {"a": 0, "b": -1} and chosen == "b"


def test_the_round_robin_balancer_refuses_a_choice_outside_the_table():
    balancer = RoundRobinLoadBalance(select=lambda w, c: ("elsewhere", c))
    with pytest.raises(ValueError, match="not a provider"):
        balancer.select({"a": 1}, {}, random.Random(0))


# ---------------------------------------------------------------- random ------------------
def test_weighted_random_follows_the_weights():
    rng = random.Random(7)
    counts = Counter(weighted_random({"p1": 1, "p2": 2, "p3": 3}, rng) for _ in range(6000))
    for provider, share in (("p1", 1000), ("p2", 2000), ("p3", 3000)):
        assert abs(counts[provider] - share) < 0.1 * share


def test_weighted_random_with_equal_or_zero_weights_is_uniform():
    rng = random.Random(3)
    for weights in ({"a": 5, "b": 5}, {"a": 0, "b": 0}):
        counts = Counter(weighted_random(weights, rng) for _ in range(2000))
        assert abs(counts["a"] - 1000) < 120
    assert Counter(weighted_random({"a": 0, "b": 1}, rng) for _ in range(100)) == {"b": 100}


def test_the_same_seed_gives_the_same_picks():
    assert [weighted_random({"a": 1, "b": 3}, random.Random(9)) for _ in range(5)] == \
           [weighted_random({"a": 1, "b": 3}, random.Random(9)) for _ in range(5)]


# ---------------------------------------------------------------- least active ------------
def test_least_active_prefers_the_idle_and_breaks_ties_by_weight():
    rng = random.Random(1)
    assert least_active({"a": 100, "b": 100}, {"a": 3}, rng) == "b"
    counts = Counter(least_active({"a": 1, "b": 3, "c": 5}, {"c": 2}, rng) for _ in range(4000))
    assert set(counts) == {"a", "b"} and abs(counts["b"] / counts["a"] - 3) < 0.5


def test_least_active_counts_calls_in_flight():
    balancer = LeastActiveLoadBalance()
    balancer.started("a")
    balancer.started("a")
    balancer.finished("a")
    assert balancer.active == {"a": 1}
    balancer.finished("a")
    assert balancer.active == {}


# ---------------------------------------------------------------- consistent hashing -------
def test_ketama_slices_are_little_endian_32_bit():
    digest = bytes(range(16))
    assert [ketama_hash(digest, n) for n in range(4)] == [0x03020100, 0x07060504, 0x0B0A0908, 0x0F0E0D0C]


def test_the_ring_has_160_points_per_provider_and_is_stable():
    ring = ConsistentHashRing(["p1", "p2", "p3"])
    assert len(ring) == 3 * 160
    assert ring.select("user-1") == ConsistentHashRing(["p3", "p2", "p1"]).select("user-1")
    with pytest.raises(ValueError):
        ConsistentHashRing(["p1"], replicas=10)


def test_consistent_hashing_spreads_keys_and_moves_only_the_leavers_keys():
    keys = [f"user-{n}" for n in range(3000)]
    three = ConsistentHashRing(["p1", "p2", "p3"])
    counts = Counter(three.select(k) for k in keys)
    assert all(800 < c < 1200 for c in counts.values()), counts
    two = ConsistentHashRing(["p1", "p3"])
    moved = [k for k in keys if three.select(k) != two.select(k)]
    assert {three.select(k) for k in moved} == {"p2"} and len(moved) == counts["p2"]
    four = ConsistentHashRing(["p1", "p2", "p3", "p4"])
    gained = [k for k in keys if three.select(k) != four.select(k)]
    assert {four.select(k) for k in gained} == {"p4"} and len(gained) < 1000


def test_consistent_hash_balancer_keys_on_the_chosen_arguments():
    balancer = ConsistentHashLoadBalance(arguments=(1,))
    providers = {"p1": 100, "p2": 100, "p3": 100}
    first = balancer.select(providers, {"args": ["x", "user-7"]}, random.Random(0))
    assert all(balancer.select(providers, {"args": [n, "user-7"]}, random.Random(n)) == first for n in range(20))


# ---------------------------------------------------------------- warm-up, names -----------
@pytest.mark.parametrize("weight, uptime, warmup, expected", [
    (100, 0, 600_000, 1), (100, 60_000, 600_000, 10), (100, 300_000, 600_000, 50),
    (100, 600_000, 600_000, 100), (100, 10**9, 600_000, 100), (0, 1, 600_000, 0),
], ids=["just-started", "one-minute", "half-way", "warm", "long-up", "zero-weight"])
def test_warmup_weight(weight, uptime, warmup, expected):
    assert warmup_weight(weight, uptime, warmup) == expected


def test_make_balance_knows_dubbos_names():
    assert {make_balance(n).name for n in ("random", "roundrobin", "leastactive", "consistenthash")} == \
           {"random", "roundrobin", "leastactive", "consistenthash"}
    with pytest.raises(ValueError, match="unknown load balance"):
        make_balance("fastest")


# ---------------------------------------------------------------- failover in the simulator --
class Echo:
    def add(self, a, b):
        return a + b


@pytest.mark.parametrize("balance", ["random", "roundrobin", "leastactive", "consistenthash"])
def test_calls_fail_over_when_a_provider_crashes(balance):
    world = World(seed=11, network=LinkConfig(latency=Uniform(1, 5)))
    weights = {"provider-1": 100, "provider-2": 200, "provider-3": 300}
    for name in weights:
        world.add_node(name, lambda me: Provider(me, "calc", Echo()))
    world.add_node("consumer", lambda me: Consumer(me, "calc", StaticRegistry(weights), balance=balance,
                                                   policy=RetryPolicy(timeout_ms=50, attempts=3),
                                                   idempotent={"add"}))
    world.run(until=50)
    calc = ServiceProxy(world, "consumer")
    before = [calc.add(n, 1) for n in range(30)]
    world.crash("provider-2")
    after = [calc.add(n, 2) for n in range(30)]
    assert before == [n + 1 for n in range(30)] and after == [n + 2 for n in range(30)]
    history = world.process("consumer").history
    served_after = Counter(h["served_by"] for h in history[30:])
    assert "provider-2" not in served_after
    if balance != "consistenthash":  # keys "0".."29" may all hash elsewhere
        assert any("provider-2" in h["tried"] and h["attempts"] == 2 for h in history[30:])
