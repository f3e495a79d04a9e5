"""The leader's side of Zab: discovery, synchronisation and broadcast (``Leader`` + ``LearnerHandler``).

1. **Discovery** (``Leader.getEpochToPropose`` / ``waitForEpochAck``): learners send
   FOLLOWERINFO with their acceptedEpoch. Once a quorum *including the leader* has connected,
   the new epoch is ``1 + max(acceptedEpoch)`` over everyone connected so far; the leader
   persists it as its acceptedEpoch and sends LEADERINFO. Learners answer ACKEPOCH with their
   currentEpoch and last zxid; once a quorum has acked, the leader persists currentEpoch.
2. **Synchronisation** (``LearnerHandler.syncFollower``): for each learner the leader chooses
   DIFF, TRUNC+DIFF, TRUNC or SNAP with ``impl.choose_sync_mode`` (the Lab 6 seam), sends the
   plan, starts forwarding it new proposals, then sends NEWLEADER. When a quorum has acked
   NEWLEADER the leader starts serving and sends UPTODATE (``waitForNewLeaderAck``).
3. **Broadcast** (``ProposalRequestProcessor`` .. ``CommitProcessor``): each write becomes a
   txn with the next zxid, is logged, and is sent as PROPOSAL; the leader acks its own log
   write; once a quorum (``impl.has_quorum``) has acked — and every earlier proposal is
   committed — it sends COMMIT to followers and INFORM to observers, and applies it.

It also tracks sessions (``SessionTrackerImpl`` runs on the leader) and checks every half
tick that a quorum of synced learners is still there; without one it steps down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from distlab.zab.clientproto import SyncRequest
from distlab.zab.messages import (
    Ack,
    AckEpoch,
    Commit,
    FollowerInfo,
    Inform,
    LeaderInfo,
    NewLeader,
    ObserverInfo,
    Ping,
    Proposal,
    ProposalPacket,
    Request,
    Snap,
    SyncReply,
    UpToDate,
)
from distlab.zab.events import (Committed, EpochAcked, EpochProposed, Established, LearnerDropped,
                                Proposed, ProtocolViolated, SessionExpired, SyncPlanChosen)
from distlab.zab.phases import HANDLER_TRANSITIONS, HandlerPhase, UnexpectedPacket, advance
from distlab.zab.sync import LeaderHistory, SyncMode, SyncPlan, describe_plan
from distlab.zab.peer import ProtocolViolation, txn_fingerprint
from distlab.zab.zxid import MAX_COUNTER, counter_of, format_zxid, make_zxid
from distlab.zk.errors import Code, KeeperError
from distlab.zk.ops import CloseSessionRequest, CreateSessionTxn, CloseSessionTxn, ErrorTxn, prepare, OutstandingChanges
from distlab.zk.sessions import SessionTracker

__all__ = ["Leader", "LearnerHandler"]





@dataclass
class LearnerHandler:
    """What the leader knows about one learner (one ``LearnerHandler`` thread in ZooKeeper).

    ``phase`` walks: info -> epoch_sent -> epoch_acked -> newleader_sent -> newleader_acked
    -> uptodate (:class:`~distlab.zab.phases.HandlerPhase`); any other step raises
    :class:`~distlab.zab.phases.IllegalTransition` (``HANDLER_TRANSITIONS`` is the table).
    """

    sid: int
    observer: bool
    accepted_epoch: int
    last_heard: int
    phase: HandlerPhase = HandlerPhase.INFO
    last_zxid: int | None = None
    current_epoch: int | None = None
    forwarding: bool = False  # receives PROPOSAL/COMMIT or INFORM
    plan: SyncPlan | None = None
    registration: int = 0

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "phase":
            current = self.__dict__.get("phase")
            value = HandlerPhase(value) if current is None else advance(HANDLER_TRANSITIONS, current, value)
        object.__setattr__(self, name, value)


@dataclass
class _Outstanding:
    proposal: Proposal
    acks: set[int] = field(default_factory=set)


class Leader:
    """The LEADING role of a :class:`~distlab.zab.peer.QuorumPeer`."""

    TIMER_PREFIX = "leader."
    INIT_TIMER = "leader.init"
    PING_TIMER = "leader.ping"
    SESSION_TIMER = "leader.sessions"

    def __init__(self, peer) -> None:
        self.peer = peer
        self.sid = peer.sid
        self.config = peer.config
        self.has_quorum = peer.impl.has_quorum
        self.voters = frozenset(peer.config.voters)
        self.learners: dict[int, LearnerHandler] = {}
        self.connecting: set[int] = {self.sid}
        self.max_accepted_epoch = peer.accepted_epoch
        self.epoch: int | None = None
        self.epoch_acks: set[int] = {self.sid}
        self.epoch_quorum = False
        self.newleader_acks: set[int] = {self.sid}
        self.established = False
        self.next_counter = 1
        self.outstanding: dict[int, _Outstanding] = {}
        self.last_committed = 0
        self.changes = OutstandingChanges()
        self.pending_syncs: list[tuple[int, Any, int, int]] = []  # (zxid to wait for, origin, session, xid)
        self.tracker: SessionTracker | None = None

    # ------------------------------------------------------------------ lifecycle --------
    @property
    def serving(self) -> bool:
        return self.established

    def start(self) -> None:
        # initLimit bounds discovery and synchronisation together (Leader.lead).
        self.peer.set_timer(self.INIT_TIMER, self.config.init_limit * self.config.tick_ms)
        self._try_fix_epoch()

    def stop(self) -> None:
        for name in (self.INIT_TIMER, self.PING_TIMER, self.SESSION_TIMER):
            self.peer.cancel_timer(name)

    def _shutdown(self, reason: str) -> None:
        self.peer.become_looking(f"leader {self.sid} shut down: {reason}")

    def on_timer(self, name: str) -> None:
        if name == self.INIT_TIMER and not self.established:
            waiting = "epoch from quorum" if self.epoch is None else (
                "epoch acks from quorum" if not self.epoch_quorum else "NEWLEADER acks from quorum")
            self._shutdown(f"timeout while waiting for {waiting}")
        elif name == self.PING_TIMER:
            self._ping()
        elif name == self.SESSION_TIMER:
            self._expire_sessions()

    # ------------------------------------------------------------------ packets ----------
    def on_packet(self, src: Any, msg: Any) -> None:
        kind = type(msg)
        handler = self.learners.get(src)
        if handler is not None:
            handler.last_heard = self.peer.now
        if kind is FollowerInfo or kind is ObserverInfo:
            self._on_learner_info(src, msg)
        elif handler is None:
            return  # a packet from a learner of an earlier leadership, or not yet registered
        elif kind is AckEpoch and handler.phase is HandlerPhase.INFO:
            self._violation(handler, msg, "ACKEPOCH before LEADERINFO was sent")
        elif kind is AckEpoch:
            self._on_ack_epoch(handler, msg)
        elif kind is Ack:
            self._on_ack(handler, msg)
        elif kind is Request:
            self._on_request(handler, msg)
        elif kind is Ping:
            if self.tracker is not None:
                for session in msg.touched_sessions:
                    self.tracker.touch(session, self.peer.now)
        else:
            self._violation(handler, msg, "not a packet a learner sends")

    def _violation(self, handler: LearnerHandler, msg: Any, detail: str) -> None:
        """``LearnerHandler.run``: an unexpected packet ends this learner's handler (the
        learner notices the silence and looks for a leader again)."""
        violation = UnexpectedPacket(type(msg).__name__, str(handler.phase), handler.sid, detail)
        self.peer.emit(ProtocolViolated(sid=self.sid, peer=handler.sid, packet=violation.packet,
                                        phase=violation.phase, detail=detail))
        self.peer.emit(LearnerDropped(sid=self.sid, learner=handler.sid, cause="violation", reason=str(violation)))
        del self.learners[handler.sid]

    def on_disconnected(self, sid: int) -> None:
        """The learner's connection broke: its handler dies (``LearnerHandler.run`` ends)."""
        if self.learners.pop(sid, None) is not None:
            self.peer.emit(LearnerDropped(sid=self.sid, learner=sid,
                                          cause="reset", reason=f"connection to learner {sid} broke; handler dropped"))

    # ------------------------------------------------------------------ discovery --------
    def _on_learner_info(self, src: int, msg: FollowerInfo | ObserverInfo) -> None:
        observer = type(msg) is ObserverInfo
        if observer != (src in self.config.observers) or src == self.sid:
            self.peer.emit(LearnerDropped(sid=self.sid, learner=src,
                                          cause="wrong_type", reason=f"refused {type(msg).__name__} from {src} (wrong learner type)"))
            return
        handler = self.learners.get(src)
        if handler is not None and handler.registration == msg.registration:
            # A retried FOLLOWERINFO: resend LEADERINFO if it may have been lost.
            if handler.phase == "epoch_sent":
                self.peer.send(src, LeaderInfo(self.epoch))
            return
        if handler is not None:
            self.peer.emit(LearnerDropped(sid=self.sid, learner=src,
                                          cause="reregistered", reason=f"{src} registered anew; its old handler is dropped"))
        self.learners[src] = LearnerHandler(src, observer, msg.accepted_epoch, self.peer.now,
                                            registration=msg.registration)
        # getEpochToPropose: every learner's acceptedEpoch pushes the new epoch up.
        self.max_accepted_epoch = max(self.max_accepted_epoch, msg.accepted_epoch)
        if not observer:
            self.connecting.add(src)
        if self.epoch is None:
            self._try_fix_epoch()
        else:
            self._send_leader_info(self.learners[src])

    def _try_fix_epoch(self) -> None:
        if self.epoch is not None:
            return
        infos = {sid: h.accepted_epoch for sid, h in self.learners.items()}
        epoch = self.peer.impl.epoch_to_propose(self.sid, self.peer.accepted_epoch, infos, self.voters,
                                               self.has_quorum)
        if epoch is None:
            return
        if type(epoch) is not int or epoch <= self.peer.accepted_epoch:
            raise ProtocolViolation(f"epoch_to_propose gave {epoch!r}: a new epoch must be an int above the "
                                    f"leader's acceptedEpoch {self.peer.accepted_epoch}")
        self.epoch = epoch
        self.peer.persist_accepted_epoch(self.epoch)
        self.peer.emit(EpochProposed(sid=self.sid, epoch=self.epoch, max_accepted_epoch=self.max_accepted_epoch,
                                     connected=tuple(sorted(self.connecting))))
        for sid in sorted(self.learners):
            self._send_leader_info(self.learners[sid])
        self._try_epoch_quorum()

    def _send_leader_info(self, handler: LearnerHandler) -> None:
        handler.phase = "epoch_sent"
        self.peer.send(handler.sid, LeaderInfo(self.epoch))

    def _on_ack_epoch(self, handler: LearnerHandler, msg: AckEpoch) -> None:
        if handler.phase != "epoch_sent":
            return
        peer = self.peer
        if msg.current_epoch != -1 and (msg.current_epoch, msg.last_zxid) > (peer.current_epoch, peer.last_logged_zxid):
            # StateSummary.isMoreRecentThan: FLE should have made this impossible.
            peer.emit(LearnerDropped(sid=self.sid, learner=handler.sid,
                                     cause="ahead", reason=f"follower {handler.sid} is ahead of the leader "
                                            f"(epoch {msg.current_epoch}, {format_zxid(msg.last_zxid)}); dropping it"))
            del self.learners[handler.sid]
            return
        handler.phase = "epoch_acked"
        handler.last_zxid = msg.last_zxid
        handler.current_epoch = msg.current_epoch
        if msg.current_epoch != -1 and not handler.observer:
            self.epoch_acks.add(handler.sid)
        if self.epoch_quorum:
            self._sync(handler)
        else:
            self._try_epoch_quorum()

    def _try_epoch_quorum(self) -> None:
        if self.epoch is None or self.epoch_quorum or not self.has_quorum(self.epoch_acks, self.voters):
            return
        from distlab.zab.peer import ZabState

        self.epoch_quorum = True
        self.peer.persist_current_epoch(self.epoch)
        self.peer.zab_state = ZabState.SYNCHRONIZATION
        self.peer.emit(EpochAcked(sid=self.sid, epoch=self.epoch, acks=tuple(sorted(self.epoch_acks))))
        for sid in sorted(self.learners):
            if self.learners[sid].phase == "epoch_acked":
                self._sync(self.learners[sid])
        self._try_establish()

    # ------------------------------------------------------------------ synchronisation --
    def history(self) -> LeaderHistory:
        """What ``syncFollower`` reads: the committed log window, the txn log, the last zxid."""
        peer = self.peer
        last = peer.tree.last_processed_zxid
        txn_log = tuple(p for p in peer.log if p.zxid <= last) if self.config.txn_log_sync else ()
        return LeaderHistory(
            committed_log=tuple(peer.committed_log),
            last_processed_zxid=last,
            txn_log=txn_log,
            txn_log_sync_enabled=self.config.txn_log_sync,
            force_snap=self.config.force_snap,
        )

    def _sync(self, handler: LearnerHandler) -> None:
        peer = self.peer
        plan = peer.impl.choose_sync_mode(handler.last_zxid, self.history())
        if not isinstance(plan, SyncPlan) or not isinstance(plan.mode, SyncMode):
            raise TypeError(f"choose_sync_mode must return a SyncPlan, got {plan!r}")
        handler.plan = plan
        peer.emit(SyncPlanChosen(sid=self.sid, learner=handler.sid, learner_last=handler.last_zxid,
                                 mode=plan.mode.value, trunc_zxid=plan.trunc_zxid, snap_zxid=plan.snap_zxid,
                                 forward_from=plan.forward_from, plan=describe_plan(plan)))
        if plan.mode is SyncMode.SNAP:
            peer.send(handler.sid, Snap(peer.tree.last_processed_zxid, peer.tree.snapshot()))
        else:
            for packet in plan.packets:
                peer.send(handler.sid, packet)
        # startForwarding: proposals still outstanding above the sync point, then registration.
        if not handler.observer:
            for zxid in sorted(self.outstanding):
                if zxid > plan.forward_from:
                    p = self.outstanding[zxid].proposal
                    peer.send(handler.sid, ProposalPacket(p.zxid, p.txn, p.cxid))
        handler.forwarding = True
        handler.phase = "newleader_sent"
        peer.send(handler.sid, NewLeader(make_zxid(self.epoch, 0)))

    def _on_ack(self, handler: LearnerHandler, msg: Ack) -> None:
        if counter_of(msg.zxid) == 0:
            if msg.zxid == make_zxid(self.epoch or 0, 0) and handler.phase == "newleader_sent":
                handler.phase = "newleader_acked"
                if not handler.observer:
                    self.newleader_acks.add(handler.sid)
                if self.established:
                    self._send_uptodate(handler)
                else:
                    self._try_establish()
            return  # the post-UPTODATE ack, or a stale one: ignored (processAck)
        if not handler.observer:
            self._process_ack(handler.sid, msg.zxid)

    def _try_establish(self) -> None:
        if self.established or not self.epoch_quorum or not self.has_quorum(self.newleader_acks, self.voters):
            return
        from distlab.zab.peer import ZabState

        peer = self.peer
        self.established = True
        peer.zab_state = ZabState.BROADCAST
        self.last_committed = make_zxid(self.epoch, 0)
        peer.update_election_vote(self.epoch)
        peer.cancel_timer(self.INIT_TIMER)
        # SessionTrackerImpl starts with every session the database knows.
        self.tracker = SessionTracker(self.config.tick_ms, server_id=self.sid, now=peer.now)
        for session, timeout in sorted(peer.tree.sessions.items()):
            self.tracker.track(session, timeout, peer.now)
        peer.emit(Established(sid=self.sid, epoch=self.epoch, quorum=tuple(sorted(self.newleader_acks))))
        for sid in sorted(self.learners):
            if self.learners[sid].phase == "newleader_acked":
                self._send_uptodate(self.learners[sid])
        peer.set_timer(self.PING_TIMER, self.config.tick_ms // 2)
        peer.set_timer(self.SESSION_TIMER, self.config.tick_ms)

    def _send_uptodate(self, handler: LearnerHandler) -> None:
        handler.phase = "uptodate"
        self.peer.send(handler.sid, UpToDate())

    # ------------------------------------------------------------------ liveness ---------
    def _ping(self) -> None:
        """Every half tick: ping learners; step down without a synced quorum (``Leader.lead``)."""
        peer = self.peer
        deadline = self.config.sync_limit * self.config.tick_ms
        for sid in sorted(self.learners):
            handler = self.learners[sid]
            if peer.now - handler.last_heard > deadline and handler.phase in ("newleader_acked", "uptodate"):
                peer.emit(LearnerDropped(sid=self.sid, learner=sid,
                                         cause="silent", reason=f"learner {sid} silent for {peer.now - handler.last_heard} ms; dropped"))
                del self.learners[sid]
                continue
            peer.send(sid, Ping())
        synced = {self.sid} | {sid for sid, h in self.learners.items()
                               if not h.observer and h.phase in ("newleader_acked", "uptodate")}
        if not self.has_quorum(synced, self.voters):
            self._shutdown(f"not sufficient followers synced, only synced with sids {sorted(synced)}")
            return
        peer.set_timer(self.PING_TIMER, self.config.tick_ms // 2)

    def touch(self, session: int) -> None:
        if self.tracker is not None:
            self.tracker.touch(session, self.peer.now)

    def _expire_sessions(self) -> None:
        for session in self.tracker.expired(self.peer.now):
            self.peer.emit(SessionExpired(sid=self.sid, session=session))
            self._propose(session, -1, CloseSessionRequest())
        self.peer.set_timer(self.SESSION_TIMER, self.config.tick_ms)

    # ------------------------------------------------------------------ broadcast --------
    def submit(self, session: int, xid: int, request: Any) -> None:
        """A write from a client of this server."""
        self._propose(session, xid, request)

    def sync(self, session: int, xid: int, op: SyncRequest) -> None:
        self._process_sync(self.sid, session, xid)

    def _on_request(self, handler: LearnerHandler, msg: Request) -> None:
        session, xid, op = msg.request
        if not self.established:
            return  # learners forward only once up to date; a stale request is dropped
        if type(op) is SyncRequest:
            self._process_sync(handler.sid, session, xid)
        else:
            self._propose(session, xid, op)

    def _process_sync(self, origin: int, session: int, xid: int) -> None:
        """``Leader.processSync``: answer now, or when the last proposal so far commits."""
        if not self.outstanding:
            self._answer_sync(origin, session, xid)
        else:
            self.pending_syncs.append((max(self.outstanding), origin, session, xid))

    def _answer_sync(self, origin: int, session: int, xid: int) -> None:
        if origin == self.sid:
            self.peer.answer_sync(session, xid)
        else:
            self.peer.send(origin, SyncReply((session, xid)))

    def _propose(self, session: int, xid: int, request: Any) -> None:
        """``PrepRequestProcessor`` + ``Leader.propose``: txn, zxid, log, PROPOSAL, self-ack."""
        peer = self.peer
        if self.next_counter >= MAX_COUNTER:
            # ZOOKEEPER-1277: the counter would roll over; a new epoch is needed.
            self._shutdown("zxid counter roll-over: forcing a new epoch")
            return
        zxid = make_zxid(self.epoch, self.next_counter)
        self.next_counter += 1
        txn = self._prepare(session, request, zxid)
        proposal = Proposal(zxid, txn, xid)
        peer.log_append(proposal)
        peer.emit(Proposed(sid=self.sid, zxid=zxid, txn=txn_fingerprint(txn)))
        self.outstanding[zxid] = _Outstanding(proposal, set())
        for sid in sorted(self.learners):
            handler = self.learners[sid]
            if handler.forwarding and not handler.observer:
                peer.send(sid, ProposalPacket(zxid, txn, xid))
        self._process_ack(self.sid, zxid)  # the leader acks its own log write

    def _prepare(self, session: int, request: Any, zxid: int):
        peer = self.peer
        now = peer.now
        known = session in peer.tree.sessions or session in {
            o.proposal.txn.session_id for o in self.outstanding.values()
            if isinstance(o.proposal.txn, CreateSessionTxn)}
        from distlab.zk.ops import CreateSessionRequest

        if not isinstance(request, CreateSessionRequest) and not known:
            return ErrorTxn(zxid=zxid, time=now, session_id=session, err=int(Code.SESSIONEXPIRED))
        if isinstance(request, CloseSessionRequest) and self.tracker is not None:
            self.tracker.close(session)
        try:
            return prepare(peer.tree, request, session, zxid, now, self.changes)
        except KeeperError as error:
            # A refused write still takes a zxid: ZooKeeper logs it as an error txn.
            return ErrorTxn(zxid=zxid, time=now, session_id=session, err=int(error.code))

    def _process_ack(self, sid: int, zxid: int) -> None:
        """One ack through ``impl.process_ack`` (the Lab 7 seam); commit what it says, in order."""
        acks = {z: frozenset(o.acks) for z, o in self.outstanding.items()}
        result = self.peer.impl.process_ack(acks, self.last_committed, sid, zxid, self.voters, self.has_quorum)
        try:
            remaining, committed = result
            remaining, committed = dict(remaining), list(committed)
        except (TypeError, ValueError):
            raise ProtocolViolation(f"process_ack must return (outstanding dict, committed list), got {result!r}") from None
        for z in committed:
            if not self.outstanding or z != min(self.outstanding):
                head = format_zxid(min(self.outstanding)) if self.outstanding else "nothing"
                raise ProtocolViolation(f"process_ack committed {format_zxid(z) if isinstance(z, int) else z!r} "
                                        f"while {head} is the next outstanding proposal: commits go in zxid order")
            self._commit(z, acks.get(z, frozenset()) | ({sid} if z == zxid else frozenset()))
        for z, acked in remaining.items():
            if z in self.outstanding:
                self.outstanding[z].acks = set(acked)

    def _commit(self, zxid: int, acked_by: frozenset) -> None:
        """``Leader.commit``: COMMIT to followers, INFORM to observers, apply here, answer syncs."""
        peer = self.peer
        entry = self.outstanding.pop(zxid)
        self.last_committed = zxid
        p = entry.proposal
        peer.emit(Committed(sid=self.sid, zxid=zxid, txn=txn_fingerprint(p.txn), acks=tuple(sorted(acked_by))))
        for sid in sorted(self.learners):
            handler = self.learners[sid]
            if handler.forwarding:
                peer.send(sid, Inform(zxid, p.txn, p.cxid) if handler.observer else Commit(zxid))
        peer.apply_committed(p)
        self.changes.discard_applied(zxid)
        ready = [s for s in self.pending_syncs if s[0] <= zxid]
        self.pending_syncs = [s for s in self.pending_syncs if s[0] > zxid]
        for _, origin, session, xid in ready:
            self._answer_sync(origin, session, xid)

    def on_applied(self, proposal: Proposal, result: Any) -> None:
        """Session bookkeeping after a txn is applied here."""
        txn = proposal.txn
        if self.tracker is None:
            return
        if isinstance(txn, CreateSessionTxn):
            self.tracker.track(txn.session_id, txn.timeout, self.peer.now)
        elif isinstance(txn, CloseSessionTxn):
            self.tracker.remove(txn.session_id)
