"""Service registration and discovery on the simulated ZooKeeper ensemble.

Layout and behaviour follow Dubbo's ZooKeeper registry (Dubbo documentation, "Zookeeper
Registry"): URL-named ephemeral provider nodes under ``/services/<name>/providers``, consumers
reading the children with a (one-shot) watch; a crashed provider's node goes when its session
expires; ``NodeExists`` from an earlier session's node is answered by delete-and-create
(``CuratorZookeeperClient.createEphemeral``).
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from distlab.rpc import Consumer, Provider, RetryPolicy, RpcImpl, ServiceProxy, ZkRegistry
from distlab.rpc.registry import check_registry_answer, on_registry_event, parse_provider, provider_node, provider_url
from distlab.sansio import UsageError
from distlab.sim.ensemble import Ensemble

PATH = "/services/calc/providers"


class Calc:
    def add(self, a, b):
        return a + b


@pytest.mark.parametrize("name, parsed", [
    (provider_node("provider-1", "calc", 100), ("provider-1", 100)),
    ("rpc%3A%2F%2Fprovider-2%2Fcalc%3Fversion%3D1", ("provider-2", 100)),
    (provider_node("provider-3", "calc", 100, version=9), None),
    ("README", None),
    ("rpc%3A%2F%2F", None),
    ("rpc%3A%2F%2Fp7%2Fcalc%3Fweight%3Dheavy", None),
    ("rpc%3A%2F%2Fp7%2Fcalc%3Fweight%3D-1", None),
    ("http%3A%2F%2Fp7%2Fcalc", None),
], ids=["full-url", "default-weight", "other-version", "not-a-url", "no-address", "bad-weight",
        "negative-weight", "other-scheme"])
def test_parse_provider(name, parsed):
    assert parse_provider(name) == parsed


def test_a_provider_node_has_no_slash_and_reads_back_as_its_url():
    node = provider_node("provider-1", "calc", 200)
    assert "/" not in node and unquote(node) == provider_url("provider-1", "calc", 200)


@pytest.mark.parametrize("providers, event, expected", [
    ({}, ("session",), ({}, [("get_children", True)])),
    ({"p1": 100}, ("session",), ({"p1": 100}, [("get_children", True)])),
    ({"p1": 100}, ("watch", "NodeChildrenChanged"), ({"p1": 100}, [("get_children", True)])),
    ({"p1": 100, "p2": 200}, ("children", [provider_node("p2", "calc", 200)]), ({"p2": 200}, [])),
    ({}, ("children", [provider_node("p1", "calc", 100), "README"]), ({"p1": 100}, [])),
    ({"p1": 100}, ("children", []), ({}, [])),
], ids=["first-session", "new-session-keeps-table", "watch-rereads", "list-replaces", "junk-skipped", "empty"])
def test_on_registry_event(providers, event, expected):
    assert on_registry_event(providers, event) == expected


@pytest.mark.parametrize("answer", [None, ({}, [("get_children", "yes")]), ([], []), ({"p": "heavy"}, []),
                                    ({}, [("get_data", True)])])
def test_a_malformed_registry_answer_is_refused(answer):
    with pytest.raises(UsageError):
        check_registry_answer(answer)


def cluster(seed: int = 5, impl: RpcImpl | None = None):
    ensemble = Ensemble(3, seed=seed)
    ensemble.wait_for_leader()
    world = ensemble.world
    registry = ZkRegistry(ensemble.servers)
    for name, weight in (("provider-1", 100), ("provider-2", 200), ("provider-3", 300)):
        world.add_node(name, lambda me, weight=weight: Provider(me, "calc", Calc(), registry, weight=weight))
    world.add_node("consumer", lambda me: Consumer(me, "calc", registry, impl=impl, idempotent={"add"},
                                                   policy=RetryPolicy(timeout_ms=100, attempts=4)))
    world.run_for(2000)
    return ensemble, world, registry


def children(ensemble: Ensemble) -> list[str]:
    tree = ensemble.peer(ensemble.leader()).tree
    return sorted(parse_provider(n)[0] for n in tree.get_children(PATH) if parse_provider(n))


def test_providers_register_ephemeral_nodes_and_the_consumer_sees_them():
    ensemble, world, _ = cluster()
    tree = ensemble.peer(ensemble.leader()).tree
    nodes = tree.get_children(PATH)
    assert len(nodes) == 3 and all(tree.exists(f"{PATH}/{n}").ephemeralOwner for n in nodes)
    assert world.process("consumer").providers == {"provider-1": 100, "provider-2": 200, "provider-3": 300}
    assert {world.state_of(p) for p in ("provider-1", "provider-2", "provider-3")} == {"SERVING"}


def test_a_crashed_provider_disappears_and_a_new_one_appears_without_a_restart():
    ensemble, world, registry = cluster()
    consumer = world.process("consumer")
    calc = ServiceProxy(world, "consumer")
    world.crash("provider-2")
    crashed_at = world.now
    assert world.run_until(lambda w: "provider-2" not in consumer.providers, world.now + 10_000)
    gone_after = world.now - crashed_at
    assert 4000 <= gone_after <= 8000  # the session timeout (4 s) plus the expiry check
    assert children(ensemble) == ["provider-1", "provider-3"]
    assert [calc.add(n, 1) for n in range(10)] == [n + 1 for n in range(10)]
    world.add_node("provider-4", lambda me: Provider(me, "calc", Calc(), registry, weight=50))
    assert world.run_until(lambda w: "provider-4" in consumer.providers, world.now + 2000)
    served = {calc.add(n, 1) and h for n in range(12) for h in [world.process("consumer").history[-1]["served_by"]]}
    assert "provider-4" in served and "provider-2" not in served


def test_calls_made_before_the_registry_notices_fail_over():
    ensemble, world, _ = cluster()
    calc = ServiceProxy(world, "consumer")
    world.crash("provider-3")
    assert [calc.add(n, n) for n in range(10)] == [2 * n for n in range(10)]
    history = world.process("consumer").history[-10:]
    assert any(h["tried"][0] == "provider-3" and h["served_by"] != "provider-3" for h in history)


def test_a_quickly_restarted_provider_replaces_its_old_node():
    ensemble, world, _ = cluster()
    world.crash("provider-1")
    world.run_for(500)  # far shorter than the session timeout: the old node is still there
    world.restart("provider-1")
    assert world.run_until(lambda w: w.state_of("provider-1") == "SERVING", world.now + 3000)
    notes = [r.text for r in world.trace.of_kind("note") if r.node == "provider-1" and "registered" in r.text]
    assert len(notes) == 2
    world.run_for(10_000)  # the old session expires: the node (now the new session's) stays
    assert children(ensemble) == ["provider-1", "provider-2", "provider-3"]
    assert world.process("consumer").providers["provider-1"] == 100


def test_a_consumer_whose_session_expired_reads_the_registry_again():
    ensemble, world, registry = cluster()
    consumer_node = "consumer"
    for sid in ensemble.servers:
        world.cut(consumer_node, sid)
        world.cut(sid, consumer_node)
    world.crash("provider-2")
    world.run_for(12_000)
    world.heal()
    consumer = world.process(consumer_node)
    assert world.run_until(lambda w: consumer.providers == {"provider-1": 100, "provider-3": 300}, world.now + 8000)
    expired = [r for r in world.trace.of_kind("note") if r.node == consumer_node and r.data.get("rpc") == "session_expired"]
    assert expired
    world.add_node("provider-4", lambda me: Provider(me, "calc", Calc(), registry))
    assert world.run_until(lambda w: "provider-4" in consumer.providers, world.now + 3000)


def test_a_registry_that_never_rearms_its_watch_misses_the_second_change():
    def once(providers, event):
        table, requests = on_registry_event(providers, event)
        return table, [("get_children", event[0] == "session") for _ in requests]

    ensemble, world, registry = cluster(impl=RpcImpl(on_registry_event=once))
    consumer = world.process("consumer")
    for victim in ("provider-1", "provider-2"):
        world.crash(victim)
        world.run_for(10_000)
    # The one watch set at the session's start was spent by the first change it saw (maybe a
    # registration at start-up): at least one crashed provider stays listed, forever.
    assert {"provider-1", "provider-2"} & set(consumer.providers)
    assert children(ensemble) == ["provider-3"]
