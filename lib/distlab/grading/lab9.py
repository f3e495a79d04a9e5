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

from distlab.grading.lab8 import _same, learner_call, named, translate
from distlab.grading.parts import Outcome, Part, register, verdicts
from distlab.sim import Crash, Fixed, FaultSchedule, LinkConfig, Restart, Uniform, World
from distlab.sansio import Deliver, Start
from distlab.sim.world import ProcessError
from distlab.txn.saga import SagaOrchestrator, SagaService, saga_next, saga_violations, trip_saga
from distlab.txn.two_phase import (
    ABORT,
    COMMIT,
    Ack,
    Begin,
    Coordinator,
    Decision,
    Participant,
    Prepare,
    StatusQuery,
    Vote,
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
             drop: float = 0.0, count: int = 6, cooperative: bool = False, participant: Callable | None = None,
             duplicate: float = 0.0) -> tuple[World, dict]:
    """One 2PC run (already run): a coordinator and participants X, Y, Z moving money.

    Faults come from ``seed``: crashes land while transactions are in flight, each followed by
    a restart; at the end the network heals and the run goes on until everything settled.
    ``participant``, if given, builds every participant instead of the reference
    :class:`Participant`: ``participant(me, initial)`` (Part E's whole process).
    """
    rng = random.Random(f"lab9/bank/{seed}/{coordinator_crashes}/{participant_crashes}/{drop}")
    impl = impl or TxnImpl()
    world = World(seed=seed, network=LinkConfig(latency=Uniform(1, 8), drop=drop, duplicate=duplicate))
    world.add_node("coord", lambda me: Coordinator(me, impl))
    for p in sorted(INITIAL):
        if participant is not None:
            world.add_node(p, lambda me: participant(me, dict(INITIAL[me])))
        else:
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
    searched = search_test(fn, "decide")
    if not searched.passed:
        return searched
    return _runs(TxnImpl(decide=fn), seed, [dict(drop=0.0), dict(participant_crashes=2),
                                            dict(drop=0.05, coordinator_crashes=1)])


# ====================================================================== the search test ========
# Every schedule of 2PC with two participants (an all-yes and a refused transaction), up to
# SEARCH_DEPTH steps with one crash and one lost message, run by the model checker
# (distlab.check.model) with the learner's function inside the real Coordinator/Participant.
# The verdict does not depend on the seed: computed once per function, given to every seed.
SEARCH_DEPTH = 10
_SEARCHED: list = []


def search_test(fn: Any, seam: str) -> Outcome:
    from distlab.check.model import describe_counterexample, explore, two_phase_model

    for searched, name, outcome in _SEARCHED:
        if searched is fn and name == seam:
            return outcome
    try:
        result = explore(two_phase_model(2, crashes=1, drops=1, impl=TxnImpl(**{seam: fn})), depth=SEARCH_DEPTH)
    except (ValueError, TypeError) as error:  # what Coordinator/Participant say of a malformed answer
        outcome = Outcome.fail(f"search test: {error}")
    else:
        outcome = Outcome.ok() if result.violation is None else Outcome.fail(
            f"search test (every schedule of 2PC with 2 participants, 1 crash, 1 lost message, "
            f"{result.states} states): " + describe_counterexample(result)
            + f"\nReplay it in your notebook: from distlab.check.model import explore, two_phase_model, "
              f"replay_processes; m = two_phase_model(2, crashes=1, drops=1, impl=TxnImpl({seam}={seam})); "
              f"r = explore(m, depth={SEARCH_DEPTH}); replay_processes(m, r.trace).trace")
    _SEARCHED[:] = [(fn, seam, outcome)]
    return outcome


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
    searched = search_test(fn, "recover_coordinator")
    if not searched.passed:
        return searched
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
    searched = search_test(fn, "recover_participant")
    if not searched.passed:
        return searched
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


# ====================================================================== E: TxnParticipant ===
# The learner writes a whole participant: a sans-I/O process the grader builds in the sandbox,
# runs next to the reference Coordinator and checks, step by step, with an auditor that sees
# every effect it returns (the log it writes, the messages it sends) and, at checkpoints, its
# data and locks (``snapshot()``).
OUTCOME_OF = {COMMIT: "COMMITTED", ABORT: "ABORTED"}
MESSAGES = (Vote, Ack, StatusQuery, Decision)
ROLES_KEYS = {"X": "a", "Y": "c", "Z": "e"}  # an account with at least 30 in it at each bank


def _in_doubt(log: list) -> dict:
    """{txid: writes} of every transaction PREPARED in ``log`` without an outcome yet."""
    doubt: dict = {}
    for record in log:
        if record[0] == "PREPARED":
            doubt[record[1]] = record[4]
        elif record[0] in ("COMMITTED", "ABORTED"):
            doubt.pop(record[1], None)
    return doubt


def _outcome_in(log: list, txid: str) -> str | None:
    return next((r[0] for r in log if r[0] in ("COMMITTED", "ABORTED") and r[1] == txid), None)


def _shown(record: Any) -> str:
    if isinstance(record, tuple) and record and record[0] == "PREPARED" and len(record) == 5:
        return f"PREPARED {record[1]} {record[4]}"
    if isinstance(record, tuple) and len(record) >= 2:
        return f"{record[0]} {record[1]}"
    return repr(record)


class Audit:
    """One learner participant as the world runs it: every step's effects checked as they happen.

    ``memory`` is the auditor's own record of the node across its incarnations (the outcomes
    Decisions told it); problems found go to ``problems`` as ``(time, node, message)``.
    """

    def __init__(self, inner: Any, me: Any, initial: dict, memory: dict, problems: list) -> None:
        self.inner, self.me, self.initial = inner, me, dict(initial)
        self.memory, self.problems = memory.setdefault(me, {"heard": {}}), problems
        self.log: list = []

    def snapshot(self) -> dict:
        from distlab.grading.parts import verdict_fail

        value, error = learner_call(self.inner.snapshot)
        if error is not None:
            raise verdict_fail(f"{self.me}.snapshot() raised {error[0]}: {error[1]}")
        if not isinstance(value, dict) or not isinstance(value.get("store"), dict) \
                or not isinstance(value.get("locks"), dict):
            raise verdict_fail(f"{self.me}.snapshot() returned {value!r}; it must return "
                               "{'store': {key: int}, 'locks': {key: txid}} (keep the given method)")
        return value

    def step(self, event: Any) -> Any:
        if type(event) is Start:
            self.log = [tuple(r) if isinstance(r, (list, tuple)) else r for r in event.durable.get("log", [])]
        fx = self.inner.step(event)
        if fx is not None:
            self._audit(event, fx)
        return fx

    def _problem(self, now: int, message: str) -> None:
        self.problems.append((now, self.me, message))

    def _audit(self, event: Any, fx: Any) -> None:
        now, me = event.now, self.me
        told = event.msg if type(event) is Deliver and type(event.msg) is Decision else None
        if told is not None:
            self.memory["heard"][told.txid] = told.outcome
        before = list(self.log)
        new: list = []
        for op, key, value in fx.writes or ():
            if key != "log":
                continue
            if op == "append":
                new.append(tuple(value) if isinstance(value, (list, tuple)) else value)
            elif op == "set" and isinstance(value, (list, tuple)) and \
                    [tuple(r) if isinstance(r, (list, tuple)) else r for r in value[:len(before) + len(new)]] == before + new:
                new.extend(tuple(r) if isinstance(r, (list, tuple)) else r for r in value[len(before) + len(new):])
            else:
                self._problem(now, f"{me} rewrote its log ({op}): a redo log (日志) is only appended to; a record "
                                   "once written is what recovery will read")
                return
        log = list(before)
        for record in new:
            if not (isinstance(record, tuple) and record and record[0] in ("PREPARED", "COMMITTED", "ABORTED")
                    and (len(record) == 5 and isinstance(record[4], dict) if record[0] == "PREPARED"
                         else len(record) == 2)):
                self._problem(now, f"{me} logged {record!r}; a participant's records are ('PREPARED', txid, "
                                   "coordinator, participants, {key: delta}), ('COMMITTED', txid), ('ABORTED', txid)")
                return
            kind, txid = record[0], record[1]
            doubt = _in_doubt(log)
            if kind == "PREPARED":
                if txid not in doubt and _outcome_in(log, txid) is None:
                    clash = sorted((other, k) for other, writes in doubt.items() for k in writes if k in record[4])
                    if clash:
                        other, k = clash[0]
                        self._problem(now, f"{me} prepared {txid}, which writes {k!r}, while {other} — in doubt, "
                                           f"PREPARED in its log — still holds {k!r}: isolation (隔离性) broke. The "
                                           "locks of an in-doubt transaction stay taken, also after a restart (take "
                                           "them again from the log); a conflict votes no")
                    store, _ = recover_participant(self.initial, log)
                    low = sorted(k for k, d in record[4].items() if store.get(k, 0) + d < 0)
                    if low:
                        self._problem(now, f"{me} prepared {txid}, although {low[0]!r} would go below 0 "
                                           f"({store.get(low[0], 0)} + {record[4][low[0]]}): a yes vote is a promise "
                                           "to commit, so make it only when the commit can happen (vote no)")
            else:
                earlier = _outcome_in(log, txid)
                if earlier is not None:
                    if earlier != kind:
                        self._problem(now, f"{me} logged {kind} for {txid}, which its log already says {earlier}: "
                                           "atomicity (原子性) broke inside one participant. After a restart the "
                                           "outcomes are in the log — read them back, and answer from them")
                    else:
                        self._problem(now, f"{me} logged {kind} for {txid} a second time (a repeated Decision): "
                                           "recovery would redo its writes twice. A repeated Decision is "
                                           "idempotent (幂等): acknowledge it, change nothing")
                elif txid in doubt:
                    if told is None or told.txid != txid:
                        self._problem(now, f"{me} logged {kind} for {txid} on its own, while in doubt (存疑) — it had "
                                           f"voted yes and no Decision for {txid} had arrived. After a yes vote a "
                                           "participant must wait for the outcome: this is 2PC's blocking (阻塞), "
                                           "and presumed abort (推定中止) is the coordinator's rule, not a "
                                           "participant's")
                    elif OUTCOME_OF.get(told.outcome) != kind:
                        self._problem(now, f"{me} was told {told.outcome} for {txid} but logged {kind}: obey the "
                                           "decision (原子性)")
                elif kind == "COMMITTED":
                    self._problem(now, f"{me} logged COMMITTED for {txid} without having PREPARED it")
            log.append(record)
        self.log = log
        for dst, msg in fx.sends or ():
            if type(msg) not in MESSAGES:
                self._problem(now, f"{me} sent {msg!r} to {dst}; a participant sends Vote, Ack, StatusQuery and "
                                   "Decision (an answer to a peer's StatusQuery)")
                continue
            if type(msg) is Vote and msg.yes:
                if not any(r[0] == "PREPARED" and r[1] == msg.txid for r in log):
                    self._problem(now, f"{me} voted yes on {msg.txid} before PREPARED {msg.txid} was in its log: a "
                                       "yes is a promise that must survive a crash — log PREPARED (with the writes) "
                                       "in the same step or earlier, never after (durability, 持久性; without it "
                                       "a restart forgets the promise and atomicity 原子性 breaks)")
                elif _outcome_in(log, msg.txid) == "ABORTED":
                    self._problem(now, f"{me} voted yes on {msg.txid}, which its log says ABORTED")
            elif type(msg) is Decision:
                have = _outcome_in(log, msg.txid)
                if OUTCOME_OF.get(msg.outcome) != have:
                    self._problem(now, f"{me} answered {dst}'s StatusQuery with {msg.outcome} for {msg.txid}, but its "
                                       f"log says {have or ('PREPARED (in doubt)' if msg.txid in _in_doubt(log) else 'nothing')}: "
                                       "answer only with an outcome you logged; one that never voted logs ABORTED "
                                       "first (then it can never vote yes); one in doubt does not answer")


def _txn_world(fn: Callable, memory: dict, problems: list) -> World:
    world = World(seed=0, network=LinkConfig(latency=Fixed(2)))
    world.add_node("coord", lambda me: Coordinator(me))
    world.add_node("coord2", lambda me: Coordinator(me))
    for p in sorted(INITIAL):
        world.add_node(p, lambda me: Audit(fn(me, dict(INITIAL[me])), me, INITIAL[me], memory, problems))
    return world


def _logs(world: World) -> tuple[list, dict]:
    coord = [tuple(r) for c in ("coord", "coord2") if c in world.nodes for r in world.durable(c).get("log", [])]
    return coord, {p: [tuple(r) for r in world.durable(p).get("log", [])] for p in sorted(INITIAL)}


def _excerpt(world: World, lines: int = 14) -> str:
    out = []
    for r in world.trace:
        if r.kind in ("crash", "restart"):
            out.append(f"t={r.time:>5} {r.node} {r.kind}")
        elif r.kind in ("deliver", "drop") and type(r.msg) in (Prepare, Vote, Decision, StatusQuery):
            what = "->" if r.kind == "deliver" else "-x (lost)"
            out.append(f"t={r.time:>5} {r.src} {what} {r.dst}: {r.msg}")
    coord, logs = _logs(world)
    return "\n".join(out[-lines:] + [_log_excerpt(coord, logs, 8)])


def _check_data(world: World, where: str, resolved: bool) -> Outcome | None:
    """Each participant's data and locks against its own log (the snapshot the learner keeps)."""
    _, logs = _logs(world)
    for p in sorted(INITIAL):
        if not world.is_up(p):
            continue
        seen = world.process(p).snapshot()
        store, doubt = recover_participant(INITIAL[p], logs[p])
        if seen["store"] != store:
            doubtful = _in_doubt(logs[p])
            early = {k: store.get(k, 0) + d for writes in doubtful.values() for k, d in writes.items()}
            why = (f"it holds the writes of {sorted(doubtful)}, which are only PREPARED: apply a transaction's writes "
                   "on COMMIT, never before (原子性 — an abort must leave nothing behind)"
                   if doubtful and all(seen["store"].get(k) == v for k, v in early.items()) else
                   "its data must always be the initial data plus the writes of the transactions its log says "
                   "COMMITTED — applied once each, on COMMIT; after a restart, rebuilt from the log "
                   "(recover_participant)")
            return Outcome.fail(f"{p}'s data is {seen['store']}, but its log says {store}: {why} {where}",
                                _excerpt(world))
        wanted = {k: txid for txid in doubt for k in _in_doubt(logs[p])[txid]}
        if resolved and seen["locks"]:
            return Outcome.fail(f"{p} still holds locks {seen['locks']} after every transaction ended: release a "
                                f"transaction's locks when its outcome is logged, commit or abort {where}",
                                _excerpt(world))
        missing = {k: t for k, t in wanted.items() if seen["locks"].get(k) != t}
        if missing:
            return Outcome.fail(f"{p} is in doubt about {sorted(set(missing.values()))} but does not lock "
                                f"{sorted(missing)} (its locks: {seen['locks']}): an in-doubt transaction keeps its "
                                "locks until the outcome arrives — also after a restart (隔离性, isolation) "
                                f"{where}", _excerpt(world))
    return None


def _verdict(world: World, problems: list, where: str, resolved: bool = True) -> Outcome | None:
    if problems:
        time, node, message = problems[0]
        return Outcome.fail(f"at t={time} ms: {message} {where}", _excerpt(world))
    coord, logs = _logs(world)
    trouble = atomicity_violations(coord, logs, expect_resolved=resolved)
    if trouble:
        hint = (": a participant that voted yes must learn the outcome — keep asking (StatusQuery) while in "
                "doubt, also after a restart (the log says what is in doubt), and act on the Decision"
                if "in doubt" in trouble[0] else "")
        return Outcome.fail(f"atomicity (原子性) broke: {trouble[0]}{hint} {where}", _excerpt(world))
    return _check_data(world, where, resolved)


def _run(world: World, until: int) -> Outcome | None:
    try:
        world.run(until=until)
    except ProcessError as error:
        return translate(error)
    return None


def _ended(world: World, where: str) -> Outcome | None:
    coord, _ = _logs(world)
    begun = [r[1] for r in coord if r[0] == "BEGIN"]
    open_ = [t for t in begun if not any(r[0] == "END" and r[1] == t for r in coord)]
    if open_:
        return Outcome.fail(f"the coordinator never logged END for {open_}: it never had every participant's Ack. "
                            "Acknowledge every Decision you receive — also a repeated one, and one for a "
                            f"transaction already settled (the first Ack may have been lost) {where}", _excerpt(world))
    return None


def _roles(seed: int, story: str) -> tuple[random.Random, list]:
    rng = random.Random(f"lab9/participant/{story}/{seed}")
    return rng, rng.sample(sorted(INITIAL), 3)


def _transfer(txid: str, src: str, dst: str, amount: int) -> Begin:
    return Begin.of(txid, {src: {ROLES_KEYS[src]: -amount}, dst: {ROLES_KEYS[dst]: amount}})


def _story_blocked(fn: Callable, seed: int) -> Outcome:
    """Both participants vote yes; the coordinator logs COMMIT, its Decisions are lost, it crashes."""
    rng, (a, b, _) = _roles(seed, "blocked")
    memory, problems = {}, []
    world = _txn_world(fn, memory, problems)
    world.inject("coord", _transfer("t1", a, b, rng.choice((10, 20, 30))), at=1)
    world.call_at(4, lambda w: [w.configure_link("coord", p, drop=1.0) for p in (a, b)])
    FaultSchedule([(6, Crash("coord")), (800, Restart("coord"))]).install(world)
    world.call_at(790, lambda w: [w.configure_link("coord", p, drop=0.0) for p in (a, b)])
    where = (f"(seed {seed}: {a} and {b} voted yes on t1 at t=3; the coordinator logged COMMIT at t=5, but both "
             "Decisions were lost and it crashed at t=6, down until t=800 — the blocking case, 阻塞)")
    failed = _run(world, 700) or _verdict(world, problems, where, resolved=False)
    if failed:
        return failed
    _, logs = _logs(world)
    for p in (a, b):
        if "t1" not in _in_doubt(logs[p]):
            return Outcome.fail(f"at t=700 {p}'s log has no PREPARED t1 without an outcome: {_log_excerpt([], {p: logs[p]})}"
                                f"; it voted yes, so it must be in doubt until the coordinator is back {where}",
                                _excerpt(world))
    return _run(world, 1600) or _verdict(world, problems, where) or _ended(world, where) or Outcome.ok()


def _story_cooperative(fn: Callable, seed: int) -> Outcome:
    """One participant never gets its Prepare; the others voted yes; the coordinator is down."""
    rng, (silent, v1, v2) = _roles(seed, "cooperative")
    memory, problems = {}, []
    world = _txn_world(fn, memory, problems)
    amount = rng.choice((5, 10))
    world.inject("coord", Begin.of("t1", {v1: {ROLES_KEYS[v1]: -2 * amount}, v2: {ROLES_KEYS[v2]: amount},
                                          silent: {ROLES_KEYS[silent]: amount}}), at=1)
    world.configure_link("coord", silent, drop=1.0)
    world.call_at(1400, lambda w: w.configure_link("coord", silent, drop=0.0))
    FaultSchedule([(4, Crash("coord")), (1500, Restart("coord"))]).install(world)
    where = (f"(seed {seed}: t1 over {v1}, {v2} and {silent}; {silent}'s Prepare was lost, {v1} and {v2} voted "
             "yes, and the coordinator crashed at t=4 before their votes arrived, down until t=1500)")
    failed = _run(world, 900) or _verdict(world, problems, where, resolved=False)
    if failed:
        return failed
    _, logs = _logs(world)
    asked = [r for r in world.trace if r.kind == "deliver" and r.dst == silent and type(r.msg) is StatusQuery]
    for p in (v1, v2):
        if _outcome_in(logs[p], "t1") is None:
            if not any(r.src == p for r in asked):
                why = (f"{p} never asked {silent}: while in doubt, ask the coordinator *and* the other participants "
                       "(Prepare.participants) every ASK_MS — the cooperative termination protocol (协作终止)")
            else:
                why = (f"{silent} was asked (StatusQuery) but did not help: a participant that has not voted may "
                       "still abort — log ABORTED, then answer Decision(txid, 'ABORT'); one that knows the outcome "
                       "answers it")
            return Outcome.fail(f"at t=900 {p} was still blocked on t1 although {silent} never voted, so t1 could "
                                f"be aborted without the coordinator: {why} {where}", _excerpt(world))
    return _run(world, 2200) or _verdict(world, problems, where) or _ended(world, where) or Outcome.ok()


def _story_restart(fn: Callable, seed: int) -> Outcome:
    """A participant crashes while in doubt; a second coordinator's transaction wants its locked key."""
    rng, (a, b, c) = _roles(seed, "restart")
    memory, problems = {}, []
    world = _txn_world(fn, memory, problems)
    world.inject("coord", _transfer("t1", a, b, rng.choice((10, 20))), at=1)
    world.inject("coord2", Begin.of("t2", {b: {ROLES_KEYS[b]: 5}, c: {ROLES_KEYS[c]: -5}}), at=100)
    FaultSchedule([(4, Crash("coord")), (20, Crash(b)), (60, Restart(b)), (600, Restart("coord"))]).install(world)
    where = (f"(seed {seed}: {a} and {b} voted yes on t1, the coordinator crashed at t=4 before deciding; {b} "
             f"crashed at t=20 and restarted at t=60, in doubt; at t=100 a second coordinator began t2, which "
             f"writes {b}'s {ROLES_KEYS[b]!r} too)")
    failed = _run(world, 400) or _verdict(world, problems, where, resolved=False)
    if failed:
        return failed
    return _run(world, 1400) or _verdict(world, problems, where) or _ended(world, where) or Outcome.ok()


def _story_forgotten(fn: Callable, seed: int) -> Outcome:
    """One participant commits and restarts; the other, in doubt, asks it."""
    rng, (a, b, _) = _roles(seed, "forgotten")
    memory, problems = {}, []
    world = _txn_world(fn, memory, problems)
    world.inject("coord", _transfer("t1", a, b, rng.choice((10, 20, 30))), at=1)
    world.call_at(4, lambda w: w.configure_link("coord", b, drop=1.0))
    world.call_at(900, lambda w: w.configure_link("coord", b, drop=0.0))
    FaultSchedule([(6, Crash("coord")), (20, Crash(a)), (50, Restart(a)), (1000, Restart("coord"))]).install(world)
    where = (f"(seed {seed}: t1 over {a} and {b} was decided COMMIT; {a} committed, crashed at t=20 and restarted "
             f"at t=50; the Decision to {b} was lost and the coordinator is down from t=6 to t=1000)")
    failed = _run(world, 500) or _verdict(world, problems, where, resolved=False)
    if failed:
        return failed
    _, logs = _logs(world)
    if _outcome_in(logs[b], "t1") is None:
        asked = any(r.kind == "deliver" and r.src == b and r.dst == a and type(r.msg) is StatusQuery for r in world.trace)
        why = (f"{a} was asked and knows (its log says COMMITTED t1): answer a peer's StatusQuery with the outcome "
               "you logged — also after a restart" if asked else
               f"{b} never asked {a}: while in doubt, ask the other participants too (协作终止, cooperative termination)")
        return Outcome.fail(f"at t=500 {b} was still in doubt about t1: {why} {where}", _excerpt(world))
    return _run(world, 1600) or _verdict(world, problems, where) or _ended(world, where) or Outcome.ok()


def _participant_bank(fn: Callable, seed: int) -> Outcome:
    memory, problems = {}, []

    def build(me: Any, initial: dict) -> Audit:
        return Audit(fn(me, initial), me, initial, memory, problems)

    try:
        world, case = bank_run(seed * 10 + 7, participant=build, coordinator_crashes=1, participant_crashes=2,
                               drop=0.05, duplicate=0.1)
    except ProcessError as error:
        return translate(error)
    where = f"(seed {seed}: the bank: {_describe(case)}, 5% loss, 10% duplicates)"
    failed = _verdict(world, problems, where) or _ended(world, where)
    if failed:
        return failed
    total = sum(v for p in INITIAL for v in INITIAL[p].values())
    now = sum(v for p in INITIAL for v in world.process(p).snapshot()["store"].values())
    if now != total:
        return Outcome.fail(f"money was created or lost (原子性): the balances add up to {now}, not {total} {where}",
                            _excerpt(world))
    return Outcome.ok()


@verdicts
def check_TxnParticipant(fn: Any, seed: int) -> Outcome:
    for story in (_story_blocked, _story_cooperative, _story_restart, _story_forgotten, _participant_bank):
        outcome = story(fn, seed)
        if outcome.passed is not True:
            return outcome
    return Outcome.ok()


register(
    9, "Distributed transactions: two-phase commit and sagas", "lab9-transactions.ipynb",
    Part(9, "decide", "2PC: the commit rule", 2,
         "COMMIT only when every participant voted yes; ABORT on a no or at the timeout with votes missing; "
         "else wait — with it, a bank under crashes and lost messages stays atomic", named(check_decide, '原子性',
               "Atomicity (原子性): commit only when every participant promised; anything else may "
               "commit at one bank and abort at another")),
    Part(9, "recover_coordinator", "2PC: coordinator recovery", 3,
         "after a crash, resend every logged decision of an unended transaction and abort every begun, "
         "undecided one (presumed abort) — with it, coordinator crashes never break atomicity or leave "
         "participants blocked", named(check_recover_coordinator, '原子性',
               "Atomicity (原子性) after a coordinator crash: a logged decision is resent as it is, an "
               "undecided one is aborted (presumed abort, 推定中止)")),
    Part(9, "recover_participant", "2PC: participant recovery", 3,
         "redo committed writes in commit order on the initial data; prepared transactions without an outcome "
         "are in doubt (not applied, not aborted) — with it, participants that crash while in doubt rejoin "
         "and stay atomic", named(check_recover_participant, '存疑',
               "A participant's recovery keeps atomicity (原子性) only if a PREPARED transaction without"
               " an outcome stays in doubt (存疑): neither applied nor aborted")),
    Part(9, "saga_next", "A saga with compensations", 3,
         "do the steps in order; after a failure undo the completed steps latest first (never the failed "
         "one), then end COMPENSATED — with it, trips booked under crashes and loss are all-or-nothing",
         named(check_saga_next, '补偿',
               'A saga keeps its all-or-nothing promise through compensations (补偿), latest completed step first')),
    Part(9, "TxnParticipant", "2PC: a whole participant", 5,
         "log PREPARED before voting yes; apply a transaction only on COMMIT and only once; keep its locks and "
         "wait while in doubt (never decide alone after a yes: 阻塞); ask the coordinator and the peers, and "
         "answer a peer only with a logged outcome (cooperative termination); rebuild data, outcomes, doubts and "
         "locks from the log after a crash; acknowledge every Decision — graded with the reference Coordinator "
         "under crashes, lost and duplicated messages, with atomicity (原子性) checked from the logs",
         check_TxnParticipant, kind="class", uses=("recover_participant",)),
)
