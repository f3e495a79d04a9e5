"""Runs to watch: the election, sync and broadcast scenarios, and branches made by hand.

A :class:`Scenario` says how to build a run from nothing: an ensemble (servers, seed, the
election implementation, what the servers' disks hold), a silent set-up (the *prologue*:
for a sync replay, the writes a follower misses while it is down) and what opens the part
worth watching (restart that follower). A :class:`Run` drives the simulator one event at a
time from there and remembers, for every frame, whether it was an ordinary step or something
a person did (crash, restart, partition, heal, deliver or drop a message).

A **branch** is a new run: the scenario is rebuilt from the same seed and the same inputs, the
parent's frames up to the chosen one are replayed (same steps, same actions, so the same trace
— checked record by record), the new action is applied, and the run continues from there.
The parent run is untouched, so the original stays reachable.

The driver reads live objects only to decide when a run has ended (``Ensemble.settled``);
everything shown comes from the trace (:class:`~distlab.viz.frames.Timeline`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

from distlab.sansio import UsageError
from distlab.sim.ensemble import Ensemble, disk_with_history
from distlab.viz.frames import Timeline, parse_zxid
from distlab.zab.config import Impl
from distlab.zab.zxid import make_zxid

__all__ = ["Action", "Scenario", "Run", "KINDS", "parse_histories", "parse_groups"]

KINDS = ("election", "sync", "broadcast")
SYNC_MODES = ("diff", "snap", "trunc")
MAX_FRAMES = 4000  # a run stops here whatever happens (pings would go on for ever)
MIN_FRAMES_AFTER_ACTION = 25  # a branch shows at least this much of what followed
LONG_SESSION_MS = 40_000


# --------------------------------------------------------------------------- actions ------
@dataclass(frozen=True)
class Action:
    """Something done to a run from outside, at the current moment.

    ``kind`` is one of ``crash``, ``restart`` (``args=(sid,)``), ``partition``
    (``args=(group, group, ...)``), ``heal``, ``deliver`` and ``drop`` (``args=(msg_id,)``).
    """

    kind: str
    args: tuple = ()

    KINDS = ("crash", "restart", "partition", "heal", "deliver", "drop")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise UsageError(f"unknown action {self.kind!r}; actions are {', '.join(self.KINDS)}")
        if self.kind in ("crash", "restart", "deliver", "drop") and len(self.args) != 1:
            raise UsageError(f"{self.kind} takes one argument, got {self.args!r}")
        if self.kind == "partition" and len(self.args) < 1:
            raise UsageError("partition needs at least one group, e.g. Action('partition', ((1, 2), (3,)))")

    def describe(self) -> str:
        if self.kind == "partition":
            return "partition " + " | ".join(",".join(str(n) for n in g) for g in self.args)
        if self.kind == "heal":
            return "heal"
        if self.kind in ("deliver", "drop"):
            return f"{self.kind} message #{self.args[0]}"
        return f"{self.kind} {self.args[0]}"

    def apply(self, world: Any) -> None:
        """Carry the action out on ``world`` (a deliver also steps it: the message lands now).

        Raises:
            UsageError: the action does not fit the moment (crash a server that is down,
                deliver a message that is not in flight, ...); the world is unchanged.
        """
        kind, args = self.kind, self.args
        if kind == "crash":
            world.crash(args[0])
        elif kind == "restart":
            world.restart(args[0])
        elif kind == "partition":
            world.partition(*[list(g) for g in args])
        elif kind == "heal":
            world.heal()
        elif kind == "drop":
            world.drop_message(args[0], "dropped by hand")
        elif kind == "deliver":
            world.deliver_message_now(args[0])
            world.step()


def parse_groups(text: str) -> tuple[tuple[int, ...], ...]:
    """``"1,2 | 3,4,5"`` -> ``((1, 2), (3, 4, 5))``."""
    groups = []
    for part in text.split("|"):
        ids = [p.strip() for p in part.replace(" ", ",").split(",") if p.strip()]
        if ids:
            try:
                groups.append(tuple(int(i) for i in ids))
            except ValueError:
                raise UsageError(f"partition groups are server ids like '1,2 | 3,4,5', got {text!r}") from None
    if not groups:
        raise UsageError(f"partition groups are server ids like '1,2 | 3,4,5', got {text!r}")
    return tuple(groups)


def parse_histories(text: str | None, servers: int, seed: int) -> dict[int, int] | None:
    """Last zxids for the servers' disks: ``"random"`` (from the seed), ``"empty"``, or a list.

    A list gives one zxid per server, as ``0x1_00000007``, ``1:7`` (epoch:counter) or a
    plain int: ``"1:3,1:7,1:7,1:2,1:5"``.
    """
    if text is None or text == "empty":
        return None
    if text == "random":
        rng = random.Random(f"histories/{seed}")
        return {sid: make_zxid(1, rng.randint(1, 9)) for sid in range(1, servers + 1)}
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) != servers:
        raise UsageError(f"--histories needs one zxid per server ({servers}), got {len(parts)}: {text!r}")
    out = {}
    for sid, part in enumerate(parts, 1):
        try:
            if ":" in part:
                epoch, counter = part.split(":")
                out[sid] = make_zxid(int(epoch), int(counter))
            else:
                out[sid] = parse_zxid(part)
        except ValueError:
            raise UsageError(f"cannot read zxid {part!r} (use 0x1_00000007, 1:7 or an int)") from None
    return out


# --------------------------------------------------------------------------- scenarios ----
@dataclass(frozen=True)
class Scenario:
    """How to build a run from nothing; the same scenario always gives the same trace.

    - ``kind``: ``election`` (servers boot and elect; ``crash_leader_at`` crashes whoever
      leads at that virtual millisecond and the run goes on to the next leader), ``sync`` (a
      learner is brought back in line: ``mode`` ``diff``, ``snap`` or ``trunc``) or
      ``broadcast`` (``writes`` client writes go through PROPOSAL, ACK, COMMIT);
    - ``servers``, ``observers``, ``seed``: the ensemble (ids 1..servers are voters);
    - ``impl``: the decision functions (a learner's own ``vote_order`` or
      ``handle_notification`` plug in here);
    - ``histories``: for an election, ``{sid: last zxid}`` preloaded on the disks.
    """

    kind: str = "election"
    servers: int = 5
    seed: int = 7
    observers: int = 0
    impl: Impl | None = None
    histories: dict[int, int] | None = None
    crash_leader_at: int | None = None
    mode: str = "diff"
    writes: int = 3
    config: tuple = ()  # extra EnsembleConfig fields, as (name, value) pairs

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"unknown scenario {self.kind!r}; scenarios are {', '.join(KINDS)}")
        if not isinstance(self.servers, int) or not 1 <= self.servers <= 9:
            raise UsageError(f"servers must be an int from 1 to 9, got {self.servers!r}")
        if self.kind in ("sync",) and self.servers < 3:
            raise UsageError("a sync replay needs at least 3 servers (a quorum must outlive a crash)")
        if self.mode not in SYNC_MODES:
            raise UsageError(f"unknown sync mode {self.mode!r}; modes are {', '.join(SYNC_MODES)}")
        if self.crash_leader_at is not None and (not isinstance(self.crash_leader_at, int) or self.crash_leader_at < 0):
            raise UsageError(f"crash_leader_at is a virtual time in ms >= 0, got {self.crash_leader_at!r}")
        if not isinstance(self.writes, int) or not 1 <= self.writes <= 50:
            raise UsageError(f"writes must be an int from 1 to 50, got {self.writes!r}")

    @property
    def title(self) -> str:
        if self.kind == "election":
            crash = f", leader crashed at {self.crash_leader_at} ms" if self.crash_leader_at is not None else ""
            return f"Fast Leader Election: {self.servers} servers, seed {self.seed}{crash}"
        if self.kind == "sync":
            return f"Synchronisation ({self.mode.upper()}): {self.servers} servers, seed {self.seed}"
        return f"Broadcast: {self.writes} writes, {self.servers} servers, seed {self.seed}"

    # The set-up. Returns the ensemble, the opening actions and a "done" predicate.
    def build(self) -> tuple[Ensemble, list[Action], Callable[[Ensemble], bool]]:
        return getattr(self, f"_build_{self.kind}")()

    def _ensemble(self, **extra: Any) -> Ensemble:
        config = dict(self.config)
        config.update(extra)
        return Ensemble(self.servers, self.observers, seed=self.seed, impl=self.impl, **config)

    def _build_election(self):
        durable = None
        if self.histories:
            durable = {sid: disk_with_history(z) for sid, z in sorted(self.histories.items())}
        config = dict(self.config)
        e = Ensemble(self.servers, self.observers, seed=self.seed, impl=self.impl, durable=durable, **config)
        crashed: dict[str, Any] = {}
        if self.crash_leader_at is not None:
            def crash_leader(world) -> None:
                leaders = [sid for sid in e.servers if world.state_of(sid) == "LEADING"]
                crashed["sid"] = leaders[0] if leaders else None
                if leaders:
                    world.crash(leaders[0])
            e.world.call_at(self.crash_leader_at, crash_leader)

        def done(e: Ensemble) -> bool:
            if self.crash_leader_at is not None and "sid" not in crashed:
                return False
            return e.settled() and (crashed.get("sid") is None or e.leader() != crashed["sid"])
        return e, [], done

    def _build_sync(self):
        if self.mode == "trunc":
            return self._build_trunc()
        extra = {"committed_log_size": 2, "txn_log_sync": False} if self.mode == "snap" else {}
        e = self._ensemble(**extra)
        leader = e.wait_for_leader()
        zk = e.client(servers=[leader], timeout_ms=LONG_SESSION_MS)
        zk.create("/base", b"0")
        follower = min(sid for sid in e.config.voters if sid != leader)
        e.crash(follower)
        for i in range(self.writes if self.mode == "diff" else max(self.writes, 4)):
            zk.create(f"/missed{i}", str(i).encode())
        return e, [Action("restart", (follower,))], Ensemble.settled

    def _build_trunc(self):
        from distlab.zk.ops import CreateRequest

        e = self._ensemble()
        leader = e.wait_for_leader()
        others = [sid for sid in e.servers if sid != leader]
        main = e.client(servers=others, timeout_ms=LONG_SESSION_MS, name="main")
        main.create("/kept", b"k")
        lone = e.client(servers=[leader], timeout_ms=LONG_SESSION_MS, name="lone")
        e.wait_for(Ensemble.settled, 60_000, "a settled ensemble")
        logged = len(e.peer(leader).log)
        xid = lone.send_async(CreateRequest(path="/lost", data=b"never"))
        if not e.world.run_until(lambda w: len(e.peer(leader).log) > logged, e.world.now + 5_000):
            raise RuntimeError("the lone leader never logged the write")
        # Cut off in the very step the leader logs it: its PROPOSALs are lost in flight.
        e.partition([leader, "lone"], others + ["main"])
        e.wait_for(lambda e: e.leader() in others and not e.peer(leader).serving, 60_000, "a new leader")
        e.wait_for(lambda e: xid in lone.process.results, 30_000, "the lone client's answer")
        return e, [Action("heal")], Ensemble.settled

    def _build_broadcast(self):
        from distlab.zk.ops import CreateRequest

        e = self._ensemble()
        leader = e.wait_for_leader()
        followers = [sid for sid in e.config.voters if sid != leader]
        target = followers[0] if followers else leader
        zk = e.client(servers=[target], timeout_ms=LONG_SESSION_MS)
        e.wait_for(Ensemble.settled, 60_000, "a settled ensemble")
        start = e.world.now + 1
        xids = []
        for i in range(self.writes):
            xids.append(zk.send_async(CreateRequest(path=f"/w{i}", data=str(i).encode()), at=start + 15 * i))

        def done(e: Ensemble) -> bool:
            if not e.world.is_up(zk.name) or not all(x in zk.process.results for x in xids):
                return False
            leader = e.leader()
            if leader is None:
                return False
            target = e.peer(leader).tree.last_processed_zxid
            return all(e.peer(s).tree.last_processed_zxid == target for s in e.servers if e.world.is_up(s))
        return e, [], done


# --------------------------------------------------------------------------- runs ---------
def _step(world: Any) -> bool:
    """Process events until one leaves a trace record; False if the world is idle."""
    while True:
        mark = len(world.trace.records)
        if world.step() is None:
            return False
        if len(world.trace.records) > mark:
            return True


class Run:
    """One run of a scenario, frame by frame; :meth:`branch` makes another.

    Attributes:
        scenario: what was built.
        name: ``"original"`` or ``"branch N: <action> at frame F"``.
        frame_ops: for each frame, ``None`` (a simulator step) or the :class:`Action` done.
        boundaries: for each frame, the ``(first, end)`` trace records it produced.
    """

    def __init__(self, scenario: Scenario, max_frames: int = MAX_FRAMES) -> None:
        self._setup(scenario, "original", None, None)
        opening, done = self._opening, self._done
        for action in opening:
            self._act(action, origin="")
        self._run(done, max_frames)

    def _setup(self, scenario: Scenario, name: str, parent: "Run | None", branch_at: int | None) -> None:
        self.scenario = scenario
        self.name = name
        self.parent = parent
        self.branch_at = branch_at
        self.ensemble, self._opening, self._done = scenario.build()
        self.world = self.ensemble.world
        self.config = self.ensemble.config
        self.mark = len(self.world.trace.records)
        self.frame_ops: list[Action | None] = []
        self.boundaries: list[tuple[int, int]] = []
        self.origins: dict[int, str] = {}
        self._timeline: Timeline | None = None

    # ------------------------------------------------------------------ driving -------------
    def _advance(self) -> bool:
        mark = len(self.world.trace.records)
        if not _step(self.world):
            return False
        self.frame_ops.append(None)
        self.boundaries.append((mark, len(self.world.trace.records)))
        return True

    def _act(self, action: Action, origin: str) -> None:
        mark = len(self.world.trace.records)
        action.apply(self.world)
        if len(self.world.trace.records) > mark:
            if origin:
                self.origins[len(self.boundaries)] = origin
            self.frame_ops.append(action)
            self.boundaries.append((mark, len(self.world.trace.records)))
        self._timeline = None

    def _run(self, done: Callable[[Ensemble], bool], max_frames: int, at_least: int = 0) -> None:
        start = len(self.boundaries)
        while len(self.boundaries) < max_frames:
            if len(self.boundaries) - start >= at_least and done(self.ensemble):
                break
            if not self._advance():
                break
        self._timeline = None

    # ------------------------------------------------------------------ looking -------------
    @property
    def trace(self):
        return self.world.trace

    @property
    def timeline(self) -> Timeline:
        if self._timeline is None:
            self._timeline = Timeline(self.trace, self.config, self.boundaries, origins=self.origins)
        return self._timeline

    def __len__(self) -> int:
        return len(self.boundaries)

    def __repr__(self) -> str:
        return f"Run({self.name!r}, {len(self)} frames)"

    # ------------------------------------------------------------------ branching -----------
    def branch(self, at: int, action: Action, name: str | None = None,
               max_frames_after: int = 1500) -> "Run":
        """A new run: this one replayed up to frame ``at`` (included), then ``action``, then on.

        Raises:
            UsageError: ``at`` is not a frame of this run, or the action does not fit the
                moment (e.g. crashing a server that is down); no run is made.
            RuntimeError: the replay did not reproduce this run's trace (the scenario or the
                implementation is not deterministic).
        """
        if not 0 <= at < len(self):
            raise UsageError(f"frame {at} is not in this run (frames 0..{len(self) - 1})")
        prefix = self.frame_ops[:at + 1]
        origins = {i: o for i, o in self.origins.items() if i <= at}
        child = Run.__new__(Run)
        child._setup(self.scenario, name or f"{action.describe()} at frame {at}", self, at)
        for op in prefix:
            if op is None:
                child._advance()
            else:
                child._act(op, origin="")
        child.origins.update(origins)
        end = self.boundaries[at][1]
        if child.boundaries != self.boundaries[:at + 1] or \
                child.trace.to_json(0, end) != self.trace.to_json(0, end):
            raise RuntimeError("replaying the run did not give the same trace: the scenario or the "
                               "implementation is not deterministic (same seed, same inputs, different run)")
        child._act(action, origin=action.describe())
        child._run(lambda e: e.settled(), len(child.boundaries) + max_frames_after,
                   at_least=MIN_FRAMES_AFTER_ACTION)
        return child
