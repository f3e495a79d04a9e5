"""``distlab fuzz zab``: random fault schedules with client load, checked for every property.

One *case* is fully described by plain data (:class:`FuzzCase`): the seed, the ensemble size,
the network's loss and duplication, and a fault schedule (crashes, restarts, partitions). A
run of a case:

1. builds a simulated ensemble and a few clients that keep issuing reads, writes, creates and
   deletes on a handful of znodes (each client one request at a time, as ZooKeeper's API is
   used);
2. installs the fault schedule and runs for ``duration_ms``;
3. heals the network, restarts every crashed server and waits for the ensemble to settle (no
   leader after that is a *liveness* failure: a majority is up and connected);
4. checks the trace: Zab safety (:mod:`distlab.check.zab`), the client guarantees
   (:mod:`distlab.check.client`) and linearizability of the znode operations
   (:mod:`distlab.check.linearizability`; a history it cannot decide counts as a failure).

A failing case is *shrunk*: faults are removed one at a time, and loss and duplication
switched off, while the same property still fails; what remains is printed with the one
command that replays it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from typing import Any

from distlab.check.client import accepted_by_clients, check_clients
from distlab.check.zab import Violation, check_zab
from distlab.sim.ensemble import Ensemble
from distlab.zab.events import Committed, Established
from distlab.sim.faults import FaultSchedule, random_schedule
from distlab.sim.network import LinkConfig, Uniform
from distlab.zab.client import ApiCall, ClientState
from distlab.zab.config import Impl
from distlab.zab.clientproto import ClientReply, GetData
from distlab.zk.errors import KeeperError
from distlab.zk.ops import CreateRequest, DeleteRequest, SetDataRequest

__all__ = ["FuzzCase", "CaseResult", "random_case", "run_case", "shrink", "znode_history", "ZnodeModel"]

KEYS = ("/k0", "/k1", "/k2")
NO_NODE, NODE_EXISTS, CONNECTION_LOSS = -101, -110, -4


@dataclass(frozen=True)
class FuzzCase:
    """Everything that determines one fuzz run."""

    seed: int
    servers: int = 3
    observers: int = 0
    duration_ms: int = 6000
    clients: int = 3
    drop: float = 0.01
    # ZooKeeper runs over TCP, which never duplicates: off unless a case asks for it.
    duplicate: float = 0.0
    schedule: FaultSchedule = field(default_factory=FaultSchedule)

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "servers": self.servers, "observers": self.observers,
                "duration_ms": self.duration_ms, "clients": self.clients, "drop": self.drop,
                "duplicate": self.duplicate, "schedule": self.schedule.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FuzzCase":
        data = dict(data)
        data["schedule"] = FaultSchedule.from_json(data.get("schedule", []))
        return cls(**data)

    def replay_command(self) -> str:
        return f"distlab fuzz zab --replay '{json.dumps(self.to_json(), separators=(',', ':'))}'"


@dataclass
class CaseResult:
    case: FuzzCase
    violations: list[Violation]
    elections: int
    commits: int
    events: int

    @property
    def ok(self) -> bool:
        return not self.violations


def random_case(seed: int, servers: int = 3, observers: int = 0, duration_ms: int = 6000) -> FuzzCase:
    """A case drawn from ``seed``: a minority of crashes and some partitions during the run."""
    rng = random.Random(f"fuzz/{seed}")
    members = list(range(1, servers + observers + 1))
    schedule = random_schedule(seed, members, duration_ms, crashes=rng.randint(0, 3),
                               partitions=rng.randint(0, 2), max_down=(servers - 1) // 2,
                               downtime_ms=(300, min(3000, duration_ms - 1)))
    return FuzzCase(seed=seed, servers=servers, observers=observers, duration_ms=duration_ms,
                    drop=rng.choice((0.0, 0.0, 0.01, 0.03)), schedule=schedule)


class _Load:
    """Keeps each client busy with one request at a time, chosen by a seeded RNG."""

    def __init__(self, ensemble: Ensemble, names: list[str], seed: int) -> None:
        self.ensemble = ensemble
        self.names = names
        self.rng = random.Random(f"load/{seed}")
        self.in_flight: dict[str, int] = {}
        self.next_xid: dict[str, int] = {name: 0 for name in names}
        self.counter = 0

    def tick(self) -> None:
        world = self.ensemble.world
        for name in self.names:
            if not world.is_up(name):
                continue  # not booted yet
            client = world.process(name)
            xid = self.in_flight.get(name)
            if xid is not None and xid not in client.results:
                continue
            if client.state in (ClientState.EXPIRED, ClientState.CLOSED):
                continue
            if self.rng.random() < 0.5:
                continue  # think time
            self.next_xid[name] += 1
            xid = self.next_xid[name]
            self.in_flight[name] = xid
            world.inject(name, ApiCall(xid, self._op()))

    def _op(self):
        key = self.rng.choice(KEYS)
        roll = self.rng.random()
        self.counter += 1
        value = f"v{self.counter}".encode()
        if roll < 0.4:
            return GetData(key)
        if roll < 0.7:
            return SetDataRequest(path=key, data=value)
        if roll < 0.9:
            return CreateRequest(path=key, data=value)
        return DeleteRequest(path=key)


def run_case(case: FuzzCase, *, settle_ms: int = 120_000, impl: Impl | None = None) -> tuple[CaseResult, Ensemble]:
    """Run one case and check everything; returns the result and the ensemble (for its trace).

    ``impl`` swaps in other decision functions (a learner's, or a deliberately broken one).
    """
    # ZooKeeper talks over TCP: a lost packet is a broken connection both ends notice.
    network = LinkConfig(latency=Uniform(1, 10), drop=case.drop, duplicate=case.duplicate, on_drop="reset")
    ensemble = Ensemble(case.servers, case.observers, seed=case.seed, network=network, impl=impl)
    world = ensemble.world
    names = [ensemble.client(connect=False, timeout_ms=4000).name for _ in range(case.clients)]
    case.schedule.install(world)
    load = _Load(ensemble, names, case.seed)
    while world.now < case.duration_ms:
        load.tick()
        world.run_for(50)
    # Heal everything and let the service recover.
    world.heal()
    world.network.configure_default(drop=0.0, duplicate=0.0)
    for sid in ensemble.servers:
        if not world.is_up(sid):
            world.restart(sid)
    violations: list[Violation] = []
    try:
        ensemble.quiesce(max_ms=settle_ms)
    except (TimeoutError, KeeperError) as error:
        violations.append(Violation("liveness", f"the ensemble did not settle after healing: {error}"))
    ensemble.record_final_state()
    trace = world.trace
    violations += check_zab(trace, final=not violations)
    violations += check_clients(trace)
    violations += _check_linearizable(trace)
    elections = sum(1 for r in trace.of_kind("note") if type(r.event) is Established)
    commits = sum(1 for r in trace.of_kind("note") if type(r.event) is Committed)
    return CaseResult(case, violations, elections, commits, world.events_processed), ensemble


# -------------------------------------------------------------------- linearizability -----
class ZnodeModel:
    """The data of one znode as a register: read / set / create / delete, errors included.

    A failed ``setData`` (NoNode), ``create`` (NodeExists) or ``delete`` (NoNode) is a
    definite answer too: it says what the node's state was when it took effect.

    ======  =====================  ==========================================
    kind    node absent            node holds ``v``
    ======  =====================  ==========================================
    read    "nonode"               ``v``
    write   "nonode", unchanged    "ok", now the input
    create  "ok", now the input    "exists", unchanged
    delete  "nonode"               "ok", now absent
    ======  =====================  ==========================================

    A pending operation (outcome unknown) may have done whatever the table says.
    """

    kinds = frozenset({"read", "write", "create", "delete"})

    def init(self):
        return None  # no node

    def step(self, state, op):
        from distlab.check.linearizability import PENDING

        kind, out = op.kind, op.output
        if kind not in self.kinds:
            raise ValueError(f"ZnodeModel has no operation {kind!r}")
        if kind == "read":
            expected = "nonode" if state is None else state
        elif kind == "write":
            expected, after = ("nonode", state) if state is None else ("ok", op.input)
        elif kind == "create":
            expected, after = ("ok", op.input) if state is None else ("exists", state)
        else:
            expected, after = ("nonode", state) if state is None else ("ok", None)
        if kind == "read":
            return (out is PENDING or out == expected), state
        return (out is PENDING or out == expected), after

    def describe(self, op) -> str:
        answer = "no answer" if op.pending else f"answered {op.output!r}"
        value = "" if op.input is None else f" {op.input!r}"
        return f"{op.kind}{value} on {op.key} by {op.client} during [{op.invoke}, {op.respond}] ({answer})"

    def describe_state(self, key: str, state) -> str:
        return f"{key} absent" if state is None else f"{key} = {state!r}"

    def pending_class(self, op):
        """Two unanswered operations of the same kind and input behave the same."""
        return (op.kind, op.input)


def znode_history(trace) -> list:
    """The znode operations in a trace as linearizability ``Operation`` records."""
    from distlab.check.linearizability import PENDING, Operation

    calls: dict[tuple[str, int], tuple[int, Any]] = {}
    for record in trace:
        if record.kind == "deliver" and isinstance(record.dst, str) and type(record.msg) is ApiCall:
            calls[(record.dst, record.msg.xid)] = (record.time, record.msg.op)
    # Only answers the client accepted: a late one on an abandoned connection ended nothing.
    replies: dict[tuple[str, int], tuple[int, ClientReply]] = {}
    for _, record, name in accepted_by_clients(trace):
        if name == "ClientReply":
            replies.setdefault((record.dst, record.msg.xid), (record.time, record.msg))
    history = []
    for (client, xid), (invoke, op) in sorted(calls.items(), key=lambda kv: (kv[1][0], kv[0])):
        kind, value = _kind_of(op)
        if kind is None:
            continue
        answer = replies.get((client, xid))
        # An operation with no definite answer may take effect any time after its call, or
        # never; its give-up time only keeps the client's own operations in sequence.
        output, respond = PENDING, invoke
        if answer is not None:
            output = _output_of(kind, answer[1])
            respond = answer[0] if output is not PENDING else invoke
        history.append(Operation(client=client, kind=kind, key=op.path, input=value, output=output,
                                 invoke=invoke, respond=respond))
    return history


def _kind_of(op):
    # Reads are left out: ZooKeeper serves them from the local replica, which may lag, so
    # they are sequentially consistent, not linearizable (the notes' 实时性 is bounded
    # staleness). Writes, with their NoNode / NodeExists answers, are linearizable.
    if type(op) is SetDataRequest:
        return "write", op.data
    if type(op) is CreateRequest:
        return "create", op.data
    if type(op) is DeleteRequest:
        return "delete", None
    return None, None


def _output_of(kind: str, reply: ClientReply):
    from distlab.check.linearizability import PENDING

    if reply.ok:
        return reply.result[0] if kind == "read" else "ok"
    if reply.code == NO_NODE:
        return "nonode"
    if reply.code == NODE_EXISTS:
        return "exists"
    return PENDING  # ConnectionLoss, SessionExpired, ...: the outcome is unknown


def _check_linearizable(trace) -> list[Violation]:
    from distlab.check.linearizability import check_linearizable

    result = check_linearizable(znode_history(trace), ZnodeModel(), max_steps=2_000_000)
    if result.verdict == "ok":
        return []
    if result.verdict == "unknown":
        return [Violation("linearizability", f"undecided within the search budget on {result.key}: "
                                             f"{result.explanation} (counted as a failure, never a pass)")]
    return [Violation("linearizability", result.explanation)]


# -------------------------------------------------------------------- shrinking ----------
def shrink(case: FuzzCase, invariant: str, max_runs: int = 60, impl: Impl | None = None) -> FuzzCase:
    """A smaller case that still breaks ``invariant``: drop faults one by one, then noise."""
    runs = 0

    def still_fails(candidate: FuzzCase) -> bool:
        nonlocal runs
        runs += 1
        result, _ = run_case(candidate, impl=impl)
        return any(v.invariant == invariant for v in result.violations)

    changed = True
    while changed and runs < max_runs:
        changed = False
        entries = list(case.schedule.entries)
        for index in range(len(entries)):
            candidate = replace(case, schedule=FaultSchedule(entries[:index] + entries[index + 1:]))
            if runs < max_runs and still_fails(candidate):
                case, changed = candidate, True
                break
        for noise in ("drop", "duplicate"):
            if getattr(case, noise) and runs < max_runs:
                candidate = replace(case, **{noise: 0.0})
                if still_fails(candidate):
                    case, changed = candidate, True
    return case
