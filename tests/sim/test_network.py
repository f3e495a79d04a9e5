"""Loss, duplication, partitions and one-way cuts."""

from __future__ import annotations

import pytest

from distlab.sansio import UsageError
from distlab.sim import Exponential, Fixed, LinkConfig, Normal, Uniform, World

from .test_world import recorders


def messages(world, node):
    return [m for _, _, m in world.process(node).received]


def test_drop_probability_one_loses_everything_with_reason_lost():
    world = World(seed=0, network=LinkConfig(drop=1.0))
    recorders(world, [(1, [(2, n) for n in range(10)], []), (2, [], [])])
    world.run(100)
    assert messages(world, 2) == []
    assert {r.reason for r in world.trace.of_kind("drop")} == {"lost"}


def test_drop_probability_is_roughly_respected():
    world = World(seed=4, network=LinkConfig(drop=0.3))
    recorders(world, [(1, [(2, n) for n in range(2000)], []), (2, [], [])])
    world.run(100)
    lost = len(world.trace.of_kind("drop"))
    assert 500 < lost < 700  # 600 expected; the bounds are > 4 standard deviations wide


def test_duplicate_probability_one_delivers_every_message_twice():
    world = World(seed=0, network=LinkConfig(duplicate=1.0))
    recorders(world, [(1, [(2, "x"), (2, "y")], []), (2, [], [])])
    world.run(100)
    assert messages(world, 2) == ["x", "x", "y", "y"]  # FIFO keeps copies in send order
    assert len(world.trace.of_kind("duplicate")) == 2


def test_per_link_configuration_overrides_the_default():
    world = World(seed=0, network=LinkConfig(latency=Fixed(5)))
    recorders(world, [(1, [], []), (2, [], []), (3, [], [])])
    world.run(1)
    world.configure_link(1, 2, latency=Fixed(40))
    world._send(1, 2, "slow")
    world._send(1, 3, "fast")
    world.run(100)
    assert world.process(2).received == [(41, 1, "slow")]
    assert world.process(3).received == [(6, 1, "fast")]
    assert any("link 1->2" in r.text for r in world.trace.of_kind("note"))


def test_partition_blocks_across_groups_and_heal_restores():
    world = World(seed=0, network=LinkConfig(latency=Fixed(5)))
    recorders(world, [(1, [], []), (2, [], []), (3, [], [])])
    world.run(1)
    world.partition({1, 2}, {3})
    assert world.trace[-1].groups == [[1, 2], [3]]
    world._send(1, 2, "same side")
    world._send(1, 3, "across")
    world._send(3, 1, "back across")
    world.run(20)
    assert messages(world, 2) == ["same side"]
    assert messages(world, 3) == [] and messages(world, 1) == []
    world.heal()
    world._send(1, 3, "healed")
    world.run(40)
    assert messages(world, 3) == ["healed"]


def test_unlisted_nodes_form_their_own_group():
    world = World(seed=0, network=LinkConfig(latency=Fixed(5)))
    recorders(world, [(1, [], []), (2, [], []), (3, [], [])])
    world.run(1)
    world.partition({1})
    assert world.network.groups() == [[1], [2, 3]]
    world._send(2, 3, "together")
    world._send(2, 1, "apart")
    world.run(20)
    assert messages(world, 3) == ["together"] and messages(world, 1) == []


def test_message_in_flight_when_a_partition_starts_is_lost():
    world = World(seed=0, network=LinkConfig(latency=Fixed(10)))
    recorders(world, [(1, [(2, "in flight")], []), (2, [], [])])
    world.run(5)
    world.partition({1}, {2})
    world.run(20)
    assert [(r.msg, r.reason) for r in world.trace.of_kind("drop")] == [("in flight", "partition")]


def test_one_way_cut_blocks_only_one_direction():
    world = World(seed=0, network=LinkConfig(latency=Fixed(5)))
    recorders(world, [(1, [], []), (2, [], [])])
    world.run(1)
    world.cut(1, 2)
    world._send(1, 2, "blocked")
    world._send(2, 1, "allowed")
    world.run(20)
    assert messages(world, 2) == [] and messages(world, 1) == ["allowed"]
    assert world.trace.of_kind("partition")[-1].cuts == [[1, 2]]


@pytest.mark.parametrize(
    "latency",
    [Fixed(3), Uniform(2, 8), Exponential(5, minimum=1), Normal(10, 3, minimum=2)],
    ids=["fixed", "uniform", "exponential", "normal"],
)
def test_latency_distributions_give_whole_non_negative_milliseconds(latency):
    import random

    rng = random.Random(0)
    samples = [latency.sample(rng) for _ in range(500)]
    assert all(isinstance(s, int) and s >= 0 for s in samples)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: LinkConfig(drop=1.5), "probability"),
        (lambda: LinkConfig(duplicate=-0.1), "probability"),
        (lambda: LinkConfig(latency=5), "sample"),
        (lambda: LinkConfig(reorder="yes"), "True or False"),
        (lambda: Uniform(5, 2), "low <= high"),
        (lambda: Fixed(-1), ">= 0"),
        (lambda: Exponential(0), "> 0"),
    ],
    ids=["drop > 1", "negative duplicate", "latency not a distribution", "reorder not bool",
         "uniform low > high", "negative fixed", "zero mean"],
)
def test_bad_network_configuration_is_refused(make, message):
    with pytest.raises(UsageError, match=message):
        make()


def test_a_lost_message_on_a_reset_link_breaks_the_connection_for_both_ends():
    """on_drop="reset" models TCP: the loss is a broken connection, and both ends learn it."""
    from distlab.sansio import Disconnected, Effects

    class Talker:
        def __init__(self, node):
            self.node = node
            self.events = []

        def step(self, event):
            fx = Effects()
            if isinstance(event, Disconnected):
                self.events.append((event.now, "reset", event.peer))
            elif hasattr(event, "msg"):
                self.events.append((event.now, "got", event.msg))
            return fx

    world = World(seed=0, network=LinkConfig(latency=Fixed(5), on_drop="reset"))
    world.add_node(1, Talker)
    world.add_node(2, Talker)
    world.run(1)
    world._send(1, 2, "before")
    world.configure_link(1, 2, drop=1.0)
    world._send(1, 2, "lost")
    world.configure_link(1, 2, drop=0.0)
    world._send(1, 2, "after the gap")  # same broken connection: lost with it
    world.run(50)
    assert world.process(1).events == [(1, "reset", 2)]
    # The receiver gets everything sent before the loss, then the reset, never past the gap.
    assert world.process(2).events == [(6, "got", "before"), (6, "reset", 1)]
    reasons = [r.reason for r in world.trace.of_kind("drop")]
    assert reasons == ["lost (connection reset)", "connection broken"]
    world._send(1, 2, "new connection")
    world.run(100)
    assert world.process(2).events[-1] == (55, "got", "new connection")


def test_silent_links_lose_without_telling_anyone():
    world = World(seed=0, network=LinkConfig(drop=1.0))
    recorders(world, [(1, [(2, "x")], []), (2, [], [])])
    world.run(20)
    assert world.trace.of_kind("reset") == []


def test_on_drop_must_be_silent_or_reset():
    with pytest.raises(UsageError, match="on_drop must be 'silent' or 'reset'"):
        LinkConfig(on_drop="maybe")
