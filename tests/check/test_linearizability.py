"""The linearizability checker: hand-made classics, the budget, and generated histories.

Generated histories are cross-checked two ways: histories cut from a real sequential run
must pass (and a read mutated to an impossible value must fail, with that read blamed),
and small random histories must get the same verdict and culprit as a brute-force checker
that tries every order -- with either search order forced, and with many timestamp ties.
"""

from __future__ import annotations

import itertools
import random
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from distlab.check import PENDING, CheckResult, Model, Operation, RegisterModel, check_linearizable
from distlab.check import linearizability as lin_module

REG = RegisterModel()
INF = float("inf")


def op(client, kind, inp, out, invoke, respond, key="/x"):
    return Operation(client, kind, key, inp, out, invoke, respond)


def w(client, value, invoke, respond, key="/x", out=None):
    return op(client, "write", value, out, invoke, respond, key)


def r(client, value, invoke, respond, key="/x"):
    return op(client, "read", None, value, invoke, respond, key)


def cas(client, expected, new, ok, invoke, respond, key="/x"):
    return op(client, "cas", (expected, new), ok, invoke, respond, key)


# --- an independent judge ----------------------------------------------------------------


def assert_witness(history, result: CheckResult, model: Model = REG) -> None:
    """The witness of an "ok" result is a legal, real-time-respecting order of every
    completed operation (and some pending ones), key by key."""
    assert result.verdict == "ok", result
    witness = result.linearization
    assert witness is not None
    assert len(set(map(id, witness))) == len(witness)
    for key in {o.key for o in history}:
        ops = [o for o in witness if o.key == key]
        done = [o for o in history if o.key == key and not o.pending]
        assert sorted(map(id, done)) == sorted(id(o) for o in ops if not o.pending)
        assert all(any(o is h for h in history) for o in ops)
        for i, a in enumerate(ops):
            for b in ops[i + 1 :]:
                b_end = INF if b.pending else b.respond
                assert not b_end < a.invoke, f"{b} placed after {a} but finished before it began"
        state = model.init()
        for o in ops:
            legal, state = model.step(state, o if not o.pending else _pend(o))
            assert legal, f"witness step {o} illegal"


def _pend(o):
    return Operation(o.client, o.kind, o.key, o.input, PENDING, o.invoke, o.respond)


def brute_linearizable(ops, model: Model = REG) -> bool:
    """Every subset of pending ops x every order; single key."""
    done = [o for o in ops if not o.pending]
    pend = [o for o in ops if o.pending]
    for k in range(len(pend) + 1):
        for chosen in itertools.combinations(pend, k):
            for order in itertools.permutations(done + list(chosen)):
                if _order_ok(order, model):
                    return True
    return False


def _order_ok(order, model) -> bool:
    for i, a in enumerate(order):
        for b in order[i + 1 :]:
            if not b.pending and b.respond < a.invoke:
                return False
    state = model.init()
    for o in order:
        legal, state = model.step(state, _pend(o) if o.pending else o)
        if not legal:
            return False
    return True


def brute_culprit(ops, model: Model = REG):
    """Earliest response (times are distinct here) whose prefix is not linearizable."""
    for x in sorted((o for o in ops if not o.pending), key=lambda o: o.respond):
        prefix = []
        for o in ops:
            if o.invoke > x.respond:
                continue
            if o.pending or o.respond > x.respond:
                o = _pend(o)
            prefix.append(o)
        if not brute_linearizable(prefix, model):
            return x
    return None


# --- classic hand examples ---------------------------------------------------------------


def test_empty_history_is_ok():
    res = check_linearizable([])
    assert res.verdict == "ok" and res.ok and res.linearization == ()


def test_sequential_history_is_ok_and_witness_is_the_real_order():
    h = [
        w("c1", b"1", 0, 10),
        r("c2", b"1", 20, 30),
        w("c1", b"2", 40, 50),
        r("c2", b"2", 60, 70),
        op("c1", "delete", None, None, 80, 90),
        r("c2", None, 100, 110),
    ]
    res = check_linearizable(h)
    assert res.ok
    assert res.linearization == tuple(h)
    assert_witness(h, res)


def test_sequential_read_of_wrong_value_is_a_violation():
    h = [w("c1", b"1", 0, 10), r("c2", b"2", 20, 30)]
    res = check_linearizable(h)
    assert res.verdict == "violation"
    assert res.culprit == h[1]
    assert res.key == "/x"
    assert res.linearization is None


def test_read_of_absent_key_returns_none():
    assert check_linearizable([r("c1", None, 0, 5)]).ok
    res = check_linearizable([r("c1", b"1", 0, 5)])
    assert res.verdict == "violation"
    assert "None (absent)" in res.explanation


@pytest.mark.parametrize("seen", [None, b"1"])
def test_concurrent_write_and_read_either_order(seen):
    h = [w("c1", b"1", 0, 100), r("c2", seen, 10, 50)]
    res = check_linearizable(h)
    assert res.ok
    assert_witness(h, res)


def test_stale_read_after_completed_write_is_blamed():
    h = [
        w("c1", b"1", 0, 10),
        w("c1", b"2", 20, 30),
        r("c2", b"1", 40, 50),  # b'2' was acknowledged before this read began
        r("c3", b"2", 60, 70),
    ]
    res = check_linearizable(h)
    assert res.verdict == "violation"
    assert res.culprit == h[2]
    assert res.explanation.startswith("read of /x by c2 at [40, 50] returned b'1'")
    assert "every order consistent with real time leaves /x = b'2'" in res.explanation


def test_contradictory_reads_are_a_violation():
    # Two writes overlap everything; c3 sees 1 then 2, c4 sees 2 then 1.
    h = [
        w("c1", b"1", 0, 100),
        w("c2", b"2", 0, 100),
        r("c3", b"1", 10, 20),
        r("c3", b"2", 30, 40),
        r("c4", b"2", 10, 20),
        r("c4", b"1", 50, 60),
    ]
    res = check_linearizable(h)
    assert res.verdict == "violation"
    assert res.culprit == h[5]  # the first answer that no order can accommodate
    # Each client's view alone is fine.
    assert check_linearizable(h[:4]).ok
    assert check_linearizable(h[:2] + h[4:]).ok


def test_new_old_inversion_between_clients():
    # c2 saw the new value, then c3 (starting after c2 finished) saw the old one.
    h = [w("c0", b"0", 0, 5), w("c1", b"1", 10, 100), r("c2", b"1", 20, 30), r("c3", b"0", 40, 50)]
    res = check_linearizable(h)
    assert res.verdict == "violation"
    assert res.culprit == h[3]


@pytest.mark.parametrize("respond, output", [(None, None), (None, PENDING), (15, PENDING)])
def test_pending_write_may_or_may_not_have_happened(respond, output):
    pending = w("c1", b"1", 10, respond, out=output)
    seen = [pending, r("c2", b"1", 20, 30)]
    unseen = [pending, r("c2", None, 20, 30)]
    assert check_linearizable(seen).ok
    assert check_linearizable(unseen).ok
    assert_witness(seen, check_linearizable(seen))
    assert pending in check_linearizable(seen).linearization
    assert pending not in check_linearizable(unseen).linearization
    unseen_then_seen = [pending, r("c2", None, 20, 30), r("c2", b"1", 40, 50)]
    assert check_linearizable(unseen_then_seen).ok
    seen_then_unseen = [pending, r("c2", b"1", 20, 30), r("c2", None, 40, 50)]
    res = check_linearizable(seen_then_unseen)
    assert res.verdict == "violation"
    assert res.culprit == seen_then_unseen[2]


def test_pending_write_cannot_take_effect_before_it_was_invoked():
    h = [r("c2", b"1", 0, 5), w("c1", b"1", 10, None)]
    assert check_linearizable(h).verdict == "violation"


def test_pending_op_with_a_reply_time_may_still_take_effect_later():
    # ConnectionLoss at t=15, yet the write lands after the client moved on.
    h = [w("c1", b"1", 10, 15, out=PENDING), r("c1", None, 20, 25), r("c2", b"1", 30, 40)]
    assert check_linearizable(h).ok


def test_cas_semantics():
    base = [w("c1", b"1", 0, 10)]
    swapped = base + [cas("c2", b"1", b"2", True, 20, 30), r("c3", b"2", 40, 50)]
    assert check_linearizable(swapped).ok
    kept = base + [cas("c2", b"9", b"2", False, 20, 30), r("c3", b"1", 40, 50)]
    assert check_linearizable(kept).ok
    bad_true = base + [cas("c2", b"9", b"2", True, 20, 30)]
    res = check_linearizable(bad_true)
    assert res.verdict == "violation" and res.culprit == bad_true[1]
    assert "leaves /x = b'1'" in res.explanation
    bad_false = base + [cas("c2", b"1", b"2", False, 20, 30)]
    assert check_linearizable(bad_false).verdict == "violation"
    # A failed cas changes nothing.
    unchanged = base + [cas("c2", b"9", b"2", False, 20, 30), r("c3", b"2", 40, 50)]
    assert check_linearizable(unchanged).verdict == "violation"
    # Two concurrent cas from the same expected value: at most one may succeed.
    both = base + [cas("c2", b"1", b"2", True, 20, 30), cas("c3", b"1", b"3", True, 20, 30)]
    assert check_linearizable(both).verdict == "violation"
    one = base + [cas("c2", b"1", b"2", True, 20, 30), cas("c3", b"1", b"3", False, 20, 30)]
    assert check_linearizable(one).ok
    # A pending cas takes effect only if the value matched.
    pend = base + [cas("c2", b"1", b"2", PENDING, 20, None), r("c3", b"2", 40, 50)]
    assert check_linearizable(pend).ok
    pend_mismatch = base + [cas("c2", b"7", b"2", PENDING, 20, None), r("c3", b"2", 40, 50)]
    assert check_linearizable(pend_mismatch).verdict == "violation"


def test_multiple_keys_only_one_fails():
    h = [
        w("c1", b"a", 0, 10, key="/a"),
        r("c2", b"a", 20, 30, key="/a"),
        w("c1", b"b", 40, 50, key="/b"),
        r("c2", None, 60, 70, key="/b"),  # stale: /b was written before
        w("c1", b"c", 80, 90, key="/c"),
        r("c2", b"c", 100, 110, key="/c"),
    ]
    res = check_linearizable(h)
    assert res.verdict == "violation"
    assert res.key == "/b"
    assert res.culprit == h[3]


def test_first_failing_key_in_sorted_order_is_reported():
    h = [r("c1", b"1", 0, 5, key="/z"), r("c2", b"1", 0, 5, key="/m")]
    assert check_linearizable(h).key == "/m"
    assert check_linearizable(list(reversed(h))).key == "/m"


def test_multi_key_witness_covers_every_key():
    h = [
        w("c1", b"1", 0, 10, key="/b"),
        w("c2", b"2", 0, 10, key="/a"),
        r("c1", b"1", 20, 30, key="/b"),
    ]
    res = check_linearizable(h)
    assert_witness(h, res)
    assert [o.key for o in res.linearization] == ["/a", "/b", "/b"]


def test_touching_intervals_count_as_concurrent():
    # respond == invoke: overlapping (porcupine orders calls before returns at equal times).
    assert check_linearizable([w("c1", b"1", 0, 10), r("c2", None, 10, 20)]).ok
    assert check_linearizable([w("c1", b"1", 0, 10), r("c2", None, 11, 20)]).verdict == "violation"
    # Same client touching at one millisecond is allowed and likewise concurrent.
    assert check_linearizable([w("c1", b"1", 0, 10), r("c1", None, 10, 20)]).ok


def test_deterministic_and_order_independent():
    h = [
        w("c1", b"1", 0, 100),
        w("c2", b"2", 0, 100),
        r("c3", b"1", 10, 20),
        r("c3", b"2", 30, 40),
        r("c4", b"2", 10, 20),
        r("c4", b"1", 50, 60),
    ]
    first = check_linearizable(h)
    assert all(check_linearizable(h) == first for _ in range(3))
    assert check_linearizable(list(reversed(h))).culprit == first.culprit


# --- validation --------------------------------------------------------------------------


def test_respond_before_invoke_is_rejected():
    with pytest.raises(ValueError, match="responds before it is invoked"):
        check_linearizable([r("c1", None, 10, 5)])


def test_overlapping_ops_of_one_client_are_rejected():
    with pytest.raises(ValueError, match="overlap.*'c1'|'c1'.*overlap"):
        check_linearizable([w("c1", b"1", 0, 10), r("c1", None, 5, 15, key="/y")])


def test_op_after_an_unanswered_op_of_the_same_client_is_rejected():
    with pytest.raises(ValueError, match="still outstanding"):
        check_linearizable([w("c1", b"1", 0, None), r("c1", None, 5, 15)])


def test_unknown_kind_is_rejected_naming_the_op():
    with pytest.raises(ValueError, match="'append'.*client='c1'"):
        check_linearizable([op("c1", "append", b"1", None, 0, 5)])


def test_bad_cas_shape_and_budget_argument_are_rejected():
    with pytest.raises(ValueError, match="pair"):
        check_linearizable([op("c1", "cas", b"1", True, 0, 5)])
    with pytest.raises(ValueError, match="max_steps"):
        check_linearizable([], max_steps=-1)


# --- custom model ------------------------------------------------------------------------


class CounterModel:
    """An increment-only counter: ``incr`` returns the new value; ``get`` reads it."""

    kinds = ("incr", "get")

    def init(self):
        return 0

    def step(self, state, o):
        if o.kind == "incr":
            return (o.output is PENDING or o.output == state + 1), state + 1
        return (o.output is PENDING or o.output == state), state

    def describe(self, o):
        return f"{o.kind} by {o.client} -> {o.output!r}"


def test_custom_model_through_the_protocol():
    model = CounterModel()
    assert isinstance(model, Model)
    h = [
        op("a", "incr", None, 1, 0, 10, key="n"),
        op("b", "incr", None, 2, 5, 15, key="n"),
        op("c", "get", None, 2, 20, 30, key="n"),
    ]
    assert check_linearizable(h, model).ok
    bad = h[:2] + [op("c", "get", None, 1, 20, 30, key="n")]
    res = check_linearizable(bad, model)
    assert res.verdict == "violation" and res.culprit == bad[2]
    assert "get by c -> 1" in res.explanation
    with pytest.raises(ValueError, match="'decr'"):
        check_linearizable([op("a", "decr", None, 0, 0, 1, key="n")], model)


def test_custom_model_with_pending_ops_and_no_pending_class():
    model = CounterModel()
    incr = [op(c, "incr", None, PENDING, 0, None, key="n") for c in ("a", "b")]
    assert check_linearizable(incr + [op("c", "get", None, 1, 10, 20, key="n")], model).ok
    assert check_linearizable(incr + [op("c", "get", None, 2, 10, 20, key="n")], model).ok
    res = check_linearizable(incr + [op("c", "get", None, 3, 10, 20, key="n")], model)
    assert res.verdict == "violation"
    assert "leaves 0 or 1 or 2 where it could take effect" in res.explanation


# --- the budget --------------------------------------------------------------------------


def hard_history(n: int, final_read):
    """n concurrent writes of distinct values, then a read: refuting a bad read means
    visiting every (subset, last value) pair."""
    h = [w(f"w{i}", i, 0, 100) for i in range(n)]
    return h + [r("reader", final_read, 200, 210)]


@pytest.mark.parametrize("final_read, truth", [(3, "ok"), (-1, "violation")])
def test_tiny_budget_is_unknown_never_ok(final_read, truth):
    h = hard_history(9, final_read)
    for budget in (0, 1, 2, 5, 10, 50):
        res = check_linearizable(h, max_steps=budget)
        assert res.verdict == "unknown", (budget, res)
        assert not res.ok and res.key == "/x" and res.linearization is None
        assert "NOT a pass" in res.explanation
        assert res.steps <= budget
    full = check_linearizable(h)
    assert full.verdict == truth
    budgets = range(0, full.steps + 1, max(1, full.steps // 25))
    verdicts = {check_linearizable(h, max_steps=b).verdict for b in budgets}
    assert verdicts <= {"unknown", truth}
    assert check_linearizable(h, max_steps=full.steps).verdict == truth


def test_hard_violation_blames_the_read_and_lists_possible_values():
    h = hard_history(9, -1)
    res = check_linearizable(h)
    assert res.verdict == "violation" and res.culprit == h[-1]
    assert "/x = 0" in res.explanation and "more states" in res.explanation


def test_every_budget_gives_the_truth_or_unknown_and_violations_name_a_culprit():
    h = hard_history(6, -1)
    full = check_linearizable(h)
    cut_short = 0
    for budget in range(0, full.steps + 2, max(1, full.steps // 20)):
        res = check_linearizable(h, max_steps=budget)
        assert res.verdict in ("unknown", "violation")
        assert res.steps <= budget
        if res.verdict == "violation":
            assert res.culprit == h[-1]
            cut_short += "budget ran out" in res.explanation
    assert cut_short  # proven violation, diagnosis cut short: still a violation


def test_unresolved_states_are_marked_possibly():
    h = [w("c1", b"1", 0, 10), w("c2", b"2", 0, 10), r("c3", b"3", 20, 30)]
    assert "leaves /x = b'1' or /x = b'2'" in check_linearizable(h).explanation
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lin_module, "_EXPLAIN_STEPS", 0)
        res = check_linearizable(h)
    assert res.verdict == "violation" and res.culprit == h[2]
    assert "possibly /x = b'1' or /x = b'2'" in res.explanation


def test_budget_spent_across_keys():
    easy = [w("c1", b"1", 0, 10, key="/a"), r("c2", b"1", 20, 30, key="/a")]
    h = easy + [Operation(o.client, o.kind, "/b", o.input, o.output, o.invoke, o.respond)
                for o in hard_history(8, 3)]
    res = check_linearizable(h)
    assert res.ok
    short = check_linearizable(h, max_steps=res.steps - 1)
    assert short.verdict == "unknown" and short.key == "/b"


# --- generated histories -----------------------------------------------------------------

VALUES = (b"1", b"2", b"3")


@st.composite
def real_histories(draw):
    """A history cut from a real sequential run on two keys: each op's window is drawn
    around its true linearization point; some answers are lost (PENDING / never)."""
    n = draw(st.integers(1, 24))
    state: dict[str, object] = {}
    timeline = []  # (op fields..., lin point, pending mode)
    for i in range(n):
        key = draw(st.sampled_from(("/a", "/b")))
        kind = draw(st.sampled_from(("read", "write", "cas", "delete")))
        cur = state.get(key)
        if kind == "read":
            inp, out = None, cur
        elif kind == "write":
            inp, out = draw(st.sampled_from(VALUES)), None
            state[key] = inp
        elif kind == "delete":
            inp, out = None, None
            state[key] = None
        else:
            expected = draw(st.sampled_from((None,) + VALUES))
            new = draw(st.sampled_from(VALUES))
            inp, out = (expected, new), cur == expected
            if out:
                state[key] = new
        point = 10 * i + 5
        invoke = point - draw(st.integers(0, 40))
        respond = point + draw(st.integers(0, 40))
        lost = draw(st.sampled_from(("no", "no", "no", "pending", "never")))
        timeline.append((key, kind, inp, out, invoke, respond, lost))
    # Writes that were attempted but never took effect: their answers must be lost.
    for _ in range(draw(st.integers(0, 3))):
        invoke = draw(st.integers(0, 10 * n))
        lost = draw(st.sampled_from(("pending", "never")))
        key = draw(st.sampled_from(("/a", "/b")))
        value = draw(st.sampled_from(VALUES))
        timeline.append((key, "write", value, None, invoke, invoke + 3, lost))
    timeline.sort(key=lambda t: t[4])
    busy_until: list[float] = []  # per client
    history = []
    for key, kind, inp, out, invoke, respond, lost in timeline:
        if lost == "never":
            out, respond = PENDING, None
        elif lost == "pending":
            out = PENDING
        client = next((c for c, end in enumerate(busy_until) if end <= invoke), None)
        if client is None:
            client = len(busy_until)
            busy_until.append(0)
        busy_until[client] = INF if respond is None else respond
        history.append(Operation(f"c{client}", kind, key, inp, out, invoke, respond))
    return history


_FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FAST
@given(real_histories())
def test_histories_from_a_real_run_are_linearizable(history):
    res = check_linearizable(history)
    assert res.ok, res.explanation
    assert_witness(history, res)


@_FAST
@given(real_histories(), st.data())
def test_a_read_of_a_value_never_written_is_caught(history, data):
    reads = [i for i, o in enumerate(history) if o.kind == "read" and not o.pending]
    assume(reads)
    i = data.draw(st.sampled_from(reads))
    o = history[i]
    bad = Operation(o.client, o.kind, o.key, o.input, b"never written", o.invoke, o.respond)
    mutated = history[:i] + [bad] + history[i + 1 :]
    res = check_linearizable(mutated)
    assert res.verdict == "violation"
    assert res.key == o.key
    assert res.culprit is bad
    assert "returned b'never written'" in res.explanation


@st.composite
def small_random_histories(draw):
    """Up to 6 ops on one key with distinct event times; anything goes (often wrong)."""
    n = draw(st.integers(1, 6))
    times = draw(st.permutations(range(2 * n)))
    ops = []
    for i in range(n):
        a, b = sorted(times[2 * i : 2 * i + 2])
        kind = draw(st.sampled_from(("read", "write", "cas")))
        if kind == "read":
            inp, out = None, draw(st.sampled_from((None, b"1", b"2")))
        elif kind == "write":
            inp, out = draw(st.sampled_from((b"1", b"2"))), None
        else:
            inp = (draw(st.sampled_from((None, b"1", b"2"))), draw(st.sampled_from((b"1", b"2"))))
            out = draw(st.booleans())
        lost = draw(st.sampled_from(("no", "no", "pending", "never")))
        if lost == "pending":
            out = PENDING
        elif lost == "never":
            out, b = PENDING, None
        ops.append(Operation(f"c{i}", kind, "/x", inp, out, a, b))
    return ops


@settings(max_examples=300, deadline=None)
@given(small_random_histories())
def test_agrees_with_brute_force(history):
    res = check_linearizable(history)
    truth = brute_linearizable(history)
    assert res.verdict == ("ok" if truth else "violation"), res
    if truth:
        assert_witness(history, res)
    else:
        assert res.culprit is brute_culprit(history)


@contextmanager
def only(engine):
    """Force one of the two search orders (both must be exact on their own)."""
    with pytest.MonkeyPatch.context() as mp:
        if engine == "best-first":
            mp.setattr(lin_module, "_DFS_STEPS_PER_OP", 0)
            mp.setattr(lin_module, "_DFS_STEPS_BASE", 0)
        else:
            mp.setattr(lin_module, "_DFS_STEPS_PER_OP", 10**9)
        yield


@pytest.mark.parametrize("engine", ["depth-first", "best-first"])
@settings(max_examples=150, deadline=None)
@given(history=small_random_histories())
def test_each_search_order_agrees_with_brute_force(engine, history):
    with only(engine):
        res = check_linearizable(history)
    truth = brute_linearizable(history)
    assert res.verdict == ("ok" if truth else "violation"), res
    if truth:
        assert_witness(history, res)
    else:
        assert res.culprit is brute_culprit(history)


@st.composite
def tied_histories(draw):
    """Like small_random_histories, but times come from a tiny range: many ties."""
    n = draw(st.integers(1, 6))
    ops = []
    for i in range(n):
        a = draw(st.integers(0, 3))
        b = a + draw(st.integers(0, 2))
        kind = draw(st.sampled_from(("read", "write")))
        if kind == "read":
            inp, out = None, draw(st.sampled_from((None, b"1", b"2")))
        else:
            inp, out = draw(st.sampled_from((b"1", b"2"))), None
        if draw(st.integers(0, 4)) == 0:
            out = PENDING
        ops.append(Operation(f"c{i}", kind, "/x", inp, out, a, b))
    return ops


@settings(max_examples=200, deadline=None)
@given(tied_histories())
def test_ties_follow_the_documented_rule(history):
    # brute force uses exactly "a precedes b iff a.respond < b.invoke"
    assert check_linearizable(history).ok == brute_linearizable(history)


def _lossy_run(n, seed, lost=0.05):
    """A deterministic register run on one key with ~8 clients; some answers are lost."""
    rnd = random.Random(seed)
    value, timeline = None, []
    for i in range(n):
        kind = rnd.choice(["read", "read", "write", "cas"])
        if kind == "read":
            inp, out = None, value
        elif kind == "write":
            inp, out = rnd.randrange(5), None
            value = inp
        else:
            inp = (rnd.choice([None, 0, 1, 2, 3, 4]), rnd.randrange(5))
            out = value == inp[0]
            if out:
                value = inp[1]
        point = 10 * i + 5
        invoke, respond = point - rnd.randint(0, 40), point + rnd.randint(0, 40)
        timeline.append((kind, inp, PENDING if rnd.random() < lost else out, invoke, respond))
    timeline.sort(key=lambda t: t[3])
    busy, history = [], []
    for kind, inp, out, invoke, respond in timeline:
        c = next((c for c, end in enumerate(busy) if end <= invoke), None)
        if c is None:
            c = len(busy)
            busy.append(0)
        busy[c] = respond
        history.append(Operation(f"c{c}", kind, "/x", inp, out, invoke, respond))
    return history


def test_lost_answers_do_not_blow_up_the_search():
    history = _lossy_run(400, seed=7)
    assert check_linearizable(history).ok
    i = max(i for i, o in enumerate(history[:200]) if o.kind == "read" and not o.pending)
    o = history[i]
    bad = Operation(o.client, o.kind, o.key, o.input, 99, o.invoke, o.respond)
    res = check_linearizable(history[:i] + [bad] + history[i + 1 :])
    assert res.verdict == "violation" and res.culprit is bad
    assert res.steps < 300_000
