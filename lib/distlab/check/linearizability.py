"""A compact linearizability checker.

A *history* is a list of :class:`Operation` records: who called what, on which key, with
which argument, what came back, and when (virtual milliseconds) the call was made and the
answer arrived. The history is *linearizable* if every operation can be given a single
instant between its invocation and its response such that, taken in the order of those
instants, the operations form a legal sequential run of a :class:`Model` (for example a
key-value register). :func:`check_linearizable` decides that question.

The algorithm
=============

This is the Wing & Gong backtracking search with Lowe's memoization, laid out the way
porcupine (github.com/anishathalye/porcupine, ``checker.go``) does it:

1. **Partition by key** (P-compositionality, Herlihy & Wing): a history of a register
   store is linearizable iff the sub-history of every key is. Each key is checked on its
   own, in sorted key order, so the result is deterministic.
2. Each completed operation becomes a *call* event at ``invoke`` and a *return* event at
   ``respond``, all sorted by time into a doubly linked list.
3. Walk the list from the head. At a call event, try to linearize that operation now:
   ask the model whether it is legal in the current state. If so, remember
   ``(operation, old state)`` on a stack, lift the call and its return out of the list and
   restart from the head. An operation may be linearized only while no return event of a
   not-yet-linearized operation lies before its call in the list, which is exactly the
   real-time order. Reaching a return event means the operation that returns there should
   have been linearized already: undo the top of the stack (put its events back) and try
   the next call after it. All completed operations placed: the stack is a witness.
4. **Memoization** (Lowe): a configuration is fully described by the *set* of linearized
   operations (a bitset, here a Python int) and the model state. A configuration seen
   before is never explored again, whatever the order that led to it. This turns the
   factorial search into one bounded by the number of distinct (set, state) pairs.

Pending operations (below) are where this gets expensive: each one that may or may not
have happened could double the number of configurations. Three additions keep that in
check, none of which changes the answer:

* pending operations have no return event; at each configuration they are tried after
  the completed ones, and interchangeable ones (``Model.pending_class``: for a register,
  same kind and input) only in call order;
* the memo is keyed on (completed operations placed, state) and keeps the *sets* of
  pending operations placed: a configuration is skipped when one with the same key and a
  subset of its pending operations was seen (whatever the bigger one can still do, the
  smaller one can too);
* the depth-first walk gets a bounded share of the budget (``_DFS_STEPS_PER_OP`` per
  operation) when there are pending operations. If it has not decided by then, the rest
  goes to a best-first search over the same configurations, fewest pending operations
  first, which makes the subset check complete. Depth-first finds witnesses of correct
  histories fast; best-first proves violations among many pending operations fast.

Rules this module follows (and that the tests pin down)
=======================================================

* **Real-time order.** ``a`` precedes ``b`` iff ``a.respond < b.invoke``. An answer and a
  call at the *same* virtual millisecond count as overlapping (porcupine sorts call events
  before return events at equal timestamps). This is the conservative choice: a violation
  is never reported because of how two events inside one millisecond were ordered. The
  same holds for two operations of one client that touch at one millisecond.
* **Pending operations.** An operation is *pending* if ``respond is None`` (no answer ever
  came) or ``output is PENDING`` (an answer came but says nothing about the outcome, e.g.
  ConnectionLoss or a client-side timeout). A pending operation may take effect at any
  moment after its ``invoke`` -- even after the client gave up -- or never. Its output is
  unconstrained: the model is stepped with ``output=PENDING`` and must accept it in any
  state in which the operation could have been applied (see :class:`RegisterModel`).
  Witness orders contain the pending operations that were taken to have happened; pending
  operations that are absent from a witness are taken never to have happened.
* **Budget.** ``max_steps`` bounds the search steps of the *whole* call (every key plus the
  diagnosis of a violation). One step is one attempt to place an operation or one
  backtrack. When the budget runs out before every key is decided the verdict is
  ``"unknown"``, which must never be read as a pass. If a violation has already been
  proven when the budget runs out during diagnosis, the verdict stays ``"violation"`` and
  the explanation says the culprit may not be the earliest one.
* **Culprit.** Order the return events of the failing key by ``(respond, position)``. The
  *prefix of the history up to a return event* contains every operation invoked no later
  than that event (calls sort before returns at equal times); those whose return event
  comes at or before it keep their outputs, the others become pending. The **culprit** is
  the operation of the earliest return event whose prefix is not linearizable: every
  order of the earlier history that respects real time is fine until its answer arrives,
  and none can accommodate that answer. Linearizability is prefix-closed, so failure is
  monotone along the return events. The failed search of the whole key gives a lower
  bound, the *frontier* (the latest return event any configuration got up to), that is
  usually the answer; it is checked first, then a binary search covers the rest. If the
  budget runs out first, the frontier op is blamed (or, mid binary search, the earliest
  op proven to fail) and the explanation says what was and was not proven.
* **Explanation.** For the culprit, the checker lists the model states in which it could
  have taken effect (with its answer unknown) in some complete order of the rest of that
  prefix -- e.g. "every order consistent with real time leaves /x = b'2'". States it
  could not decide within the budget are marked "possibly".

Validation
==========

:func:`check_linearizable` raises :class:`ValueError`, naming the operation, for
``respond < invoke``, for two operations of one client that overlap (an operation with
``respond=None`` overlaps everything its client issues later: a client that gives up on a
call should record the give-up time as ``respond`` and ``output=PENDING``), and for an
operation the model does not know (``model.kinds`` / ``model.validate``).

Everything here is pure Python: no I/O, no randomness, no clocks.
"""

from __future__ import annotations

import dataclasses
import enum
import heapq
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "PENDING",
    "CheckResult",
    "Model",
    "Operation",
    "RegisterModel",
    "check_linearizable",
]


class _Pending(enum.Enum):
    PENDING = "PENDING"

    def __repr__(self) -> str:
        return "PENDING"

    __str__ = __repr__


#: Output of an operation whose outcome is unknown (ConnectionLoss, timeout, no reply).
PENDING = _Pending.PENDING

_INF = float("inf")


@dataclass(frozen=True)
class Operation:
    """One client operation as the client saw it.

    ``respond is None`` means no answer ever came; ``output is PENDING`` means the answer
    did not tell the outcome. Either way the operation is *pending*: it may have taken
    effect at any time after ``invoke``, or never, and its output is not checked.
    """

    client: str
    kind: str
    key: str
    input: Any
    output: Any
    invoke: int
    respond: int | None

    @property
    def pending(self) -> bool:
        """True if the outcome of this operation is unknown."""
        return self.respond is None or self.output is PENDING


@runtime_checkable
class Model(Protocol):
    """A sequential specification of one key's object.

    Optional extras the checker uses when present:

    * ``kinds``: a collection of the operation kinds the model understands;
    * ``validate(op)``: raise :class:`ValueError` for an operation the model cannot take;
    * ``describe_state(key, state) -> str``: a state for people, e.g. ``"/x = b'2'"``;
    * ``pending_class(op) -> Hashable | None``: pending ops with equal (non-None) classes
      are interchangeable -- ``step`` treats them alike in every state -- so the search
      places them in call order only. Without it every pending op is its own class, and
      each pending op that may or may not have happened can double the search.

    ``step`` must be a pure function. It is called with ``op.output is PENDING`` for a
    pending operation and must then say whether the operation *could* be applied in
    ``state`` and what it would leave behind. States must be hashable (they are memoized).
    """

    def init(self) -> Any: ...

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]: ...

    def describe(self, op: Operation) -> str: ...


def _when(op: Operation) -> str:
    if op.respond is None:
        return f"[{op.invoke}, -] (never answered)"
    if op.output is PENDING:
        return f"[{op.invoke}, {op.respond}] (outcome unknown)"
    return f"[{op.invoke}, {op.respond}]"


class RegisterModel:
    """A key-value register; one instance serves every key (the state is one key's value).

    ============  ==================  ========================================================
    kind          input               output
    ============  ==================  ========================================================
    ``read``      ignored             the current value (``None`` if absent)
    ``write``     new value           ignored; sets the value
    ``delete``    ignored             ignored; sets the value to ``None``
    ``cas``       ``(expected, new)`` ``True`` (value was ``expected``; now ``new``) or
                                      ``False`` (value was not ``expected``; unchanged)
    ============  ==================  ========================================================

    Pending operations: a pending read is legal in every state; a pending cas takes effect
    exactly when the value equals ``expected`` (it may also never happen, which the checker
    handles by leaving it out).
    """

    kinds = frozenset({"read", "write", "delete", "cas"})

    def init(self) -> Any:
        return None

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        kind = op.kind
        if kind == "read":
            out = op.output
            return (out is PENDING or out == state), state
        if kind == "write":
            return True, op.input
        if kind == "cas":
            expected, new = op.input
            out = op.output
            if out is PENDING:
                return True, (new if state == expected else state)
            if out:
                return state == expected, new
            return state != expected, state
        if kind == "delete":
            return True, None
        raise ValueError(f"RegisterModel: unknown operation kind {kind!r} in {op!r}")

    def validate(self, op: Operation) -> None:
        """Raise :class:`ValueError` if ``op`` is not a register operation."""
        if op.kind not in self.kinds:
            raise ValueError(
                f"RegisterModel does not know kind {op.kind!r} "
                f"(expected one of {sorted(self.kinds)}): {op!r}"
            )
        if op.kind == "write":
            _require_hashable(op.input, "written value", op)
        if op.kind == "cas":
            if not (isinstance(op.input, (tuple, list)) and len(op.input) == 2):
                raise ValueError(f"cas input must be a pair (expected, new): {op!r}")
            _require_hashable(op.input[0], "cas expected value", op)
            _require_hashable(op.input[1], "cas new value", op)
            if op.respond is not None and op.output not in (True, False, PENDING):
                raise ValueError(f"cas output must be True, False or PENDING: {op!r}")

    def pending_class(self, op: Operation) -> Hashable | None:
        """Pending ops with the same kind and input behave the same (client and times
        play no part in a register's sequential behaviour)."""
        if op.kind == "cas":
            return ("cas", tuple(op.input))
        if op.kind == "write":
            return ("write", op.input)
        return (op.kind,)

    def describe(self, op: Operation) -> str:
        who = f"by {op.client} at {_when(op)}"
        if op.kind == "read":
            if op.pending:
                return f"read of {op.key} {who}"
            return f"read of {op.key} {who} returned {op.output!r}"
        if op.kind == "write":
            return f"write of {op.input!r} to {op.key} {who}"
        if op.kind == "delete":
            return f"delete of {op.key} {who}"
        if op.kind == "cas":
            expected, new = op.input
            text = f"cas of {op.key} from {expected!r} to {new!r} {who}"
            return text if op.pending else f"{text} returned {op.output!r}"
        return f"{op.kind} of {op.key} {who}"

    def describe_state(self, key: str, state: Any) -> str:
        if state is None:
            return f"{key} = None (absent)"
        return f"{key} = {state!r}"

    def __repr__(self) -> str:
        return "RegisterModel()"


def _require_hashable(value: Any, what: str, op: Operation) -> None:
    try:
        hash(value)
    except TypeError:
        raise ValueError(f"{what} must be hashable (model states are memoized): {op!r}") from None


@dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`check_linearizable`.

    ``verdict`` is ``"ok"``, ``"violation"`` or ``"unknown"`` (the step budget ran out:
    *not* a pass). ``key`` is the failing / undecided key. ``culprit`` (violations only)
    is the earliest-responding operation such that the history up to its response is not
    linearizable. ``linearization`` (``"ok"`` only) is a witness: the witness order of each
    key, keys in sorted order, concatenated. ``steps`` is the number of search steps used.
    """

    verdict: str
    key: str | None
    culprit: Operation | None
    explanation: str
    linearization: tuple[Operation, ...] | None
    steps: int = 0

    @property
    def ok(self) -> bool:
        """True only for a proven pass (``verdict == "ok"``)."""
        return self.verdict == "ok"


# --------------------------------------------------------------------------------------
# Validation and preparation
# --------------------------------------------------------------------------------------


def _validate(history: Sequence[Operation], model: Model) -> None:
    kinds = getattr(model, "kinds", None)
    validate = getattr(model, "validate", None)
    by_client: dict[Any, list[Operation]] = {}
    for op in history:
        if not isinstance(op, Operation):
            raise TypeError(f"history entries must be Operation, got {op!r}")
        if not isinstance(op.invoke, int) or isinstance(op.invoke, bool):
            raise ValueError(f"invoke must be an int (virtual ms): {op!r}")
        if op.respond is not None:
            if not isinstance(op.respond, int) or isinstance(op.respond, bool):
                raise ValueError(f"respond must be an int or None: {op!r}")
            if op.respond < op.invoke:
                raise ValueError(
                    f"operation responds before it is invoked "
                    f"(respond {op.respond} < invoke {op.invoke}): {op!r}"
                )
        if kinds is not None and op.kind not in kinds:
            raise ValueError(
                f"unknown operation kind {op.kind!r} for {type(model).__name__} "
                f"(known: {sorted(kinds)}): {op!r}"
            )
        if validate is not None:
            validate(op)
        by_client.setdefault(op.client, []).append(op)
    for client_ops in by_client.values():
        client_ops.sort(key=lambda o: (o.invoke, _INF if o.respond is None else o.respond))
        for a, b in zip(client_ops, client_ops[1:]):
            if a.respond is None:
                raise ValueError(
                    f"client {a.client!r} issued {b!r} while {a!r} was still outstanding "
                    f"(respond=None means it never ended; record a give-up time as respond "
                    f"with output=PENDING instead)"
                )
            if a.respond > b.invoke:
                raise ValueError(
                    f"operations of client {a.client!r} overlap: {a!r} (until {a.respond}) "
                    f"and {b!r} (from {b.invoke})"
                )


class _Sub:
    """One key's sub-history in canonical order, ready for the search.

    ``inv[i]``/``resp[i]`` are the event times (``resp[i] is None`` for pending operations),
    ``step_ops[i]`` is what the model is stepped with (output ``PENDING`` when pending).
    """

    __slots__ = ("ops", "step_ops", "inv", "resp")

    def __init__(self, ops: list[Operation]) -> None:
        self.ops = ops
        self.step_ops = [_as_pending(o) if o.pending else o for o in ops]
        self.inv = [o.invoke for o in ops]
        self.resp = [None if o.pending else o.respond for o in ops]


def _as_pending(op: Operation) -> Operation:
    return op if op.output is PENDING else dataclasses.replace(op, output=PENDING)


def _canonical(ops: list[Operation]) -> list[Operation]:
    # Stable: ties keep the caller's order, so equal inputs give equal answers.
    return sorted(ops, key=lambda o: (o.invoke, _INF if o.pending else o.respond))


# --------------------------------------------------------------------------------------
# The search (Wing & Gong + Lowe's memoization, porcupine layout)
# --------------------------------------------------------------------------------------


def _search(
    model: Model,
    step_ops: list[Operation],
    inv: list[int],
    resp: list[int | None],
    limit: int,
    watch: int = -1,
    tried: dict[Any, None] | None = None,
) -> tuple[str, list[int] | None, int, int]:
    """Decide one sub-history: ``(verdict, witness op indices | None, steps, frontier op)``.

    Depth-first (porcupine's order: finds a witness for a correct history in a few steps
    per operation). With pending ops it gets at most ``_DFS_STEPS_PER_OP`` steps per
    operation; if that does not settle it, best-first with the rest of the budget (proves
    violations among pending operations without blowing up). Both are exact; only their
    visiting order differs, and the result is monotone in ``limit``.

    For a violation the *frontier op* is the op of the latest return event that some
    reachable configuration got up to: every prefix of the history before its response is
    linearizable, so the culprit is this op or a later one. If ``watch`` names a completed
    op, the states in which it was tried are added to ``tried`` (for a failing search, a
    superset of the states in which it can take effect).
    """
    lay = _Layout(model, step_ops, inv, resp, watch)
    if not lay.pend:  # without pending ops depth-first is as good as it gets
        return _depth_first(model, lay, limit, tried)
    share = min(limit, _DFS_STEPS_PER_OP * len(step_ops) + _DFS_STEPS_BASE)
    verdict, order, steps, frontier = _depth_first(model, lay, share, tried)
    if verdict != "unknown" or share == limit:
        return verdict, order, steps, frontier
    verdict, order, more, frontier = _best_first(model, lay, limit - steps, tried)
    return verdict, order, steps + more, frontier


_DFS_STEPS_PER_OP = 20
_DFS_STEPS_BASE = 1000


class _Layout:
    """One sub-history laid out for the searches.

    Events are sorted by time, calls before returns at equal times (touching intervals
    overlap). Completed ops are numbered ``k`` in call order; the completed ops placed in a
    configuration are ``(lo, bits)``: all ops before ``lo`` are placed, bit ``j`` of
    ``bits`` says whether ``lo + j`` is (small ints even for long histories). Pending ops
    are numbered ``j`` in call order (bit ``j`` of a pending set) and grouped into classes
    of interchangeable ops (``Model.pending_class``), each placed in call order only.
    """

    def __init__(
        self,
        model: Model,
        step_ops: list[Operation],
        inv: list[int],
        resp: list[int | None],
        watch: int,
    ) -> None:
        n = len(step_ops)
        events = [(inv[i], 0, i) for i in range(n)]
        events += [(r, 1, i) for i, r in enumerate(resp) if r is not None]
        events.sort()
        call_pos = [0] * n
        ret_pos = [-1] * n
        for p, (_, kind, i) in enumerate(events):
            if kind:
                ret_pos[i] = p
            else:
                call_pos[i] = p
        self.events = events
        self.end = len(events)
        comp = sorted((i for i in range(n) if resp[i] is not None), key=call_pos.__getitem__)
        self.comp = comp
        self.c_call = [call_pos[i] for i in comp]
        self.c_ret = [ret_pos[i] for i in comp]
        self.c_ops = [step_ops[i] for i in comp]
        self.k_of = {i: k for k, i in enumerate(comp)}
        self.c_watch = self.k_of.get(watch, -1)
        pend = sorted((i for i in range(n) if resp[i] is None), key=call_pos.__getitem__)
        self.pend = pend
        self.p_call = [call_pos[i] for i in pend]
        self.p_ops = [step_ops[i] for i in pend]
        pending_class = getattr(model, "pending_class", None)
        by_class: dict[Any, list[int]] = {}
        classes: list[list[int]] = []
        for j, i in enumerate(pend):
            cls = pending_class(step_ops[i]) if pending_class is not None else None
            if cls is None:
                classes.append([j])
            elif cls in by_class:
                by_class[cls].append(j)
            else:
                by_class[cls] = members = [j]
                classes.append(members)
        self.classes = classes
        self.class_mask = [sum(1 << j for j in members) for members in classes]


def _fresh(memo: dict[tuple[Any, ...], list[int]], key: tuple[Any, ...], pending: int) -> bool:
    """Record a configuration; False if one with the same key and a subset of its pending
    ops is already recorded (it can do everything this one can)."""
    try:
        group = memo.get(key)
    except TypeError:
        raise TypeError(f"model states must be hashable, got {key[-1]!r}") from None
    if group is None:
        memo[key] = [pending]
        return True
    for other in group:
        if not other & ~pending:
            return False
    group.append(pending)
    return True


def _depth_first(
    model: Model, lay: _Layout, limit: int, tried: dict[Any, None] | None
) -> tuple[str, list[int] | None, int, int]:
    """Porcupine's walk: depth-first over a doubly linked list of the completed ops' call
    and return events, lifting an op's events out when it is placed and putting them back
    (dancing links) when the search backtracks. Pending ops are tried after the completed
    ones, one per class."""
    n_comp = len(lay.comp)
    if not n_comp:
        return "ok", [], 0, -1
    events, end, c_ops, c_watch = lay.events, lay.end, lay.c_ops, lay.c_watch
    classes, p_call, p_ops, pend = lay.classes, lay.p_call, lay.p_ops, lay.pend
    n_classes = len(classes)
    k_of = lay.k_of
    head_node = end
    nxt = [-1] * (end + 1)
    prv = [-1] * (end + 1)
    k_at = [-1] * end  # completed op k of a call event
    match = [-1] * end  # return event of a call event
    ret_at: dict[int, int] = {}
    tail = head_node
    for p in range(end - 1, -1, -1):
        _, kind, i = events[p]
        if i in k_of and kind:
            ret_at[i] = p
    for p, (_, kind, i) in enumerate(events):
        k = k_of.get(i)
        if k is None:
            continue
        if not kind:
            k_at[p] = k
            match[p] = ret_at[i]
        nxt[tail] = p
        prv[p] = tail
        tail = p

    step = model.step
    memo: dict[tuple[Any, ...], list[int]] = {}
    # (0, call event, op, state, lo, bits, barrier) or (1, class, op, state, lo, bits, barrier)
    stack: list[tuple[int, int, int, Any, int, int, int]] = []
    class_head = [0] * n_classes
    state = model.init()
    lo = bits = pset = 0
    remaining = n_comp
    steps = 0
    frontier = -1
    barrier = end
    in_main = True
    entry = nxt[head_node]
    ci = 0
    while remaining:
        if steps >= limit:
            return "unknown", None, steps, -1
        if in_main:
            steps += 1
            k = k_at[entry] if entry != -1 else -1
            if k != -1:  # a call: try to place that op now
                if k == c_watch:
                    tried[state] = None  # type: ignore[index]
                ok, new_state = step(state, c_ops[k])
                if ok:
                    new_bits = bits | (1 << (k - lo))
                    new_lo = lo
                    if k == lo:
                        while new_bits & 1:
                            new_bits >>= 1
                            new_lo += 1
                    if _fresh(memo, (new_lo, new_bits, new_state), pset):
                        stack.append((0, entry, lay.comp[k], state, lo, bits, barrier))
                        state, lo, bits = new_state, new_lo, new_bits
                        for node in (entry, match[entry]):
                            p, q = prv[node], nxt[node]
                            nxt[p] = q
                            if q != -1:
                                prv[q] = p
                        remaining -= 1
                        entry = nxt[head_node]
                        continue
                entry = nxt[entry]
                continue
            # The first return event of an unplaced op: only calls before it are enabled.
            barrier = end if entry == -1 else entry
            if barrier > frontier:
                frontier = barrier
            in_main = False
            ci = 0
            continue
        if ci < n_classes:
            members = classes[ci]
            h = class_head[ci]
            if h < len(members) and p_call[members[h]] < barrier:
                steps += 1
                j = members[h]
                ok, new_state = step(state, p_ops[j])
                if ok and _fresh(memo, (lo, bits, new_state), pset | (1 << j)):
                    stack.append((1, ci, pend[j], state, lo, bits, barrier))
                    state = new_state
                    pset |= 1 << j
                    class_head[ci] = h + 1
                    in_main = True
                    entry = nxt[head_node]
                    continue
            ci += 1
            continue
        # Nothing left to try here: undo the last placement and try what comes after it.
        steps += 1
        if not stack:
            return "violation", None, steps, events[frontier][2]
        kind, ref, _, state, lo, bits, barrier = stack.pop()
        if kind == 0:
            for node in (match[ref], ref):  # reverse order of removal
                p, q = prv[node], nxt[node]
                nxt[p] = node
                if q != -1:
                    prv[q] = node
            remaining += 1
            in_main = True
            entry = nxt[ref]
        else:
            class_head[ref] -= 1
            pset ^= 1 << classes[ref][class_head[ref]]
            ci = ref + 1
    return "ok", [entry[2] for entry in stack], steps, -1


def _best_first(
    model: Model, lay: _Layout, limit: int, tried: dict[Any, None] | None
) -> tuple[str, list[int] | None, int, int]:
    """Expand configurations best-first: fewest pending ops placed first, then most
    completed ops placed, then newest. Every configuration with fewer pending ops is then
    expanded before one with more, so the memo's subset check prunes *every* dominated
    configuration -- which keeps histories with many pending ops tractable when the
    answer is "violation" and the whole space has to be covered."""
    n_comp = len(lay.comp)
    if not n_comp:
        return "ok", [], 0, -1
    events, end, c_ops, c_watch = lay.events, lay.end, lay.c_ops, lay.c_watch
    c_call, c_ret, comp = lay.c_call, lay.c_ret, lay.comp
    classes, class_mask, p_call, p_ops, pend = (
        lay.classes, lay.class_mask, lay.p_call, lay.p_ops, lay.pend
    )
    step = model.step
    heappush, heappop = heapq.heappush, heapq.heappop

    # configuration id -> fields
    cfg_lo, cfg_bits, cfg_pend, cfg_state = [0], [0], [0], [model.init()]
    cfg_parent, cfg_op, cfg_depth = [-1], [-1], [0]
    memo: dict[tuple[Any, ...], list[int]] = {}
    _fresh(memo, (0, 0, cfg_state[0]), 0)
    heap: list[tuple[int, int, int]] = [(0, 0, 0)]  # (pending placed, -depth, -id)
    steps = 0
    frontier = -1
    while heap:
        if steps >= limit:
            return "unknown", None, steps, -1
        steps += 1
        n_pend, _, cid = heappop(heap)
        cid = -cid
        lo, bits, pset, state = cfg_lo[cid], cfg_bits[cid], cfg_pend[cid], cfg_state[cid]
        if n_pend and any(
            other != pset and not other & ~pset for other in memo[(lo, bits, state)]
        ):
            continue  # dominated by a configuration found after this one was queued
        # The barrier: first return event of an unplaced completed op.
        barrier = end
        candidates = []
        k = lo
        while k < n_comp and c_call[k] < barrier:
            if not (bits >> (k - lo)) & 1:
                candidates.append(k)
                if c_ret[k] < barrier:
                    barrier = c_ret[k]
            k += 1
        if barrier > frontier:
            frontier = barrier
        children = []
        for k in candidates:
            if c_call[k] > barrier:
                break
            if steps >= limit:
                return "unknown", None, steps, -1
            steps += 1
            if k == c_watch:
                tried[state] = None  # type: ignore[index]
            ok, new_state = step(state, c_ops[k])
            if ok:
                new_bits = bits | (1 << (k - lo))
                new_lo = lo
                if k == lo:
                    while new_bits & 1:
                        new_bits >>= 1
                        new_lo += 1
                children.append((new_lo, new_bits, pset, new_state, comp[k]))
        for c, members in enumerate(classes):
            h = (pset & class_mask[c]).bit_count()
            if h == len(members) or p_call[members[h]] > barrier:
                continue
            if steps >= limit:
                return "unknown", None, steps, -1
            steps += 1
            j = members[h]
            ok, new_state = step(state, p_ops[j])
            if ok:
                children.append((lo, bits, pset | (1 << j), new_state, pend[j]))
        for new_lo, new_bits, new_pset, new_state, op in children:
            if not _fresh(memo, (new_lo, new_bits, new_state), new_pset):
                continue
            new_id = len(cfg_lo)
            cfg_lo.append(new_lo)
            cfg_bits.append(new_bits)
            cfg_pend.append(new_pset)
            cfg_state.append(new_state)
            cfg_parent.append(cid)
            cfg_op.append(op)
            if new_lo == n_comp:  # every completed op placed: a witness
                order = []
                while new_id > 0:
                    order.append(cfg_op[new_id])
                    new_id = cfg_parent[new_id]
                return "ok", order[::-1], steps, -1
            depth = cfg_depth[cid] + (new_pset == pset)
            cfg_depth.append(depth)
            heappush(heap, (n_pend + (new_pset != pset), -depth, -new_id))
    return "violation", None, steps, events[frontier][2]


def _prefix(sub: _Sub, x: int) -> tuple[list[int], list[int | None], list[Operation]]:
    """The history up to ``x``'s response: indices, response times, ops to step with.

    Ops invoked later are left out (calls sort before returns at equal times); ops whose
    return event comes later (by ``(respond, index)``) become pending.
    """
    cut_time = sub.resp[x]
    assert cut_time is not None
    cut = (cut_time, x)
    idx: list[int] = []
    resp: list[int | None] = []
    step_ops: list[Operation] = []
    for j, op in enumerate(sub.ops):
        if sub.inv[j] > cut_time:
            continue
        r = sub.resp[j]
        idx.append(j)
        if r is not None and (r, j) <= cut:
            resp.append(r)
            step_ops.append(sub.step_ops[j])
        else:
            resp.append(None)
            step_ops.append(_as_pending(op))
    return idx, resp, step_ops


class _Probe:
    """``model``, except that ``probe`` is legal only in ``target`` (and then acts as the
    pending op it is)."""

    def __init__(self, model: Model, probe: Operation, target: Any) -> None:
        self.model, self.probe, self.target = model, probe, target

    def init(self) -> Any:
        return self.model.init()

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        if op is self.probe and state != self.target:
            return False, state
        return self.model.step(state, op)

    def describe(self, op: Operation) -> str:
        return self.model.describe(op)

    def pending_class(self, op: Operation) -> Hashable | None:
        inner = getattr(self.model, "pending_class", None)
        return None if inner is None or op is self.probe else inner(op)


def _diagnose(
    model: Model, key: str, sub: _Sub, frontier: int, limit: int
) -> tuple[Operation, str, int]:
    """Find the culprit of a non-linearizable sub-history and explain it.

    The culprit is the op of the earliest return event whose history prefix is not
    linearizable. The full search's frontier is a lower bound (every earlier prefix was
    passed), and usually the answer: check it first, then binary-search the rest
    (linearizability is prefix-closed, so failure is monotone along the return events).
    """
    returns = sorted((r, j) for j, r in enumerate(sub.resp) if r is not None)
    steps = 0
    tried: dict[Any, None] = {}
    tried_for = -1  # return index whose prefix `tried` was collected on

    def fails(k: int) -> bool | None:
        nonlocal steps, tried, tried_for
        x = returns[k][1]
        idx, resp, step_ops = _prefix(sub, x)
        seen: dict[Any, None] = {}
        verdict, _, used, _ = _search(
            model, step_ops, [sub.inv[j] for j in idx], resp, limit - steps,
            watch=idx.index(x), tried=seen,
        )
        steps += used
        if verdict == "unknown":
            return None
        if verdict == "violation":
            tried, tried_for = seen, k
        return verdict == "violation"

    lo = start = next(k for k, (_, j) in enumerate(returns) if j == frontier)
    hi = len(returns) - 1  # the whole history fails, hence so does the prefix at the last return
    exhausted = False
    if lo < hi:
        first = fails(lo)
        if first is None:
            exhausted = True
        elif first:
            hi = lo
        else:
            lo += 1
    while not exhausted and lo < hi:
        mid = (lo + hi) // 2
        result = fails(mid)
        if result is None:
            exhausted = True
        elif result:
            hi = mid
        else:
            lo = mid + 1
    if not exhausted and tried_for != hi and fails(hi) is None:
        exhausted = True

    if exhausted and lo == start:
        # Not even the frontier's prefix could be decided. Blame the frontier op, for
        # what the whole-history search did prove about it.
        culprit = sub.ops[frontier]
        return culprit, (
            f"{model.describe(culprit)}: no order consistent with real time and with the "
            f"answers in the whole history can place every operation on {key} answered by "
            f"t={culprit.respond} (the step budget ran out before the history up to this "
            f"answer alone was checked, so a later answer may be the first real conflict)"
        ), steps
    x = returns[hi][1]
    culprit = sub.ops[x]
    states: list[Any] | None = None
    unresolved: list[Any] = []
    if not exhausted:
        # The states it was tried in are the candidates. Drop those where its actual answer
        # was legal and led where the answer-less op would: there, the prefix would have
        # been linearizable. Then probe each: with its answer unknown, can it take effect
        # in that state and the rest still be ordered?
        probe = dataclasses.replace(culprit, output=PENDING)
        candidates = []
        for target in tried:
            legal, after = model.step(target, culprit)
            if not (legal and model.step(target, probe) == (True, after)):
                candidates.append(target)
        if len(candidates) <= _MAX_PROBES:
            states, unresolved = [], []
            idx, resp, step_ops = _prefix(sub, x)
            step_ops[idx.index(x)] = probe
            inv = [sub.inv[j] for j in idx]
            budget = min(limit - steps, _EXPLAIN_STEPS)
            for n_left, target in zip(range(len(candidates), 0, -1), _sorted_states(candidates)):
                model_at = _Probe(model, probe, target)
                verdict, _, used, _ = _search(model_at, step_ops, inv, resp, budget // n_left)
                budget -= used
                steps += used
                if verdict == "ok":
                    states.append(target)
                elif verdict == "unknown":
                    unresolved.append(target)

    text = model.describe(culprit)
    scope = (
        f"the {sum(1 for o in sub.ops if o.invoke <= culprit.respond)} operation(s) on {key} "
        f"up to t={culprit.respond} cannot be linearized with this answer"
    )
    describe_state = getattr(model, "describe_state", None)

    def show(found: list[Any]) -> list[str]:
        return [describe_state(key, s) if describe_state else repr(s) for s in found]

    if states is None:
        text += f", but {scope}"
    elif states or unresolved:
        shown = show(states[:_SHOW])
        if len(states) > _SHOW:
            shown.append(f"{len(states) - _SHOW} more states")
        if unresolved:
            shown.append(f"possibly {' or '.join(show(unresolved[:_SHOW]))}")
            if len(unresolved) > _SHOW:
                shown[-1] += f" or {len(unresolved) - _SHOW} more states"
        text += (
            ", but every order consistent with real time leaves "
            f"{' or '.join(shown)} where it could take effect ({scope})"
        )
    else:
        text += (
            ", but no order consistent with real time has a place where it can take effect "
            f"({scope})"
        )
    if lo < hi:
        text += (
            f"; the step budget ran out while narrowing down, so an operation answered "
            f"between t={returns[lo][0]} and t={culprit.respond} may be the first to fail"
        )
    return culprit, text, steps


def _sorted_states(states: list[Any]) -> list[Any]:
    try:
        return sorted(states)
    except TypeError:
        return sorted(states, key=repr)


_MAX_PROBES = 16  # explain with concrete states only if the culprit met at most this many
_EXPLAIN_STEPS = 200_000  # cap on the (cosmetic) probing of states for explanations
_SHOW = 5


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def check_linearizable(
    history: Sequence[Operation],
    model: Model = RegisterModel(),
    *,
    max_steps: int = 1_000_000,
) -> CheckResult:
    """Check whether ``history`` is linearizable with respect to ``model``.

    Keys are checked independently in sorted order; the first key that fails or runs out of
    budget decides the result. See the module docstring for the exact rules (real-time
    ties, pending operations, budget, culprit).
    """
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 0:
        raise ValueError(f"max_steps must be a non-negative int, got {max_steps!r}")
    history = list(history)
    _validate(history, model)

    by_key: dict[str, list[Operation]] = {}
    for op in history:
        by_key.setdefault(op.key, []).append(op)

    steps = 0
    witness: list[Operation] = []
    for key in sorted(by_key):
        sub = _Sub(_canonical(by_key[key]))
        verdict, order, used, frontier = _search(
            model, sub.step_ops, sub.inv, sub.resp, max_steps - steps
        )
        steps += used
        if verdict == "unknown":
            return CheckResult(
                "unknown",
                key,
                None,
                f"gave up after {steps} search steps (max_steps={max_steps}) while checking "
                f"the {len(sub.ops)} operation(s) on {key}; linearizability is undecided "
                f"(this is NOT a pass: raise max_steps or check a shorter history)",
                None,
                steps,
            )
        if verdict == "violation":
            culprit, explanation, used = _diagnose(model, key, sub, frontier, max_steps - steps)
            steps += used
            return CheckResult("violation", key, culprit, explanation, None, steps)
        assert order is not None
        witness.extend(sub.ops[i] for i in order)

    n_keys = len(by_key)
    return CheckResult(
        "ok",
        None,
        None,
        f"all {len(history)} operation(s) on {n_keys} key(s) can be ordered consistently "
        f"with real time and {type(model).__name__} ({steps} search steps)",
        tuple(witness),
        steps,
    )
