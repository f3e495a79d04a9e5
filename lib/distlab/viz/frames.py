"""From a trace to frames: what every server looked like after each event.

The viewer never inspects live processes. Everything it shows is rebuilt here from the
simulator's trace (:mod:`distlab.sim.trace`), so a run saved with ``Trace.save`` and read back
with ``Trace.load`` is viewed exactly like a live one, and a learner's own election
implementation is viewed like the reference one.

Theory of operation:

1. **Events.** A frame is one simulator event: a delivered message, a fired timer, a boot, a
   crash, a partition... A live run knows where each ``World.step()`` began and ended and
   passes those *boundaries*; for a saved trace :func:`segment` finds them again (a primary
   record — deliver, timer, start, crash, ... — followed by what the acting process did in
   the same step: its state change, sends and notes).
2. **Server state** is reduced record by record (:class:`_Reducer`):

   - the role from ``state`` records, up/down from ``start``/``restart``/``crash``;
   - the vote and the election round from the votes (``Notification``) a server *sends*:
     FLE broadcasts its proposal every time it changes, so the last one sent is the current
     one; a server that decides by joining takes the vote that made it decide;
   - epochs and the last zxid from the typed events the protocol emits
     (:mod:`distlab.zab.events`: ``BecameLooking``, ``EpochProposed``, ``EpochAcked``,
     ``LearnerUpToDate``...), from LEADERINFO/ACKEPOCH and NEWLEADER/ACK exchanges;
   - each server's log (the zxids it logged during the run: a follower ACKs a PROPOSAL only
     after logging it; ``Applied`` names every applied txn; ``Truncated`` and
     ``SnapshotLoaded`` cut or replace it), on top of a *base*: the history it already held
     when the trace began;
   - the sync plan the leader chose for each learner (``SyncPlanChosen``).

3. **Messages in flight** are the sends not yet delivered or dropped (counting duplicates).

Notes are read through ``record.event`` only, by a table from event type to handler
(``_EVENT_HANDLERS``); their text is for people, never parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from distlab.sim.trace import Trace
from distlab.viz.messages import fields_of, kind_of, label_of
from distlab.zab.events import (Acked, Applied, BecameLooking, Committed, EpochAcked, EpochProposed, Established,
                                LeaderElected, Proposed, SnapshotLoaded, SyncPlanChosen, SyncStarted, Truncated, LearnerUpToDate)
from distlab.zab.zxid import counter_of, epoch_of

__all__ = [
    "VoteView",
    "ServerView",
    "MessageView",
    "SyncInfo",
    "Frame",
    "Timeline",
    "segment",
    "parse_zxid",
    "PRIMARY_KINDS",
    "STATES",
]

STATES = ("LOOKING", "FOLLOWING", "LEADING", "OBSERVING")
PRIMARY_KINDS = frozenset({"start", "restart", "crash", "deliver", "reset", "timer", "partition", "heal"})
NO_VOTE_ID = -(2**62)  # anything below is FLE's "no vote" (Long.MIN_VALUE)


def parse_zxid(text: str) -> int:
    """``"0x1_00000007"`` -> ``0x100000007`` (the inverse of ``format_zxid``; ``"-1"`` -> -1)."""
    text = text.strip()
    if text.startswith("0x"):
        body = text[2:]
        if "_" in body:
            epoch, counter = body.split("_", 1)
            return (int(epoch, 16) << 32) | int(counter, 16)
        return int(body, 16)
    return int(text)


# --------------------------------------------------------------------------- views --------
@dataclass(frozen=True)
class VoteView:
    """A server's current vote: who it wants as leader, that server's zxid and epoch."""

    leader: int
    zxid: int | None
    peer_epoch: int | None

    @property
    def none(self) -> bool:
        return self.leader < NO_VOTE_ID


@dataclass(frozen=True)
class ServerView:
    """One server as the trace shows it at the end of a frame."""

    sid: int
    observer: bool
    booted: bool = False
    up: bool = False
    state: str | None = None  # LOOKING / FOLLOWING / LEADING / OBSERVING; None while down
    vote: VoteView | None = None
    round: int = 0
    accepted_epoch: int | None = None
    current_epoch: int | None = None
    last_processed: int | None = None
    leader: int | None = None  # the leader it follows (or itself, LEADING)
    phase: str = "ELECTION"  # ELECTION / DISCOVERY / SYNCHRONIZATION / BROADCAST
    base: int = 0  # history held before the trace began: every txn up to this zxid
    log: tuple[int, ...] = ()  # zxids logged during the trace, ascending
    sync_mode: str | None = None  # how it was last synchronised (learner side)
    votes: tuple[tuple[int, VoteView, int, str], ...] = ()  # (sender, vote, round, state) heard this round
    heard_at: int | None = None  # when a message from its leader last arrived (learners)

    @property
    def last_zxid(self) -> int:
        """The last logged zxid (``getLastLoggedZxid``)."""
        return max(self.base, self.log[-1]) if self.log else self.base

    @property
    def status(self) -> str:
        """The state, or ``CRASHED`` / ``NOT STARTED``."""
        if not self.booted:
            return "NOT STARTED"
        if not self.up:
            return "CRASHED"
        return self.state or "BOOTING"


@dataclass(frozen=True)
class MessageView:
    """A message copy in flight (or the one this frame delivered or dropped)."""

    msg_id: int
    src: Any
    dst: Any
    kind: str
    label: str
    sent_at: int
    copies: int = 1
    msg: Any = None


@dataclass(frozen=True)
class SyncInfo:
    """The plan a leader chose for one learner (from its "leader L syncs S ..." line)."""

    leader: int
    learner: int
    learner_last: int
    mode: str  # DIFF / TRUNC / TRUNC+DIFF / SNAP
    plan: str  # describe_plan's line: "DIFF: send 0x1_00000002 .. (forward from ...)"
    time: int
    leader_base: int
    leader_log: tuple[int, ...]
    learner_base: int
    learner_log: tuple[int, ...]


@dataclass(frozen=True)
class Frame:
    """Everything the viewer draws for one event.

    ``before`` is the servers as the event found them; ``servers`` as it left them.
    """

    index: int
    time: int
    records: tuple
    event: Any
    actor: Any
    servers: tuple[ServerView, ...]
    before: tuple[ServerView, ...]
    in_flight: tuple[MessageView, ...]
    handled: MessageView | None  # the message this frame delivered or dropped
    groups: tuple[tuple, ...]
    cuts: tuple[tuple, ...]
    syncs: tuple[SyncInfo, ...]
    changes: tuple[tuple[int, str, str], ...]  # (sid, old status, new status)
    explanation: str = ""
    origin: str = ""  # "" for the run itself, else what a person did ("crash 3")

    @property
    def state_change(self) -> bool:
        return bool(self.changes)

    def server(self, sid: int) -> ServerView:
        for view in self.servers:
            if view.sid == sid:
                return view
        raise KeyError(f"no server {sid!r} in this frame (servers {[v.sid for v in self.servers]})")

    @property
    def notes(self) -> list[str]:
        return [r.text for r in self.records if r.kind == "note"]


# --------------------------------------------------------------------------- segmentation -
def _actor(record: Any) -> Any:
    kind = record.kind
    if kind in ("start", "restart", "crash", "timer", "reset", "state", "note"):
        return record.node
    if kind == "deliver":
        return record.dst
    if kind in ("send", "duplicate"):
        return record.src
    return None


def segment(records: Sequence[Any], start: int = 0) -> list[tuple[int, int]]:
    """Split ``records[start:]`` into events: ``[(first, end), ...]`` record index ranges.

    An event opens with a primary record (deliver, timer, start, restart, crash, reset,
    partition, heal) or with anything done from outside the simulation (a note with no node,
    a message injected from outside, a message dropped by hand). The records that follow and
    belong to the acting process (its state, sends, duplicates, notes, and drops of what it
    just sent) complete the event. For a live run this reproduces ``World.step()`` exactly.
    """
    bounds: list[tuple[int, int]] = []
    first = None
    actor = None
    for i in range(start, len(records)):
        r = records[i]
        kind = r.kind
        joins = False
        if first is not None:
            if kind in ("state", "note") and r.node is not None and r.node == actor:
                joins = True
            elif kind in ("send", "duplicate") and r.src == actor and actor is not None:
                joins = True
            elif kind == "drop" and i > first and records[i - 1].kind in ("send", "duplicate", "drop") \
                    and records[i - 1].msg_id == r.msg_id:
                joins = True  # lost as it was sent, or another copy of one message dropped by hand
        if not joins:
            if first is not None:
                bounds.append((first, i))
            first = i
            actor = _actor(r)
            if kind == "send":
                actor = None  # injected from outside: nothing follows from it
    if first is not None:
        bounds.append((first, len(records)))
    return bounds


# --------------------------------------------------------------------------- reducer ------
class _Server:
    __slots__ = ("sid", "observer", "booted", "up", "state", "vote", "round", "accepted_epoch",
                 "current_epoch", "last_processed", "leader", "phase", "base", "log", "sync_mode",
                 "votes", "leader_info", "heard_at", "_view")

    def __init__(self, sid: int, observer: bool) -> None:
        self.sid = sid
        self.observer = observer
        self.booted = self.up = False
        self.state: str | None = None
        self.vote: VoteView | None = None
        self.round = 0
        self.accepted_epoch: int | None = None
        self.current_epoch: int | None = None
        self.last_processed: int | None = None
        self.leader: int | None = None
        self.phase = "ELECTION"
        self.base = 0
        self.log: list[int] = []
        self.sync_mode: str | None = None
        self.votes: dict[int, tuple[VoteView, int, str]] = {}
        self.leader_info: int | None = None
        self.heard_at: int | None = None
        self._view: ServerView | None = None

    @property
    def last_zxid(self) -> int:
        return max(self.base, self.log[-1]) if self.log else self.base

    def touch(self) -> None:
        self._view = None

    def view(self) -> ServerView:
        if self._view is None:
            self._view = ServerView(
                sid=self.sid, observer=self.observer, booted=self.booted, up=self.up, state=self.state,
                vote=self.vote, round=self.round, accepted_epoch=self.accepted_epoch,
                current_epoch=self.current_epoch, last_processed=self.last_processed, leader=self.leader,
                phase=self.phase, base=self.base, log=tuple(self.log), sync_mode=self.sync_mode,
                votes=tuple((s, v, r, st) for s, (v, r, st) in sorted(self.votes.items())),
                heard_at=self.heard_at)
        return self._view

    def logged(self, zxid: int) -> None:
        if zxid <= self.base or zxid in self.log:
            return
        if not self.log or zxid > self.log[-1]:
            self.log.append(zxid)
        else:
            self.log.append(zxid)
            self.log.sort()

    def truncate(self, zxid: int) -> None:
        self.log = [z for z in self.log if z <= zxid]
        self.base = min(self.base, zxid)


def _vote_of(f: dict) -> VoteView:
    return VoteView(f.get("leader"), f.get("zxid"), f.get("peer_epoch"))


class _Reducer:
    """Applies records one by one to the per-server model (see the module docstring)."""

    def __init__(self, voters: Iterable[int], observers: Iterable[int]) -> None:
        self.servers: dict[Any, _Server] = {}
        for sid in voters:
            self.servers[sid] = _Server(sid, False)
        for sid in observers:
            self.servers[sid] = _Server(sid, True)
        self.voters = frozenset(voters)
        self.in_flight: dict[int, list] = {}  # msg_id -> [MessageView, copies]
        self.groups: tuple[tuple, ...] = ()
        self.cuts: tuple[tuple, ...] = ()
        self.syncs: dict[int, SyncInfo] = {}
        self.handled: MessageView | None = None
        self.delivered_vote: dict[Any, VoteView] = {}  # dst -> the vote delivered to it in this event

    # ---------------------------------------------------------------- records --------------
    def apply(self, r: Any) -> None:
        kind = r.kind
        method = getattr(self, "_on_" + kind, None)
        if method is not None:
            method(r)

    def _server(self, node: Any) -> _Server | None:
        s = self.servers.get(node)
        if s is not None:
            s.touch()
        return s

    def _on_start(self, r) -> None:
        s = self._server(r.node)
        if s is None:
            return
        s.booted = s.up = True
        s.state = None
        s.vote = None
        s.round = 0  # the election's logicalclock lives in memory only
        s.leader = None
        s.votes = {}
        s.phase = "ELECTION"

    _on_restart = _on_start

    def _on_crash(self, r) -> None:
        s = self._server(r.node)
        if s is None:
            return
        s.up = False
        s.state = None
        s.vote = None
        s.leader = None
        s.votes = {}
        s.phase = "ELECTION"

    def _on_state(self, r) -> None:
        s = self._server(r.node)
        if s is None:
            return
        s.state = r.new
        if r.new == "LOOKING":
            s.leader = None
            s.phase = "ELECTION"
            s.votes = {}
        elif r.new == "LEADING":
            s.leader = s.sid
            s.phase = "DISCOVERY"
        elif r.new in ("FOLLOWING", "OBSERVING"):
            s.phase = "DISCOVERY"
            s.heard_at = r.time

    def _on_send(self, r) -> None:
        msg = r.msg
        name, f = fields_of(msg)
        view = MessageView(r.msg_id, r.src, r.dst, kind_of(msg), label_of(msg), r.time, 1, msg)
        self.in_flight[r.msg_id] = [view, 1]
        s = self.servers.get(r.src)
        if s is None:
            return
        if name == "Notification":
            if f.get("sid", r.src) == r.src:
                vote = _vote_of(f)
                if vote != s.vote or f.get("election_epoch") != s.round:
                    s.touch()
                    s.vote = vote
                    if s.state in (None, "LOOKING"):
                        s.round = f.get("election_epoch", s.round)
        elif name == "AckEpoch":
            s.touch()
            if s.leader_info is not None and (s.accepted_epoch is None or s.leader_info > s.accepted_epoch):
                s.accepted_epoch = s.leader_info
            s.phase = "SYNCHRONIZATION"
        elif name == "Ack":
            zxid = f.get("zxid")
            if isinstance(zxid, int):
                s.touch()
                if counter_of(zxid) == 0:
                    if s.phase == "SYNCHRONIZATION":
                        s.current_epoch = epoch_of(zxid)  # persisted before the NEWLEADER ack
                else:
                    s.logged(zxid)  # a follower ACKs a proposal only after logging it
        elif name == "ProposalPacket" and s.state == "LEADING":
            zxid = f.get("zxid")
            if isinstance(zxid, int) and zxid > s.last_zxid:
                s.touch()
                s.logged(zxid)  # Leader.propose logs before it sends

    def _on_duplicate(self, r) -> None:
        entry = self.in_flight.get(r.msg_id)
        if entry is not None:
            entry[1] += 1

    def _take(self, r) -> MessageView | None:
        entry = self.in_flight.get(r.msg_id)
        if entry is None:
            return None
        entry[1] -= 1
        if entry[1] <= 0:
            del self.in_flight[r.msg_id]
        return entry[0]

    def _on_deliver(self, r) -> None:
        view = self._take(r) or MessageView(r.msg_id, r.src, r.dst, kind_of(r.msg), label_of(r.msg), r.time, 1, r.msg)
        self.handled = view
        name, f = fields_of(r.msg)
        s = self.servers.get(r.dst)
        if s is None:
            return
        if s.leader is not None and r.src == s.leader and s.leader != s.sid:
            s.touch()
            s.heard_at = r.time
        if name == "Notification":
            vote = _vote_of(f)
            self.delivered_vote[r.dst] = vote
            sender = f.get("sid", r.src)
            if s.state == "LOOKING" and sender in self.voters:
                rnd = f.get("election_epoch", 0)
                state = f.get("state") or "LOOKING"
                if state == "LOOKING" and rnd > s.round:
                    s.touch()
                    s.votes = {}  # a later round: the votes heard so far are forgotten
                    s.round = rnd
                if rnd == s.round:
                    s.touch()
                    s.votes[sender] = (vote, rnd, state)
        elif name == "LeaderInfo":
            s.leader_info = f.get("new_epoch")

    def _on_drop(self, r) -> None:
        view = self._take(r) or MessageView(r.msg_id, r.src, r.dst, kind_of(r.msg), label_of(r.msg), r.time, 1, r.msg)
        self.handled = view

    def _on_partition(self, r) -> None:
        self.groups = tuple(tuple(g) for g in r.groups)
        self.cuts = tuple(tuple(c) for c in r.cuts)

    def _on_heal(self, r) -> None:
        self.groups = ()
        self.cuts = ()

    def _on_note(self, r) -> None:
        """A typed event (:mod:`distlab.zab.events`): one handler per event type, never text."""
        event = r.event
        handler = _EVENT_HANDLERS.get(type(event))
        if handler is None:
            return
        s = self._server(r.node)
        if s is not None:
            handler(self, s, event, r)

    def _ev_applied(self, s: _Server, e: Applied, r) -> None:
        s.logged(e.zxid)
        s.last_processed = e.zxid

    def _ev_committed(self, s: _Server, e: Committed, r) -> None:
        s.logged(e.zxid)

    def _ev_logged(self, s: _Server, e: Proposed | Acked, r) -> None:
        s.logged(e.zxid)  # the leader logs before it proposes; a follower ACKs after logging

    def _ev_looking(self, s: _Server, e: BecameLooking, r) -> None:
        s.last_processed = e.last_processed
        s.accepted_epoch, s.current_epoch = e.accepted_epoch, e.current_epoch
        last = e.last_logged
        if last > s.last_zxid:
            s.base = last  # held before the trace began
        elif last < s.last_zxid:
            s.truncate(last)  # what was not durable is gone

    def _ev_established(self, s: _Server, e: Established, r) -> None:
        s.phase = "BROADCAST"
        if s.vote is not None:
            s.vote = VoteView(s.vote.leader, s.vote.zxid, e.epoch)  # updateElectionVote

    def _ev_elected(self, s: _Server, e: LeaderElected, r) -> None:
        s.leader = e.leader
        s.round = e.round
        if e.state != "LEADING" and (s.vote is None or s.vote.leader != e.leader):
            delivered = self.delivered_vote.get(s.sid)
            s.vote = delivered if delivered is not None and delivered.leader == e.leader \
                else VoteView(e.leader, None, None)

    def _ev_epoch_proposed(self, s: _Server, e: EpochProposed, r) -> None:
        s.accepted_epoch = e.epoch

    def _ev_epoch_acked(self, s: _Server, e: EpochAcked, r) -> None:
        s.current_epoch = e.epoch
        s.phase = "SYNCHRONIZATION"

    def _ev_sync_plan(self, s: _Server, e: SyncPlanChosen, r) -> None:
        other = self.servers.get(e.learner)
        self.syncs[e.learner] = SyncInfo(
            leader=s.sid, learner=e.learner, learner_last=e.learner_last, mode=e.mode,
            plan=e.plan,
            time=r.time, leader_base=s.base, leader_log=tuple(s.log),
            learner_base=other.base if other else 0, learner_log=tuple(other.log) if other else ())

    def _ev_sync_started(self, s: _Server, e: SyncStarted, r) -> None:
        s.sync_mode = e.mode
        s.phase = "SYNCHRONIZATION"

    def _ev_uptodate(self, s: _Server, e: LearnerUpToDate, r) -> None:
        s.phase = "BROADCAST"
        s.current_epoch = e.epoch
        if s.vote is not None:
            s.vote = VoteView(s.vote.leader, s.vote.zxid, e.epoch)

    def _ev_truncated(self, s: _Server, e: Truncated, r) -> None:
        s.last_processed = e.last_processed
        s.truncate(e.zxid)

    def _ev_snapshot(self, s: _Server, e: SnapshotLoaded, r) -> None:
        s.last_processed = e.last_processed
        zxid = e.zxid
        leader = self.servers.get(s.leader) if s.leader is not None else None
        if leader is not None:
            s.base = min(leader.base, zxid)
            s.log = [z for z in leader.log if z <= zxid]
        else:
            s.base, s.log = zxid, []
        if s.last_zxid < zxid:
            s.base = zxid


# What each typed event does to the server that emitted it (the frame builder's table).
_EVENT_HANDLERS = {
    Applied: _Reducer._ev_applied,
    Committed: _Reducer._ev_committed,
    Proposed: _Reducer._ev_logged,
    Acked: _Reducer._ev_logged,
    BecameLooking: _Reducer._ev_looking,
    Established: _Reducer._ev_established,
    LeaderElected: _Reducer._ev_elected,
    EpochProposed: _Reducer._ev_epoch_proposed,
    EpochAcked: _Reducer._ev_epoch_acked,
    SyncPlanChosen: _Reducer._ev_sync_plan,
    SyncStarted: _Reducer._ev_sync_started,
    LearnerUpToDate: _Reducer._ev_uptodate,
    Truncated: _Reducer._ev_truncated,
    SnapshotLoaded: _Reducer._ev_snapshot,
}


# --------------------------------------------------------------------------- timeline -----
def _infer_members(records: Sequence[Any]) -> tuple[list[int], list[int]]:
    """Servers of a saved trace with no config: the int nodes that booted; observers by
    their OBSERVERINFO or OBSERVING state."""
    members: set[int] = set()
    observers: set[int] = set()
    for r in records:
        if r.kind in ("start", "restart") and isinstance(r.node, int) and not isinstance(r.node, bool):
            members.add(r.node)
        elif r.kind == "state" and r.new == "OBSERVING":
            observers.add(r.node)
        elif r.kind == "send" and kind_of(r.msg) == "OBSERVERINFO":
            observers.add(r.src)
    return sorted(members - observers), sorted(observers & members)


class Timeline:
    """The frames of one run: ``timeline[i]`` is the picture after event ``i``.

    Args:
        trace: a :class:`~distlab.sim.trace.Trace` (live or loaded) or a list of records.
        config: the ensemble's :class:`~distlab.zab.config.EnsembleConfig` (voters and
            observers); inferred from the trace when omitted.
        boundaries: ``[(first, end), ...]`` record ranges of the events to show, as a live
            run records them; found by :func:`segment` when omitted.
        start: records before this index set the scene but get no frames (a run's set-up).
        origins: ``{frame index: "what a person did"}`` for frames made by hand.
    """

    def __init__(self, trace: Trace | Sequence[Any], config: Any = None,
                 boundaries: Sequence[tuple[int, int]] | None = None, start: int = 0,
                 origins: dict[int, str] | None = None) -> None:
        from distlab.viz.explain import explain

        records = trace.records if isinstance(trace, Trace) else list(trace)
        self.records = records
        if config is not None:
            voters, observers = list(config.voters), list(config.observers)
        else:
            voters, observers = _infer_members(records)
        self.voters = tuple(voters)
        self.observers = tuple(observers)
        self.clients: tuple = tuple(sorted(
            {n for r in records for n in (getattr(r, "src", None), getattr(r, "dst", None))
             if n is not None and n not in voters and n not in observers},
            key=lambda n: (str(type(n)), str(n))))
        if boundaries is None:
            boundaries = segment(records, start)
        self.boundaries = list(boundaries)
        origins = origins or {}
        reducer = _Reducer(voters, observers)
        for r in records[:self.boundaries[0][0] if self.boundaries else len(records)]:
            reducer.apply(r)
        self.frames: list[Frame] = []
        for index, (first, end) in enumerate(self.boundaries):
            before = tuple(s.view() for s in reducer.servers.values())
            reducer.handled = None
            reducer.delivered_vote = {}
            recs = tuple(records[first:end])
            for r in recs:
                reducer.apply(r)
            after = tuple(s.view() for s in reducer.servers.values())
            changes = tuple((b.sid, b.status, a.status) for b, a in zip(before, after) if b.status != a.status)
            event = recs[0] if recs else None
            in_flight = tuple(
                MessageView(v.msg_id, v.src, v.dst, v.kind, v.label, v.sent_at, copies, v.msg)
                if copies != v.copies else v
                for v, copies in (reducer.in_flight[k] for k in sorted(reducer.in_flight)))
            frame = Frame(
                index=index, time=event.time if event is not None else 0, records=recs, event=event,
                actor=_actor(event) if event is not None else None, servers=after, before=before,
                in_flight=in_flight, handled=reducer.handled, groups=reducer.groups, cuts=reducer.cuts,
                syncs=tuple(reducer.syncs[k] for k in sorted(reducer.syncs)), changes=changes,
                origin=origins.get(index, ""))
            self.frames.append(_with_explanation(frame, explain(frame, self.voters)))

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> Frame:
        return self.frames[index]

    def __iter__(self):
        return iter(self.frames)

    def state_changes(self) -> list[int]:
        """Indexes of the frames where some server changed state (or crashed, or booted)."""
        return [f.index for f in self.frames if f.state_change]

    def next_state_change(self, index: int) -> int:
        """The first state-change frame after ``index`` (the last frame if there is none)."""
        for f in self.frames[index + 1:]:
            if f.state_change:
                return f.index
        return len(self.frames) - 1

    def previous_state_change(self, index: int) -> int:
        for f in reversed(self.frames[:max(index, 0)]):
            if f.state_change:
                return f.index
        return 0

    def explanations(self) -> list[str]:
        return [f.explanation for f in self.frames]


def _with_explanation(frame: Frame, text: str) -> Frame:
    object.__setattr__(frame, "explanation", text)
    return frame
