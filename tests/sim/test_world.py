"""The simulator's clock, timers, crash/restart and driving API."""

from __future__ import annotations

import pytest

from distlab.sansio import Effects, Start, UsageError
from distlab.sim import ENV, Fixed, LinkConfig, ProcessError, Uniform, World

from .processes import Counter, Recorder


def recorders(world, specs):
    """Add one Recorder per (node, sends, timers) spec; return {node: process getter}."""
    for node, sends, timers in specs:
        world.add_node(node, lambda n, s=sends, t=timers: Recorder(n, s, t))


def test_fixed_latency_delivers_at_exactly_send_time_plus_latency():
    world = World(seed=1, network=LinkConfig(latency=Fixed(25)))
    recorders(world, [(1, [(2, "hello")], []), (2, [], [])])
    world.run(100)
    assert world.process(2).received == [(25, 1, "hello")]
    assert world.now == 100


def test_uniform_latency_stays_within_bounds():
    world = World(seed=3, network=LinkConfig(latency=Uniform(4, 9), reorder=True))
    recorders(world, [(1, [(2, n) for n in range(300)], []), (2, [], [])])
    world.run(50)
    times = [t for t, _, _ in world.process(2).received]
    assert len(times) == 300
    assert min(times) == 4 and max(times) == 9  # both ends reachable, nothing outside


def test_fifo_link_never_reorders_but_reorder_link_does():
    def arrival_order(reorder):
        world = World(seed=11, network=LinkConfig(latency=Uniform(1, 50), reorder=reorder))
        recorders(world, [(1, [(2, n) for n in range(50)], []), (2, [], [])])
        world.run(1000)
        return [msg for _, _, msg in world.process(2).received]

    assert arrival_order(False) == list(range(50))
    shuffled = arrival_order(True)
    assert sorted(shuffled) == list(range(50)) and shuffled != list(range(50))


def test_timers_fire_replace_and_cancel_in_call_order():
    world = World(seed=0)
    recorders(world, [
        ("a", [], [("x", 10), ("x", 30)]),      # replaced: fires once, at 30
        ("b", [], [("y", 5), ("y", None)]),     # set then cancel: never fires
        ("c", [], [("z", None), ("z", 8)]),     # cancel then set: fires at 8
    ])
    world.run(100)
    assert world.process("a").fired == [(30, "x")]
    assert world.process("b").fired == []
    assert world.process("c").fired == [(8, "z")]


def test_timer_of_a_crashed_process_never_fires():
    world = World(seed=0)
    recorders(world, [(1, [], [("wake", 50)])])
    world.run(10)
    world.crash(1)
    world.restart(1)
    world.run(100)
    # The first incarnation's timer (due at 50) is gone; only the new one set at 10 fires.
    assert world.process(1).fired == [(60, "wake")]
    assert [r.time for r in world.trace.of_kind("timer")] == [60]


def test_crash_keeps_only_persisted_state():
    world = World(seed=0, network=LinkConfig(latency=Fixed(1)))
    world.add_node(1, Counter)
    for n in range(3):
        world.inject(1, "ping", at=n)
    world.run(10)
    first = world.process(1)
    assert first.count == 3  # persisted at 2 only
    world.crash(1)
    assert not world.is_up(1) and world.state_of(1) is None
    world.restart(1)
    second = world.process(1)
    assert second is not first  # volatile state really is gone
    assert second.durable_seen == {"count": 2}
    assert world.incarnation(1) == 1
    assert world.state_of(1) == "RUNNING"


def test_persist_copies_the_value_so_later_mutation_is_not_durable():
    class Mutator:
        def __init__(self, node):
            self.log = []
            self.durable = None

        def step(self, event):
            fx = Effects()
            if isinstance(event, Start):
                self.durable = event.durable
                if not event.durable:
                    self.log.append("a")
                    fx.persist("log", self.log)
                    self.log.append("b")  # not persisted
            return fx

    world = World(seed=0)
    world.add_node(1, Mutator)
    world.run(1)
    world.crash(1)
    world.restart(1)
    assert world.process(1).durable == {"log": ["a"]}
    world.process(1).durable["log"].append("tampered")  # a process's copy is private
    assert world.durable(1) == {"log": ["a"]}


def test_messages_to_a_down_or_restarted_node_are_dropped_with_the_reason():
    world = World(seed=0, network=LinkConfig(latency=Fixed(10)))
    recorders(world, [(1, [], []), (2, [], [])])
    world.run(1)
    world.crash(2)
    world.inject(1, "unused")
    world.run(2)
    # 1 sends to 2 while 2 is down, and again after 2 restarted but before delivery.
    world.process(1)  # still up
    world._send(1, 2, "while down")  # the network path a process's send takes
    world.run(5)
    world.restart(2)
    world._send(1, 2, "to new incarnation")
    world.run(50)
    drops = [(r.msg, r.reason) for r in world.trace.of_kind("drop")]
    assert drops == [("while down", "receiver restarted")]
    assert world.process(2).received == [(15, 1, "to new incarnation")]


def test_message_in_flight_to_a_node_that_crashes_is_dropped():
    world = World(seed=0, network=LinkConfig(latency=Fixed(10)))
    recorders(world, [(1, [(2, "late")], []), (2, [], [])])
    world.run(5)
    world.crash(2)
    world.run(20)
    assert [(r.msg, r.reason) for r in world.trace.of_kind("drop")] == [("late", "receiver is down")]


def test_nodes_started_together_can_message_each_other_at_time_zero():
    world = World(seed=0)
    recorders(world, [(1, [(2, "hi")], []), (2, [(1, "hi")], [])])
    world.run(20)
    assert [m for _, _, m in world.process(1).received] == ["hi"]
    assert [m for _, _, m in world.process(2).received] == ["hi"]


def test_run_until_stops_when_the_predicate_holds_or_at_max_time():
    world = World(seed=0, network=LinkConfig(latency=Fixed(10)))
    recorders(world, [(1, [(2, "a")], []), (2, [], [])])
    assert world.run_until(lambda w: w.is_up(2) and bool(w.process(2).received), max_time=100) is True
    assert world.now == 10
    assert world.run_until(lambda w: False, max_time=500) is False
    assert world.now == 500


def test_step_processes_one_event_and_returns_its_records():
    world = World(seed=0, network=LinkConfig(latency=Fixed(3)))
    recorders(world, [(1, [(2, "a")], []), (2, [], [])])
    first = world.step()
    assert [r.kind for r in first] == ["start", "send"]
    assert [r.kind for r in world.step()] == ["start"]
    delivered = world.step()
    assert [r.kind for r in delivered] == ["deliver"] and delivered[0].time == 3
    assert world.step() is None  # idle


def test_inject_reaches_whichever_incarnation_is_up():
    world = World(seed=0)
    recorders(world, [(1, [], [])])
    world.run(1)
    world.crash(1)
    world.inject(1, "request", at=20)
    world.restart(1)
    world.run(30)
    assert world.process(1).received == [(20, ENV, "request")]


def test_process_errors_name_the_node_event_and_time():
    class Broken:
        def __init__(self, node):
            pass

        def step(self, event):
            if not isinstance(event, Start):
                raise KeyError("boom")

    world = World(seed=0)
    world.add_node(7, Broken)
    world.inject(7, "poke", at=4)
    with pytest.raises(ProcessError) as caught:
        world.run(10)
    assert caught.value.node == 7 and caught.value.time == 4
    assert "process 7 raised KeyError" in str(caught.value)
    assert isinstance(caught.value.__cause__, KeyError)


def test_step_must_return_effects():
    class Wrong:
        def __init__(self, node):
            pass

        def step(self, event):
            return ["send", 2, "x"]

    world = World(seed=0)
    world.add_node(1, Wrong)
    with pytest.raises(ProcessError, match="must return Effects or None"):
        world.run(1)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda w: w.add_node(1, Counter), "already exists"),
        (lambda w: w.add_node(ENV, Counter), "reserved"),
        (lambda w: w.crash(99), "no node 99"),
        (lambda w: w.restart(1), "it is up"),
        (lambda w: w.run(-5), "in the past"),
        (lambda w: w.run(1.5), "whole milliseconds"),
        (lambda w: w.partition({1}, {1}), "in two partition groups"),
        (lambda w: w.partition({1, 42}), "unknown node 42"),
        (lambda w: w.cut(1, 1), "from itself"),
        (lambda w: w.drop_message(12345), "not in flight"),
        (lambda w: World(seed="7"), "seed must be an int"),
    ],
    ids=["duplicate node", "reserved name", "unknown node", "restart while up", "past time",
         "float time", "node in two groups", "unknown node in partition", "self cut",
         "unknown message", "string seed"],
)
def test_bad_input_gets_a_clear_error(call, message):
    world = World(seed=0)
    world.add_node(1, Counter)
    world.add_node(2, Counter)
    world.run(1)
    with pytest.raises(UsageError, match=message):
        call(world)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda fx: fx.set_timer("t", -1), "non-negative int"),
        (lambda fx: fx.set_timer("t", 2.5), "non-negative int"),
        (lambda fx: fx.persist(3, "x"), "key must be a str"),
        (lambda fx: fx.truncate("log", -1), "keep must be an int >= 0"),
        (lambda fx: fx.become(""), "non-empty str"),
    ],
    ids=["negative delay", "float delay", "non-str key", "negative truncate", "empty state"],
)
def test_effects_reject_bad_arguments_at_once(make, message):
    with pytest.raises(UsageError, match=message):
        make(Effects())


def test_each_incarnation_gets_its_own_deterministic_rng():
    def draws(seed):
        world = World(seed=seed)
        world.add_node("n", lambda n: Recorder(n))
        world.run(1)
        first = world.process("n").start.rng.random()
        world.crash("n")
        world.restart("n")
        return first, world.process("n").start.rng.random()

    assert draws(5) == draws(5)
    assert draws(5)[0] != draws(5)[1]
    assert draws(5) != draws(6)


def test_in_flight_lists_deliver_now_and_drop_by_hand():
    world = World(seed=0, network=LinkConfig(latency=Fixed(10), reorder=True))
    recorders(world, [(1, [(2, "a"), (2, "b"), (2, "c")], []), (2, [], [])])
    world.run(1)
    flights = world.in_flight()
    assert [f.msg for f in flights] == ["a", "b", "c"]
    world.drop_message(flights[0].msg_id)
    world.deliver_message_now(flights[2].msg_id)
    world.run(50)
    assert [(t, m) for t, _, m in world.process(2).received] == [(1, "c"), (10, "b")]
    assert [(r.msg, r.reason) for r in world.trace.of_kind("drop")] == [("a", "dropped by hand")]
    assert world.in_flight() == []


def test_append_and_truncate_build_a_durable_log():
    class Logger:
        def __init__(self, node):
            self.durable = None

        def step(self, event):
            fx = Effects()
            if isinstance(event, Start):
                self.durable = event.durable
                if event.incarnation == 0:
                    for n in range(5):
                        fx.append("log", n)
                    fx.truncate("log", 3)
                    fx.append("log", "x")
            return fx

    world = World(seed=0)
    world.add_node(1, Logger)
    world.run(1)
    world.crash(1)
    world.restart(1)
    assert world.process(1).durable == {"log": [0, 1, 2, "x"]}


def test_run_never_overshoots_past_a_cancelled_timer():
    """A cancelled timer due before the limit must not let a later event run early."""
    world = World(seed=0)
    recorders(world, [(1, [], [("early", 10), ("early", None), ("late", 500)])])
    world.run(100)
    assert world.now == 100
    assert world.process(1).fired == []  # "late" (t=500) has not run
    world.run(600)
    assert world.process(1).fired == [(500, "late")]
