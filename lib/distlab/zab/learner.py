"""The learner's side of Zab: followers and observers (``Learner``, ``Follower``, ``Observer``).

1. **Register** (``Learner.registerWithLeader``): send FOLLOWERINFO (or OBSERVERINFO) with my
   acceptedEpoch, retrying every ``connect_retry_ms`` until the leader answers LEADERINFO(newEpoch).
   ``newEpoch > acceptedEpoch``: persist it, then ACKEPOCH(currentEpoch, last zxid);
   ``==``: ACKEPOCH(-1) ("already acked this epoch"); ``<``: refuse, back to LOOKING.
2. **Sync** (``Learner.syncWithLeader``): the first packet picks the mode — DIFF, TRUNC
   (truncate the log, reload) or SNAP (load the leader's snapshot). PROPOSALs are buffered and
   COMMITs noted. At NEWLEADER, in this order (ZOOKEEPER-3911/4643/4646): log and apply the
   committed proposals, *then* persist currentEpoch, *then* ACK. At UPTODATE: ACK it, start
   serving, log every proposal that came after NEWLEADER and ACK each, then apply the ones
   already committed (``Zab1_0Test.testNormalFollowerRun``).
3. **Broadcast** (``Follower.processPacket``): PROPOSAL -> log, then ACK; COMMIT -> apply the
   next pending proposal (it must be exactly that zxid). Observers get INFORM (a committed txn
   with its payload) instead, and never ACK: they never count toward a quorum.

A learner that hears nothing from its leader for ``syncLimit`` ticks (``initLimit`` while
connecting and syncing) goes back to LOOKING.
"""

from __future__ import annotations

from typing import Any

from distlab.sansio import UsageError
from distlab.zab.follower import FollowerLog, FollowerStep
from distlab.zab.learner_sync import SyncStep, SyncView
from distlab.zab.phases import LEARNER_PACKETS, LEARNER_TRANSITIONS, LearnerPhase, UnexpectedPacket, advance
from distlab.zab.messages import (
    Ack,
    AckEpoch,
    Commit,
    Diff,
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
    Trunc,
    UpToDate,
)
from distlab.zab.events import Acked, LearnerUpToDate, ProtocolViolated, SyncOddity, SyncStarted
from distlab.zab.zxid import counter_of, epoch_of, format_zxid, make_zxid

__all__ = ["Learner", "CONNECT_RETRY_MS"]

# The default of EnsembleConfig.connect_retry_ms: Learner.connectToLeader's pause before it
# tries its leader again (ZooKeeper 3.8's leaderConnectDelayDuringRetryMs is 100 ms).
CONNECT_RETRY_MS = 1000


class Learner:
    """The FOLLOWING or OBSERVING role of a :class:`~distlab.zab.peer.QuorumPeer`."""

    TIMER_PREFIX = "learner."
    CONNECT_TIMER = "learner.connect"
    WATCHDOG_TIMER = "learner.watchdog"

    def __init__(self, peer, leader: int) -> None:
        self.peer = peer
        self.sid = peer.sid
        self.leader = leader
        self.config = peer.config
        self.observer = peer.is_observer
        self._phase = LearnerPhase.CONNECTING  # -> syncing -> newleader_acked -> serving (phases.py)
        self.new_epoch: int | None = None
        self.mode: str | None = None
        self.not_logged: list[Proposal] = []  # packetsNotLogged
        self.committed: list[int] = []  # packetsCommitted (zxids)
        self.last_queued = 0  # syncWithLeader's lastQueued: 0 until the first sync proposal
        self.last_heard = peer.now
        self.started_at = peer.now

    @property
    def phase(self) -> LearnerPhase:
        """Where this learner is; only the steps of ``LEARNER_TRANSITIONS`` may be taken."""
        return self._phase

    @phase.setter
    def phase(self, new: LearnerPhase | str) -> None:
        self._phase = advance(LEARNER_TRANSITIONS, self._phase, new)

    @property
    def serving(self) -> bool:
        return self.phase is LearnerPhase.SERVING

    # ------------------------------------------------------------------ lifecycle --------
    def start(self) -> None:
        self._send_info()
        self.peer.set_timer(self.CONNECT_TIMER, self.config.connect_retry_ms)
        self.peer.set_timer(self.WATCHDOG_TIMER, self.config.tick_ms)

    def stop(self) -> None:
        self.peer.cancel_timer(self.CONNECT_TIMER)
        self.peer.cancel_timer(self.WATCHDOG_TIMER)

    def _send_info(self) -> None:
        info = ObserverInfo if self.observer else FollowerInfo
        # The role's start time names this registration (a TCP connection, in ZooKeeper): a
        # retry repeats it, a learner that restarted or re-registered sends a new one.
        self.peer.send(self.leader, info(self.peer.accepted_epoch, self.sid, self.started_at))

    def _give_up(self, reason: str) -> None:
        self.peer.become_looking(f"{'observer' if self.observer else 'follower'} {self.sid}: {reason}")

    def on_timer(self, name: str) -> None:
        peer = self.peer
        if name == self.CONNECT_TIMER and self.phase == "connecting":
            self._send_info()
            peer.set_timer(self.CONNECT_TIMER, self.config.connect_retry_ms)
        elif name == self.WATCHDOG_TIMER:
            tick = self.config.tick_ms
            if self.phase != "serving" and peer.now - self.started_at > self.config.init_limit * tick:
                self._give_up(f"no sync with leader {self.leader} within initLimit ({self.config.init_limit} ticks)")
            elif self.phase == "serving" and peer.now - self.last_heard > self.config.sync_limit * tick:
                self._give_up(f"leader {self.leader} silent for {peer.now - self.last_heard} ms (syncLimit)")
            else:
                peer.set_timer(self.WATCHDOG_TIMER, tick)

    def on_disconnected(self, sid: int) -> None:
        """Losing the connection to the leader ends following (``Follower.followLeader``)."""
        if sid == self.leader:
            self._give_up(f"connection to leader {sid} broke")

    # ------------------------------------------------------------------ packets ----------
    def on_packet(self, src: Any, msg: Any) -> None:
        if src != self.leader:
            return  # a stale leader's packet
        self.last_heard = self.peer.now
        try:
            self._on_packet(src, msg)
        except UnexpectedPacket as violation:
            # Learner.registerWithLeader / syncWithLeader: an unexpected packet ends following.
            self.peer.emit(ProtocolViolated(sid=self.sid, peer=src, packet=violation.packet,
                                            phase=violation.phase, detail=violation.detail))
            self._give_up(str(violation))

    def _on_packet(self, src: Any, msg: Any) -> None:
        kind = type(msg)
        allowed = LEARNER_PACKETS.get((self.phase, self.observer))
        if allowed is not None and kind.__name__ not in allowed:
            what = "not LEADERINFO" if self.phase is LearnerPhase.CONNECTING else (
                "a sync packet after UPTODATE" if kind.__name__ in ("Diff", "Trunc", "Snap", "NewLeader", "UpToDate")
                else f"not a packet {'an observer' if self.observer else 'a follower'} gets")
            raise UnexpectedPacket(kind.__name__, str(self.phase), src, what)
        if kind is Ping:
            touched = tuple(sorted(self.peer.touched))
            self.peer.touched.clear()
            self.peer.send(self.leader, Ping(touched))
        elif kind is LeaderInfo:
            self._on_leader_info(msg)
        elif self.phase in ("syncing", "newleader_acked"):
            self._on_sync_packet(msg)
        elif self.phase == "serving":
            self._on_broadcast_packet(msg)

    def _on_leader_info(self, msg: LeaderInfo) -> None:
        if self.phase is not LearnerPhase.CONNECTING:
            if msg.new_epoch == self.new_epoch:
                return  # the leader resent it for a retried FOLLOWERINFO
            raise UnexpectedPacket("LeaderInfo", str(self.phase), self.leader,
                                   f"a second LEADERINFO, for epoch {msg.new_epoch} (this one is {self.new_epoch})")
        peer = self.peer
        self.peer.cancel_timer(self.CONNECT_TIMER)
        new_epoch = msg.new_epoch
        if new_epoch > peer.accepted_epoch:
            peer.persist_accepted_epoch(new_epoch)  # persisted before the ACKEPOCH leaves
            reply = AckEpoch(peer.current_epoch, peer.last_logged_zxid)
        elif new_epoch == peer.accepted_epoch:
            reply = AckEpoch(-1, peer.last_logged_zxid)  # already acked this epoch
        else:
            self._give_up(f"leader's epoch {new_epoch} is older than my acceptedEpoch {peer.accepted_epoch}")
            return
        from distlab.zab.peer import ZabState

        self.new_epoch = new_epoch
        self.phase = "syncing"
        peer.zab_state = ZabState.SYNCHRONIZATION
        peer.send(self.leader, reply)

    # ------------------------------------------------------------------ synchronisation --
    def _on_sync_packet(self, msg: Any) -> None:
        """Ask ``Impl.sync_step`` what to do with one sync packet, check it, and do it."""
        peer = self.peer
        view = SyncView(self.mode, peer.last_logged_zxid, peer.tree.last_processed_zxid,
                        tuple(p.zxid for p in self.not_logged), tuple(self.committed), self.last_queued,
                        self.new_epoch or 0, self.phase == "newleader_acked", self.observer)
        step = peer.impl.sync_step(view, msg)
        if not isinstance(step, SyncStep):
            raise UsageError(f"sync_step must return a SyncStep, got {step!r}")
        if step.give_up is not None:
            self._give_up(str(step.give_up))
            return
        kind = type(msg)
        if step.mode is not None:
            self._start_sync(msg, step)
        if step.queue:
            self._queue_proposal(msg, view)
        if step.commit is not None:
            if step.commit not in (p.zxid for p in self.not_logged) or step.commit in self.committed:
                raise UsageError(f"sync_step: commit {step.commit!r} is not a queued, uncommitted proposal: {step}")
            self.committed.append(step.commit)
        if kind is NewLeader and self.phase == "syncing" and (step.log or step.apply or step.ack):
            self._on_new_leader(msg, step)
        elif kind is UpToDate and self.phase == "newleader_acked" and step.serve:
            self._on_uptodate(step)
        elif (step.log or step.apply or step.ack or step.serve) and kind not in (NewLeader, UpToDate):
            raise UsageError(f"sync_step: logging, applying and ACKing happen at NEWLEADER and UPTODATE, "
                             f"not on {kind.__name__}: {step}")

    def _start_sync(self, msg: Any, step: SyncStep) -> None:
        peer = self.peer
        expected = {Diff: "DIFF", Trunc: "TRUNC", Snap: "SNAP"}.get(type(msg))
        if self.mode is not None or step.mode != expected:
            raise UsageError(f"sync_step: mode {step.mode!r} on {type(msg).__name__} — the first packet of a sync "
                             f"names its mode (DIFF, TRUNC or SNAP), once: {step}")
        self.mode = step.mode
        if step.mode == "TRUNC":
            peer.truncate_log(msg.zxid)
        elif step.mode == "SNAP":
            peer.load_snapshot(msg.zxid, msg.snapshot)
        peer.emit(SyncStarted(sid=self.sid, leader=self.leader, mode=str(self.mode), zxid=msg.zxid))

    def _queue_proposal(self, msg: Any, view: SyncView) -> None:
        if type(msg) not in (ProposalPacket, Inform):
            raise UsageError(f"sync_step: only a PROPOSAL or INFORM can be queued, not {type(msg).__name__}")
        last = self.not_logged[-1].zxid if self.not_logged else self.peer.last_logged_zxid
        if msg.zxid <= last:
            raise UsageError(f"sync_step: queued {format_zxid(msg.zxid)} after {format_zxid(last)}: a duplicate, or "
                             "out of order")
        if view.last_queued and msg.zxid != view.last_queued + 1:
            self.peer.emit(SyncOddity(sid=self.sid, zxid=msg.zxid, expected=view.last_queued, what="new_epoch"))
        elif not view.last_queued and msg.zxid != self.peer.last_logged_zxid + 1:
            self.peer.emit(SyncOddity(sid=self.sid, zxid=msg.zxid, expected=self.peer.last_logged_zxid + 1, what="gap"))
        self.last_queued = msg.zxid
        self.not_logged.append(Proposal(msg.zxid, msg.txn, msg.cxid))

    def _continuous(self, zxid: int) -> bool:
        """No hole in the history: ``enforceContinuousProposal`` (ZOOKEEPER-4925), and more.

        ZooKeeper checks that zxids are consecutive within an epoch; over TCP nothing else can
        go missing. distlab's links may lose packets, so it also checks the epoch boundary:
        every epoch's first txn has counter 1 (a new leader starts at ``(e, 1)``), so a jump to
        a new epoch must land there. Logging past a hole could later make this server a leader
        that lacks a committed txn, so, like ZooKeeper's learner, it refuses: it drops out and
        resyncs. Returns False after giving up.
        """
        last = self.not_logged[-1].zxid if self.not_logged else self.peer.last_logged_zxid
        if epoch_of(zxid) == epoch_of(last):
            ok = zxid == last + 1
        else:
            ok = epoch_of(zxid) > epoch_of(last) and counter_of(zxid) == 1
        if not ok:
            self._give_up(f"proposal {format_zxid(zxid)} does not follow {format_zxid(last)} (a hole)")
        return ok

    def _log_and_apply(self, step: SyncStep, allow_uncommitted_log: bool) -> list[Proposal]:
        """Log ``step.log`` and apply ``step.apply`` (queued zxids, in order); checked first."""
        peer = self.peer
        queued = [p.zxid for p in self.not_logged]
        if tuple(step.log) != tuple(queued[:len(step.log)]):
            raise UsageError(f"sync_step: log {list(map(format_zxid, step.log))} — queued proposals are logged in "
                             f"order, from the first ({list(map(format_zxid, queued))} are queued): {step}")
        committed = set(self.committed)
        if not allow_uncommitted_log and any(z not in committed for z in step.log):
            raise UsageError(f"sync_step: at NEWLEADER only committed proposals are logged and applied: {step}")
        if tuple(step.apply) != tuple(step.log[:len(step.apply)]) or any(z not in committed for z in step.apply):
            raise UsageError(f"sync_step: apply {list(map(format_zxid, step.apply))} — only logged, committed "
                             f"proposals are applied, in order: {step}")
        logged = []
        for p in self.not_logged[:len(step.log)]:
            peer.log_append(p)
            logged.append(p)
        for p in logged[:len(step.apply)]:
            peer.apply_committed(p)
        self.not_logged = self.not_logged[len(step.log):]
        self.committed = [z for z in self.committed if z > peer.tree.last_processed_zxid]
        return logged

    def _on_new_leader(self, msg: NewLeader, step: SyncStep) -> None:
        peer = self.peer
        if tuple(step.ack) not in ((), (msg.zxid,)):
            raise UsageError(f"sync_step: at NEWLEADER the only ACK is NEWLEADER's own ({format_zxid(msg.zxid)}): "
                             f"{step}")
        # The order is the point (ZOOKEEPER-3911/4646/4643): snapshot and txns durable and
        # applied, then the epoch, then the ACK. Effects carry writes out before sends, so the
        # ACK leaves last.
        peer.commit_snapshot()
        self._log_and_apply(step, allow_uncommitted_log=False)
        peer.persist_current_epoch(self.new_epoch)
        self.phase = "newleader_acked"
        if step.ack:
            peer.send(self.leader, Ack(msg.zxid))

    def _on_uptodate(self, step: SyncStep) -> None:
        from distlab.zab.peer import ZabState

        peer = self.peer
        epoch_zxid = make_zxid(self.new_epoch, 0)
        acks = list(step.ack)
        if acks and acks[0] == epoch_zxid:
            acks = acks[1:]
            acked_uptodate = True
        else:
            acked_uptodate = False
        if any(z not in step.log for z in acks) or (self.observer and acks):
            raise UsageError(f"sync_step: at UPTODATE a follower ACKs {format_zxid(epoch_zxid)} and then the proposals "
                             f"it logs now (an observer none): {step}")
        self.phase = "serving"
        peer.zab_state = ZabState.BROADCAST
        if acked_uptodate:
            peer.send(self.leader, Ack(epoch_zxid))
        peer.update_election_vote(self.new_epoch)
        # Every proposal that came after NEWLEADER is logged now, and each is ACKed, committed
        # or not (FollowerZooKeeperServer.logRequest -> SendAckRequestProcessor); then the
        # committed ones are applied (fzk.commit). Observers never ACK; theirs are all INFORMs.
        logged = self._log_and_apply(step, allow_uncommitted_log=True)
        for p in logged:
            if p.zxid in acks:
                peer.send(self.leader, Ack(p.zxid))
        self.not_logged = []
        self.committed = []
        peer.emit(LearnerUpToDate(sid=self.sid, leader=self.leader, epoch=self.new_epoch,
                                  mode=None if self.mode is None else str(self.mode)))

    # ------------------------------------------------------------------ broadcast --------
    def _on_broadcast_packet(self, msg: Any) -> None:
        peer = self.peer
        kind = type(msg)
        if kind in (ProposalPacket, Commit) and not self.observer:
            self._follow(msg)
        elif kind is Inform and self.observer:
            if msg.zxid <= peer.last_logged_zxid:
                return
            if not self._continuous(msg.zxid):
                return
            p = Proposal(msg.zxid, msg.txn, msg.cxid)
            peer.log_append(p)
            peer.apply_committed(p)
        elif kind is SyncReply:
            session, xid = msg.request
            peer.answer_sync(session, xid)

    def _follow(self, msg: ProposalPacket | Commit) -> None:
        """Ask ``Impl.follower_step`` what to do with a PROPOSAL or COMMIT, and do it.

        The answer is checked against what a follower may do at all, so a wrong decision
        shows up as a named error, not as a silently corrupted history.
        """
        peer = self.peer
        pending = peer.pending_proposals()
        view = FollowerLog(peer.last_logged_zxid, peer.tree.last_processed_zxid, tuple(p.zxid for p in pending))
        step = peer.impl.follower_step(view, msg)
        if not isinstance(step, FollowerStep):
            raise UsageError(f"follower_step must return a FollowerStep, got {step!r}")
        proposal = isinstance(msg, ProposalPacket)
        if step.give_up is not None:
            if not isinstance(step.give_up, str) or step.log or step.ack is not None or step.apply is not None:
                raise UsageError(f"follower_step: giving up ({step.give_up!r}) is all a step may do then: {step}")
            self._give_up(step.give_up)
            return
        if step.log and not proposal:
            raise UsageError(f"follower_step: a COMMIT has no txn to log: {step}")
        if step.ack is not None and (not proposal or step.ack != msg.zxid or not step.log):
            raise UsageError(f"follower_step: ACK {step.ack!r} for {msg!r} — an ACK promises that this proposal is "
                             f"in the log, so only a proposal being logged is acked: {step}")
        if step.apply is not None and proposal:
            raise UsageError(f"follower_step: apply on a PROPOSAL — a follower applies a txn only when the leader "
                             f"COMMITs it (a quorum has logged it): {step}")
        if step.apply is not None and (not pending or step.apply != pending[0].zxid):
            head = format_zxid(pending[0].zxid) if pending else "none"
            raise UsageError(f"follower_step: apply {step.apply!r} — only the next pending txn ({head}) may be "
                             f"applied: {step}")
        if step.log:
            peer.log_append(Proposal(msg.zxid, msg.txn, msg.cxid))  # refuses a zxid out of order
        if step.ack is not None:
            peer.send(self.leader, Ack(msg.zxid))  # leaves after the log write (Effects order)
            peer.emit(Acked(sid=self.sid, leader=self.leader, zxid=msg.zxid))
        if step.apply is not None:
            peer.apply_committed(pending[0])

    # ------------------------------------------------------------------ client requests --
    def submit(self, session: int, xid: int, request: Any) -> None:
        """Writes go to the leader (``FollowerRequestProcessor``)."""
        self.peer.send(self.leader, Request(self.sid, (session, xid, request)))

    def sync(self, session: int, xid: int, op: Any) -> None:
        self.peer.send(self.leader, Request(self.sid, (session, xid, op)))

    def touch(self, session: int) -> None:
        pass  # reported to the leader in the next PING reply (peer.touched)

    def on_applied(self, proposal: Proposal, result: Any) -> None:
        pass
