"""Sagas: a long transaction as local steps, undone by compensations (补偿) when one fails.

:Status: reference implementation for Lab 9, part D (``saga_next``)

Garcia-Molina and Salem ("Sagas", SIGMOD 1987) split a long-lived transaction into local
transactions T1 … Tn, each committed on its own service at once, each paired with a
**compensating transaction** C1 … Cn that semantically undoes it (cancel the flight, refund
the card). Either T1 … Tn all complete, or for some k the system runs T1 … Tk and then
Ck … C1. Nothing is locked across services, so nothing blocks — the price is *isolation*:
others can see a booked flight that is later cancelled.

This is an **orchestrated** saga: one :class:`SagaOrchestrator` calls the steps in order and
keeps a durable *saga log* per saga; :func:`saga_next` reads the log and says what to do
next:

1. if a step **failed**, compensate every step that completed and is not yet undone, the
   **latest completed first**; when none is left, the saga ends ``COMPENSATED``. The failed
   step itself is not compensated: its local transaction rolled back, there is nothing to
   undo (refunding a charge that never happened would create money);
2. otherwise do the first step not yet done;
3. when every step is done, the saga ends ``COMMITTED``.

A step is retried (same saga id and step name) until its service answers: services are
idempotent per ``(saga, step)``, remember their answer, and refuse a ``do`` that arrives
after its ``undo`` (a late duplicate must not re-book what was cancelled). Compensations are
retried until they succeed — a compensation that can fail for good needs a human.

Log records: ``("done", step)``, ``("failed", step)``, ``("undone", step)``, and
``("end", "COMMITTED" | "COMPENSATED")``. A crashed orchestrator restarts from the same log
and continues where it was (an action whose answer was lost is sent again).

**Compared with 2PC** (:mod:`distlab.txn.two_phase`): 2PC holds locks from prepare to
decision and can block; a saga holds none and never blocks, but its intermediate states are
visible and its undo is business logic. **TCC** (try / confirm / cancel, chapter 02) sits in
between: Try *reserves* (visible as "frozen"), Confirm or Cancel finishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from distlab.sansio import Deliver, Effects, Start, Timer, UsageError

__all__ = [
    "SagaNext",
    "saga_next",
    "check_saga_answer",
    "SagaStep",
    "StartSaga",
    "Do",
    "Undo",
    "StepResult",
    "SagaOrchestrator",
    "SagaService",
    "trip_saga",
    "saga_violations",
    "run_local_saga",
]


class SagaNext(Protocol):
    """The ``saga_next`` seam: ``(steps, log) -> ("do" | "undo", step) | ("end", outcome)``."""

    def __call__(self, steps: list, log: list) -> tuple: ...


def saga_next(steps: list, log: list) -> tuple:
    """The orchestrator's next action; the reference for Lab 9, part D.

    Args:
        steps: the saga's step names, in order, e.g. ``["flight", "hotel", "payment"]``.
        log: the saga's records so far, oldest first: ``("done", step)``,
            ``("failed", step)``, ``("undone", step)``.

    Returns:
        ``("do", step)``, ``("undo", step)``, ``("end", "COMMITTED")`` or
        ``("end", "COMPENSATED")``.

    ===========================================================  ========================
    log (steps flight, hotel, payment)                           next
    ===========================================================  ========================
    (empty)                                                      do flight
    done flight, done hotel                                      do payment
    done flight, done hotel, done payment                        end COMMITTED
    done flight, done hotel, failed payment                      undo hotel
    done flight, done hotel, failed payment, undone hotel        undo flight
    done flight, failed hotel, undone flight                     end COMPENSATED
    ===========================================================  ========================
    """
    done = [r[1] for r in log if r[0] == "done"]
    undone = {r[1] for r in log if r[0] == "undone"}
    if any(r[0] == "failed" for r in log):
        for step in reversed(done):
            if step not in undone:
                return ("undo", step)
        return ("end", "COMPENSATED")
    for step in steps:
        if step not in done:
            return ("do", step)
    return ("end", "COMMITTED")


def check_saga_answer(answer: Any, steps: list) -> tuple:
    """Validate what a ``saga_next`` returned; raise ValueError naming what is wrong."""
    if isinstance(answer, list):
        answer = tuple(answer)
    if not isinstance(answer, tuple) or len(answer) != 2:
        raise ValueError(f"saga_next must return ('do' | 'undo', step) or ('end', outcome), got {answer!r}")
    if answer[0] in ("do", "undo") and answer[1] in steps:
        return answer
    if answer[0] == "end" and answer[1] in ("COMMITTED", "COMPENSATED"):
        return answer
    raise ValueError(f"saga_next must return ('do' | 'undo', one of {list(steps)}) or "
                     f"('end', 'COMMITTED' | 'COMPENSATED'), got {answer!r}")


# ---------------------------------------------------------------- messages ---------------
@dataclass(frozen=True, slots=True)
class SagaStep:
    """One step: on ``service``, add ``delta`` to ``key`` (compensation: subtract it)."""

    name: str
    service: str
    key: str
    delta: int


@dataclass(frozen=True, slots=True)
class StartSaga:
    saga: str
    steps: tuple  # of SagaStep


@dataclass(frozen=True, slots=True)
class Do:
    saga: str
    step: str
    key: str
    delta: int


@dataclass(frozen=True, slots=True)
class Undo:
    saga: str
    step: str
    key: str
    delta: int


@dataclass(frozen=True, slots=True)
class StepResult:
    saga: str
    step: str
    action: str  # "do" or "undo"
    ok: bool


# ---------------------------------------------------------------- the orchestrator --------
class SagaOrchestrator:
    """Runs sagas step by step from their durable logs (``saga.<id>`` and ``saga.<id>.steps``).

    Args:
        me: its node id.
        saga_next: the seam deciding each next action.
        retry_ms: how often an unanswered action is sent again.
    """

    def __init__(self, me: Any, saga_next: Callable = saga_next, retry_ms: int = 50) -> None:
        self.me = me
        self.saga_next = saga_next
        self.retry_ms = retry_ms
        self.sagas: dict[str, dict] = {}  # saga -> steps, log, waiting-for action
        self.outcomes: dict[str, str] = {}
        self.now = 0

    def step(self, event: Any) -> Effects:
        fx = Effects()
        self.now = event.now
        kind = type(event)
        if kind is Start:
            for key in sorted(event.durable):
                if key.startswith("saga.") and key.endswith(".steps"):
                    saga = key[len("saga."):-len(".steps")]
                    steps = tuple(SagaStep(*s) for s in event.durable[key])
                    log = [tuple(r) for r in event.durable.get(f"saga.{saga}", [])]
                    ended = [r for r in log if r[0] == "end"]
                    if ended:
                        self.outcomes[saga] = ended[-1][1]
                    else:
                        self.sagas[saga] = {"steps": steps, "log": log, "waiting": None}
                        self._advance(fx, saga)
        elif kind is Deliver and type(event.msg) is StartSaga:
            msg = event.msg
            if msg.saga not in self.sagas and msg.saga not in self.outcomes:
                self.sagas[msg.saga] = {"steps": tuple(msg.steps), "log": [], "waiting": None}
                fx.persist(f"saga.{msg.saga}.steps", [(s.name, s.service, s.key, s.delta) for s in msg.steps])
                self._advance(fx, msg.saga)
        elif kind is Deliver and type(event.msg) is StepResult:
            self._result(fx, event.msg)
        elif kind is Timer and event.name.startswith("retry."):
            saga = event.name[len("retry."):]
            if saga in self.sagas and self.sagas[saga]["waiting"] is not None:
                self._send(fx, saga)
        fx.become("RUNNING" if self.sagas else "IDLE")
        return fx

    def _advance(self, fx: Effects, saga: str) -> None:
        state = self.sagas[saga]
        names = [s.name for s in state["steps"]]
        action = check_saga_answer(self.saga_next(list(names), [tuple(r) for r in state["log"]]), names)
        if action[0] == "end":
            record = ("end", action[1])
            state["log"].append(record)
            fx.append(f"saga.{saga}", record)
            fx.cancel_timer(f"retry.{saga}")
            self.outcomes[saga] = action[1]
            del self.sagas[saga]
            fx.note(f"saga {saga} ended {action[1]}", saga=saga, outcome=action[1])
            return
        state["waiting"] = action
        self._send(fx, saga)

    def _send(self, fx: Effects, saga: str) -> None:
        state = self.sagas[saga]
        verb, name = state["waiting"]
        step = next(s for s in state["steps"] if s.name == name)
        message = (Do if verb == "do" else Undo)(saga, name, step.key, step.delta)
        fx.send(step.service, message)
        fx.set_timer(f"retry.{saga}", self.retry_ms)

    def _result(self, fx: Effects, msg: StepResult) -> None:
        state = self.sagas.get(msg.saga)
        if state is None or state["waiting"] != (msg.action, msg.step):
            return  # a duplicate answer, or one to an action already logged
        if msg.action == "do":
            record = ("done" if msg.ok else "failed", msg.step)
        elif msg.ok:
            record = ("undone", msg.step)
        else:
            self._send(fx, msg.saga)  # a compensation must eventually succeed: retry
            return
        state["log"].append(record)
        fx.append(f"saga.{msg.saga}", record)
        fx.note(f"saga {msg.saga}: {record[0]} {msg.step}", saga=msg.saga, record=list(record))
        state["waiting"] = None
        fx.cancel_timer(f"retry.{msg.saga}")
        self._advance(fx, msg.saga)


# ---------------------------------------------------------------- a service ---------------
class SagaService:
    """A service with its own local data: each saga step is one local transaction.

    ``do`` adds ``delta`` to ``key`` if the result stays >= 0 (else the step *fails* and
    changes nothing); ``undo`` subtracts it again. Both are idempotent per ``(saga, step)``,
    and a ``do`` arriving after its ``undo`` is refused. The data and the step table are
    durable (persisted with each change: one local transaction).
    """

    def __init__(self, me: Any, initial: dict) -> None:
        self.me = me
        self.data = dict(initial)
        self.steps: dict[str, str] = {}  # "saga/step" -> "done" | "failed" | "undone"
        self.applied: list[tuple] = []  # (time, saga, step, "do" | "undo", key, delta) in order
        self.now = 0

    def step(self, event: Any) -> Effects:
        fx = Effects()
        self.now = event.now
        if type(event) is Start:
            self.data = dict(event.durable.get("data", self.data))
            self.steps = dict(event.durable.get("steps", {}))
            self.applied = [tuple(a) for a in event.durable.get("applied", [])]
        elif type(event) is Deliver and type(event.msg) in (Do, Undo):
            msg = event.msg
            verb = "do" if type(msg) is Do else "undo"
            ok = self._apply(verb, msg)
            fx.persist("data", self.data).persist("steps", self.steps).persist("applied", self.applied)
            fx.send(event.src, StepResult(msg.saga, msg.step, verb, ok))
        return fx

    def _apply(self, verb: str, msg: Any) -> bool:
        key = f"{msg.saga}/{msg.step}"
        seen = self.steps.get(key)
        if verb == "do":
            if seen is not None:
                return seen == "done"  # a retry: the remembered answer (undone: refused)
            if self.data.get(msg.key, 0) + msg.delta < 0:
                self.steps[key] = "failed"
                return False
            self.data[msg.key] = self.data.get(msg.key, 0) + msg.delta
            self.steps[key] = "done"
            self.applied.append((self.now, msg.saga, msg.step, "do", msg.key, msg.delta))
            return True
        if seen == "done":
            self.data[msg.key] = self.data.get(msg.key, 0) - msg.delta
            self.applied.append((self.now, msg.saga, msg.step, "undo", msg.key, msg.delta))
        self.steps[key] = "undone"  # also for a step never done: a late do is refused
        return True


def trip_saga(saga: str, traveller: str = "alice", price: int = 300) -> StartSaga:
    """The running example: book a flight seat, a hotel room, then charge the card."""
    return StartSaga(saga, (SagaStep("flight", "airline", "seats", -1),
                            SagaStep("hotel", "hotel", "rooms", -1),
                            SagaStep("payment", "bank", traveller, -price)))


def saga_violations(sagas: dict, outcomes: dict, applied: dict) -> list[str]:
    """What breaks a saga's guarantee, from plain data.

    Args:
        sagas: ``{saga: [step names in order]}``.
        outcomes: ``{saga: "COMMITTED" | "COMPENSATED"}`` (a saga missing here did not end).
        applied: ``{service: [(time, saga, step, "do" | "undo", key, delta), ...]}`` — what
            each service actually applied (:attr:`SagaService.applied`).

    Checks: every saga ended; no step ran (or was undone) twice; a COMMITTED saga has every
    step done and none undone; a COMPENSATED saga has every done step undone, nothing undone
    that was not done, and its compensations ran latest step first.
    """
    problems = []
    events: dict[str, list] = {s: [] for s in sagas}
    merged = sorted((tuple(a) for log in applied.values() for a in log), key=lambda a: a[0])
    for _, saga, step, verb, _key, _delta in merged:
        events.setdefault(saga, []).append((step, verb))
    for saga, steps in sorted(sagas.items()):
        outcome = outcomes.get(saga)
        done = [s for s, v in events[saga] if v == "do"]
        undone = [s for s, v in events[saga] if v == "undo"]
        if outcome is None:
            problems.append(f"saga {saga} never ended")
            continue
        if len(set(done)) != len(done) or len(set(undone)) != len(undone):
            problems.append(f"saga {saga}: a step ran twice (done {done}, undone {undone})")
        if outcome == "COMMITTED":
            if sorted(set(done)) != sorted(steps) or undone:
                problems.append(f"saga {saga} says COMMITTED, but its steps done were {done} and undone {undone}")
        else:
            if sorted(set(done)) != sorted(set(undone)):
                problems.append(f"saga {saga} says COMPENSATED, but the steps done {sorted(set(done))} and the "
                                f"steps undone {sorted(set(undone))} differ (a step left uncompensated, or one "
                                "compensated that never happened)")
            expected = [s for s in reversed(done) if s in set(undone)]
            order = list(dict.fromkeys(undone))
            if order != list(dict.fromkeys(expected)):
                problems.append(f"saga {saga}: compensations ran in the order {order}; the latest completed "
                                f"step must be undone first: {list(dict.fromkeys(expected))}")
    return problems


def run_local_saga(steps: list, actions: dict, compensations: dict, saga_next: Callable = saga_next) -> tuple[str, list]:
    """Run a saga in-process with plain functions (no network), for a first look.

    ``actions[name]()`` returns True (done) or False (failed); ``compensations[name]()`` undoes.
    Returns ``(outcome, log)``.
    """
    log: list = []
    for _ in range(4 * len(steps) + 2):
        verb, name = check_saga_answer(saga_next(list(steps), list(log)), list(steps))
        if verb == "end":
            log.append(("end", name))
            return name, log
        if verb == "do":
            log.append(("done" if actions[name]() else "failed", name))
        else:
            compensations[name]()
            log.append(("undone", name))
    raise UsageError(f"saga_next did not finish within {4 * len(steps) + 2} actions: {log}")
