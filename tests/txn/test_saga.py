"""Sagas (Garcia-Molina and Salem, 1987): forward steps, compensations latest first, never the
failed step; an orchestrator that resumes from its saga log after a crash; idempotent services."""

from __future__ import annotations

import random

import pytest

from distlab.sim import Crash, FaultSchedule, LinkConfig, Restart, Uniform, World
from distlab.txn import SagaOrchestrator, SagaService, run_local_saga, saga_next, saga_violations, trip_saga
from distlab.txn.saga import Do, StepResult, Undo, check_saga_answer

STEPS = ["flight", "hotel", "payment"]


@pytest.mark.parametrize("log, expected", [
    ([], ("do", "flight")),
    ([("done", "flight"), ("done", "hotel")], ("do", "payment")),
    ([("done", s) for s in STEPS], ("end", "COMMITTED")),
    ([("done", "flight"), ("done", "hotel"), ("failed", "payment")], ("undo", "hotel")),
    ([("done", "flight"), ("done", "hotel"), ("failed", "payment"), ("undone", "hotel")], ("undo", "flight")),
    ([("done", "flight"), ("failed", "hotel"), ("undone", "flight")], ("end", "COMPENSATED")),
    ([("failed", "flight")], ("end", "COMPENSATED")),
], ids=["start", "next", "committed", "undo-latest", "undo-next", "compensated", "first-step-failed"])
def test_saga_next(log, expected):
    assert saga_next(STEPS, log) == expected


def test_a_local_saga_compensates_in_reverse():
    booked = []
    actions = {"flight": lambda: booked.append("seat") or True, "hotel": lambda: booked.append("room") or True,
               "payment": lambda: False}
    undo = {"flight": lambda: booked.remove("seat"), "hotel": lambda: booked.remove("room")}
    outcome, log = run_local_saga(STEPS, actions, undo)
    assert outcome == "COMPENSATED" and booked == []
    assert log[-3:] == [("undone", "hotel"), ("undone", "flight"), ("end", "COMPENSATED")]


def test_a_bad_answer_is_refused():
    with pytest.raises(ValueError):
        check_saga_answer(("do", "rocket"), STEPS)
    with pytest.raises(ValueError):
        check_saga_answer(("end", "DONE"), STEPS)


def test_a_service_is_idempotent_and_refuses_a_do_after_its_undo():
    service = SagaService("bank", {"alice": 500})
    from distlab.sansio import Deliver, Start

    service.step(Start(0, {}, 0, random.Random(0)))

    def send(msg):
        return service.step(Deliver(1, "orchestrator", msg)).sends[0][1]

    assert send(Do("s1", "payment", "alice", -300)) == StepResult("s1", "payment", "do", True)
    assert send(Do("s1", "payment", "alice", -300)).ok and service.data == {"alice": 200}
    assert send(Undo("s1", "payment", "alice", -300)).ok and service.data == {"alice": 500}
    assert send(Undo("s1", "payment", "alice", -300)).ok and service.data == {"alice": 500}
    assert send(Do("s1", "payment", "alice", -300)) == StepResult("s1", "payment", "do", False)
    assert send(Undo("s2", "payment", "alice", -300)).ok and service.data == {"alice": 500}
    assert not send(Do("s2", "payment", "alice", -300)).ok  # cancelled before it ever ran
    assert send(Do("s3", "payment", "alice", -900)) == StepResult("s3", "payment", "do", False)


def run_trips(seed: int, saga_next_fn=saga_next):
    rng = random.Random(seed)
    world = World(seed=seed, network=LinkConfig(latency=Uniform(1, 10), drop=rng.choice((0.0, 0.1, 0.2))))
    world.add_node("orchestrator", lambda me: SagaOrchestrator(me, saga_next=saga_next_fn))
    data = {"airline": {"seats": rng.randint(1, 4)}, "hotel": {"rooms": rng.randint(1, 3)},
            "bank": {"alice": rng.choice((300, 900)), "bob": rng.choice((0, 300))}}
    for service, initial in data.items():
        world.add_node(service, lambda me, initial=initial: SagaService(me, initial))
    trips = [trip_saga(f"s{n}", rng.choice(("alice", "bob"))) for n in range(1, 6)]
    for n, trip in enumerate(trips):
        world.inject("orchestrator", trip, at=1 + n)
    entries = []
    for _ in range(2):
        at = rng.randint(10, 200)
        entries += [(at, Crash("orchestrator")), (at + rng.randint(5, 100), Restart("orchestrator"))]
    who = rng.choice(sorted(data))
    entries += [(rng.randint(10, 200), Crash(who)), (300, Restart(who))]
    FaultSchedule(entries).install(world)
    world.run(until=4000)
    applied = {s: world.process(s).applied for s in data}
    return world, {t.saga: STEPS for t in trips}, applied, data


@pytest.mark.parametrize("seed", range(40))
def test_every_saga_ends_committed_or_fully_compensated_under_crashes_and_loss(seed):
    world, sagas, applied, initial = run_trips(seed)
    outcomes = world.process("orchestrator").outcomes
    assert saga_violations(sagas, outcomes, applied) == []
    # The books balance: each service holds its initial data plus the committed sagas' steps.
    for service, data in initial.items():
        expected = dict(data)
        for (_, saga, step, verb, key, delta) in applied[service]:
            if outcomes[saga] == "COMMITTED":
                expected[key] = expected.get(key, 0) + delta
        assert world.process(service).data == expected


def test_compensating_in_forward_order_is_caught():
    def forward(steps, log):
        done = [s for k, s in log if k == "done"]
        undone = {s for k, s in log if k == "undone"}
        if any(k == "failed" for k, _ in log):
            left = [s for s in done if s not in undone]
            return ("undo", left[0]) if left else ("end", "COMPENSATED")
        return saga_next(steps, log)

    found = []
    for seed in range(30):
        world, sagas, applied, _ = run_trips(seed, forward)
        found += saga_violations(sagas, world.process("orchestrator").outcomes, applied)
    assert any("latest completed step must be undone first" in p for p in found)


def test_saga_violations_reads_plain_data():
    applied = {"airline": [(1, "s1", "flight", "do", "seats", -1)], "hotel": [(2, "s1", "hotel", "do", "rooms", -1)]}
    assert "differ" in saga_violations({"s1": STEPS}, {"s1": "COMPENSATED"}, applied)[0]
    assert "never ended" in saga_violations({"s1": STEPS}, {}, applied)[0]
    assert "says COMMITTED" in saga_violations({"s1": STEPS}, {"s1": "COMMITTED"}, applied)[0]
