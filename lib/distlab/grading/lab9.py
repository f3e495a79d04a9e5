"""Lab 9 — distributed transactions (分布式事务): two-phase commit (两阶段提交) and a saga.

Four seams of :mod:`distlab.txn`, each checked against the reference on cases drawn from the
seed (docstring rows first), then run inside the simulator under seeded fault schedules —
crashes and restarts of the coordinator and of participants at the worst moments, lost
messages — with **atomicity** checked on every run from the durable logs alone:

- ``decide`` — the coordinator's commit rule, in a bank of three participants;
- ``recover_coordinator`` — the coordinator crashes mid-protocol, several times;
- ``recover_participant`` — participants crash while in doubt and rebuild their data;
- ``saga_next`` — an orchestrator books trips over lossy links and crashes; every saga must
  end committed or fully compensated, latest step first.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from distlab.grading.lab8 import _same, learner_call, translate
from distlab.grading.parts import Outcome, Part, register
from distlab.sim import Crash, FaultSchedule, LinkConfig, Restart, Uniform, World
from distlab.sim.world import ProcessError
from distlab.txn.saga import SagaOrchestrator, SagaService, saga_next, saga_violations, trip_saga
from distlab.txn.two_phase import (
    ABORT,
    COMMIT,
    Begin,
    Coordinator,
    Participant,
    TxnImpl,
    atomicity_violations,
    decide,
    recover_coordinator,
    recover_participant,
)

__all__ = ["bank_run"]

INITIAL = {"X": {"a": 100, "b": 40}, "Y": {"c": 80}, "Z": {"d": 0, "e": 30}}


# ====================================================================== the bank ============
def _transfers(rng: random.Random, count: int) -> list[tuple[int, Begin]]:
    """(at, Begin) transfers between accounts on different participants; some too large,
    some overlapping in time on the same account (a lock conflict votes no)."""
    accounts = [(p, k) for p, keys in sorted(INITIAL.items()) for k in sorted(keys)]
    out, at = [], 5
    for n in range(1, count + 1):
        (p1, k1), (p2, k2) = rng.sample(accounts, 2)
        while p1 == p2:
            (p1, k1), (p2, k2) = rng.sample(accounts, 2)
        amount = rng.choice((5, 10, 20, 50, 120))
        writes = {p1: {k1: -amount}, p2: {k2: amount}}
        if rng.random() < 0.3:  # a three-participant transaction
            p3 = next(p for p in sorted(INITIAL) if p not in writes)
            k3 = sorted(INITIAL[p3])[0]
            writes[p2] = {k2: amount - 1}
            writes[p3] = {k3: 1}
        out.append((at, Begin.of(f"t{n}", writes)))
        at += rng.choice((1, 3, 15, 40, 80))
    return out


def bank_run(seed: int, impl: TxnImpl | None = None, coordinator_crashes: int = 0, participant_crashes: int = 0,
             drop: float = 0.0, count: int = 6, cooperative: bool = False) -> tuple[World, dict]:
    """One 2PC run (already run): a coordinator and participants X, Y, Z moving money.

    Faults come from ``seed``: crashes land while transactions are in flight, each followed by
    a restart; at the end the network heals and the run goes on until everything settled.
    """
    rng = random.Random(f"lab9/bank/{seed}/{coordinator_crashes}/{participant_crashes}/{drop}")
    impl = impl or TxnImpl()
    world = World(seed=seed, network=LinkConfig(latency=Uniform(1, 8), drop=drop))
    world.add_node("coord", lambda me: Coordinator(me, impl))
    for p in sorted(INITIAL):
        world.add_node(p, lambda me: Participant(me, INITIAL[me], impl, cooperative=cooperative))
    txns = _transfers(rng, count)
    for at, begin in txns:
        world.inject("coord", begin, at=at)
    last = txns[-1][0]
    entries = []
    for _ in range(coordinator_crashes):
        at = rng.randint(2, last + 20)
        entries += [(at, Crash("coord")), (at + rng.randint(5, 250), Restart("coord"))]
    for _ in range(participant_crashes):
        who = rng.choice(sorted(INITIAL))
        at = rng.randint(2, last + 20)
        entries += [(at, Crash(who)), (at + rng.randint(5, 250), Restart(who))]
    FaultSchedule(entries).install(world)
    case = {"txns": txns, "schedule": entries, "until": last + 3000}
    world.run(until=last + 600)
    world.heal()
    for node in world.nodes:  # every restart is in the schedule; make sure all are up
        if not world.is_up(node):
            world.restart(node)
    world.run(until=case["until"])
    return world, case


def _describe(case: dict) -> str:
    faults = ", ".join(f"{type(f).__name__.lower()} {f.node} at {at} ms" for at, f in sorted(case["schedule"],
                                                                                         key=lambda e: e[0]))
    return f"{len(case['txns'])} transfers; {faults or 'no crashes'}"


def _bank_verdict(world: World, case: dict, seed: int) -> Outcome:
    logs = {p: [tuple(r) for r in world.durable(p).get("log", [])] for p in sorted(INITIAL)}
    coord_log = [tuple(r) for r in world.durable("coord").get("log", [])]
    where = f"(seed {seed}: {_describe(case)})"
    problems = atomicity_violations(coord_log, logs)
    if problems:
        return Outcome.fail(f"atomicity broke: {problems[0]} {where}", _log_excerpt(coord_log, logs))
    total = sum(v for p in INITIAL for v in INITIAL[p].values())
    now = sum(v for p in INITIAL for v in world.process(p).store.values())
    if now != total:
        return Outcome.fail(f"money was created or lost: the balances add up to {now}, not {total} {where}",
                            _log_excerpt(coord_log, logs))
    for p in sorted(INITIAL):
        participant = world.process(p)
        expected, _ = recover_participant(INITIAL[p], logs[p])
        if participant.store != expected:
            return Outcome.fail(f"{p}'s data is {participant.store}, but its log says {expected} (the initial data "
                                f"plus every committed transaction's writes) {where}", _log_excerpt(coord_log, logs))
        if participant.locks:
            return Outcome.fail(f"{p} still holds locks {participant.locks} after everything ended {where}")
    return Outcome.ok()


def _log_excerpt(coord_log: list, logs: dict, lines: int = 12) -> str:
    out = ["coord: " + ", ".join(f"{r[0]} {r[1]}" for r in coord_log[-lines:])]
    for p, log in logs.items():
        out.append(f"{p}: " + ", ".join(f"{r[0]} {r[1]}" for r in log[-lines:]))
    return "\n".join(out)


def _runs(fn_impl: TxnImpl, seed: int, settings: list[dict]) -> Outcome:
    for n, setting in enumerate(settings):
        run_seed = seed * 10 + n
        try:
            world, case = bank_run(run_seed, fn_impl, **setting)
        except ProcessError as error:
            return translate(error)
        verdict = _bank_verdict(world, case, run_seed)
        if verdict.passed is not True:
            return verdict
    return Outcome.ok()


# ====================================================================== A: decide ===========
def _decide_cases(seed: int) -> list[tuple[list, dict, bool]]:
    rng = random.Random(f"lab9/decide/{seed}")
    cases = [(["X", "Y"], {"X": True, "Y": True}, False), (["X", "Y"], {"X": False}, False),
             (["X", "Y", "Z"], {"X": True, "Y": True}, False), (["X", "Y", "Z"], {"X": True, "Y": True}, True),
             (["X", "Y", "Z"], {"X": True, "Y": True, "Z": False}, False), (["X"], {}, True), (["X"], {}, False)]
    for _ in range(120):
        participants = sorted(rng.sample(["P", "Q", "R", "S", "T"], rng.randint(1, 5)))
        votes = {p: rng.random() < 0.8 for p in participants if rng.random() < 0.8}
        cases.append((participants, votes, rng.random() < 0.3))
    return cases


def check_decide(fn: Any, seed: int) -> Outcome:
    for participants, votes, timed_out in _decide_cases(seed):
        expected = decide(participants, votes, timed_out)
        value, error = learner_call(fn, list(participants), dict(votes), timed_out)
        call = f"decide({participants}, {votes}, timed_out={timed_out})"
        if error is not None:
            return Outcome.fail(f"{call} raised {error[0]}: {error[1]}")
        if value != expected:
            missing = [p for p in participants if p not in votes]
            if value == COMMIT and any(v is False for v in votes.values()):
                why = "one no vote means ABORT: that participant cannot commit"
            elif value == COMMIT and timed_out:
                why = (f"the vote timeout passed and {missing} never answered: a silent participant may have voted "
                       "no, crashed, or never received the prepare — ABORT")
            elif value == COMMIT:
                why = (f"{missing} have not voted; a majority is not enough — each participant holds different data, "
                       "and a missing vote may be a no")
            elif value is None and expected == ABORT:
                why = ("abort now: " + ("a no vote decides it" if any(v is False for v in votes.values())
                                         else "the vote timeout has passed with votes missing"))
            elif value is None:
                why = "every participant voted yes: COMMIT"
            else:
                why = "keep waiting (None) while votes are missing and the timeout has not passed" if expected is None \
                    else "every participant voted yes: COMMIT"
            return Outcome.fail(f"{call} returned {value!r}; expected {expected!r}: {why}")
    return _runs(TxnImpl(decide=fn), seed, [dict(drop=0.0), dict(participant_crashes=2),
                                            dict(drop=0.05, coordinator_crashes=1)])


# ====================================================================== B: recover_coordinator ==
def _random_coordinator_log(rng: random.Random) -> list[tuple]:
    log, open_ = [], []
    for n in range(1, rng.randint(1, 6) + 1):
        txid = f"t{n}"
        log.append(("BEGIN", txid, tuple(sorted(rng.sample(["X", "Y", "Z"], rng.randint(1, 3))))))
        open_.append(txid)
        for other in list(open_):
            roll = rng.random()
            if roll < 0.3 and not any(r[1] == other and r[0] in (COMMIT, ABORT) for r in log):
                log.append((rng.choice((COMMIT, ABORT)), other))
            elif roll < 0.5 and any(r[1] == other and r[0] in (COMMIT, ABORT) for r in log):
                log.append(("END", other))
                open_.remove(other)
    return log


def check_recover_coordinator(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab9/recover_coordinator/{seed}")
    cases = [[("BEGIN", "t1", ("X", "Y")), (COMMIT, "t1"), ("END", "t1")],
             [("BEGIN", "t1", ("X", "Y")), (COMMIT, "t1")],
             [("BEGIN", "t1", ("X", "Y"))],
             [("BEGIN", "t1", ("X", "Y")), ("BEGIN", "t2", ("Y", "Z")), (ABORT, "t2"), (COMMIT, "t1")],
             []]
    cases += [_random_coordinator_log(rng) for _ in range(60)]
    for log in cases:
        expected = recover_coordinator(log)
        value, error = learner_call(fn, [tuple(r) for r in log])
        shown = "[" + ", ".join(f"{r[0]} {r[1]}" for r in log) + "]"
        if error is not None:
            return Outcome.fail(f"recover_coordinator({shown}) raised {error[0]}: {error[1]}")
        if not isinstance(value, dict) or value != expected:
            wrong = {t: (value.get(t) if isinstance(value, dict) else None, expected.get(t))
                     for t in set(expected) | set(value if isinstance(value, dict) else {})
                     if not isinstance(value, dict) or value.get(t) != expected.get(t)}
            txid = sorted(wrong)[0] if wrong else None
            records = [f"{r[0]}" for r in log if r[1] == txid]
            if txid is None:
                why = "return a dict {txid: 'COMMIT' | 'ABORT'}"
            elif "END" in records:
                why = f"{txid} ended (END is logged): every participant has its outcome, leave it out"
            elif COMMIT in records or ABORT in records:
                why = (f"{txid}'s decision is in the log ({[r for r in records if r in (COMMIT, ABORT)][0]}): some "
                       "participants may already have applied it, so it must be sent again as it is")
            else:
                why = (f"{txid} began but no decision was logged: nobody can have been told to commit, so it is "
                       "ABORT (presumed abort) — never COMMIT, a participant may have voted no")
            return Outcome.fail(f"recover_coordinator({shown}) returned {value!r}; expected {expected!r}: {why}")
    return _runs(TxnImpl(recover_coordinator=fn), seed, [dict(coordinator_crashes=2), dict(coordinator_crashes=3, drop=0.05),
                                                         dict(coordinator_crashes=2, participant_crashes=1)])


# ====================================================================== C: recover_participant ==
def _random_participant_log(rng: random.Random) -> tuple[dict, list]:
    initial = {k: rng.randint(0, 100) for k in rng.sample(["a", "b", "c"], rng.randint(1, 3))}
    log = []
    for n in range(1, rng.randint(1, 6) + 1):
        txid = f"t{n}"
        if rng.random() < 0.2:
            log.append(("ABORTED", txid))  # voted no
            continue
        writes = {k: rng.randint(-30, 30) for k in rng.sample(sorted(initial) + ["z"], rng.randint(1, 2))}
        log.append(("PREPARED", txid, "coord", ("X", "Y"), writes))
        roll = rng.random()
        if roll < 0.45:
            log.append(("COMMITTED", txid))
        elif roll < 0.7:
            log.append(("ABORTED", txid))
    # Outcomes may be logged out of order with respect to prepares.
    if len(log) > 2 and rng.random() < 0.5:
        outcomes = [r for r in log if r[0] in ("COMMITTED", "ABORTED") and any(p[0] == "PREPARED" and p[1] == r[1] for p in log)]
        if outcomes:
            moved = rng.choice(outcomes)
            log.remove(moved)
            log.append(moved)
    return initial, log


def check_recover_participant(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab9/recover_participant/{seed}")
    cases = [({"a": 100}, [("PREPARED", "t1", "coord", ("X", "Y"), {"a": -30}), ("COMMITTED", "t1")]),
             ({"a": 100}, [("PREPARED", "t1", "coord", ("X", "Y"), {"a": -30}), ("ABORTED", "t1")]),
             ({"a": 100}, [("PREPARED", "t1", "coord", ("X", "Y"), {"a": -30})]),
             ({"a": 100}, [("ABORTED", "t1")]),
             ({"a": 5}, [("PREPARED", "t1", "coord", ("X", "Y"), {"a": 10, "b": 2}),
                         ("PREPARED", "t2", "coord", ("X", "Y"), {"c": 1}), ("COMMITTED", "t2"), ("COMMITTED", "t1")])]
    cases += [_random_participant_log(rng) for _ in range(60)]
    for initial, log in cases:
        expected_store, expected_doubt = recover_participant(initial, log)
        value, error = learner_call(fn, dict(initial), [tuple(r) for r in log])
        shown = f"recover_participant({initial}, [" + ", ".join(
            f"{r[0]} {r[1]}" + (f" {r[4]}" if r[0] == "PREPARED" else "") for r in log) + "])"
        if error is not None:
            return Outcome.fail(f"{shown} raised {error[0]}: {error[1]}")
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            return Outcome.fail(f"{shown} returned {value!r}; it must return (store, in_doubt)")
        store, doubt = value
        if not _same(list(doubt), expected_doubt):
            return Outcome.fail(f"{shown} says in doubt: {list(doubt)}; expected {expected_doubt}: a transaction "
                                "PREPARED with no COMMITTED/ABORTED record is in doubt — this participant promised "
                                "to commit if told to, so it may neither commit nor abort it alone (list them in "
                                "log order)")
        if store != expected_store:
            doubtful = [r[1] for r in log if r[0] == "PREPARED" and r[1] in expected_doubt]
            return Outcome.fail(f"{shown} rebuilt the data as {store}; expected {expected_store}: redo the writes of "
                                "COMMITTED transactions only, in the order of their COMMITTED records"
                                + (f"; the writes of {doubtful} (in doubt) are not in the data until they commit"
                                   if doubtful else "") + "; keys not in the initial data start at 0")
    return _runs(TxnImpl(recover_participant=fn), seed,
                 [dict(participant_crashes=3), dict(participant_crashes=2, coordinator_crashes=1),
                  dict(participant_crashes=3, drop=0.05)])


# ====================================================================== D: saga_next ========
STEPS = ["flight", "hotel", "payment"]


def _saga_cases(seed: int) -> list[tuple[list, list]]:
    rng = random.Random(f"lab9/saga/{seed}")
    rows = [[], [("done", "flight"), ("done", "hotel")], [("done", s) for s in STEPS],
            [("done", "flight"), ("done", "hotel"), ("failed", "payment")],
            [("done", "flight"), ("done", "hotel"), ("failed", "payment"), ("undone", "hotel")],
            [("done", "flight"), ("failed", "hotel"), ("undone", "flight")],
            [("failed", "flight")]]
    cases = [(list(STEPS), r) for r in rows]
    for _ in range(60):
        steps = rng.sample(["a", "b", "c", "d", "e"], rng.randint(1, 5))
        log: list = []
        fail_at = rng.randrange(len(steps) + 1)
        while True:
            action = saga_next(steps, log)
            cases.append((list(steps), list(log)))
            if action[0] == "end" or rng.random() < 0.1:
                break
            if action[0] == "do":
                log.append(("failed" if steps.index(action[1]) == fail_at else "done", action[1]))
            else:
                log.append(("undone", action[1]))
    return cases


def _saga_hint(steps: list, log: list, got: Any, expected: tuple) -> str:
    done = [r[1] for r in log if r[0] == "done"]
    undone = {r[1] for r in log if r[0] == "undone"}
    failed = [r[1] for r in log if r[0] == "failed"]
    if failed:
        left = [s for s in reversed(done) if s not in undone]
        if isinstance(got, (tuple, list)) and len(got) == 2 and (got[0] == "do" or tuple(got) == ("end", "COMMITTED")):
            return f"{failed[0]} failed: the saga can no longer complete — compensate instead of going on"
        if isinstance(got, (tuple, list)) and len(got) == 2 and got[0] == "undo" and got[1] in failed:
            return (f"{got[1]} failed, so its local transaction rolled back: there is nothing to undo (a refund for a "
                    "charge that never happened would create money)")
        if isinstance(got, (tuple, list)) and len(got) == 2 and got[0] == "undo" and got[1] in undone:
            return f"{got[1]} is undone already; the next compensation is {left[0] if left else 'none'}"
        if left:
            return (f"compensate the latest completed step first: the steps done are {done} and {left[0]} is the "
                    "latest not yet undone")
        return "every completed step is compensated: the saga ends COMPENSATED"
    remaining = [s for s in steps if s not in done]
    if remaining:
        return f"no step failed: do the next step in order, {remaining[0]}"
    return "every step is done: the saga ends COMMITTED"


def _saga_in_sim(fn: Callable, seed: int) -> Outcome:
    rng = random.Random(f"lab9/saga/sim/{seed}")
    world = World(seed=seed, network=LinkConfig(latency=Uniform(1, 10), drop=rng.choice((0.0, 0.1, 0.2))))
    world.add_node("orchestrator", lambda me: SagaOrchestrator(me, saga_next=fn))
    travellers = {"alice": rng.choice((300, 700, 1000)), "bob": rng.choice((0, 300, 400)), "carol": 600}
    initial = {"airline": {"seats": rng.randint(2, 4)}, "hotel": {"rooms": rng.randint(1, 3)}, "bank": dict(travellers)}
    for service, data in initial.items():
        world.add_node(service, lambda me, data=data: SagaService(me, data))
    sagas = {}
    for n in range(1, 7):
        who = rng.choice(sorted(travellers))
        start = trip_saga(f"s{n}", who, price=rng.choice((200, 300)))
        sagas[start.saga] = [s.name for s in start.steps]
        world.inject("orchestrator", start, at=rng.randint(1, 30))  # before the first crash: a lost
    entries = []                                                        # request is the client's business
    for _ in range(rng.randint(1, 3)):
        at = rng.randint(35, 250)
        entries += [(at, Crash("orchestrator")), (at + rng.randint(10, 200), Restart("orchestrator"))]
    if rng.random() < 0.5:
        at = rng.randint(5, 250)
        who = rng.choice(("airline", "hotel", "bank"))
        entries += [(at, Crash(who)), (at + rng.randint(10, 100), Restart(who))]
    FaultSchedule(entries).install(world)
    try:
        world.run(until=3000)
    except ProcessError as error:
        return translate(error)
    orchestrator = world.process("orchestrator")
    applied = {s: world.process(s).applied for s in initial}
    problems = saga_violations(sagas, orchestrator.outcomes, applied)
    if problems:
        crashes = ", ".join(f"{type(f).__name__.lower()} {f.node} at {at} ms" for at, f in sorted(entries, key=lambda e: e[0]))
        return Outcome.fail(f"{problems[0]} (seed {seed}: 6 trips competing for seats, rooms and money; {crashes})",
                            "\n".join(f"t={a[0]} {svc}: {a[3]} {a[1]}/{a[2]}" for svc in sorted(applied)
                                      for a in applied[svc])[-1500:])
    return Outcome.ok()


def check_saga_next(fn: Any, seed: int) -> Outcome:
    for steps, log in _saga_cases(seed):
        expected = saga_next(steps, log)
        value, error = learner_call(fn, list(steps), [tuple(r) for r in log])
        shown = f"saga_next({steps}, [" + ", ".join(f"{r[0]} {r[1]}" for r in log) + "])"
        if error is not None:
            return Outcome.fail(f"{shown} raised {error[0]}: {error[1]}")
        if not _same(value, expected):
            return Outcome.fail(f"{shown} returned {value!r}; expected {expected!r}: "
                                + _saga_hint(steps, log, value, expected))
    return _saga_in_sim(fn, seed)


register(
    9, "Distributed transactions: two-phase commit and sagas", "lab9-transactions.ipynb",
    Part(9, "decide", "2PC: the commit rule", 2,
         "COMMIT only when every participant voted yes; ABORT on a no or at the timeout with votes missing; "
         "else wait — with it, a bank under crashes and lost messages stays atomic", check_decide),
    Part(9, "recover_coordinator", "2PC: coordinator recovery", 3,
         "after a crash, resend every logged decision of an unended transaction and abort every begun, "
         "undecided one (presumed abort) — with it, coordinator crashes never break atomicity or leave "
         "participants blocked", check_recover_coordinator),
    Part(9, "recover_participant", "2PC: participant recovery", 3,
         "redo committed writes in commit order on the initial data; prepared transactions without an outcome "
         "are in doubt (not applied, not aborted) — with it, participants that crash while in doubt rejoin "
         "and stay atomic", check_recover_participant),
    Part(9, "saga_next", "A saga with compensations", 3,
         "do the steps in order; after a failure undo the completed steps latest first (never the failed "
         "one), then end COMPENSATED — with it, trips booked under crashes and loss are all-or-nothing",
         check_saga_next),
)
