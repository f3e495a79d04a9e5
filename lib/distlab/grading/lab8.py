"""Lab 8 — RPC (远程过程调用), service discovery (服务发现) and load balancing (负载均衡).

Five seams of :mod:`distlab.rpc`, each checked twice: first against the reference on cases
drawn from the seed (the docstring tables always included), then *inside the simulator*,
plugged into the real processes through ``RpcImpl``:

- ``decode_frame`` — a provider decodes with it while a client sends good and corrupted frames;
- ``settle`` — a consumer settles replies with it on a slow network where attempts time out
  and late replies arrive after newer calls were sent;
- ``on_registry_event`` — a consumer watches a simulated ZooKeeper ensemble with it while
  providers crash, join, restart, and its own session expires;
- ``smooth_round_robin`` — a consumer balances with it while providers leave and one crashes
  (its calls fail over);
- ``admit`` — a provider suppresses duplicates with it while two consumers retry deposits over
  a lossy, duplicating, reordering network.
"""

from __future__ import annotations

import random
import struct
from typing import Any, Callable

from distlab.grading.parts import Outcome, Part, register, FATAL_KINDS
from distlab.rpc.balance import smooth_round_robin
from distlab.rpc.codec import (
    HEADER_SIZE,
    MAGIC,
    MAX_BODY,
    REASONS,
    FrameError,
    decode_frame,
    encode_frame,
    request_frame,
)
from distlab.rpc.dedup import admit, remember_reply, table_size
from distlab.rpc.proxy import ServiceProxy, settle
from distlab.rpc.services import Bank, public_methods
from distlab.rpc.registry import StaticRegistry, ZkRegistry, on_registry_event, provider_node
from distlab.rpc.transport import Consumer, Provider, ProvidersChanged, RetryPolicy, RpcImpl
from distlab.sansio import Deliver, Effects, Start, Timer, UsageError
from distlab.sim import Fixed, LinkConfig, Uniform, World
from distlab.sim.world import ProcessError

__all__ = ["Bad", "learner_call", "translate", "run_until", "named"]



# ====================================================================== shared helpers ======
class Bad(Exception):
    """An answer of the learner's code the grader cannot use; the message is the verdict."""


def learner_call(fn: Callable, *args: Any) -> tuple[Any, tuple[str, str] | None]:
    """Call the learner's ``fn``: ``(value, None)``, or ``(None, (exception type, text))``.

    Works the same in a notebook (real exceptions) and in the grader (``LearnerError`` from
    the sandbox, whose ``kind`` is the exception's type name). A stub, a timeout or a dead
    worker is re-raised for the runner to report.
    """
    from distlab.grading.sandbox import LearnerError

    try:
        return fn(*args), None
    except LearnerError as error:
        if error.kind in FATAL_KINDS:
            raise
        text = error.message
        prefix = f"{error.kind}: "
        return None, (error.kind, text[len(prefix):] if text.startswith(prefix) else text)
    except NotImplementedError:
        raise
    except RecursionError:
        raise
    except Exception as error:  # noqa: BLE001 - the learner's exception is the answer
        return None, (type(error).__name__, str(error))


def named(check: Callable[[Any, int], Outcome], term: str, concept: str) -> Callable[[Any, int], Outcome]:
    """``check``, whose failures always name the concept they break (a table row's too).

    The runs in the simulator name it already; a failed table row says only what was expected,
    so ``concept`` (which contains ``term``, the Chinese word) is added where ``term`` is missing.
    """
    import functools

    @functools.wraps(check)
    def checked(fn: Any, seed: int) -> Outcome:
        outcome = check(fn, seed)
        if outcome.passed is False and term not in outcome.message:
            return Outcome.fail(f"{outcome.message}. {concept}", outcome.excerpt)
        return outcome
    return checked


def _event(event: Any) -> str:
    if isinstance(event, Start):
        return f"Start(incarnation={event.incarnation})"
    if isinstance(event, Deliver):
        msg = event.msg
        return f"a message from {event.src}: {msg[:40]!r}..." if isinstance(msg, bytes) and len(msg) > 40 \
            else f"a message from {event.src}: {msg!r}"
    if isinstance(event, Timer):
        return f"timer {event.name!r}"
    return str(event)


def translate(error: ProcessError) -> Outcome:
    """A process failed in the simulator: a verdict that says where and why."""
    from distlab.grading.sandbox import LearnerError

    cause = error.__cause__
    if isinstance(cause, NotImplementedError):
        raise cause
    if isinstance(cause, LearnerError):
        if cause.kind in FATAL_KINDS:
            raise cause
        return Outcome.fail(f"your code raised {cause.message} while {error.node} handled {_event(error.event)} "
                            f"at t={error.time} ms", cause.detail)
    if isinstance(cause, (Bad, ValueError, UsageError)):
        return Outcome.fail(f"{cause} (in the simulator: node {error.node}, t={error.time} ms)")
    return Outcome.fail(f"{error.node} failed at t={error.time} ms while handling {_event(error.event)}: "
                        f"{type(cause).__name__}: {cause}")


def run_until(world: World, predicate: Callable[[World], bool], max_ms: int) -> bool:
    return world.run_until(predicate, world.now + max_ms)


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal as plain data (tuples and lists alike: a tuple may come back as either)."""
    return _norm(a) == _norm(b)


# ====================================================================== A: decode_frame ======
def _reference_decode(frame: bytes, max_body: int) -> Any:
    try:
        return decode_frame(frame, max_body)
    except FrameError as error:
        return error.reason


def _with(frame: bytes, *, magic: bytes | None = None, version: int | None = None, kind: int | None = None,
          request_id: int | None = None, length: int | None = None) -> bytes:
    m, v, k, i, n = struct.unpack_from(">2sBBQI", frame)
    header = struct.pack(">2sBBQI", magic if magic is not None else m, v if version is None else version,
                         k if kind is None else kind, i if request_id is None else request_id,
                         n if length is None else length)
    return header + frame[HEADER_SIZE:]


def _header(length: int, kind: int = 1, request_id: int = 1) -> bytes:
    return struct.pack(">2sBBQI", MAGIC, 1, kind, request_id, length)


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(7 if depth < 2 else 4)
    if choice == 0:
        return rng.randint(-10**6, 10**6)
    if choice == 1:
        return rng.choice(["", "add", "正常", "quote\"s", "line\nbreak", "ünïcode"])
    if choice == 2:
        return rng.choice([True, False, None])
    if choice == 3:
        return round(rng.uniform(-100, 100), 3)
    if choice == 4:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {f"k{n}": _random_json(rng, depth + 1) for n in range(rng.randint(0, 3))}


def _frame_cases(seed: int) -> list[tuple[bytes, int, Any, str]]:
    """(frame, max_body, expected dict or reason, what it is) — docstring rows first."""
    rng = random.Random(f"lab8/decode_frame/{seed}")
    cases: list[tuple[bytes, int, Any, str]] = []

    def add(frame: bytes, what: str, max_body: int = MAX_BODY) -> None:
        cases.append((frame, max_body, _reference_decode(frame, max_body), what))

    good = request_frame(7, "calc", "add", [2, 3], acked=7)
    add(good, "a request frame")
    add(encode_frame("response", 2**64 - 1, {"ok": True, "result": None}), "a response with the largest id")
    add(encode_frame("welcome", 0, {"service": "calc", "version": 1, "methods": ["add"]}), "a welcome frame")
    add(good[:3], "3 bytes")
    add(b"", "an empty frame")
    add(good[:HEADER_SIZE - 1], "15 bytes")
    add(b"GET / HTTP/1.1\r\nHost: calc\r\n\r\n", "an HTTP request")
    add(_with(good, version=2), "a frame of version 2")
    add(_with(good, version=0), "a frame of version 0")
    add(_with(good, kind=9), "a frame of kind 9")
    add(_with(good, kind=0), "a frame of kind 0")
    add(_with(good, length=MAX_BODY + 1), "a header announcing MAX_BODY + 1 bytes")
    add(_with(good, length=2**32 - 1), "a header announcing 4 GB")
    add(good[:-1], "a frame one byte short")
    add(good[:HEADER_SIZE], "a header without its body")
    add(good + b"\x00", "a frame with one byte too many")
    add(good + good, "two frames glued together")
    add(_header(6) + b"[1, 2]", "a body that is a JSON array")
    add(_header(4) + b"\xff\xfe\xfd\xfc", "a body that is not UTF-8")
    add(_header(6) + b'{"a": ', "a body that is cut-off JSON")
    add(_header(0), "an empty body")
    add(_header(6) + b'"text"', "a body that is a JSON string")
    add(good, "a request, with max_body 10", max_body=10)
    add(_with(good, magic=b"\xda\xbb", version=9), "Dubbo's magic (and version 9)")
    add(_with(good, version=7, kind=9), "version 7 and kind 9")
    add(_with(good, kind=8, length=10**9), "kind 8 and 1 GB announced")
    add(_with(good, length=10**6) + b"x" * 10, "1 MB announced, 10 bytes too many")
    for n in range(70):
        kind = rng.choice(("request", "response", "hello", "welcome"))
        body = {f"f{i}": _random_json(rng) for i in range(rng.randint(0, 4))}
        frame = encode_frame(kind, rng.choice((0, 1, rng.randrange(2**64))), body)
        mutation = rng.randrange(8)
        max_body = MAX_BODY if rng.random() < 0.8 else rng.randint(1, 200)
        if mutation == 0:
            cut = rng.randrange(len(frame))
            add(frame[:cut], f"a frame cut after {cut} bytes", max_body)
        elif mutation == 1:
            pos = rng.randrange(HEADER_SIZE)
            flipped = bytearray(frame)
            flipped[pos] ^= 1 << rng.randrange(8)
            add(bytes(flipped), f"a frame with a bit flipped in header byte {pos}", max_body)
        elif mutation == 2:
            add(frame + bytes(rng.randrange(256) for _ in range(rng.randint(1, 5))), "a frame with bytes after it",
                max_body)
        else:
            add(frame, f"a valid {kind} frame", max_body)
    return cases


_RULE_HINTS = {
    "truncated": "fewer bytes than the 16-byte header, or than the length the header announces",
    "magic": "check the magic bytes first: a frame of another protocol is not 'truncated' or 'version'",
    "version": "a version this side does not speak (SUPPORTED_VERSIONS) is refused before anything else in the body",
    "kind": "the kind byte must be one of 1-4",
    "oversized": "refuse a length above max_body from the header alone, before waiting for (and buffering) the body",
    "trailing": "bytes after the announced body are an error, not ignored",
    "body": "the body must be UTF-8 JSON and a JSON object",
}


def _show(frame: bytes) -> str:
    head = frame[:24].hex(" ")
    return f"{len(frame)} bytes: {head}{' ...' if len(frame) > 24 else ''}"


def _judge_frame(fn: Callable, frame: bytes, max_body: int, expected: Any, what: str) -> str | None:
    value, error = learner_call(fn, frame, max_body)
    if isinstance(expected, dict):
        if error is not None:
            return (f"decode_frame raised {error[0]}: {error[1]} on {what} ({_show(frame)}); it is a valid frame "
                    f"and decodes to {expected!r}")
        if not _same(value, expected):
            return f"decode_frame returned {value!r} for {what}; expected {expected!r}"
        return None
    reason = expected
    if error is None:
        return (f"decode_frame accepted {what} ({_show(frame)}, max_body={max_body}) and returned {value!r}; "
                f"it must raise FrameError('{reason}', ...): {_RULE_HINTS[reason]}")
    kind, text = error
    if kind != "FrameError":
        return (f"decode_frame raised {kind}: {text} on {what}; a decoder must raise FrameError('{reason}', ...) "
                f"for every bad frame (catch what struct/json/bytes.decode raise): {_RULE_HINTS[reason]}")
    said = text.split(":", 1)[0].strip()
    if said != reason:
        return (f"decode_frame raised FrameError({said!r}) on {what} ({_show(frame)}, max_body={max_body}); "
                f"the first rule it breaks is '{reason}' ({_RULE_HINTS[reason]}). The checks go: truncated header, "
                "magic, version, kind, oversized, truncated body, trailing, body")
    return None


def _as_decoder(fn: Callable) -> Callable:
    """The learner's decoder as the provider calls it: a FrameError stays a FrameError."""
    def decode(frame: bytes, max_body: int = MAX_BODY) -> dict:
        value, error = learner_call(fn, frame, max_body)
        if error is None:
            return value
        kind, text = error
        reason, _, detail = text.partition(":")
        if kind == "FrameError" and reason.strip() in REASONS:
            raise FrameError(reason.strip(), detail.strip())
        raise Bad(f"decode_frame raised {kind}: {text}; a decoder must raise FrameError for a bad frame")
    return decode


class FrameClient:
    """The grader's client for part A: sends frames to the provider, one per ms; keeps answers."""

    def __init__(self, me: Any, provider: Any, frames: list[bytes]) -> None:
        self.me, self.provider, self.frames = me, provider, frames
        self.answers: list[dict] = []

    def step(self, event: Any) -> Effects:
        fx = Effects()
        if type(event) is Start:
            fx.set_timer("send.0", 1)
        elif type(event) is Timer:
            n = int(event.name.split(".")[1])
            fx.send(self.provider, self.frames[n])
            if n + 1 < len(self.frames):
                fx.set_timer(f"send.{n + 1}", 1)
        elif type(event) is Deliver:
            self.answers.append(decode_frame(event.msg))
        return fx


class Calc:
    """The service the lab's providers offer."""

    def add(self, a, b):
        return a + b

    def div(self, a, b):
        return a / b


def _decode_in_sim(fn: Callable, seed: int) -> Outcome:
    rng = random.Random(f"lab8/decode_frame/sim/{seed}")
    frames, expect = [], []
    for n in range(1, 25):
        if rng.random() < 0.5:
            a, b = rng.randint(0, 99), rng.randint(0, 99)
            frames.append(request_frame(n, "calc", "add", [a, b], acked=n))
            expect.append(("ok", a + b))
        else:
            good = request_frame(n, "calc", "add", [1, 2], acked=n)
            bad, reason = rng.choice([
                (good[:rng.randint(HEADER_SIZE, len(good) - 1)], "truncated"),
                (_with(good, version=2), "version"), (_with(good, length=MAX_BODY + 7), "oversized"),
                (good + b"??", "trailing"), (good[:HEADER_SIZE - 4] + b"\x00\x00\x00\x04" + b"[1]]", "body"),
                (b"\x00\x01" + good[2:], "magic")])
            frames.append(bad)
            expect.append(("error", reason))
    world = World(seed=seed, network=LinkConfig(latency=Fixed(1)))
    world.add_node("provider", lambda me: Provider(me, "calc", Calc(), impl=RpcImpl(decode_frame=_as_decoder(fn))))
    world.add_node("client", lambda me: FrameClient(me, "provider", frames))
    try:
        world.run(until=len(frames) + 50)
    except ProcessError as error:
        return translate(error)
    answers = world.process("client").answers
    if len(answers) != len(frames):
        return Outcome.fail(f"the provider answered {len(answers)} of {len(frames)} frames; it must answer every "
                            "frame, a bad one with a FrameError reply")
    for n, ((want, detail), answer) in enumerate(zip(expect, answers), 1):
        body = answer["body"]
        if want == "ok" and body != {"ok": True, "result": detail}:
            return Outcome.fail(f"in the simulator, frame {n} (a good request) was answered {body!r}; "
                                f"expected {{'ok': True, 'result': {detail}}}")
        if want == "error":
            error = body.get("error", {}) if isinstance(body.get("error"), dict) else {}
            if body.get("ok") is not False or error.get("type") != "FrameError" \
                    or not str(error.get("message", "")).startswith(detail):
                return Outcome.fail(f"in the simulator, frame {n} (bad: '{detail}') was answered {body!r}; the "
                                    f"provider must reply with a FrameError whose reason is '{detail}'")
    return Outcome.ok()


def check_decode_frame(fn: Any, seed: int) -> Outcome:
    for frame, max_body, expected, what in _frame_cases(seed):
        verdict = _judge_frame(fn, frame, max_body, expected, what)
        if verdict:
            return Outcome.fail(verdict)
    return _decode_in_sim(fn, seed)


# ====================================================================== B: settle ============
def _settle_cases(seed: int) -> list[tuple[dict, dict]]:
    rng = random.Random(f"lab8/settle/{seed}")
    error = {"type": "ZeroDivisionError", "message": "division by zero"}
    cases = [({7: "add"}, {"id": 7, "ok": True, "result": 5}),
             ({7: "div"}, {"id": 7, "ok": False, "error": error}),
             ({8: "add"}, {"id": 7, "ok": True, "result": 5}),
             ({7: "get"}, {"id": 7, "ok": True, "result": None}),
             ({}, {"id": 1, "ok": True, "result": 1}),
             ({3: "add", 9: "add"}, {"id": 9, "ok": True, "result": [1, 2]}),
             ({3: "add", 9: "add"}, {"id": 4, "ok": False, "error": error})]
    for _ in range(120):
        pending = {rid: rng.choice(("add", "div", "get", "put")) for rid in rng.sample(range(1, 30), rng.randint(0, 5))}
        rid = rng.choice(sorted(pending) + [rng.randint(1, 30)]) if pending else rng.randint(1, 30)
        if rng.random() < 0.6:
            reply = {"id": rid, "ok": True, "result": _random_json(rng)}
        else:
            reply = {"id": rid, "ok": False, "error": {"type": rng.choice(("KeyError", "ValueError", "NoSuchMethod")),
                                                        "message": rng.choice(("", "no such key 'x'", "bad"))}}
        cases.append((pending, reply))
    return cases


def _settle_in_sim(fn: Callable, seed: int) -> Outcome:
    rng = random.Random(f"lab8/settle/sim/{seed}")
    slow = rng.choice((40, 60, 90))
    world = World(seed=seed, network=LinkConfig(latency=Uniform(1, slow), reorder=True))
    impl = RpcImpl(settle=fn)
    for p in ("provider-1", "provider-2"):
        world.add_node(p, lambda me: Provider(me, "calc", Calc(), service_time_ms=rng.choice((0, 5, 20))))
    world.add_node("consumer", lambda me: Consumer(me, "calc", StaticRegistry({"provider-1": 100, "provider-2": 100}),
                                                   policy=RetryPolicy(timeout_ms=50, attempts=4), impl=impl,
                                                   idempotent={"add", "div"}))
    proxy = ServiceProxy(world, "consumer")
    calls: dict[str, tuple] = {}
    try:
        world.run(until=300)
        for batch in range(6):
            ids = []
            for _ in range(5):
                a = rng.randint(1, 10**6)
                if rng.random() < 0.2:
                    ids.append(proxy.submit("div", a, 0))
                    calls[ids[-1]] = ("div", a, 0)
                else:
                    b = rng.randint(1, 1000)
                    ids.append(proxy.submit("add", a, b))
                    calls[ids[-1]] = ("add", a, b)
            if not proxy.wait(ids, 5000):
                return Outcome.fail("calls did not end within 5 s: settle must answer every reply whose id is pending")
        world.run(until=world.now + 500)  # let late replies arrive after the calls ended
    except ProcessError as error:
        return translate(error)
    consumer = world.process("consumer")
    where = f"(seed {seed}: latency 1-{slow} ms, timeout 50 ms, so attempts time out and replies arrive late)"
    returned = 0
    for record in consumer.history:
        method, a, b = calls[record["call"]]
        outcome = record["outcome"]
        if outcome[0] == "timeout":
            continue
        if method == "add":
            if outcome != ("return", a + b):
                return Outcome.fail(f"add({a}, {b}) ended with {outcome!r}; expected ('return', {a + b}). A reply "
                                    "belongs to the call whose request id it carries: a late reply to an earlier "
                                    f"call must not answer a newer one {where}")
            returned += 1
        elif outcome[:2] != ("raise", "ZeroDivisionError"):
            return Outcome.fail(f"div({a}, 0) ended with {outcome!r}; the provider raised ZeroDivisionError, and "
                                f"the caller must get ('raise', 'ZeroDivisionError', message) {where}")
    if returned == 0:
        return Outcome.fail(f"no add() call returned a value: settle dropped every reply {where}")
    return Outcome.ok()


def check_settle(fn: Any, seed: int) -> Outcome:
    for pending, reply in _settle_cases(seed):
        expected = settle(pending, reply)
        value, error = learner_call(fn, dict(pending), dict(reply))
        if error is not None:
            return Outcome.fail(f"settle({pending!r}, {reply!r}) raised {error[0]}: {error[1]}")
        if expected is None and value is not None:
            return Outcome.fail(f"settle({pending!r}, {reply!r}) returned {value!r}; the reply's id {reply['id']} is "
                                "not pending (a late reply to a call that already ended, or a duplicate): return None "
                                "to drop it (Dubbo's DefaultFuture.received drops it too)")
        if expected is not None and not _same(value, expected):
            if value is None:
                why = "it answers a pending call: settle it"
            elif reply.get("ok") is False:
                why = "a failed call is settled as (id, 'raise', error type, message), never returned as a value"
            else:
                why = "a successful call is settled as (id, 'return', result)"
            return Outcome.fail(f"settle({pending!r}, {reply!r}) returned {value!r}; expected {expected!r}: {why}")
    return _settle_in_sim(fn, seed)


# ====================================================================== C: on_registry_event ==
def _registry_cases(seed: int) -> list[tuple[dict, tuple]]:
    rng = random.Random(f"lab8/registry/{seed}")
    p1, p2 = provider_node("p1", "calc", 100), provider_node("p2", "calc", 200)
    cases: list[tuple[dict, tuple]] = [
        ({}, ("session",)),
        ({}, ("children", [p1, "README"])),
        ({"p1": 100}, ("watch", "NodeChildrenChanged")),
        ({"p1": 100, "p2": 200}, ("children", [p2])),
        ({"p1": 100}, ("children", [])),
        ({"p1": 100}, ("children", [p1, p2, provider_node("p9", "calc", 100, version=9)])),
        ({"p1": 100}, ("session",)),
    ]
    for _ in range(60):
        table = {f"provider-{n}": rng.choice((0, 50, 100, 200)) for n in rng.sample(range(1, 12), rng.randint(0, 4))}
        kind = rng.choice(("children", "children", "watch", "session"))
        if kind == "children":
            names = [provider_node(f"provider-{n}", "calc", rng.choice((1, 100, 300)))
                     for n in rng.sample(range(1, 12), rng.randint(0, 5))]
            if rng.random() < 0.4:
                names.append(rng.choice(("README", "rpc%3A%2F%2F", provider_node("x", "calc", 1, version=2),
                                         "rpc%3A%2F%2Fp7%2Fcalc%3Fweight%3Dheavy")))
            rng.shuffle(names)
            cases.append((table, ("children", names)))
        elif kind == "watch":
            cases.append((table, ("watch", rng.choice(("NodeChildrenChanged", "NodeChildrenChanged", "NodeDeleted")))))
        else:
            cases.append((table, ("session",)))
    return cases


def _registry_in_sim(fn: Callable, seed: int) -> Outcome:
    from distlab.sim.ensemble import Ensemble

    rng = random.Random(f"lab8/registry/sim/{seed}")
    weights = {f"provider-{n}": rng.choice((100, 200, 300)) for n in (1, 2, 3, 4)}
    ensemble = Ensemble(3, seed=seed)
    world = ensemble.world
    registry = ZkRegistry(ensemble.servers, session_timeout_ms=4000)
    impl = RpcImpl(on_registry_event=fn)
    path = registry.providers_path("calc")
    timeline: list[str] = []

    def add_provider(name: str) -> None:
        world.add_node(name, lambda me: Provider(me, "calc", Calc(), registry, weight=weights[me]))

    def view() -> dict:
        return dict(world.process("consumer").providers) if world.is_up("consumer") else {}

    def expect(table: dict, within: int, what: str, hint: str) -> Outcome | None:
        if run_until(world, lambda w: view() == table, within):
            timeline.append(f"t={world.now}: {what}: the consumer sees {sorted(table)}")
            return None
        return Outcome.fail(f"{what}, but {within} ms later the consumer's providers are {view()}; expected {table}. "
                            f"{hint} (seed {seed})", "\n".join(timeline[-6:]))

    proxy = ServiceProxy(world, "consumer")

    def calls(n: int, live: set) -> Outcome | None:
        start = len(world.process("consumer").history)
        for k in range(n):
            try:
                proxy.add(k, 1)
            except Exception as error:  # noqa: BLE001 - any failure of a call is the verdict
                return Outcome.fail(f"a call failed with {type(error).__name__}: {error} while the providers "
                                    f"{sorted(live)} were up and registered (seed {seed})", "\n".join(timeline[-6:]))
        served = {h["served_by"] for h in world.process("consumer").history[start:]}
        if not served <= live:
            return Outcome.fail(f"calls were served by {sorted(served - live)}, which is down (seed {seed})")
        return None

    try:
        ensemble.wait_for_leader()
        for name in ("provider-1", "provider-2", "provider-3"):
            add_provider(name)
        if not run_until(world, lambda w: all(w.state_of(p) == "SERVING" for p in ("provider-1", "provider-2",
                                                                                     "provider-3")), 10_000):
            return Outcome.fail(f"the providers did not register within 10 s (seed {seed}): {world.states()}")
        admin = ensemble.client(name="admin")
        admin.create(f"{path}/README", b"providers of calc; do not delete")
        admin.create(f"{path}/{provider_node('provider-9', 'calc', 100, version=2)}")
        world.add_node("consumer", lambda me: Consumer(me, "calc", registry, impl=impl, idempotent={"add"},
                                                       policy=RetryPolicy(timeout_ms=100, attempts=4)))
        table = {p: weights[p] for p in ("provider-1", "provider-2", "provider-3")}
        failed = expect(table, 3000, "three providers are registered (and two nodes that are not providers)",
                        "Read the children with a watch when the session starts; skip names parse_provider refuses")
        failed = failed or calls(6, set(table))
        if failed:
            return failed
        victim = rng.choice(("provider-1", "provider-2", "provider-3"))
        world.crash(victim)
        timeline.append(f"t={world.now}: {victim} crashes")
        del table[victim]
        failed = expect(table, 10_000, f"{victim} crashed (its session expires after 4 s and its node goes)",
                        "A fired watch says only that the list changed: read the children again, and replace the "
                        "table with what you read")
        failed = failed or calls(6, set(table))
        if failed:
            return failed
        add_provider("provider-4")
        table["provider-4"] = weights["provider-4"]
        timeline.append(f"t={world.now}: provider-4 starts")
        failed = expect(table, 3000, "provider-4 registered after that",
                        "Watches are one-shot: every read of the children must set a new watch (watch=True)")
        if failed:
            return failed
        # The consumer is cut off from ZooKeeper long enough for its session to expire; a
        # provider leaves meanwhile. Its new session starts without a watch.
        for sid in ensemble.servers:
            world.cut("consumer", sid)
            world.cut(sid, "consumer")
        timeline.append(f"t={world.now}: the consumer is cut off from ZooKeeper")
        world.run(until=world.now + 1500)
        leaver = rng.choice(sorted(set(table) - {"provider-4"}))
        world.crash(leaver)
        del table[leaver]
        timeline.append(f"t={world.now}: {leaver} crashes while the consumer is cut off")
        world.run(until=world.now + 9000)
        world.heal()
        timeline.append(f"t={world.now}: the network heals; the consumer's old session has expired")
        failed = expect(table, 8000, f"the consumer's session expired while {leaver} left",
                        "A ('session',) event means a new session without any watch: read the children, with a watch")
        failed = failed or calls(6, set(table))
        if failed:
            return failed
        world.restart(victim)
        table[victim] = weights[victim]
        timeline.append(f"t={world.now}: {victim} restarts")
        failed = expect(table, 3000, f"{victim} restarted and registered again", "Keep re-arming the watch")
        failed = failed or calls(6, set(table))
        if failed:
            return failed
    except ProcessError as error:
        return translate(error)
    except TimeoutError as error:
        return Outcome.fail(f"the ensemble did not settle (seed {seed}): {error}")
    return Outcome.ok()


def check_on_registry_event(fn: Any, seed: int) -> Outcome:
    for providers, event in _registry_cases(seed):
        expected = on_registry_event(dict(providers), event)
        value, error = learner_call(fn, dict(providers), event)
        if error is not None:
            return Outcome.fail(f"on_registry_event({providers!r}, {event!r}) raised {error[0]}: {error[1]}"
                                + (" (skip children that parse_provider refuses: it returns None)"
                                   if event[0] == "children" else ""))
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            return Outcome.fail(f"on_registry_event must return (providers, requests), got {value!r}")
        got_table, got_requests = value
        want_table, want_requests = expected
        if got_table != want_table:
            if event[0] == "children":
                why = ("the children list *replaces* the table: a provider missing from it is gone; skip names "
                       "parse_provider refuses; the weight comes from the URL")
            else:
                why = "a watch event or a new session carries no list: keep the table as it is until you read one"
            return Outcome.fail(f"on_registry_event({providers!r}, {event!r}) gave providers {got_table!r}; "
                                f"expected {want_table!r}: {why}")
        if not _same(list(got_requests), [list(r) for r in want_requests]):
            if event[0] == "children":
                why = "the list is the answer: ask for nothing more (a read here would loop forever)"
            else:
                why = "read the children again, with a new watch: [('get_children', True)] (watches fire once)"
            return Outcome.fail(f"on_registry_event({providers!r}, {event!r}) asked for {got_requests!r}; expected "
                                f"{want_requests!r}: {why}")
    return _registry_in_sim(fn, seed)


# ====================================================================== D: smooth round robin =
def _rr_cases(seed: int) -> list[tuple[dict, dict]]:
    rng = random.Random(f"lab8/rr/{seed}")
    cases = [({"a": 5, "b": 1, "c": 1}, {}), ({"a": 1, "b": 2, "c": 3}, {}), ({"a": 1, "b": 1}, {}),
             ({"a": 1, "b": 2}, {"a": 1, "b": 0}), ({"b": 3, "a": 1}, {"a": 2}),
             ({"a": 1, "b": 1}, {"a": 3, "b": 3}), ({"p": 2}, {"p": -4, "gone": 7}),
             ({"provider-10": 1, "provider-2": 1}, {})]
    names = ["p1", "p2", "p3", "provider-10", "provider-2", "x"]
    for _ in range(80):
        weights = {n: rng.randint(1, 9) for n in rng.sample(names, rng.randint(1, 4))}
        current = {n: rng.randint(-20, 20) for n in rng.sample(names, rng.randint(0, 5))}
        cases.append((weights, current))
    return cases


def _rr_sequences(seed: int) -> list[dict]:
    rng = random.Random(f"lab8/rr/seq/{seed}")
    tables = [{"a": 5, "b": 1, "c": 1}, {"a": 1, "b": 2, "c": 3}]
    for _ in range(3):
        tables.append({f"p{n}": rng.randint(1, 6) for n in rng.sample(range(1, 6), rng.randint(2, 4))})
    return tables


def _rr_in_sim(fn: Callable, seed: int) -> Outcome:
    rng = random.Random(f"lab8/rr/sim/{seed}")
    weights = {f"provider-{n}": rng.randint(1, 5) for n in (1, 2, 3, 4)}
    world = World(seed=seed, network=LinkConfig(latency=Uniform(1, 4)))
    for p in weights:
        world.add_node(p, lambda me: Provider(me, "calc", Calc()))
    world.add_node("consumer", lambda me: Consumer(me, "calc", StaticRegistry(weights),
                                                   impl=RpcImpl(smooth_round_robin=fn), idempotent={"add"},
                                                   policy=RetryPolicy(timeout_ms=30, attempts=4)))
    proxy = ServiceProxy(world, "consumer")
    try:
        world.run(until=100)
        for n in range(2 * sum(weights.values())):
            proxy.add(n, n)
        first = [p for _, _, p in world.process("consumer").picks]
        counts = {p: first.count(p) for p in weights}
        if counts != {p: 2 * w for p, w in weights.items()}:
            return Outcome.fail(f"with weights {weights}, {2 * sum(weights.values())} calls went {counts}; each "
                                "provider must get exactly its weight's share of every sum(weights) calls")
        leaving = rng.choice(sorted(weights))
        table = {p: w for p, w in weights.items() if p != leaving}
        world.inject("consumer", ProvidersChanged.of(table))
        for n in range(sum(table.values())):
            proxy.add(n, 1)
        crashed = rng.choice(sorted(table))
        world.crash(crashed)
        for n in range(sum(table.values())):
            proxy.add(n, 2)
    except ProcessError as error:
        return translate(error)
    history = world.process("consumer").balance.history
    current: dict = {}
    for step, (table_seen, chosen) in enumerate(history, 1):
        expected, current = smooth_round_robin(table_seen, current)
        if chosen != expected:
            return Outcome.fail(f"in the simulator, pick {step} (from {table_seen}) chose {chosen}; smooth round robin "
                                f"chooses {expected} there (seed {seed}; {leaving} left the registry, then {crashed} "
                                "crashed and its calls failed over, so the table changes along the way)")
    return Outcome.ok()


def check_smooth_round_robin(fn: Any, seed: int) -> Outcome:
    for weights, current in _rr_cases(seed):
        expected = smooth_round_robin(weights, current)
        verdict = _judge_rr(fn, weights, current, expected)
        if verdict:
            return Outcome.fail(verdict)
    for weights in _rr_sequences(seed):
        # Feed its own scores back, step by step: every step must follow the rule.
        current: dict = {}
        for step in range(2 * sum(weights.values())):
            expected = smooth_round_robin(weights, current)
            verdict = _judge_rr(fn, weights, current, expected)
            if verdict:
                return Outcome.fail(f"{verdict} (pick {step + 1} from {weights}, feeding back its own scores)")
            current = dict(expected[1])
    return _rr_in_sim(fn, seed)


def _judge_rr(fn: Callable, weights: dict, current: dict, expected: tuple) -> str | None:
    value, error = learner_call(fn, dict(weights), dict(current))
    call = f"smooth_round_robin({weights}, {current})"
    if error is not None:
        return f"{call} raised {error[0]}: {error[1]} (a provider missing from current starts at 0)"
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not isinstance(value[1], dict):
        return f"{call} returned {value!r}; it must return (chosen, new_current)"
    chosen, scores = value
    want_chosen, want_scores = expected
    raised = {p: current.get(p, 0) + w for p, w in sorted(weights.items())}
    if chosen != want_chosen:
        return (f"{call} chose {chosen!r}; the rule chooses {want_chosen!r}: every provider first adds its weight to "
                f"its score (giving {raised}), then the highest score wins, a tie going to the first in sorted order")
    if scores != want_scores:
        return (f"{call} chose {chosen!r} rightly but returned the scores {scores}; expected {want_scores}: the chosen "
                f"one pays back the total weight ({sum(weights.values())}), the others keep their raised score, and "
                "providers no longer in weights are forgotten")
    return None


# ====================================================================== E: admit =============
def _admit_stream(seed: int) -> list[tuple[dict, dict, str]]:
    """(table, request, what) cases from a simulated stream; the docstring rows first."""
    rng = random.Random(f"lab8/admit/{seed}")
    r = {"ok": True, "result": 1}
    r2 = {"ok": True, "result": 2}
    cases = [({}, {"client": "c", "id": 1, "acked": 1}, "a first request"),
             ({"c": {"acked": 1, "replies": {1: None}}}, {"client": "c", "id": 1, "acked": 1}, "a retry while running"),
             ({"c": {"acked": 1, "replies": {1: r}}}, {"client": "c", "id": 1, "acked": 1}, "a retry after the reply"),
             ({"c": {"acked": 1, "replies": {1: r}}}, {"client": "c", "id": 2, "acked": 2}, "the next request"),
             ({"c": {"acked": 2, "replies": {2: r2}}}, {"client": "c", "id": 1, "acked": 1}, "a late copy"),
             ({"a": {"acked": 1, "replies": {1: r}}}, {"client": "b", "id": 1, "acked": 1},
              "another client's request 1")]
    table: dict = {}
    clients = {c: {"next": 1, "pending": [], "sent": []} for c in ("consumer-1#0", "consumer-2#0", "consumer-1#1")}
    for _ in range(140):
        name = rng.choice(sorted(clients))
        state = clients[name]
        roll = rng.random()
        if roll < 0.35 or not state["sent"]:
            rid = state["next"]
            state["next"] += 1
            state["pending"].append(rid)
            request = {"client": name, "id": rid, "acked": min(state["pending"])}
            state["sent"].append(request)
            what = "a new request"
        elif roll < 0.65 and state["pending"]:
            rid = rng.choice(state["pending"])
            request = {"client": name, "id": rid, "acked": min(state["pending"])}
            state["sent"].append(request)
            what = "a retry"
        elif roll < 0.85:
            request = dict(rng.choice(state["sent"]))
            what = "a copy the network delayed"
        else:
            if state["pending"]:
                done = rng.choice(state["pending"])
                state["pending"].remove(done)
            continue
        cases.append((table, request, what))
        action, table = admit(table, request)
        if action == "execute" and rng.random() < 0.7:
            remember_reply(table, request["client"], request["id"], {"ok": True, "result": rng.randint(1, 99)})
        # Replies that arrived: the client stops waiting for some of its calls.
        for c in clients.values():
            for rid in list(c["pending"]):
                if rng.random() < 0.15:
                    c["pending"].remove(rid)
    return cases


def _admit_hint(expected: str, got: Any, table: dict, request: dict) -> str:
    entry = table.get(request["client"], {"acked": 0, "replies": {}})
    mark = max(entry["acked"], request["acked"])
    rid = request["id"]
    if expected == "stale":
        return (f"request {rid} is below the client's mark {mark} (every reply below it has arrived): a late copy "
                "of a call that already ended. Running it would run the call twice; its reply may be forgotten "
                "already — answer 'stale'. Never lower the mark: a delayed copy carries an old acked")
    if expected == "wait":
        return (f"the table remembers request {rid} as running (None): a retry overtook a slow execution. 'wait' — "
                "running it again would run the call twice")
    if expected == "replay":
        return f"request {rid} ran already and its reply is remembered: 'replay' it, do not run the call again"
    return (f"request {rid} of {request['client']} has not been seen (the table is per client: another client's "
            "request with the same id is a different call): 'execute'")


def _admit_in_sim(fn: Callable, seed: int) -> Outcome:
    rng = random.Random(f"lab8/admit/sim/{seed}")

    class Bank:
        def __init__(self) -> None:
            self.balance = 0

        def deposit(self, amount: int) -> int:
            self.balance += amount
            return self.balance

    world = World(seed=seed, network=LinkConfig(latency=Uniform(1, rng.choice((40, 80))), drop=0.2,
                                                duplicate=0.25, reorder=True))
    world.add_node("bank", lambda me: Provider(me, "bank", Bank(), service_time_ms=rng.choice((20, 40)),
                                               impl=RpcImpl(admit=fn)))
    consumers = ("consumer-1", "consumer-2")
    for c in consumers:
        world.add_node(c, lambda me: Consumer(me, "bank", StaticRegistry({"bank": 100}),
                                              policy=RetryPolicy(timeout_ms=60, attempts=10)))
    proxies = {c: ServiceProxy(world, c) for c in consumers}
    amounts: dict[tuple, int] = {}
    try:
        world.run(until=200)
        for _ in range(6):
            ids = []
            for c in consumers:
                for _ in range(3):
                    amount = rng.randint(1, 10**6)
                    call = proxies[c].submit("deposit", amount)
                    amounts[(c, call)] = amount
                    ids.append((c, call))
            for c in consumers:
                proxies[c].wait([i for cc, i in ids if cc == c], 20_000)
        world.run(until=world.now + 2000)  # late duplicates keep arriving
    except ProcessError as error:
        return translate(error)
    provider = world.process("bank")
    where = (f"(seed {seed}: 20% loss, 25% duplication, reordering; the deposit takes "
             f"{provider.service_time_ms} ms, retries come every 60 ms)")
    seen: dict[tuple, int] = {}
    balance_after: dict[tuple, int] = {}
    balance = 0
    for client, rid, method, args in provider.executions:
        key = (client, rid)
        if key in seen:
            return Outcome.fail(f"deposit({args[0]}) (request {rid} of {client}) ran twice on the provider: a duplicate "
                                f"or retry was executed again {where}")
        seen[key] = args[0]
        balance += args[0]
        balance_after[key] = balance
    for c in consumers:
        for record in world.process(c).history:
            outcome = record["outcome"]
            if outcome[0] != "return":
                continue
            key = (f"{c}#0", record["request_id"])
            if key not in balance_after:
                return Outcome.fail(f"{c}'s deposit({record['args'][0]}) returned {outcome[1]}, but the provider never "
                                    f"ran request {record['request_id']} of {c}: it got another call's reply {where}")
            if outcome[1] != balance_after[key]:
                return Outcome.fail(f"{c}'s deposit({record['args'][0]}) returned {outcome[1]}, but the balance after "
                                    f"it ran was {balance_after[key]}: a replayed reply belonged to another call {where}")
    leftover = table_size(provider.table)
    if leftover > 6:
        return Outcome.fail(f"after every call ended, the provider's table still remembers {leftover} replies: forget "
                            f"the replies below each client's mark {where}")
    return Outcome.ok()


def check_admit(fn: Any, seed: int) -> Outcome:
    import copy

    for table, request, what in _admit_stream(seed):
        expected_action, expected_table = admit(table, request)
        value, error = learner_call(fn, copy.deepcopy(table), dict(request))
        shown = f"admit({table!r}, {request!r}) ({what})"
        if error is not None:
            return Outcome.fail(f"{shown} raised {error[0]}: {error[1]}")
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            return Outcome.fail(f"{shown} returned {value!r}; it must return (action, table)")
        action, got_table = value
        if action != expected_action:
            return Outcome.fail(f"{shown} said {action!r}; expected {expected_action!r}: "
                                + _admit_hint(expected_action, action, table, request))
        if got_table != expected_table:
            entry = expected_table.get(request["client"], {})
            return Outcome.fail(f"{shown} said {action!r} rightly, but returned the table {got_table!r}; expected "
                                f"{expected_table!r}. The client's mark becomes max(mark, request's acked) = "
                                f"{entry.get('acked')}, replies below it are forgotten, and an executed id is "
                                "remembered as None until its reply is stored")
    return _admit_in_sim(fn, seed)


# ====================================================================== F: RpcProvider =======
# The learner writes a whole provider (the server stub): greet, decode, check the request,
# suppress duplicates with admit, call the method, reply under the request's id. The grader
# builds it in the sandbox and runs it in the simulator: first a scripted client whose every
# frame tests one rule, then reference consumers retrying deposits over a bad network.

PROBE_AMOUNTS = (1, 10, 100, 1000)  # each deposit of the probe is one decimal digit of the balance


class ProbeClient:
    """Sends scripted frames at fixed times; keeps every answer as (time, kind, id, body)."""

    def __init__(self, me: Any, provider: Any, script: list[tuple[int, bytes]]) -> None:
        self.me, self.provider, self.script = me, provider, script
        self.answers: list[tuple[int, str, int, dict]] = []

    def step(self, event: Any) -> Effects:
        fx = Effects()
        if type(event) is Start:
            for n, (at, _) in enumerate(self.script):
                fx.set_timer(f"send.{n}", at - event.now)
        elif type(event) is Timer:
            fx.send(self.provider, self.script[int(event.name.split(".")[1])][1])
        elif type(event) is Deliver and isinstance(event.msg, (bytes, bytearray)):
            try:
                frame = decode_frame(bytes(event.msg))
            except FrameError as error:
                frame = {"kind": "unreadable", "id": -1, "body": {"error": str(error)}}
            self.answers.append((event.now, frame["kind"], frame["id"], frame["body"]))
        return fx


def _call(request_id: int, method: str, args: list, acked: int, session: int = 0, service: str = "bank") -> bytes:
    return request_frame(request_id, service, method, args, acked=acked, session=session)


def _probe_script() -> dict[str, list[tuple[int, bytes]]]:
    a1, a2, a3, a4 = PROBE_AMOUNTS
    c1 = [(10, encode_frame("hello", 0, {"service": "bank", "versions": [1]})),
          (20, _call(1, "deposit", [a1], 1)),          # runs; its reply leaves after the service time
          (30, _call(1, "deposit", [a1], 1)),          # a retry while it still runs: wait
          (60, _call(1, "deposit", [a1], 1)),          # a retry after it finished: replay
          (70, _call(2, "deposit", [a2], 2)),          # the next call; acked 2 forgets request 1
          (110, _call(1, "deposit", [a1], 1)),         # a late copy of request 1: stale
          (130, _call(2, "deposit", [a4], 1, session=1)),  # c1 restarted: session 1, ids from 1 again
          (170, _call(3, "add", [1, 2], 3, service="calc")),  # not this provider's service
          (175, _call(4, "steal", [], 4)),             # not a method of the bank
          (178, _call(5, "__init__", [], 5)),          # nor is this (it would reset the account)
          (181, _call(6, "withdraw", [10**6], 6)),     # the method raises
          (184, encode_frame("request", 7, {"service": "bank", "method": "deposit", "args": 5, "acked": 7,
                                            "session": 0})),  # args is not a list
          (300, _call(8, "balance", [], 8))]
    c2 = [(12, encode_frame("hello", 0, {"service": "bank", "versions": [1]})),
          (120, _call(1, "deposit", [a3], 1))]        # another client's request 1: a different call
    return {"c1": c1, "c2": c2}


def _probe(fn: Callable, seed: int) -> Outcome:
    service_time = random.Random(f"lab8/provider/probe/{seed}").choice((25, 30, 35))
    world = World(seed=seed, network=LinkConfig(latency=Fixed(1)))
    world.add_node("bank", lambda me: fn(me, "bank", service_time))
    script = _probe_script()
    for client, frames in script.items():
        world.add_node(client, lambda me, frames=frames: ProbeClient(me, "bank", frames))
    try:
        world.run(until=420)
    except ProcessError as error:
        return translate(error)
    where = f"(seed {seed}: a scripted client, no loss, 1 ms links, service time {service_time} ms)"
    c1, c2 = world.process("c1").answers, world.process("c2").answers
    excerpt = "\n".join([f"t={t:>4} bank -> c1: {k} id={i} {b}" for t, k, i, b in c1][-12:]
                        + [f"t={t:>4} bank -> c2: {k} id={i} {b}" for t, k, i, b in c2][-3:])

    def fail(message: str) -> Outcome:
        return Outcome.fail(f"{message} {where}", excerpt)

    welcome = [b for _, k, _, b in c1 if k == "welcome"]
    if not welcome:
        return fail("c1's hello got no welcome: step 1, connection (建立通信) — answer a hello frame with "
                    "encode_frame('welcome', 0, {'service', 'version', 'methods'}); a consumer calls only providers "
                    "that answered its hello")
    methods = public_methods(Bank())
    if welcome[0].get("version") != 1 or sorted(welcome[0].get("methods") or []) != methods \
            or welcome[0].get("service") != "bank":
        return fail(f"the welcome was {welcome[0]}; expected {{'service': 'bank', 'version': 1, 'methods': {methods}}} "
                    "(the highest version both sides speak, and the service's public methods)")
    replies = [(t, i, b) for t, k, i, b in c1 if k == "response"]

    def answers(request_id: int, start: int, end: int, who: list | None = None) -> list:
        return [b for t, i, b in (who if who is not None else replies) if i == request_id and start <= t < end]

    balance = answers(8, 300, 420)
    if not balance or balance[0].get("ok") is not True or not isinstance(balance[0].get("result"), int):
        return fail(f"the final balance() call (request 8) was answered {balance}; expected one reply "
                    "{'ok': True, 'result': <the balance>}")
    total, expected = balance[0]["result"], sum(PROBE_AMOUNTS)
    inits = answers(5, 178, 300)
    if inits and inits[0].get("ok") is True:
        return fail(f"request 5 asked for method '__init__' and your provider ran it (reply {inits[0]}): offer "
                    "only the service's public methods — check the method before calling it (a decoded frame is "
                    "still untrusted input; 服务调用, service invocation)")
    if total != expected:
        counts = [total // a % 10 for a in PROBE_AMOUNTS] if 0 <= total < 10**4 else None
        if counts is None:
            return fail(f"balance() says {total}; the four deposits add up to {expected}: some ran more than once "
                        "or not at all (至多一次, at-most-once)")
        story = {PROBE_AMOUNTS[0]: "request 1 of c1 (its retries came at t=30, while it ran, and t=60, after it "
                                   "finished; a late copy at t=110, after c1 acknowledged it)",
                 PROBE_AMOUNTS[1]: "request 2 of c1", PROBE_AMOUNTS[2]: "request 1 of c2",
                 PROBE_AMOUNTS[3]: "request 2 of c1's new session (session 1)"}
        for amount, count in zip(PROBE_AMOUNTS, counts):
            if count > 1:
                return fail(f"deposit({amount}), {story[amount]}, ran {count} times (balance() says {total}, "
                            f"expected {expected}): a retry or a duplicate must not run the call again — at-most-once "
                            "(至多一次) on the provider, because deposit is not idempotent (幂等). Ask admit() for every "
                            "request and keep the table it returns: 'wait' while the call runs, 'replay' the "
                            "remembered reply once it has finished, drop a 'stale' copy")
        for amount, count in zip(PROBE_AMOUNTS, counts):
            if count == 0:
                why = {PROBE_AMOUNTS[2]: "the table is per client (src and session): c2's request 1 is not c1's",
                       PROBE_AMOUNTS[3]: "a restarted consumer numbers its calls from 1 again in a new session — a "
                                         "client is f\"{src}#{session}\", not src alone"}.get(amount, "execute it")
                return fail(f"deposit({amount}), {story[amount]}, never ran (balance() says {total}, expected "
                            f"{expected}): {why}")
        return fail(f"balance() says {total}, expected {expected}")
    first = answers(1, 20, 70)
    if not first:
        stray = sorted({i for t, i, _ in replies if 20 <= t < 70})
        return fail("request 1 (deposit) got no reply" + (f"; replies came with id {stray} instead: a reply must carry "
                    "its request's id — the consumer matches replies to calls by it (结果返回, result return)"
                    if stray else ": execute it and reply with encode_frame('response', request_id, body) (结果返回, result return)"))
    checks = [
        (1, 20, 110, replies, {"ok": True, "result": 1}, "request 1 (deposit(1)) and its replay"),
        (2, 70, 130, replies, {"ok": True, "result": 11}, "request 2 (deposit(10))"),
        (1, 120, 300, [(t, i, b) for t, k, i, b in c2 if k == "response"], {"ok": True, "result": 111},
         "c2's request 1 (deposit(100))"),
        (2, 130, 170, replies, {"ok": True, "result": 1111}, "request 2 of c1's session 1 (deposit(1000))"),
    ]
    for request_id, start, end, among, body, what in checks:
        got = answers(request_id, start, end, among)
        wrong = [b for b in got if b != body]
        if not got and not wrong:
            stray = sorted({i for t, i, _ in among if start <= t < end and i != request_id})
            if stray:
                return fail(f"{what} got no reply under its id {request_id}; replies came with ids {stray}: a reply "
                            "must carry its own request's id — the consumer matches replies to calls by it "
                            "(结果返回, result return)")
        if not got or wrong:
            return fail(f"{what} was answered {got}; expected {body}" + (
                ": the reply of a call goes back under its own request id (结果返回) and is remembered for a replay "
                "with remember_reply" if wrong else ""))
    if len(answers(1, 60, 110)) < 1:
        return fail("c1 retried request 1 at t=60, after it had finished, and got no reply: replay the remembered "
                    "reply (admit says 'replay'; the reply is in the table). The first reply may have been lost — "
                    "without the replay the caller never learns the result (at-most-once, 至多一次, still answers)")
    late = answers(1, 111, 300)
    if late:
        return fail(f"the late copy of request 1 at t=110 (c1 had acknowledged it: acked 2) was answered {late}: "
                    "admit says 'stale' — drop it, its caller has its reply (去重, duplicate suppression)")
    bad = [(3, 170, "a request for service 'calc'", "BadRequest"), (4, 175, "method 'steal'", None),
           (6, 181, "withdraw(1000000), which raises ValueError", "ValueError"),
           (7, 184, "a request whose args are not a list", "BadRequest")]
    for request_id, at, what, kind in bad:
        got = answers(request_id, at, 300)
        error = got[0].get("error") if got and isinstance(got[0].get("error"), dict) else {}
        if len(got) != 1 or got[0].get("ok") is not False or (kind and error.get("type") != kind):
            return fail(f"{what} (request {request_id}) was answered {got}; expected one error reply "
                        + (f"of type {kind!r}" if kind else "(e.g. NoSuchMethod)") +
                        ": check the decoded request before running anything — the service, a method it offers, "
                        "args a list — and send a raised exception back as error_body(type name, message): "
                        "the provider lives on (服务调用, service invocation)")
    return Outcome.ok()


def _rpc_excerpt(world: World, node: Any = "bank", lines: int = 12) -> str:
    """The last frames ``node`` received and sent, decoded (kind, id, body), for a failure."""
    out = []
    for r in world.trace:
        if r.kind in ("deliver", "drop") and node in (r.src, r.dst) and isinstance(r.msg, (bytes, bytearray)):
            try:
                frame = decode_frame(bytes(r.msg))
                what = f"{frame['kind']} id={frame['id']} {frame['body']}"
            except FrameError as error:
                what = f"unreadable frame ({error.reason})"
            out.append(f"t={r.time:>5} {r.src} -> {r.dst}{' (lost)' if r.kind == 'drop' else ''}: {what[:110]}")
    return "\n".join(out[-lines:])


def _provider_stress(fn: Callable, seed: int) -> Outcome:
    rng = random.Random(f"lab8/provider/stress/{seed}")
    service_time = rng.choice((20, 40))
    world = World(seed=seed, network=LinkConfig(latency=Uniform(1, rng.choice((40, 80))), drop=0.15,
                                                duplicate=0.25, reorder=True))
    world.add_node("bank", lambda me: fn(me, "bank", service_time))
    consumers = ("consumer-1", "consumer-2")
    for c in consumers:
        world.add_node(c, lambda me: Consumer(me, "bank", StaticRegistry({"bank": 100}),
                                              policy=RetryPolicy(timeout_ms=60, attempts=15)))
    proxies = {c: ServiceProxy(world, c) for c in consumers}
    amounts: dict[tuple, int] = {}
    where = (f"(seed {seed}: two consumers retrying deposits every 60 ms; 15% loss, 25% duplication, reordering; "
             f"each call takes {service_time} ms)")
    try:
        world.run(until=200)
        for _ in range(4):
            ids = []
            for c in consumers:
                for _ in range(3):
                    amount = rng.randint(1, 10**6)
                    call = proxies[c].submit("deposit", amount)
                    amounts[(c, call)] = amount
                    ids.append((c, call))
            for c in consumers:
                proxies[c].wait([i for cc, i in ids if cc == c], 20_000)
        world.run(until=world.now + 1500)  # late duplicates keep arriving
        final = proxies["consumer-1"].submit("balance")
        proxies["consumer-1"].wait([final], 20_000)
    except ProcessError as error:
        return translate(error)
    returned: dict[tuple, int] = {}
    for c in consumers:
        for record in world.process(c).history:
            if (c, record["call"]) not in amounts:
                continue
            outcome = record["outcome"]
            if outcome[0] != "return" or not isinstance(outcome[1], int):
                return Outcome.fail(f"{c}'s deposit({record['args'][0]}) ended {outcome!r} after {record['attempts']} "
                                    "attempts: a retry of a finished call must get the remembered reply (replay) — "
                                    f"a lost reply is only recovered that way {where}", _rpc_excerpt(world))
            returned[(c, record["call"])] = outcome[1]
    last = world.process("consumer-1").results.get(final)
    if not last or last[0] != "return":
        return Outcome.fail(f"the final balance() call ended {last!r} {where}", _rpc_excerpt(world))
    total, expected = last[1], sum(amounts.values())
    if total != expected:
        extra = total - expected
        twice = [a for a in amounts.values() if a == extra]
        return Outcome.fail(f"balance() says {total}, but the deposits add up to {expected}"
                            + (f": deposit({twice[0]}) ran twice" if twice else "") +
                            ". A retried or duplicated request must not run again: at-most-once (至多一次) on the "
                            f"provider — deposit is not idempotent (幂等) {where}", _rpc_excerpt(world))
    seen = set(returned.values())
    for key, balance in sorted(returned.items(), key=lambda kv: kv[1]):
        before = balance - amounts[key]
        if before != 0 and before not in seen:
            return Outcome.fail(f"{key[0]}'s deposit({amounts[key]}) returned {balance}, which no order of running "
                                "each deposit once explains: it got another call's reply. A reply goes back under "
                                f"its own request id, and a replay is that request's remembered reply {where}", _rpc_excerpt(world))
    return Outcome.ok()


def check_RpcProvider(fn: Any, seed: int) -> Outcome:
    outcome = _probe(fn, seed)
    if outcome.passed is not True:
        return outcome
    return _provider_stress(fn, seed)


register(
    8, "RPC, service discovery and load balancing", "lab8-rpc.ipynb",
    Part(8, "decode_frame", "The wire format", 2,
         "a frame decodes to {version, kind, id, body}; a bad one raises FrameError with the first broken rule "
         "(truncated, magic, version, kind, oversized, truncated, trailing, body); a provider using it answers "
         "every bad frame with a FrameError reply", named(check_decode_frame, '帧',
               "A frame (帧) is serialisation's (序列化) contract: a decoder that accepts a bad frame, or"
               " names the wrong rule, lets garbage reach the service or hides what went wrong")),
    Part(8, "settle", "The proxy: result return", 2,
         "a reply settles the call pending under its request id — a value returns, an error raises, a reply "
         "to no pending call is dropped; with it, no call ever gets another call's answer",
         named(check_settle, '结果返回',
               "Result return (结果返回): a reply settles only the call waiting under its request id, or "
               "a call gets another's answer")),
    Part(8, "on_registry_event", "Registry watch", 3,
         "a session or a fired watch re-reads the children with a new watch; a children list replaces the "
         "table, skipping what is not a provider; with it, a consumer follows crashes, joins, restarts and "
         "its own session's expiry (ZooKeeper watches are one-shot)", named(check_on_registry_event, '服务发现',
               "Service discovery (服务发现): the children list is the whole truth, and ZooKeeper watches"
               " fire once — get either wrong and a consumer calls crashed providers or never sees "
               "new ones")),
    Part(8, "smooth_round_robin", "Load balancing: smooth weighted round robin", 3,
         "each provider adds its weight, the highest score wins (ties: sorted order) and pays back the total "
         "(Dubbo RoundRobinLoadBalance, Nginx); with it, calls split exactly by weight, smoothly, also "
         "while providers leave and fail", named(check_smooth_round_robin, '负载均衡',
               "Load balancing (负载均衡): smooth weighted round robin gives each provider exactly its "
               "weight's share, interleaved")),
    Part(8, "admit", "Retries with duplicate suppression", 4,
         "execute a new id, wait for a running one, replay a finished one, drop one below the client's "
         "acknowledged mark (never lowered); with it, retried deposits over a lossy, duplicating network "
         "run exactly once and the table stays small", named(check_admit, '去重',
               'Duplicate suppression (去重) is what makes a retried, non-idempotent (幂等) call run at most once (至多一次)')),
    Part(8, "RpcProvider", "A whole provider: the server stub", 5,
         "answer hello with a welcome; check each decoded request (service, offered method, args); ask admit for "
         "every request and keep its table — execute once, wait while running, replay a finished call's reply, drop "
         "a stale copy; reply under the request's own id after the service time, remembering the reply — with it, "
         "retried deposits over a lossy, duplicating network run at most once (至多一次) and every caller gets its own "
         "answer", check_RpcProvider, kind="class", uses=("decode_frame", "admit")),
)
