"""Lab 0 — the simulator (分布式): three sans-I/O processes the learner writes.

Each part is a *class* (``kind="class"``): the grader builds the learner's objects inside a
:class:`~distlab.sim.World` (through the sandbox, one ``step`` per event) next to processes
of its own, runs a fault schedule drawn from the seed (delays, drops, duplicates,
reordering, partitions, crashes and restarts), and then checks a property on the trace:

- ``RetryingSender`` — at-least-once delivery: every message reaches the receiver despite
  losses, and once everything is acknowledged the sender falls silent;
- ``DedupReceiver`` — exactly-once *processing* on top of at-least-once delivery: each
  message is handed to the application once, even when copies arrive after a crash;
- ``HeartbeatDetector`` — a failure detector: a crashed (or cut-off) peer is suspected
  within a bound, a live peer on a good network never is, and a peer that is heard from again
  is trusted again.

The message formats and the constants below are the contract every learner's class keeps;
the lab notebook states them.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from distlab.grading.parts import Outcome, Part, register, FATAL_KINDS
from distlab.sansio import Deliver, Effects, Start, Timer
from distlab.sim import Crash, FaultSchedule, Heal, LinkConfig, Partition, Restart, Uniform, World
from distlab.sim.world import ProcessError

RETRY_MS = 100  # the sender resends what is not yet acknowledged this often
HEARTBEAT_MS = 100  # a detector sends a heartbeat to every peer this often
SUSPECT_AFTER_MS = 500  # ... and suspects a peer it has not heard from for longer than this
DETECT_WITHIN_MS = 1000  # the bound the grader allows for suspecting (or trusting again)



# ------------------------------------------------------------------ shared helpers ---------
def _run_world(world: World, until: int) -> Outcome | None:
    """Run ``world``; None if it ran, else the failure (learner exceptions come out unwrapped).

    A learner's exception surfaces wrapped in the simulator's ProcessError. What the grader
    runner itself must see (a stub, a timeout, a dead worker) is re-raised as it was; an
    ordinary exception becomes a failed seed that says which event the code was handling.
    """
    from distlab.grading.sandbox import LearnerError

    try:
        world.run(until=until)
    except ProcessError as error:
        cause = error.__cause__
        if isinstance(cause, NotImplementedError):
            raise cause
        if isinstance(cause, LearnerError):
            if cause.kind in FATAL_KINDS:
                raise cause
            return Outcome.fail(f"your code raised {cause.message} while process {error.node!r} handled "
                                f"{_event(error.event)} at t={error.time} ms", cause.detail)
        return Outcome.fail(f"process {error.node!r} failed at t={error.time} ms while handling "
                            f"{_event(error.event)}: {type(cause).__name__}: {cause}")
    return None


def _event(event: Any) -> str:
    if isinstance(event, Start):
        return f"Start(incarnation={event.incarnation})"
    if isinstance(event, (Deliver, Timer)):
        return repr(event)
    return str(event)


def _msg(value: Any) -> tuple | None:
    """A message as a tuple (lists arrive from the sandbox as lists), else None."""
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return None


def _is_int(value: Any) -> bool:
    return type(value) is int


def _tail(world: World, nodes: tuple = (), kinds: tuple = ("send", "deliver", "drop", "crash", "restart",
                                                             "note", "partition", "heal"), lines: int = 10) -> str:
    """The last few trace lines, for a failure message."""
    out = []
    for r in world.trace:
        if r.kind not in kinds:
            continue
        if r.kind in ("send", "deliver"):
            text = f"{r.src} -> {r.dst} {r.kind} {r.msg!r}"
        elif r.kind == "drop":
            text = f"{r.src} -> {r.dst} lost {r.msg!r} ({r.reason})"
        elif r.kind == "note":
            text = f"{r.node}: {r.text}"
        elif r.kind in ("crash", "restart"):
            text = f"{r.node} {r.kind}"
        else:
            text = r.kind
        if nodes and getattr(r, "node", None) not in nodes and getattr(r, "src", None) not in nodes \
                and getattr(r, "dst", None) not in nodes:
            continue
        out.append(f"t={r.time:>5} {text}")
    return "\n".join(out[-lines:])


def _schedule_text(schedule: FaultSchedule) -> str:
    from distlab.sim.faults import describe

    return ", ".join(f"{describe(f)} at {at} ms" for at, f in schedule.entries) or "no faults"


# ------------------------------------------------------------------ part A: sender ---------
class AckingReceiver:
    """The grader's receiver for Part A: hands each data message to the app and acks it."""

    def __init__(self, me: int) -> None:
        self.me = me

    def step(self, event: Any) -> Effects:
        fx = Effects()
        if isinstance(event, Deliver):
            msg = _msg(event.msg)
            if msg and len(msg) == 3 and msg[0] == "data" and _is_int(msg[1]):
                fx.note(f"received {msg[1]}", received=msg[1], payload=msg[2])
                fx.send(event.src, ("ack", msg[1]))
        return fx


def _sender_case(seed: int) -> dict:
    rng = random.Random(f"lab0/sender/{seed}")
    n = rng.randint(3, 8)
    messages = [f"m{i}:{rng.choice(('put', 'get', 'del'))}-{rng.randrange(100)}" for i in range(1, n + 1)]
    entries = []
    if rng.random() < 0.7:
        start = rng.randint(0, 1500)
        entries += [(start, Partition([[1]])), (start + rng.randint(200, 1500), Heal())]
    who = rng.choice((1, 2))
    crash_at = rng.randint(50, 2500)
    entries += [(crash_at, Crash(who)), (crash_at + rng.randint(100, 1000), Restart(who))]
    return {"messages": messages, "drop": rng.choice((0.1, 0.3, 0.5)),
            "latency": Uniform(1, rng.choice((5, 30, 80))), "reorder": rng.random() < 0.3,
            "schedule": FaultSchedule(entries), "until": 8000}


def sender_world(fn: Callable, seed: int) -> tuple[World, dict]:
    """The world Part A runs (not yet run: ``world.run(until=case["until"])``).

    The learner's sender is node 1, the grader's receiver node 2, faults come from ``seed``.
    """
    case = _sender_case(seed)
    world = World(seed=seed, network=LinkConfig(latency=case["latency"], drop=case["drop"],
                                                reorder=case["reorder"]))
    messages = case["messages"]
    world.add_node(2, AckingReceiver)
    world.add_node(1, lambda node: fn(node, 2, list(messages)))
    case["schedule"].install(world)
    return world, case


def check_RetryingSender(fn: Any, seed: int) -> Outcome:
    world, case = sender_world(fn, seed)
    messages = case["messages"]
    where = (f"(seed {seed}: {len(messages)} messages, drop {case['drop']:.0%}, "
             f"{'reordering, ' if case['reorder'] else ''}{_schedule_text(case['schedule'])})")
    failed = _run_world(world, until=case["until"])
    if failed:
        return failed
    trace = world.trace.records
    # What the receiver got, and what the sender sent.
    received = {r.data["received"] for r in trace if r.kind == "note" and r.node == 2}
    for r in trace:
        if r.kind != "send" or r.src != 1:
            continue
        msg = _msg(r.msg)
        if not msg or len(msg) != 3 or msg[0] != "data" or not _is_int(msg[1]):
            return Outcome.fail(f"the sender sent {r.msg!r} at t={r.time} ms; every message must be "
                                f"('data', seq, payload) with seq = 1, 2, ... {where}")
        if not 1 <= msg[1] <= len(messages) or msg[2] != messages[msg[1] - 1]:
            return Outcome.fail(f"the sender sent {r.msg!r}, but message {msg[1]} is "
                                f"{messages[msg[1] - 1]!r} if it exists at all (seq runs from 1 to "
                                f"{len(messages)}) {where}")
    missing = sorted(set(range(1, len(messages) + 1)) - received)
    if missing:
        return Outcome.fail(f"messages {missing} never reached the receiver within 8 s. At-least-once "
                            "delivery: keep resending every message that is not yet acknowledged, every "
                            f"{RETRY_MS} ms, for as long as it takes {where}", _tail(world))
    # The sender's current incarnation must have seen every ack, then fallen silent.
    last_start = max(i for i, r in enumerate(trace) if r.kind in ("start", "restart") and r.node == 1)
    acked: set[int] = set()
    done = None
    for i in range(last_start, len(trace)):
        r = trace[i]
        if r.kind == "deliver" and r.dst == 1:
            msg = _msg(r.msg)
            if msg and len(msg) == 2 and msg[0] == "ack":
                acked.add(msg[1])
                if done is None and acked >= set(range(1, len(messages) + 1)):
                    done = i
    if done is None:
        return Outcome.fail("the sender never had every message acknowledged; resend until each is "
                            f"acked {where}", _tail(world))
    late = [r for r in trace[done + 1:] if r.kind == "send" and r.src == 1]
    if late:
        return Outcome.fail(f"every message was acknowledged at t={trace[done].time} ms, but the sender "
                            f"still sent {len(late)} more message(s), first {late[0].msg!r} at "
                            f"t={late[0].time} ms. Stop resending (cancel the timer, or ignore it) once "
                            f"everything is acked {where}")
    return Outcome.ok()


# ------------------------------------------------------------------ part B: receiver -------
class ChaoticSender:
    """The grader's sender for Part B: retries until acked, then replays old messages.

    The replays stand for the late copies a real network or a retransmission buffer produces:
    they arrive after the receiver has restarted, when only what it persisted protects it.
    """

    def __init__(self, me: int, receiver: int, messages: list[str], replay_at: int, replay: list[int]) -> None:
        self.me, self.receiver, self.messages = me, receiver, messages
        self.replay_at, self.replay = replay_at, replay
        self.acked: set[int] = set()

    def step(self, event: Any) -> Effects:
        fx = Effects()
        if isinstance(event, Start):
            self._send_unacked(fx)
            fx.set_timer("retry", RETRY_MS)
            fx.set_timer("replay", max(0, self.replay_at - event.now))
        elif isinstance(event, Timer) and event.name == "retry":
            if len(self.acked) < len(self.messages):
                self._send_unacked(fx)
                fx.set_timer("retry", RETRY_MS)
        elif isinstance(event, Timer) and event.name == "replay":
            for seq in self.replay:
                fx.send(self.receiver, ("data", seq, self.messages[seq - 1]))
        elif isinstance(event, Deliver):
            msg = _msg(event.msg)
            if msg and len(msg) == 2 and msg[0] == "ack" and msg[1] not in self.acked:
                self.acked.add(msg[1])
                if len(self.acked) == len(self.messages):
                    fx.note("all acked", all_acked=True)
        return fx

    def _send_unacked(self, fx: Effects) -> None:
        for seq in range(1, len(self.messages) + 1):
            if seq not in self.acked:
                fx.send(self.receiver, ("data", seq, self.messages[seq - 1]))


def _receiver_case(seed: int) -> dict:
    rng = random.Random(f"lab0/receiver/{seed}")
    senders = {}
    for sid in (2, 3):
        n = rng.randint(2, 6)
        senders[sid] = [f"{'ab'[sid - 2]}{i}-{rng.randrange(100)}" for i in range(1, n + 1)]
    crash_at = rng.randint(150, 1200)
    restart_at = crash_at + rng.randint(100, 800)
    entries = [(crash_at, Crash(1)), (restart_at, Restart(1))]
    if rng.random() < 0.5:
        start = rng.randint(0, 2500)
        entries += [(start, Partition([[1]])), (start + rng.randint(200, 1000), Heal())]
    return {"senders": senders, "crash_at": crash_at, "drop": rng.choice((0.1, 0.2, 0.3)), "duplicate": rng.choice((0.0, 0.2, 0.4)),
            "reorder": rng.random() < 0.5, "latency": Uniform(1, rng.choice((10, 40))),
            "replay_at": rng.randint(4000, 5000), "schedule": FaultSchedule(entries), "until": 7000,
            "replay": {sid: sorted(rng.sample(range(1, len(m) + 1), rng.randint(1, len(m))))
                       for sid, m in senders.items()}}


def receiver_world(fn: Callable, seed: int) -> tuple[World, dict]:
    """The world Part B runs (not yet run): learner's receiver 1, grader's senders 2 and 3."""
    case = _receiver_case(seed)
    world = World(seed=seed, network=LinkConfig(latency=case["latency"], drop=case["drop"],
                                                duplicate=case["duplicate"], reorder=case["reorder"]))
    world.add_node(1, lambda node: fn(node))
    for sid, messages in case["senders"].items():
        world.add_node(sid, lambda node, m=messages: ChaoticSender(node, 1, list(m), case["replay_at"],
                                                                   case["replay"][node]))
    case["schedule"].install(world)
    return world, case


def check_DedupReceiver(fn: Any, seed: int) -> Outcome:
    world, case = receiver_world(fn, seed)
    where = (f"(seed {seed}: senders 2 and 3 with {len(case['senders'][2])} and {len(case['senders'][3])} "
             f"messages, drop {case['drop']:.0%}, duplicate {case['duplicate']:.0%}, "
             f"{_schedule_text(case['schedule'])}, old copies replayed at {case['replay_at']} ms)")
    failed = _run_world(world, until=case["until"])
    if failed:
        return failed
    delivered: dict[tuple[int, int], list[int]] = {}
    for r in world.trace:
        if r.kind != "note" or r.node != 1 or not isinstance(r.data, dict) or "seq" not in r.data:
            continue
        src, seq, payload = r.data.get("src"), r.data.get("seq"), r.data.get("payload")
        messages = case["senders"].get(src)
        if messages is None or not _is_int(seq) or not 1 <= seq <= len(messages) or payload != messages[seq - 1]:
            return Outcome.fail(f"the receiver delivered src={src!r} seq={seq!r} payload={payload!r} at "
                                f"t={r.time} ms, which no sender sent; note each delivery as "
                                f"fx.note(..., src=src, seq=seq, payload=payload) {where}")
        delivered.setdefault((src, seq), []).append(r.time)
    for (src, seq), times in sorted(delivered.items()):
        if len(times) > 1:
            crash = case["crash_at"]
            after = " (the later copy came after the crash: was the set of delivered messages persisted, " \
                    "and read back in Start?)" if times[0] < crash < times[-1] else ""
            return Outcome.fail(f"message {seq} of sender {src} was delivered {len(times)} times, at "
                                f"t={times} ms. Each message must reach the application exactly once: "
                                f"remember (durably) which (sender, seq) you delivered{after} {where}")
    for src, messages in sorted(case["senders"].items()):
        missing = [seq for seq in range(1, len(messages) + 1) if (src, seq) not in delivered]
        if missing:
            return Outcome.fail(f"messages {missing} of sender {src} were never delivered (two senders may "
                                f"use the same seq: a message is known by (sender, seq)) {where}",
                                _tail(world, (1, src)))
    done = {r.node for r in world.trace if r.kind == "note" and r.node in (2, 3) and r.data.get("all_acked")}
    for src in sorted(case["senders"]):
        if src not in done:
            return Outcome.fail(f"sender {src} never got an ack for every message, so it retries forever. "
                                "Ack every copy you receive, duplicates included (the first ack may have "
                                f"been lost) {where}", _tail(world, (1, src)))
    return Outcome.ok()


# ------------------------------------------------------------------ part C: detector -------
def _detector_case(seed: int) -> dict:
    rng = random.Random(f"lab0/detector/{seed}")
    n = rng.choice((3, 4))
    nodes = list(range(1, n + 1))
    victim = rng.choice(nodes)
    crash_at = rng.randint(1500, 2500)
    restart_at = crash_at + rng.randint(1500, 2500)
    cut = rng.choice(nodes)
    partition_at = restart_at + rng.randint(1500, 2000)
    heal_at = partition_at + rng.randint(1200, 2000)
    end = heal_at + 2500
    schedule = FaultSchedule([(crash_at, Crash(victim)), (restart_at, Restart(victim)),
                              (partition_at, Partition([[cut]])), (heal_at, Heal())])
    return {"nodes": nodes, "victim": victim, "crash_at": crash_at, "restart_at": restart_at, "cut": cut,
            "partition_at": partition_at, "heal_at": heal_at, "until": end, "schedule": schedule,
            "latency": Uniform(1, rng.choice((20, 40, 60)))}


def detector_world(fn: Callable, seed: int) -> tuple[World, dict]:
    """The world Part C runs (not yet run): every node a learner's detector; a crash, a partition."""
    case = _detector_case(seed)
    world = World(seed=seed, network=LinkConfig(latency=case["latency"]))
    nodes = case["nodes"]
    for sid in nodes:
        world.add_node(sid, lambda node: fn(node, [p for p in nodes if p != node]))
    case["schedule"].install(world)
    return world, case


def suspicions(world: World) -> list[tuple[int, Any, int, str, Any]]:
    """``(time, observer, incarnation, "suspect" | "trust", peer)`` from the detectors' notes."""
    out = []
    incarnation: dict[Any, int] = {}
    for r in world.trace:
        if r.kind in ("start", "restart"):
            incarnation[r.node] = r.incarnation
        elif r.kind == "note" and isinstance(r.data, dict):
            for what in ("suspect", "trust"):
                if what in r.data:
                    out.append((r.time, r.node, incarnation.get(r.node, 0), what, r.data[what]))
    return out


def check_HeartbeatDetector(fn: Any, seed: int) -> Outcome:
    world, case = detector_world(fn, seed)
    nodes, victim, cut = case["nodes"], case["victim"], case["cut"]
    where = (f"(seed {seed}: nodes {nodes}, latency up to {case['latency'].high} ms, no loss; "
             f"{_schedule_text(case['schedule'])})")
    failed = _run_world(world, until=case["until"])
    if failed:
        return failed
    events = suspicions(world)
    for _, observer, _, what, peer in events:
        if peer not in nodes or peer == observer:
            return Outcome.fail(f"node {observer} noted {what}={peer!r}; note suspect=p / trust=p for a peer p "
                                f"in {[p for p in nodes if p != observer]} {where}")

    def state_at(observer: Any, t: int) -> set:
        """The peers ``observer`` suspects at time ``t`` (by its current incarnation then)."""
        inc = None
        suspects: set = set()
        for time, node, incarnation, what, peer in events:
            if time > t:
                break
            if node != observer:
                continue
            if incarnation != inc:
                inc, suspects = incarnation, set()
            (suspects.add if what == "suspect" else suspects.discard)(peer)
        return suspects

    def first(observer: Any, what: str, peer: Any, after: int) -> int | None:
        return next((time for time, node, _, w, p in events
                     if node == observer and w == what and p == peer and time >= after), None)

    live = [p for p in nodes if p != victim]
    crash_at, restart_at = case["crash_at"], case["restart_at"]
    partition_at, heal_at = case["partition_at"], case["heal_at"]
    # 1. Accuracy on a good network, before any fault.
    early = [(t, o, p) for t, o, _, w, p in events if w == "suspect" and t < crash_at]
    if early:
        t, o, p = early[0]
        return Outcome.fail(f"node {o} suspected {p} at t={t} ms, but every node was up and the network "
                            f"delivers everything within {case['latency'].high} ms: a live peer must never be "
                            f"suspected on a good network (suspect only after {SUSPECT_AFTER_MS} ms of "
                            f"silence) {where}", _tail(world, (o, p), ("note", "deliver"), 8))
    # 2. Completeness: the crashed node is suspected in time, by everyone still up.
    for o in live:
        if victim not in state_at(o, crash_at + DETECT_WITHIN_MS):
            return Outcome.fail(f"node {victim} crashed at t={crash_at} ms, but node {o} still did not suspect "
                                f"it {DETECT_WITHIN_MS} ms later. Check for silent peers on your own timer, "
                                f"every {HEARTBEAT_MS} ms, not only when a message arrives {where}",
                                _tail(world, (o,), ("note", "crash", "timer"), 8))
        if victim not in state_at(o, restart_at - 1):
            return Outcome.fail(f"node {o} stopped suspecting {victim} while it was still down "
                                f"(crashed at {crash_at} ms, restarted at {restart_at} ms) {where}")
    # 3. Trust again: the restarted node is heard from, so everyone trusts it again.
    for o in live:
        if victim in state_at(o, restart_at + DETECT_WITHIN_MS):
            return Outcome.fail(f"node {victim} restarted at t={restart_at} ms and sends heartbeats again, but "
                                f"node {o} still suspected it {DETECT_WITHIN_MS} ms later. A message from a "
                                f"suspected peer means it is alive: note trust={victim} {where}",
                                _tail(world, (o,), ("note",), 8))
    calm = [(t, o, p) for t, o, _, w, p in events
            if w == "suspect" and restart_at + DETECT_WITHIN_MS <= t < partition_at]
    if calm:
        t, o, p = calm[0]
        return Outcome.fail(f"node {o} suspected {p} at t={t} ms, after node {victim} had restarted and "
                            f"while every node was up on a good network {where}")
    # 4. A partition: each side suspects the other; after the heal, everyone trusts everyone.
    others = [p for p in nodes if p != cut]
    for o in nodes:
        unreachable = others if o == cut else [cut]
        missing = [p for p in unreachable if p not in state_at(o, partition_at + DETECT_WITHIN_MS)]
        if missing:
            return Outcome.fail(f"the network cut node {cut} off at t={partition_at} ms, but node {o} did not "
                                f"suspect {missing} {DETECT_WITHIN_MS} ms later: a peer you cannot hear is "
                                f"suspect, whether it crashed or not {where}")
        still = state_at(o, heal_at + DETECT_WITHIN_MS)
        if still:
            return Outcome.fail(f"the partition healed at t={heal_at} ms, but node {o} still suspected "
                                f"{sorted(still)} {DETECT_WITHIN_MS} ms later {where}",
                                _tail(world, (o,), ("note",), 8))
    late = [(t, o, p) for t, o, _, w, p in events if w == "suspect" and t >= heal_at + DETECT_WITHIN_MS]
    if late:
        t, o, p = late[0]
        return Outcome.fail(f"node {o} suspected {p} at t={t} ms, after the partition had healed "
                            f"and every node was up {where}")
    return Outcome.ok()


register(
    0, "The simulator: retries, duplicates and failure detection", "lab0-simulator.ipynb",
    Part(0, "RetryingSender", "At-least-once: retry until acked", 3,
         "every message reaches the receiver despite loss, partitions and crashes, and once every "
         "message is acknowledged the sender sends nothing more", check_RetryingSender, kind="class"),
    Part(0, "DedupReceiver", "Exactly-once processing", 3,
         "each (sender, seq) is delivered to the application exactly once, even when copies arrive "
         "after a crash, and every copy is acknowledged", check_DedupReceiver, kind="class"),
    Part(0, "HeartbeatDetector", "A heartbeat failure detector", 4,
         f"a crashed or cut-off peer is suspected within {DETECT_WITHIN_MS} ms; a live peer on a good "
         "network never is; a peer heard from again is trusted again", check_HeartbeatDetector, kind="class"),
)
