"""Exhaustive model checking of small configurations (issue 15), driven by the real cores.

The fuzzer (:mod:`distlab.testing.fuzz`) samples random fault schedules; this module visits
*every* schedule of a small configuration, up to the bounds you set, and hands back the
shortest one that breaks an invariant. DSLabs grades Paxos this way and stateright checks
actor systems this way; the search core here is deliberately small (porcupine's habit).

What is nondeterministic — the *actions* of a state:

- which in-flight message is delivered next (the network is a multiset: any order);
- which message is lost or duplicated (``drops`` / ``dups`` bound how many);
- which server crashes (``crashes`` bounds how many) or restarts (a crashed one, any time);
- which timer fires.

**Timing assumption.** A model with timers but no clock needs a rule for when a timer may
fire. Here a server's timer fires only when *no message to or from it is in flight*: the
network is faster than the timeouts (in the simulator links take a few ms, the finalize wait
200 ms). Without that rule the finalize wait would mean nothing — any message could always
be "late" — and ZooKeeper's own election would fail "the best server wins". A leader gives up
on its followers (and a follower on its leader) only when the whole network is quiet and no
finalize wait is pending anywhere (``initLimit`` is far longer than the finalize wait).

**States** are interned: each server's local state (the process's own fields plus its pending
timers) becomes a small int, each distinct message (src, dst, payload) too, and a global state
is a tuple of ints (servers, the sorted multiset of messages, the fault counters, the
decision history). A local step is computed once per distinct (local state, event) pair and
memoised, so a learner's function (a sandbox round trip each call) is called once per distinct
question, not once per global state.

**Symmetry.** Permuting server ids is *not* sound for the election: ``vote_order`` breaks ties
on the server id, and the servers start with different histories, so no permutation other
than the identity maps the configuration onto itself. No symmetry reduction is applied there.

**Search.** :func:`explore` runs breadth-first (the first violation found is a shortest
counterexample; among the violations of that depth the one with the fewest faults, then the
fewest messages sent, is returned) or depth-first with a depth bound (deeper configurations,
less memory; its counterexample is then shortened by a breadth-first search to its depth).

A counterexample is a list of actions; :func:`replay_election` plays them in the real
simulator (:class:`distlab.sim.World`), giving an ordinary trace (``distlab replay election
--trace FILE``).
"""

from __future__ import annotations

import copy
import gc
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, Sequence

from distlab.sansio import Deliver, Effects, Start, Timer, UsageError
from distlab.zab.election import (
    Election,
    Vote,
    handle_notification as reference_handle_notification,
    vote_order as reference_vote_order,
)
from distlab.zab.messages import Notification, ServerState
from distlab.zab.quorum import has_quorum as reference_has_quorum
from distlab.zab.zxid import format_zxid, make_zxid

__all__ = [
    "Action",
    "Result",
    "explore",
    "ElectionServer",
    "ElectionModel",
    "ServerHistory",
    "DEFAULT_HISTORIES",
    "check_election",
    "replay_election",
    "describe_counterexample",
]

LOOKING, FOLLOWING, LEADING = ServerState.LOOKING, ServerState.FOLLOWING, ServerState.LEADING


# ================================================================ the search core =========
@dataclass(frozen=True)
class Action:
    """One nondeterministic choice: ``kind`` is deliver, drop, duplicate, timer, crash or restart."""

    kind: str
    node: Any  # the server acted on (for messages: the receiver)
    src: Any = None
    msg: Any = None
    timer: str | None = None

    @property
    def fault(self) -> bool:
        return self.kind in ("drop", "duplicate", "crash")

    def describe(self) -> str:
        if self.kind in ("deliver", "drop", "duplicate"):
            text = self.msg.describe() if hasattr(self.msg, "describe") else repr(self.msg)
            return f"{self.kind} {self.src}->{self.node}: {text}"
        if self.kind == "timer":
            return f"timer {self.timer} fires at {self.node}"
        if self.kind == "zk":
            return f"{self.node}: {self.msg.describe()}"
        return f"{self.kind} {self.node}"


@dataclass
class Result:
    """What a search found: counts, timing and, if an invariant broke, the shortest path to it."""

    model: str
    strategy: str
    states: int = 0
    transitions: int = 0
    depth: int = 0  # the deepest level reached
    seconds: float = 0.0
    complete: bool = True  # False if a bound (depth, max_states) cut the search short
    violation: str | None = None
    trace: list[Action] = field(default_factory=list)
    goal_states: int = 0
    stuck: str | None = None  # a reachable state with nothing left to do that is not a goal
    stuck_trace: list[Action] = field(default_factory=list)
    config: dict = field(default_factory=dict)

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0

    @property
    def verdict(self) -> str:
        if self.violation:
            return "VIOLATION"
        if self.stuck:
            return "STUCK"
        return "ok" if self.complete else "ok (bounded)"

    def as_json(self) -> dict:
        return {"model": self.model, "strategy": self.strategy, "states": self.states,
                "transitions": self.transitions, "depth": self.depth, "seconds": round(self.seconds, 3),
                "states_per_s": round(self.states_per_second), "complete": self.complete,
                "verdict": self.verdict, "violation": self.violation,
                "counterexample": [a.describe() for a in self.trace], "goal_states": self.goal_states,
                "stuck": self.stuck, "config": self.config}


def explore(model: Any, strategy: str = "bfs", depth: int | None = None, max_states: int | None = None,
            stop_at_violation: bool = True) -> Result:
    """Visit every state of ``model`` reachable within ``depth`` actions.

    ``model`` has ``initial() -> state``, ``successors(state) -> iterable of (label, state,
    violation or None)``, ``goal(state) -> bool``, ``fault(label) -> bool``, ``cost(label) ->
    int`` (to pick among counterexamples of equal length: fewest faults, then lowest cost) and
    optionally ``action(label) -> Action``. States and labels must be hashable.
    """
    if strategy not in ("bfs", "dfs"):
        raise UsageError(f"strategy must be 'bfs' or 'dfs', got {strategy!r}")
    if strategy == "dfs" and depth is None:
        raise UsageError("a depth-first search needs a depth bound")
    result = Result(getattr(model, "name", type(model).__name__), strategy, config=dict(getattr(model, "config", {})))
    started = time.perf_counter()
    # Millions of small, cycle-free tuples: the cyclic collector would rescan them over and
    # over (it costs more than the search itself); reference counting still frees them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        if strategy == "bfs":
            _bfs(model, result, depth, max_states, stop_at_violation)
        else:
            _dfs(model, result, depth, max_states)
    finally:
        if collecting:
            gc.enable()
        if result.violation is not None:
            # Shorten: a breadth-first search no deeper than the path found.
            shorter = Result(result.model, "bfs")
            _bfs(model, shorter, len(result.trace), None, True)
            if shorter.violation is not None:
                result.violation, result.trace = shorter.violation, shorter.trace
    result.seconds = time.perf_counter() - started
    return result


def _path(parents: dict, state: Any) -> list[Action]:
    path = []
    while True:
        parent, action = parents[state]
        if parent is None:
            break
        path.append(action)
        state = parent
    path.reverse()
    return path


def _bfs(model: Any, result: Result, depth: int | None, max_states: int | None, stop: bool) -> None:
    initial = model.initial()
    parents: dict[Any, tuple] = {initial: (None, None)}
    successors, goal, fault = model.successors, model.goal, model.fault
    frontier = [initial]
    level = 0
    transitions = 0
    goals = 0
    stuck = None
    while frontier:
        if depth is not None and level >= depth:
            result.complete = False
            break
        found: list[tuple] = []
        next_frontier = []
        append = next_frontier.append
        for state in frontier:
            reached = goal(state)
            if reached:
                goals += 1
            moved = False
            for action, nxt, violation in successors(state):
                transitions += 1
                if not moved and not fault(action):
                    moved = True
                if violation is not None:
                    found.append((state, action, violation))
                    continue
                size = len(parents)
                parents.setdefault(nxt, (state, action))
                if len(parents) != size:
                    append(nxt)
            if not moved and stuck is None and not reached:
                stuck = state
        if found and stop:
            best = min(found, key=lambda f: _cost(model, _path(parents, f[0]) + [f[1]]))
            result.violation = best[2]
            result.trace = _actions(model, _path(parents, best[0]) + [best[1]])
            result.depth = level + 1
            break
        if next_frontier:
            level += 1
        frontier = next_frontier
        if max_states is not None and len(parents) >= max_states:
            result.complete = False
            break
    result.states = len(parents)
    result.transitions = transitions
    result.goal_states = goals
    result.depth = max(result.depth, level)
    if stuck is not None and result.violation is None:
        result.stuck = getattr(model, "stuck_message", "a reachable state has no move left (without new faults) "
                               "and has not reached the goal")
        result.stuck_trace = _actions(model, _path(parents, stuck))


def _cost(model: Any, path: list) -> tuple:
    return (len(path), sum(1 for a in path if model.fault(a)), sum(model.cost(a) for a in path))


def _actions(model: Any, labels: list) -> list[Action]:
    convert = getattr(model, "action", None)
    return [convert(label) for label in labels] if convert else list(labels)


def _dfs(model: Any, result: Result, depth: int, max_states: int | None) -> None:
    initial = model.initial()
    seen: dict[Any, int] = {initial: 0}  # state -> the shallowest depth it was expanded at
    stack: list[tuple] = [(initial, iter(model.successors(initial)))]
    path: list[Action] = []
    transitions = deepest = 0
    while stack:
        state, it = stack[-1]
        advanced = False
        for action, nxt, violation in it:
            transitions += 1
            if violation is not None:
                result.violation = violation
                result.trace = _actions(model, path + [action])
                result.states, result.transitions, result.depth = len(seen), transitions, len(path) + 1
                return
            d = len(path) + 1
            if d > depth:
                result.complete = False
                continue
            if seen.get(nxt, depth + 1) <= d:
                continue
            seen[nxt] = d
            deepest = max(deepest, d)
            path.append(action)
            stack.append((nxt, iter(model.successors(nxt))))
            advanced = True
            break
        if not advanced:
            stack.pop()
            if path:
                path.pop()
        if max_states is not None and len(seen) >= max_states:
            result.complete = False
            break
    result.states, result.transitions, result.depth = len(seen), transitions, deepest


# ================================================================ the election ===========
@dataclass(frozen=True)
class ServerHistory:
    """What a server's disk holds when the configuration starts: its last zxid and currentEpoch."""

    last_zxid: int
    current_epoch: int


# Server 1 has accepted a newer epoch (2) but logged nothing in it; 2 and 3 have the same
# log. ZooKeeper's order elects 1 (higher epoch first); an order that skips the epoch elects 3.
DEFAULT_HISTORIES = {1: ServerHistory(make_zxid(1, 3), 2), 2: ServerHistory(make_zxid(1, 3), 1),
                     3: ServerHistory(make_zxid(1, 3), 1)}


class ElectionServer:
    """A sans-I/O server that runs only Fast Leader Election (the :class:`Election` driver).

    Once it decides it stays LEADING or FOLLOWING and answers LOOKING servers with its vote
    (``WorkerReceiver``), as a ``Peer`` does; its ``role.lost`` timer stands for the leader
    giving up on its followers (or a follower on its leader), after which it looks again in a
    new round. Both the model checker and the simulator replay run this class.
    """

    LOST_TIMER = "role.lost"
    LOST_MS = 20_000

    def __init__(self, sid: int, voters: Iterable[int], history: ServerHistory, *,
                 vote_order: Callable = reference_vote_order,
                 handle_notification: Callable = reference_handle_notification,
                 has_quorum: Callable = reference_has_quorum) -> None:
        self.sid = sid
        self.history = history
        self.election = Election(sid, voters, vote_order=vote_order, handle_notification=handle_notification,
                                 has_quorum=has_quorum)
        self.role: ServerState | None = None
        self.current_vote: Notification | None = None

    # -- the process ------------------------------------------------------------------
    def step(self, event: Any) -> Effects:
        fx = Effects()
        kind = type(event)
        if kind is Deliver:
            msg = event.msg
            if type(msg) is Notification and self.role is not None:
                reply = None if self.current_vote is None else Notification(
                    self.current_vote.leader, self.current_vote.zxid, self.current_vote.election_epoch,
                    self.current_vote.peer_epoch, self.role, self.sid)
                self._run(self.election.on_notification(msg, self.role, reply), fx)
        elif kind is Timer:
            if event.name == self.LOST_TIMER:
                if self.role in (LEADING, FOLLOWING):
                    self._look(fx, f"{self.sid} gives up on leader {self.current_vote.leader}: looking again")
            else:
                self._run(self.election.on_timer(event.name), fx)
        elif kind is Start:
            self._look(fx, None)
        return fx

    def _look(self, fx: Effects, why: str | None) -> None:
        if why:
            fx.note(why)
        fx.cancel_timer(self.LOST_TIMER)
        self.role = LOOKING
        self.current_vote = None
        fx.become("LOOKING")
        self._run(self.election.start(self.history.last_zxid, self.history.current_epoch), fx)

    def _run(self, actions: list, fx: Effects) -> None:
        for action in actions:
            kind = action[0]
            if kind == "send":
                fx.send(action[1], action[2])
            elif kind == "timer":
                fx.set_timer(action[1], action[2])
            elif kind == "cancel":
                fx.cancel_timer(action[1])
            elif kind == "event":
                fx.emit(action[1])
            elif kind == "decided":
                self._decided(action[1], fx)

    def _decided(self, vote: Vote, fx: Effects) -> None:
        st = self.election.state
        # Who the votes I recorded say backs this leader (for the model's quorum check).
        backers = sorted({sid for sid, n in st.recvset.items() if n.leader == vote.leader}
                         | {sid for sid, n in st.outofelection.items() if n.leader == vote.leader}) if st else []
        self._run(self.election.stop(), fx)
        self.role = LEADING if vote.leader == self.sid else FOLLOWING
        self.current_vote = Notification(vote.leader, vote.zxid, self.election.logicalclock, vote.peer_epoch,
                                         self.role, self.sid)
        fx.become(self.role.name)
        fx.note(f"{self.sid} decided in round {self.election.logicalclock}: "
                + ("LEADING" if self.role is LEADING else f"FOLLOWING {vote.leader}"),
                decided=(self.election.logicalclock, vote.leader), backers=backers)
        fx.set_timer(self.LOST_TIMER, self.LOST_MS)

    # -- snapshots for the model checker ------------------------------------------------
    def snapshot(self) -> tuple:
        """Everything volatile, as a hashable tuple (the back-off length is abstracted away)."""
        e = self.election
        s = e.state
        es = None if s is None else (s.logicalclock, s.initial, s.proposal, tuple(sorted(s.recvset.items())),
                                     tuple(sorted(s.outofelection.items())))
        return (self.role, self.current_vote, e.logicalclock, e.finalizing, es)

    def restore(self, snap: tuple) -> None:
        from distlab.zab.election import ElectionState

        self.role, self.current_vote, logicalclock, finalizing, es = snap
        e = self.election
        e.logicalclock, e.finalizing, e.timeout_ms = logicalclock, finalizing, e.finalize_wait_ms
        if es is None:
            e.state = None
        else:
            e.state = ElectionState(self.sid, e.voters, es[0], es[1], es[2], dict(es[3]), dict(es[4]))


_DOWN = "down"
_START = -(10**9)


class ElectionModel:
    """Fast Leader Election on ``servers`` voters, every schedule within the fault bounds.

    Invariants, checked on every transition:

    - **one leader per round** (Zab's one leader per epoch, for the election): no two
      different leaders are each backed by a quorum of decisions made in the same round.
      (Two servers may both *decide* to lead one round — after a crash loses messages, FLE
      alone allows it, and Zab's discovery then lets at most one establish — but two quorums
      must never back two leaders: any two quorums share a server.)
    - **quorum**: a server decides only on the recorded votes of a true majority of voters
      for that leader (counted here, independently of the ``has_quorum`` under test);
    - **validity** (in runs with no fault so far): the leader is the server with the best
      (currentEpoch, last zxid, id), as ``FLEPredicateTest`` and Lab 5's grader expect.

    Goal (liveness within the bound): every server that is up agrees on one leader, which is
    LEADING with a quorum of FOLLOWING servers. A state with no move left other than a new
    fault that is not a goal is reported as *stuck*.
    """

    name = "election"
    stuck_message = "a reachable state has no move left (without new faults) and no leader is agreed"

    def __init__(self, servers: int = 3, crashes: int = 1, drops: int = 0, dups: int = 0,
                 histories: dict[int, ServerHistory] | None = None, *,
                 vote_order: Callable = reference_vote_order,
                 handle_notification: Callable = reference_handle_notification,
                 has_quorum: Callable = reference_has_quorum, fifo: bool = True) -> None:
        if servers < 1:
            raise UsageError("an election needs at least one server")
        self.sids = tuple(range(1, servers + 1))
        self.voters = frozenset(self.sids)
        if histories is None:
            histories = DEFAULT_HISTORIES if servers == 3 else {
                sid: ServerHistory(make_zxid(1, 3), 1) for sid in self.sids}
        self.histories = {sid: histories[sid] for sid in self.sids}
        self.crashes, self.drops, self.dups = crashes, drops, dups
        self.fifo = fifo
        self.config = {"servers": servers, "crashes": crashes, "drops": drops, "dups": dups,
                       "network": "fifo" if fifo else "multiset",
                       "histories": {sid: [format_zxid(h.last_zxid), h.current_epoch]
                                     for sid, h in self.histories.items()}}
        self._servers = {sid: ElectionServer(sid, self.voters, self.histories[sid], vote_order=vote_order,
                                             handle_notification=handle_notification, has_quorum=has_quorum)
                         for sid in self.sids}
        self.best = max(self.sids, key=lambda s: (self.histories[s].current_epoch, self.histories[s].last_zxid, s))
        # Interning tables.
        self._locals: list[tuple] = []  # local id -> (snapshot, timers frozenset)
        self._local_ids: dict[tuple, int] = {}
        self._msgs: list[tuple] = []  # msg id -> (src, dst, msg)
        self._msg_ids: dict[tuple, int] = {}
        self._memo: dict[tuple, tuple] = {}
        self.local_steps = 0  # distinct local steps computed (each calls the protocol functions)
        down = self._intern_local((_DOWN, frozenset()))
        self._down = down
        self._index = {sid: i for i, sid in enumerate(self.sids)}
        self._msg_link: list[int] = []
        self._msg_li: list[int] = []  # msg id -> its link's index in a state
        self._msg_dst: list[int] = []  # msg id -> its receiver's index
        self._goals: dict[tuple, bool] = {}
        self._link_ends = [(a, b) for a in self.sids for b in self.sids]
        # For each server, the links it sends or receives on (its timers wait for them).
        self._link_src = [self._index[a] for a, b in self._link_ends]
        self._pops: dict[int, tuple] = {}
        self._link_dst = [(self._index[b], a == b) for a, b in self._link_ends]
        self._timer_codes: dict[str, int] = {}
        self._timer_names: list[str] = []
        self._timer_lists: list[tuple] = [()]  # local id -> its pending timers' codes
        self._finalize_code = self._timer_code(Election.FINALIZE_TIMER)
        self._lost_code = self._timer_code(ElectionServer.LOST_TIMER)
        self._n, self._nlinks = len(self.sids), len(self.sids) ** 2
        self._queues: list[tuple] = [()]
        self._queue_ids: dict[tuple, int] = {(): 0}
        self._pushes: dict[tuple, int] = {}
        self._decision_sets: list[frozenset] = [frozenset()]
        self._decision_ids: dict[frozenset, int] = {frozenset(): 0}
        self._decides: dict[tuple, tuple] = {}
        n = len(self.sids)
        self._touching = [[n + li for li, (a, b) in enumerate(self._link_ends) if sid in (a, b)] for sid in self.sids]
        self._into = [{n + li for li, (a, b) in enumerate(self._link_ends) if b == sid} for sid in self.sids]

    # -- interning ---------------------------------------------------------------------
    def _intern_local(self, local: tuple) -> int:
        i = self._local_ids.get(local)
        if i is None:
            i = self._local_ids[local] = len(self._locals)
            self._locals.append(local)
        return i

    def _intern_msg(self, m: tuple) -> int:
        i = self._msg_ids.get(m)
        if i is None:
            i = self._msg_ids[m] = len(self._msgs)
            self._msgs.append(m)
            self._msg_link.append(self._link(m[0], m[1]))
            self._msg_li.append(self._n + self._msg_link[-1])
            self._msg_dst.append(self._index[m[1]])
        return i

    def _timer_code(self, name: str) -> int:
        if name not in self._timer_codes:
            self._timer_codes[name] = -1 - len(self._timer_names)
            self._timer_names.append(name)
        return self._timer_codes[name]

    def _local_step(self, sid: int, local_id: int, code: int) -> tuple:
        """(new local id, message ids sent, decision or None) for one event; memoised.

        ``code`` is the event: a message id (a delivery), a negative timer code, or _START.
        """
        key = (local_id, code) if code != _START else (sid, code)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        self.local_steps += 1
        snap, timers = self._locals[local_id]
        server = self._servers[sid]
        if code == _START:
            server.restore((None, None, 0, False, None))
            event = Start(0, {}, 0, None)
        elif code >= 0:
            server.restore(snap)
            src, _, msg = self._msgs[code]
            event = Deliver(0, src, msg)
        else:
            server.restore(snap)
            name = self._timer_names[-1 - code]
            timers = timers - {name}
            event = Timer(0, name)
        fx = server.step(event)
        sends = []
        decision = None
        if fx.sends:
            sends = [self._intern_msg((sid, dst, msg)) for dst, msg in fx.sends]
        if fx.timers:
            timers = set(timers)
            for name, delay in fx.timers:
                self._timer_code(name)
                if delay is None:
                    timers.discard(name)
                else:
                    timers.add(name)
            timers = frozenset(timers)
        if fx.notes:
            for _, data in fx.notes:
                if "decided" in data:
                    rnd, leader = data["decided"]
                    backers = [b for b in data["backers"] if b in self.voters]
                    why = None
                    if not self._has_quorum(set(backers)):
                        why = (f"quorum: server {sid} decided on leader {leader} in round {rnd} on the votes of "
                               f"{backers or 'nobody'} only; a quorum of {len(self.sids)} voters is "
                               f"{len(self.sids) // 2 + 1}")
                    decision = (rnd, leader, sid, why)
        new = self._intern_local((server.snapshot(), timers))
        if len(self._timer_lists) <= new:
            self._timer_lists.extend([()] * (new + 1 - len(self._timer_lists)))
            self._timer_lists[new] = tuple(sorted((self._timer_codes[t] for t in timers), reverse=True))
        result = (new, tuple(sends), decision)
        self._memo[key] = result
        return result

    # -- the model interface -------------------------------------------------------------
    # A state is one flat tuple of ints (cheap to hash and to keep): one local id per server,
    # one queue id per directed link (src, dst) — its messages in sending order — then the
    # crashes, drops and duplicates used so far and the id of the set of decisions made so far
    # ((round, leader, decider) triples).
    def _link(self, src: int, dst: int) -> int:
        return self._index[src] * len(self.sids) + self._index[dst]

    def _queue(self, q: tuple) -> int:
        i = self._queue_ids.get(q)
        if i is None:
            i = self._queue_ids[q] = len(self._queues)
            self._queues.append(q)
        return i

    def _push(self, qid: int, m: int) -> int:
        key = (qid, m)
        r = self._pushes.get(key)
        if r is None:
            q = self._queues[qid] + (m,)
            r = self._pushes[key] = self._queue(q if self.fifo else tuple(sorted(q)))
        return r

    def _decide(self, dec: int, decision: tuple, clean: bool) -> tuple:
        key = (dec, decision, clean)
        r = self._decides.get(key)
        if r is None:
            decisions = self._decision_sets[dec]
            violation = decision[3] or self._check(decision[:3], decisions, clean)
            merged = decisions | {decision[:3]}
            i = self._decision_ids.get(merged)
            if i is None:
                i = self._decision_ids[merged] = len(self._decision_sets)
                self._decision_sets.append(merged)
            r = self._decides[key] = (i, violation)
        return r

    def initial(self) -> tuple:
        n = len(self.sids)
        locals_ = [self._down] * n
        links = [0] * (n * n)
        for sid in self.sids:
            new, sends, _ = self._local_step(sid, self._down, _START)
            locals_[self._index[sid]] = new
            for m in sends:
                li = self._msg_link[m]
                links[li] = self._push(links[li], m)
        return tuple(locals_) + tuple(links) + (0, 0, 0, 0)

    def successors(self, state: tuple) -> list:
        """(label, next state, violation or None) for every action enabled in ``state``.

        Labels are small tuples — (kind, server index, message id or timer code) — turned
        into :class:`Action` objects only for a counterexample (:meth:`action`).
        """
        n, nl_ = self._n, self._nlinks
        base = n + nl_
        crashed, dropped, duped, dec = state[base:]
        out = []
        append = out.append
        local_step, after, apply = self._local_step, self._after, self._apply
        msgs, queues = self._msgs, self._queues
        link_dst = self._link_dst
        fifo = self.fifo
        may_drop, may_dup = dropped < self.drops, duped < self.dups
        busy = [False] * n  # servers with a message to or from them in flight
        link_src = self._link_src
        pops = self._pops
        for li in range(n, base):
            qid = state[li]
            if not qid:
                continue
            di, self_link = link_dst[li - n]
            busy[di] = busy[link_src[li - n]] = True
            if fifo:
                hit = pops.get(qid)
                if hit is None:
                    queue = queues[qid]
                    hit = pops[qid] = (queue[0], self._queue(queue[1:]))
                entries = (hit,)
            else:
                queue = queues[qid]
                entries = [(m, self._queue(queue[:qi] + queue[qi + 1:])) for qi, m in enumerate(queue)
                           if m not in queue[:qi]]
            for m, rest in entries:
                new, sends, decision = local_step(msgs[m][1], state[di], m)
                st = list(state)
                st[li] = rest
                st[di] = new
                violation = apply(st, sends, decision) if (sends or decision) else None
                append((("deliver", di, m), tuple(st), violation))
                if not self_link:  # a server's notifications to itself never touch the network
                    if may_drop:
                        st = list(state)
                        st[li] = rest
                        st[base + 1] = dropped + 1
                        append((("drop", di, m), tuple(st), None))
                    if may_dup:
                        queue = queues[qid]
                        qi = queue.index(m)
                        st = list(state)
                        st[li] = self._queue(queue[:qi + 1] + queue[qi:])
                        st[base + 2] = duped + 1
                        append((("duplicate", di, m), tuple(st), None))
        all_quiet = not any(busy)
        timer_lists = self._timer_lists
        down = self._down
        finalizing_anywhere = None
        can_crash = crashed < self.crashes
        for i in range(n):
            lid = state[i]
            if lid == down:
                new, sends, decision = local_step(self.sids[i], lid, _START)
                append(after(("restart", i, 0), state[:i] + (new,) + state[i + 1:], sends, decision))
                continue
            codes = timer_lists[lid]
            if codes and not busy[i]:
                for code in codes:
                    if code == self._lost_code:
                        if not all_quiet:
                            continue
                        if finalizing_anywhere is None:
                            finalizing_anywhere = any(self._finalize_code in timer_lists[l] for l in state[:n])
                        if finalizing_anywhere or not self._lost(state, i):
                            continue
                    new, sends, decision = local_step(self.sids[i], lid, code)
                    append(after(("timer", i, code), state[:i] + (new,) + state[i + 1:], sends, decision))
            if can_crash:
                # What was on its way to the crashed process is lost with its connections.
                st = list(state)
                st[i] = down
                for li in self._into[i]:
                    st[li] = 0
                st[base] = crashed + 1
                append((("crash", i, 0), tuple(st), None))
        return out

    @staticmethod
    def fault(label: tuple) -> bool:
        return label[0] in ("drop", "duplicate", "crash")

    def action(self, label: tuple) -> Action:
        """The :class:`Action` a label stands for."""
        kind, i, x = label
        sid = self.sids[i]
        if kind in ("deliver", "drop", "duplicate"):
            src, dst, msg = self._msgs[x]
            return Action(kind, dst, src, msg)
        if kind == "timer":
            return Action(kind, sid, timer=self._timer_names[-1 - x])
        return Action(kind, sid)

    def _lost(self, state: tuple, i: int) -> bool:
        """Has server ``i`` lost its leader (FOLLOWING) or its quorum (LEADING)?"""
        lookup = self._locals
        role, vote = lookup[state[i]][0][:2]
        if role is FOLLOWING:
            leader = lookup[state[self._index[vote.leader]]][0]
            return leader == _DOWN or leader[0] is not LEADING
        if role is LEADING:
            sid = self.sids[i]
            followers = [sid]
            for k, s in enumerate(self.sids):
                sn = lookup[state[k]][0]
                if sn != _DOWN and sn[0] is FOLLOWING and sn[1].leader == sid:
                    followers.append(s)
            return not self._has_quorum(set(followers))
        return False

    def _apply(self, st: list, sends: tuple, decision: tuple | None) -> str | None:
        """Queue a local step's messages and record its decision in the state list ``st``."""
        if sends:
            msg_dst, msg_li, down, push = self._msg_dst, self._msg_li, self._down, self._push
            for m in sends:
                if st[msg_dst[m]] != down:  # a down server's connection refuses it
                    li = msg_li[m]
                    st[li] = push(st[li], m)
        if decision is not None:
            base = self._n + self._nlinks
            clean = st[base] + st[base + 1] + st[base + 2] == 0
            st[base + 3], violation = self._decide(st[base + 3], decision, clean)
            return violation
        return None

    def _after(self, label: tuple, state: tuple, sends: tuple, decision: tuple | None) -> tuple:
        """The state after a local step: its messages queued, its decision checked."""
        violation = None
        if sends or decision is not None:
            state = list(state)
            base = self._n + self._nlinks
            if sends:
                msgs, index, msg_link, n = self._msgs, self._index, self._msg_link, self._n
                down = self._down
                for m in sends:
                    if state[index[msgs[m][1]]] != down:  # a down server's connection refuses it
                        li = n + msg_link[m]
                        state[li] = self._push(state[li], m)
            if decision is not None:
                clean = state[base] + state[base + 1] + state[base + 2] == 0
                state[base + 3], violation = self._decide(state[base + 3], decision, clean)
            state = tuple(state)
        return label, state, violation

    def _check(self, decision: tuple, decisions: frozenset, clean: bool) -> str | None:
        rnd, leader, who = decision
        backers = {d for r, l, d in decisions if r == rnd and l == leader} | {who}
        if self._has_quorum(backers):
            for r, other, _ in decisions:
                if r == rnd and other != leader and self._has_quorum({d for r2, l2, d in decisions
                                                                      if r2 == rnd and l2 == other}):
                    return (f"one leader per round: a quorum decided on leader {other} in round {rnd}, and now "
                            f"servers {sorted(backers)} (a quorum too) decided on leader {leader} in the same round")
        if clean and leader != self.best:
            h, b = self.histories[leader], self.histories[self.best]
            return (f"validity: with no fault at all, server {who} decided on leader {leader} (epoch "
                    f"{h.current_epoch}, zxid {format_zxid(h.last_zxid)}), but server {self.best} has the best "
                    f"(epoch, zxid, id) (epoch {b.current_epoch}, zxid {format_zxid(b.last_zxid)})")
        return None

    def _has_quorum(self, ids: set) -> bool:
        return 2 * len(ids) > len(self.sids)

    def goal(self, state: tuple) -> bool:
        key = state[:self._n]
        hit = self._goals.get(key)
        if hit is None:
            hit = self._goals[key] = self._goal(key)
        return hit

    def _goal(self, locals_: tuple) -> bool:
        lookup = self._locals
        snaps = [lookup[l][0] for l in locals_]
        up = [s for s in snaps if s != _DOWN]
        if not up or any(s[0] not in (LEADING, FOLLOWING) for s in up):
            return False
        leaders = {s[1].leader for s in up}
        if len(leaders) != 1:
            return False
        (leader,) = leaders
        lsnap = snaps[self._index[leader]]
        return lsnap != _DOWN and lsnap[0] is LEADING and self._has_quorum({s[1].sid for s in up})

    def cost(self, label: tuple) -> int:
        return 0 if label[0] == "deliver" else 1


def check_election(servers: int = 3, crashes: int = 1, drops: int = 0, dups: int = 0, depth: int | None = None,
                   strategy: str = "bfs", max_states: int | None = None, **functions: Callable) -> Result:
    """Model-check Fast Leader Election; ``functions``: vote_order / handle_notification / has_quorum."""
    model = ElectionModel(servers, crashes, drops, dups, **functions)
    result = explore(model, strategy=strategy, depth=depth, max_states=max_states)
    result.config["local_steps"] = model.local_steps
    return result


# ================================================================ counterexamples ========
def describe_counterexample(result: Result) -> str:
    """The counterexample as numbered lines a learner can follow."""
    if result.violation is None:
        return "no violation"
    lines = [f"{result.violation}", f"after {len(result.trace)} steps:"]
    lines += [f"  {i:2}. {a.describe()}" for i, a in enumerate(result.trace, 1)]
    return "\n".join(lines)


def replay_election(trace: Sequence[Action], servers: int = 3, histories: dict[int, ServerHistory] | None = None,
                    **functions: Callable):
    """Play a counterexample's choices in the simulator; returns the :class:`~distlab.sim.World`.

    Links have an enormous latency so nothing arrives by itself: each delivery is moved to the
    front with ``deliver_message_now``, each loss is ``drop_message``, each timer is fired with
    ``fire_timer_now``, crashes and restarts are the world's own. Its ``world.trace`` is an
    ordinary trace (``trace.save(path)``, then ``distlab replay election --trace path``).
    """
    from distlab.sim import LinkConfig, World
    from distlab.sim.network import Fixed

    model_histories = histories or (DEFAULT_HISTORIES if servers == 3 else
                                    {sid: ServerHistory(make_zxid(1, 3), 1) for sid in range(1, servers + 1)})
    voters = frozenset(range(1, servers + 1))
    world = World(seed=0, network=LinkConfig(latency=Fixed(10**9)))
    for sid in sorted(voters):
        world.add_node(sid, lambda s: ElectionServer(s, voters, model_histories[s], **functions))
    for _ in voters:
        world.step()  # the boots; everything else waits for the replay's choices
    world.note("model checker counterexample: " + str(len(trace)) + " steps")
    for action in trace:
        world.note(f"model step: {action.describe()}")
        if action.kind in ("deliver", "drop", "duplicate"):
            msg_id = _find(world, action)
            if action.kind == "deliver":
                world.deliver_message_now(msg_id)
                world.step()
            elif action.kind == "drop":
                world.drop_message(msg_id, "dropped by the model checker")
            else:
                world.duplicate_message(msg_id)
        elif action.kind == "timer":
            world.fire_timer_now(action.node, action.timer)
            world.step()
        elif action.kind == "crash":
            world.crash(action.node)
            for m in world.in_flight():
                if m.dst == action.node:
                    world.drop_message(m.msg_id, "receiver crashed")
        elif action.kind == "restart":
            world.restart(action.node)
    return world


def _find(world: Any, action: Action) -> int:
    for m in world.in_flight():
        if m.src == action.src and m.dst == action.node and m.msg == action.msg:
            return m.msg_id
    raise UsageError(f"replay diverged from the model: {action.describe()} is not in flight")


def counterexample_trace(result: Result, servers: int = 3, **functions: Callable):
    """The election counterexample of ``result`` replayed in the simulator: an ordinary Trace."""
    world = replay_election(result.trace, servers=servers, **functions)
    world.note(f"model checker: {result.violation}")
    return world.trace


def replay_command(path: str) -> str:
    """The command that opens a saved counterexample trace as an HTML step-through."""
    return f"distlab replay election --trace {path} --out {path.rsplit('.', 1)[0]}.html"


# ================================================================ any sans-I/O processes ==
def canonical(value: Any) -> Hashable:
    """A hashable, order-independent stand-in for plain data (dicts and sets sorted by repr).

    Used as a process's state key: two processes with equal fields get equal keys in every
    Python process (set iteration order, which depends on string hashing, never leaks in).
    """
    if isinstance(value, dict):
        return ("d", tuple(sorted(((canonical(k), canonical(v)) for k, v in value.items()), key=repr)))
    if isinstance(value, (set, frozenset)):
        return ("s", tuple(sorted((canonical(v) for v in value), key=repr)))
    if isinstance(value, (list, tuple)):
        return ("l" if isinstance(value, list) else "t", tuple(canonical(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("r", repr(value))
    return value


class ProcessModel:
    """Every schedule of a few sans-I/O processes (``step(event) -> Effects``) run as they are.

    ``factories`` maps node -> ``factory(node)`` (called at boot and at every restart, as the
    World does); ``disks`` what each disk holds at the start; ``inject`` messages from outside
    (``(dst, msg)``, in flight at the start on a link of their own). ``invariant(view)`` returns
    a violation or None and ``goal(view)`` says whether the run reached its aim; ``view`` maps
    node -> ``(process or None if down, disk dict)``. ``crashable`` limits which nodes may crash.
    ``skip`` names process attributes left out of the state key (injected functions).

    The timing assumption is the election's: a node's timer fires only when no message to or
    from it is in flight. Local steps are memoised on (state key, event), so each distinct
    question reaches the process (and a learner's function inside it) once.
    """

    def __init__(self, name: str, factories: dict, disks: dict | None = None, inject: Sequence[tuple] = (), *,
                 invariant: Callable[[dict], str | None], goal: Callable[[dict], bool] = lambda view: False,
                 crashes: int = 0, drops: int = 0, dups: int = 0, crashable: Iterable | None = None,
                 skip: Iterable[str] = ("impl", "now"), config: dict | None = None) -> None:
        self.name = name
        self.nodes = sorted(factories, key=str)
        self.factories = factories
        self.disks0 = {n: dict((disks or {}).get(n, {})) for n in self.nodes}
        self.inject = list(inject)
        self.invariant, self._goal = invariant, goal
        self.crashes, self.drops, self.dups = crashes, drops, dups
        self.crashable = set(self.nodes if crashable is None else crashable)
        self.skip = frozenset(skip)
        self.config = dict(config or {}, crashes=crashes, drops=drops, dups=dups)
        self._locals: list[tuple] = []  # id -> (process or None, disk, timers frozenset)
        self._local_ids: dict[Hashable, int] = {}
        self._msgs: list[tuple] = []
        self._msg_ids: dict[tuple, int] = {}
        self._memo: dict[tuple, tuple] = {}
        self._view_cache: dict[tuple, tuple] = {}
        self.local_steps = 0
        self._index = {n: i for i, n in enumerate(self.nodes)}
        # links: every (src, dst) pair of nodes, plus one from outside to each node
        self._links = [(a, b) for a in self.nodes for b in self.nodes] + [("env", b) for b in self.nodes]
        self._link_index = {l: i for i, l in enumerate(self._links)}

    # -- interning ----------------------------------------------------------------------
    def _key(self, process: Any, disk: dict, timers: frozenset) -> Hashable:
        fields = None if process is None else canonical({k: v for k, v in vars(process).items() if k not in self.skip})
        return (fields, canonical(disk), timers)

    def _intern(self, process: Any, disk: dict, timers: frozenset) -> int:
        key = self._key(process, disk, timers)
        i = self._local_ids.get(key)
        if i is None:
            i = self._local_ids[key] = len(self._locals)
            self._locals.append((process, disk, timers))
        return i

    def _msg(self, src: Any, dst: Any, msg: Any) -> int:
        key = (src, dst, msg)
        i = self._msg_ids.get(key)
        if i is None:
            i = self._msg_ids[key] = len(self._msgs)
            self._msgs.append(key)
        return i

    def _step(self, node: Any, lid: int, code: Any) -> tuple:
        """(new local id, message ids sent) for one event; memoised."""
        key = (node, lid, code)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        self.local_steps += 1
        process, disk, timers = self._locals[lid]
        disk = copy.deepcopy(disk)
        if code == "start":
            process = self.factories[node](node)
            event = Start(0, copy.deepcopy(disk), 0, random.Random(f"{node}"))
            timers = frozenset()
        else:
            shared = {id(getattr(process, k)): getattr(process, k) for k in self.skip if hasattr(process, k)}
            process = copy.deepcopy(process, shared)
            if code[0] == "deliver":
                src, _, msg = self._msgs[code[1]]
                event = Deliver(0, src, msg)
            else:
                timers = timers - {code[1]}
                event = Timer(0, code[1])
        fx = process.step(event)
        sends: list[int] = []
        if fx is not None:
            for op, k, value in fx.writes or ():
                if op == "set":
                    disk[k] = value
                elif op == "append":
                    disk.setdefault(k, []).append(value)
                else:
                    del disk.setdefault(k, [])[value:]
            sends = [self._msg(node, dst, msg) for dst, msg in fx.sends or ()]
            if fx.timers:
                t = set(timers)
                for name, delay in fx.timers:
                    (t.discard if delay is None else t.add)(name)
                timers = frozenset(t)
        result = (self._intern(process, disk, timers), tuple(sends))
        self._memo[key] = result
        return result

    # -- the model interface ------------------------------------------------------------
    # A state: (local ids..., link queues (tuples of message ids)..., crashes, drops, dups).
    def initial(self) -> tuple:
        locals_ = []
        links = [()] * len(self._links)
        for node in self.nodes:
            down = self._intern(None, self.disks0[node], frozenset())
            lid, sends = self._step(node, down, "start")
            locals_.append(lid)
            for m in sends:
                li = self._link_index[self._msgs[m][:2]]
                links[li] += (m,)
        for dst, msg in self.inject:
            li = self._link_index[("env", dst)]
            links[li] += (self._msg("env", dst, msg),)
        return (*locals_, *links, 0, 0, 0)

    def view(self, state: tuple) -> dict:
        return {node: self._locals[state[i]][:2] for i, node in enumerate(self.nodes)}

    def successors(self, state: tuple) -> list:
        n, nl = len(self.nodes), len(self._links)
        base = n + nl
        crashed, dropped, duped = state[base:]
        out = []
        busy = [False] * n
        for k in range(nl):
            queue = state[n + k]
            if not queue:
                continue
            src, dst = self._links[k]
            di = self._index[dst]
            busy[di] = True
            if src != "env":
                busy[self._index[src]] = True
            m, rest = queue[0], queue[1:]
            popped = state[:n + k] + (rest,) + state[n + k + 1:]
            if self._locals[state[di]][0] is None:
                out.append(self._after(("lost", dst, m), popped, ()))  # the receiver is down
                continue
            lid, sends = self._step(dst, state[di], ("deliver", m))
            out.append(self._after(("deliver", dst, m), popped[:di] + (lid,) + popped[di + 1:], sends))
            if src != "env" and src != dst:
                if dropped < self.drops:
                    out.append(self._after(("drop", dst, m), popped[:base + 1] + (dropped + 1,) + popped[base + 2:], ()))
                if duped < self.dups:
                    dup = state[:n + k] + ((m,) + queue,) + state[n + k + 1:base + 2] + (duped + 1,)
                    out.append(self._after(("duplicate", dst, m), dup, ()))
        for i, node in enumerate(self.nodes):
            process, disk, timers = self._locals[state[i]]
            if process is None:
                lid, sends = self._step(node, state[i], "start")
                out.append(self._after(("restart", node, None), state[:i] + (lid,) + state[i + 1:], sends))
                continue
            if timers and not busy[i]:
                for name in sorted(timers):
                    lid, sends = self._step(node, state[i], ("timer", name))
                    out.append(self._after(("timer", node, name), state[:i] + (lid,) + state[i + 1:], sends))
            if crashed < self.crashes and node in self.crashable:
                st = list(state)
                st[i] = self._intern(None, disk, frozenset())
                for k, (src, dst) in enumerate(self._links):
                    if dst == node:
                        st[n + k] = ()  # lost with the crashed process's connections
                st[base] = crashed + 1
                out.append(self._after(("crash", node, None), tuple(st), ()))
        return out

    def _after(self, label: tuple, state: tuple, sends: tuple) -> tuple:
        if sends:
            st = list(state)
            n = len(self.nodes)
            for m in sends:
                src, dst, _ = self._msgs[m]
                if dst in self._index and self._locals[st[self._index[dst]]][0] is not None:
                    k = self._link_index[(src, dst)]
                    st[n + k] = st[n + k] + (m,)
            state = tuple(st)
        key = state[:len(self.nodes)]
        cached = self._view_cache.get(key)
        if cached is None:
            view = self.view(state)
            cached = self._view_cache[key] = (self.invariant(view), self._goal(view))
        return label, state, cached[0]

    def goal(self, state: tuple) -> bool:
        key = state[:len(self.nodes)]
        cached = self._view_cache.get(key)
        if cached is None:
            view = self.view(state)
            cached = self._view_cache[key] = (self.invariant(view), self._goal(view))
        return cached[1]

    @staticmethod
    def fault(label: tuple) -> bool:
        return label[0] in ("drop", "duplicate", "crash")

    @staticmethod
    def cost(label: tuple) -> int:
        return 0 if label[0] == "deliver" else 1

    def action(self, label: tuple) -> Action:
        kind, node, x = label
        if kind in ("deliver", "drop", "duplicate", "lost"):
            src, dst, msg = self._msgs[x]
            return Action(kind, dst, src, msg)
        if kind == "timer":
            return Action(kind, node, timer=x)
        return Action(kind, node)


# ================================================================ two-phase commit =======
def two_phase_model(participants: int = 2, crashes: int = 1, drops: int = 0, dups: int = 0,
                    impl: Any = None, cooperative: bool = False) -> ProcessModel:
    """2PC: coordinator ``c``, participants ``p1..pN``, two transactions from a client.

    ``t1`` takes 1 from ``p1``'s ``x`` and gives 1 to every other participant (everyone can
    vote yes, unless a lock is held); ``t2`` is refused by the last participant (a business
    rule), so it must abort everywhere.

    Invariant: :func:`distlab.txn.two_phase.atomicity_violations` on the durable logs (never
    COMMITTED at one participant and ABORTED at another, nor against the coordinator's log).
    Goal: every participant resolved and the coordinator's log decided. Participant ids are
    symmetric only when their writes are identical, and the renaming would have to reach
    inside messages and logs: no symmetry reduction is applied.
    """
    from distlab.txn.two_phase import Begin, Coordinator, Participant, TxnImpl, atomicity_violations

    impl = impl or TxnImpl()
    names = [f"p{i}" for i in range(1, participants + 1)]
    factories = {"c": lambda node: Coordinator(node, impl)}
    for p in names:
        factories[p] = lambda node: Participant(node, {"x": 1}, impl, refuse=("t2",) if node == names[-1] else ())
    writes = {p: {"x": (-1 if i == 0 else 1)} for i, p in enumerate(names)}

    def logs(view):
        return view["c"][1].get("log", []), {p: view[p][1].get("log", []) for p in names}

    def invariant(view):
        c, ps = logs(view)
        problems = atomicity_violations(c, ps, expect_resolved=False)
        return f"atomicity: {problems[0]}" if problems else None

    def goal(view):
        c, ps = logs(view)
        begun = {r[1] for r in c if r[0] == "BEGIN"}
        decided = {r[1] for r in c if r[0] in ("COMMIT", "ABORT")}
        return begun <= decided and not atomicity_violations(c, ps, expect_resolved=True)

    inject = [("c", Begin.of("t1", writes)), ("c", Begin.of("t2", {p: {"x": 1} for p in names}))]
    return ProcessModel("2pc", factories, inject=inject, invariant=invariant, goal=goal,
                        crashes=crashes, drops=drops, dups=dups,
                        config={"participants": participants, "cooperative": cooperative})


def replay_processes(model: ProcessModel, trace: Sequence[Action]):
    """Play a :class:`ProcessModel` counterexample in the simulator; returns the World.

    As :func:`replay_election`: links never deliver by themselves, every choice is made
    with ``deliver_message_now`` / ``drop_message`` / ``fire_timer_now`` / crash / restart.
    """
    from distlab.sim import LinkConfig, World
    from distlab.sim.network import Fixed

    world = World(seed=0, network=LinkConfig(latency=Fixed(10**9)))
    for node in model.nodes:
        world.add_node(node, model.factories[node], durable=model.disks0[node] or None)
    for _ in model.nodes:
        world.step()
    for dst, msg in model.inject:
        world.inject(dst, msg)
    world.note(f"model checker counterexample: {len(trace)} steps")
    for action in trace:
        world.note(f"model step: {action.describe()}")
        if action.kind in ("deliver", "drop", "duplicate", "lost"):
            msg_id = _find(world, action)
            if action.kind == "deliver":
                world.deliver_message_now(msg_id)
                world.step()
            elif action.kind == "duplicate":
                world.duplicate_message(msg_id)
            else:
                world.drop_message(msg_id, "receiver is down" if action.kind == "lost" else "dropped by the model checker")
        elif action.kind == "timer":
            world.fire_timer_now(action.node, action.timer)
            world.step()
        elif action.kind == "crash":
            world.crash(action.node)
            for m in world.in_flight():
                if m.dst == action.node:
                    world.drop_message(m.msg_id, "receiver crashed")
        elif action.kind == "restart":
            world.restart(action.node)
    return world


# ================================================================ the ZooKeeper lock =====
class _ReplayDriver:
    """A ZkLock driver for the model: deterministic prefixes; the model runs the steps."""

    def __init__(self, name: str) -> None:
        self.name, self.count = name, 0

    def unique_prefix(self) -> str:
        self.count += 1
        return f"{self.name}{self.count}"

    def run(self, steps: Any) -> Any:  # pragma: no cover - the model feeds the steps itself
        raise UsageError("the model checker drives the lock's steps")


class ZkLockModel:
    """The ZooKeeper lock recipe (:class:`distlab.locks.zk.ZkLock`'s own generators), K clients.

    The server is one atomic ZooKeeper (each operation applies at once, as a linearizable
    ensemble answers a session in order): the lock's children with their owner sessions, a
    sequence counter and one-shot data watches. Each client acquires, holds (the critical
    section), releases and stops. A client's state is the answers it has had so far; its
    generator is rebuilt by replaying them (generators cannot be copied). Faults: a session
    expires (``expiries`` bounds how many): the server deletes its ephemeral nodes, fires
    their watches, and the client's next request fails with SessionExpired.

    Invariant, **mutual exclusion**: at most one client is in its critical section holding
    the lock with the session it acquired it with (a holder whose session expired has lost
    the lock — that it may not know yet is why fencing tokens exist). Goal: every client done.
    Client ids are symmetric (no rule compares them, prefixes aside), but the prefixes they
    choose are part of the names the recipe sorts on, so no symmetry reduction is applied.
    """

    name = "zk-lock"
    PATH = "/lock"

    def __init__(self, clients: int = 3, expiries: int = 0, predecessor: Callable | None = None) -> None:
        from distlab.locks.api import LockError
        from distlab.locks.zk import predecessor as reference_predecessor

        self.clients = [f"c{i}" for i in range(1, clients + 1)]
        self.expiries = expiries
        self.config = {"clients": clients, "expiries": expiries}
        choose = predecessor or reference_predecessor
        answers: dict[tuple, tuple] = {}

        def decide(children, me, blocked_by=frozenset({"lock", "write"})):
            # Each distinct question reaches the (maybe sandboxed) function once; replays ask again.
            key = (tuple(children), me, blocked_by)
            if key not in answers:
                try:
                    answers[key] = ("ok", choose(list(children), me, blocked_by))
                except LockError as error:  # NodeVanished: an answer too
                    answers[key] = ("raise", error)
            kind, value = answers[key]
            if kind == "raise":
                raise value
            return value

        self.decide = decide
        self._replays: dict[tuple, tuple] = {}

    # A state: (children, seq, watches, per-client (answers, session, expired?, fired?), expiries used)
    # children: frozenset of (name, owner client, session); watches: frozenset of (path, client).
    def initial(self) -> tuple:
        return (frozenset(), 0, frozenset(), tuple(((), 1, False, False) for _ in self.clients), 0)

    def _replay(self, client: str, answers: tuple) -> tuple:
        """(phase, pending op, lock session) after ``answers``: phase acquiring|holding|releasing|done."""
        hit = self._replays.get((client, answers))
        if hit is not None:
            return hit
        from distlab.locks.api import LockError
        from distlab.locks.zk import ZkLock
        from distlab.zk import errors
        from distlab.zk.errors import KeeperError

        lock = ZkLock(_ReplayDriver(client), self.PATH, decide=self.decide)
        phase, gen = "acquiring", lock.acquire_steps()
        op = next(gen)
        for answer in answers:
            if answer == ("leave",):
                phase, gen = "releasing", lock.release_steps()
                try:
                    op = next(gen)
                except StopIteration:
                    phase, op = "done", None
                continue
            kind, value = answer
            try:
                if kind == "err":
                    op = gen.throw(getattr(errors, value)(None, "model"))
                elif kind == "pipe":
                    op = gen.send(tuple(_materialise(a) for a in value))
                else:
                    op = gen.send(list(value) if kind == "list" else value)
            except StopIteration:
                if phase == "acquiring":
                    phase, op = "holding", None
                else:
                    phase, op = "done", None
            except (LockError, KeeperError):  # LockLost, AcquireTimeout...: this client's program ends
                phase, op = "done", None
        result = (phase, op, lock._session)
        self._replays[(client, answers)] = result
        return result

    def _apply(self, op: Any, i: int, children: frozenset, seq: int, watches: frozenset, session: int):
        """One operation on the server: (answer, children, seq, watches, fired clients)."""
        from distlab.locks.zk import Now, Session, Sleep
        from distlab.zk.ops import CreateRequest, DeleteRequest, Exists, GetChildren, GetData

        client = self.clients[i]
        t = type(op)
        prefix = self.PATH + "/"
        if t is Session:
            return ("ok", session), children, seq, watches, ()
        if t is Now:
            return ("ok", 0.0), children, seq, watches, ()
        if t is Sleep:
            return ("ok", None), children, seq, watches, ()
        if t is CreateRequest:
            if op.path == self.PATH:
                return ("err", "NodeExistsError"), children, seq, watches, ()
            name = f"{op.path[len(prefix):]}{seq:010d}"
            return ("ok", prefix + name), children | {(name, client, session)}, seq + 1, watches, ()
        if t is GetChildren:
            return ("list", tuple(sorted(n for n, _, _ in children))), children, seq, watches, ()
        if t in (GetData, Exists):
            name = op.path[len(prefix):]
            if not any(n == name for n, _, _ in children):
                return (("ok", None) if t is Exists else ("err", "NoNodeError")), children, seq, watches, ()
            if op.watch:
                watches = watches | {(name, client)}
            return ("ok", (b"", None)), children, seq, watches, ()
        if t is DeleteRequest:
            name = op.path[len(prefix):]
            gone = {c for c in children if c[0] == name}
            if not gone:
                return ("err", "NoNodeError"), children, seq, watches, ()
            fired = tuple(c for n, c in watches if n == name)
            return ("ok", None), children - gone, seq, frozenset(w for w in watches if w[0] != name), fired
        raise UsageError(f"the lock recipe yielded an operation the model does not know: {op!r}")

    def successors(self, state: tuple) -> list:
        from distlab.locks.zk import AwaitWatch, Pipeline

        children, seq, watches, clients, used = state
        out = []
        for i, (answers, session, expired, fired) in enumerate(clients):
            phase, op, _ = self._replay(self.clients[i], answers)
            if phase == "done":
                continue
            if phase == "holding":
                nxt = self._client(clients, i, (answers + (("leave",),), session, expired, fired))
                out.append((("leave", i), (children, seq, watches, nxt, used), self._check(children, nxt)))
            elif type(op) is AwaitWatch:
                if fired or expired:
                    nxt = self._client(clients, i, (answers + (("ok", True),), session, expired, False))
                    out.append((("wake", i), (children, seq, watches, nxt, used), self._check(children, nxt)))
            elif expired:
                nxt = self._client(clients, i, (answers + (("err", "SessionExpiredError"),), session, False, fired))
                out.append((("expired", i), (children, seq, watches, nxt, used), self._check(children, nxt)))
            else:
                ops = op.ops if type(op) is Pipeline else (op,)
                results = []
                woken: set = set()
                c, s, w = children, seq, watches
                for one in ops:
                    answer, c, s, w, f = self._apply(one, i, c, s, w, session)
                    results.append(answer)
                    woken.update(f)
                if type(op) is Pipeline:
                    answer = ("pipe", tuple(results))
                else:
                    answer = results[0]
                nc = list(clients)
                nc[i] = (answers + (answer,), session, expired, fired)
                for k, name in enumerate(self.clients):
                    if name in woken:
                        a, ss, e, _ = nc[k]
                        nc[k] = (a, ss, e, True)
                nc = tuple(nc)
                out.append((("op", i, _describe_op(op, answer)), (c, s, w, nc, used), self._check(c, nc)))
            if used < self.expiries and not expired:
                name = self.clients[i]
                mine = {ch for ch in children if ch[1] == name and ch[2] == session}
                fired_by = {c for n, c in watches if any(n == m[0] for m in mine)}
                nc = list(clients)
                nc[i] = (answers, session + 1, True, True)
                for k, other in enumerate(self.clients):
                    if other in fired_by and k != i:
                        a, ss, e, _ = nc[k]
                        nc[k] = (a, ss, e, True)
                w = frozenset(x for x in watches if not any(x[0] == m[0] for m in mine))
                nxt = (children - mine, seq, w, tuple(nc), used + 1)
                out.append((("expire", i), nxt, self._check(children - mine, nxt[3])))
        return out

    @staticmethod
    def _client(clients: tuple, i: int, value: tuple) -> tuple:
        return clients[:i] + (value,) + clients[i + 1:]

    def _check(self, children: frozenset, clients: tuple) -> str | None:
        holders = []
        for i, (answers, session, expired, _) in enumerate(clients):
            phase, _, lock_session = self._replay(self.clients[i], answers)
            if phase == "holding" and lock_session == session and not expired:
                holders.append(self.clients[i])
        if len(holders) > 1:
            return f"mutual exclusion: {holders} all hold the lock, each with a live session"
        return None

    def goal(self, state: tuple) -> bool:
        return all(self._replay(self.clients[i], c[0])[0] == "done" for i, c in enumerate(state[3]))

    @staticmethod
    def fault(label: tuple) -> bool:
        return label[0] == "expire"

    @staticmethod
    def cost(label: tuple) -> int:
        return 0

    def action(self, label: tuple) -> Action:
        kind, i = label[:2]
        if kind == "op":
            return Action("zk", self.clients[i], msg=_Said(label[2]))
        return Action({"leave": "leaves its critical section, releasing", "wake": "is woken by its watch",
                       "expired": "hears SessionExpired", "expire": "session expires for"}[kind], self.clients[i])


@dataclass(frozen=True)
class _Said:
    text: str

    def describe(self) -> str:
        return self.text


def _describe_op(op: Any, answer: tuple) -> str:
    def one(o: Any) -> str:
        fields = {k: getattr(o, k) for k in ("path", "watch") if hasattr(o, k)}
        if type(o).__name__ == "CreateRequest":
            fields["mode"] = o.mode.name
        return f"{type(o).__name__}({', '.join(f'{k}={v!r}' for k, v in fields.items())})"

    ops = op.ops if type(op).__name__ == "Pipeline" else (op,)
    shown = answer[1] if answer[0] != "err" else answer[1]
    return " + ".join(one(o) for o in ops) + f" -> {shown!r}"


def _materialise(answer: tuple) -> Any:
    """A pipelined answer as the recipe sees it: a value, a list, or an exception object."""
    from distlab.zk import errors

    kind, value = answer
    if kind == "err":
        return getattr(errors, value)(None, "model")
    return list(value) if kind == "list" else value
