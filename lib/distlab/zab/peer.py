"""A ZooKeeper server as a sans-I/O state machine (``QuorumPeer``).

One :class:`QuorumPeer` is one server of an ensemble. It is driven only through
``step(event) -> Effects`` (see :mod:`distlab.sansio`), so the simulator, a test or the viewer
can run it, and nothing in it knows about sockets or clocks.

States (``QuorumPeer.ServerState``) and the only transitions allowed between them::

    (boot) -> LOOKING -> LEADING | FOLLOWING | OBSERVING -> LOOKING -> ...

Each transition happens in exactly one ``_become_<state>`` method, which logs one line
("2 became LEADING in round 1"). Inside LEADING and FOLLOWING/OBSERVING the Zab phases run
(``ZabState``): DISCOVERY (agree on a new epoch), SYNCHRONIZATION (bring learners up to the
leader's history: DIFF, TRUNC+DIFF, TRUNC or SNAP) and BROADCAST (propose, ack, commit) —
the leader side in :mod:`distlab.zab.leader`, the learner side in :mod:`distlab.zab.learner`.

What a server keeps on disk (survives a crash), as ZooKeeper does:

- ``log``: the transaction log, every proposal it logged (committed or not);
- ``snapshot``: ``(zxid, bytes)`` of a data tree, when it took or received one;
- ``accepted_epoch`` / ``current_epoch``: the epoch files (``QuorumPeer``; section 2 of the
  reference notes); invariant ``accepted >= current >= epoch(last logged zxid)``.

Everything else — the data tree, the election state, the role — is rebuilt on restart from
those three (``ZKDatabase.loadDataBase``).
"""

from __future__ import annotations

import enum
import hashlib
from collections import deque
from dataclasses import replace
from typing import Any

from distlab.sansio import Deliver, Disconnected, Effects, Start, Timer, UsageError
from distlab.zab.clientproto import (
    ClientPing,
    ClientReply,
    ClientRequest,
    CloseSession,
    Connect,
    ConnectionClosed,
    ConnectRefused,
    ConnectResponse,
    Exists,
    GetChildren,
    GetData,
    PingReply,
    SessionExpiredNotice,
    SetWatches,
    SyncRequest,
    WatchNotification,
)
from distlab.zab.config import EnsembleConfig, Impl
from distlab.zab.election import Election, Vote
from distlab.zab.events import Applied, BecameLooking, LeaderElected, SnapshotLoaded, SnapshotTaken, Truncated
from distlab.zab.messages import Notification, Proposal, ServerState
from distlab.zab.phases import ProtocolViolation
from distlab.zab.zxid import epoch_of, format_zxid
from distlab.zk.errors import Code, KeeperError, error_for_code
from distlab.zk.ops import (
    CloseSessionRequest,
    CloseSessionTxn,
    CreateSessionRequest,
    CreateSessionTxn,
    ErrorResult,
    MultiResult,
)
from distlab.zk.sessions import initialize_next_session_id
from distlab.zk.tree import DataTree
from distlab.zk.watches import EventType, WatchedEvent

__all__ = ["QuorumPeer", "ZabState", "ALLOWED_TRANSITIONS", "ProtocolViolation", "CONNECT_XID",
           "txn_fingerprint", "history_of"]

LOOKING, FOLLOWING, LEADING, OBSERVING = (ServerState.LOOKING, ServerState.FOLLOWING,
                                          ServerState.LEADING, ServerState.OBSERVING)

CONNECT_XID = -10  # the cxid of a session-creating txn (ZooKeeper's createSession opcode)


class ZabState(enum.Enum):
    """``QuorumPeer.ZabState``: where in Zab a server is (for monitoring and the viewer)."""

    ELECTION = "ELECTION"
    DISCOVERY = "DISCOVERY"
    SYNCHRONIZATION = "SYNCHRONIZATION"
    BROADCAST = "BROADCAST"


# The transition table (h11 style): the only server-state changes a peer may make.
ALLOWED_TRANSITIONS: dict[ServerState | None, frozenset[ServerState]] = {
    None: frozenset({LOOKING}),
    LOOKING: frozenset({LEADING, FOLLOWING, OBSERVING}),
    LEADING: frozenset({LOOKING}),
    FOLLOWING: frozenset({LOOKING}),
    OBSERVING: frozenset({LOOKING}),
}


class QuorumPeer:
    """One ZooKeeper server: election, Zab roles, the data tree and its clients.

    Args:
        sid: this server's id (``myid``).
        config: the ensemble (:class:`~distlab.zab.config.EnsembleConfig`).
        impl: the decision functions (:class:`~distlab.zab.config.Impl`); learners' own
            versions plug in here.
    """

    def __init__(self, sid: int, config: EnsembleConfig, impl: Impl | None = None) -> None:
        if sid not in config.members:
            raise UsageError(f"server {sid} is not in the ensemble {config.members}")
        self.sid = sid
        self.config = config
        self.impl = impl or Impl()
        self.is_observer = sid in config.observers
        self.election = Election(
            sid, config.voters, vote_order=self.impl.vote_order,
            handle_notification=self.impl.handle_notification, has_quorum=self.impl.has_quorum,
            finalize_wait_ms=config.finalize_wait_ms,
            max_notification_interval_ms=config.max_notification_interval_ms)
        self.state: ServerState | None = None
        self.zab_state = ZabState.ELECTION
        self.role: Any = None  # a Leader or a Learner while not LOOKING
        self.current_vote: Notification | None = None
        self.fx: Effects | None = None
        self.now = 0
        # Rebuilt from disk in _recover:
        self.tree = self.impl.tree()
        self.log: list[Proposal] = []
        self.snapshot: tuple[int, bytes] | None = None  # volatile copy of the durable one
        self.pending_snapshot: tuple[int, bytes] | None = None  # received by SNAP, not yet on disk
        self.txns_since_snapshot = 0
        self.committed_log: deque[Proposal] = deque(maxlen=config.committed_log_size)
        self.accepted_epoch = 0
        self.current_epoch = 0
        # Clients connected to this server (volatile: connections die with the process).
        self.connections: dict[int, Any] = {}  # session id -> client node
        self.pending: dict[tuple[int, int], Any] = {}  # (session, cxid) -> client awaiting a reply
        self.connect_attempts: dict[int, int] = {}  # new session -> the Connect.attempt to answer
        # Requests held back to keep one session's replies in order (CommitProcessor): a read
        # waits for that session's earlier writes, and everything after it waits too.
        self.held: dict[int, list[tuple[Any, ClientRequest]]] = {}
        self.touched: set[int] = set()  # sessions touched since the last PING to the leader
        self.next_session_id = 0

    # ------------------------------------------------------------------ the entry point ---
    def step(self, event) -> Effects:
        fx = self.fx = Effects()
        self.now = event.now
        try:
            if type(event) is Deliver:
                self._on_message(event.src, event.msg)
            elif type(event) is Timer:
                self._on_timer(event.name)
            elif type(event) is Start:
                self._recover(event)
            elif type(event) is Disconnected:
                self._on_disconnected(event.peer)
            else:
                raise UsageError(f"QuorumPeer cannot handle {event!r}")
        finally:
            self.fx = None
        return fx

    # ------------------------------------------------------------------ effects helpers ---
    def send(self, dst: Any, msg: Any) -> None:
        self.fx.send(dst, msg)

    def note(self, text: str, **data: Any) -> None:
        self.fx.note(text, **data)

    def emit(self, event: Any) -> None:
        """Record a typed event (:mod:`distlab.zab.events`) on the trace."""
        self.fx.emit(event)

    def set_timer(self, name: str, delay_ms: int) -> None:
        self.fx.set_timer(name, delay_ms)

    def cancel_timer(self, name: str) -> None:
        self.fx.cancel_timer(name)

    # ------------------------------------------------------------------ durable state -----
    @property
    def last_logged_zxid(self) -> int:
        """``getLastLoggedZxid``: the newest zxid in the log (or the snapshot / tree)."""
        if self.pending_snapshot is not None:
            # Mid-SNAP: the leader's database replaces ours, old log included.
            return max(self.pending_snapshot[0], self.tree.last_processed_zxid)
        last = self.log[-1].zxid if self.log else 0
        return max(last, self.snapshot_zxid, self.tree.last_processed_zxid)

    @property
    def snapshot_zxid(self) -> int:
        return self.snapshot[0] if self.snapshot else 0

    @property
    def last_processed_zxid(self) -> int:
        return self.tree.last_processed_zxid

    def _recover(self, event: Start) -> None:
        """``QuorumPeer.loadDataBase``: rebuild the tree from snapshot + log; check the epochs."""
        durable = event.durable
        self.snapshot = durable.get("snapshot")
        self.log = list(durable.get("log", []))
        self._reload()
        last_epoch = epoch_of(self.last_logged_zxid)
        # Missing epoch files are created from the last zxid's epoch (loadDataBase).
        self.current_epoch = durable.get("current_epoch", last_epoch)
        self.accepted_epoch = durable.get("accepted_epoch", self.current_epoch)
        if "current_epoch" not in durable:
            self.fx.persist("current_epoch", self.current_epoch)
        if "accepted_epoch" not in durable:
            self.fx.persist("accepted_epoch", self.accepted_epoch)
        if not self.accepted_epoch >= self.current_epoch >= last_epoch:
            raise ProtocolViolation(
                f"server {self.sid}: epoch files are inconsistent: acceptedEpoch {self.accepted_epoch}, "
                f"currentEpoch {self.current_epoch}, last zxid {format_zxid(self.last_logged_zxid)}")
        self.next_session_id = initialize_next_session_id(self.sid, self.now)
        what = "started" if event.incarnation == 0 else f"restarted (incarnation {event.incarnation})"
        self._become_looking(f"{what} with last zxid {format_zxid(self.last_logged_zxid)}, "
                             f"epochs accepted {self.accepted_epoch} / current {self.current_epoch}")

    def persist_accepted_epoch(self, epoch: int) -> None:
        self.accepted_epoch = epoch
        self.fx.persist("accepted_epoch", epoch)

    def persist_current_epoch(self, epoch: int) -> None:
        self.current_epoch = epoch
        self.fx.persist("current_epoch", epoch)

    def log_append(self, proposal: Proposal) -> None:
        """Log (and "fsync") a proposal: durable before anything this step sends."""
        last = self.last_logged_zxid
        if proposal.zxid <= last:
            raise ProtocolViolation(f"server {self.sid}: logging {format_zxid(proposal.zxid)} after "
                                    f"{format_zxid(last)} would break zxid order")
        self.log.append(proposal)
        self.fx.append("log", proposal)

    def truncate_log(self, zxid: int) -> None:
        """``ZKDatabase.truncateLog``: drop logged txns above ``zxid`` and reload the tree."""
        keep = sum(1 for p in self.log if p.zxid <= zxid)
        if zxid < self.snapshot_zxid:
            raise ProtocolViolation(f"server {self.sid}: TRUNC to {format_zxid(zxid)} is below its snapshot "
                                    f"at {format_zxid(self.snapshot_zxid)} (ZOOKEEPER-1549)")
        dropped = self.log[keep:]
        self.log = self.log[:keep]
        self.fx.truncate("log", keep)
        self._reload()
        self.emit(Truncated(sid=self.sid, zxid=zxid, dropped=tuple(p.zxid for p in dropped),
                            last_processed=self.tree.last_processed_zxid))

    def load_snapshot(self, zxid: int, snapshot: bytes) -> None:
        """A SNAP from the leader replaces the in-memory database; the disk is untouched.

        ZooKeeper writes the snapshot only at NEWLEADER (:meth:`commit_snapshot`). Persisting
        it earlier could leave a disk whose last zxid is in an epoch newer than its
        currentEpoch, which ``loadDataBase`` refuses at the next start.
        """
        self.pending_snapshot = (zxid, snapshot)
        self.tree = self.impl.tree.restore(snapshot)
        self.committed_log = deque(maxlen=self.config.committed_log_size)
        self.txns_since_snapshot = 0
        self.emit(SnapshotLoaded(sid=self.sid, zxid=zxid, last_processed=self.tree.last_processed_zxid))

    def commit_snapshot(self) -> None:
        """At NEWLEADER: the snapshot received with SNAP becomes durable; the old log goes."""
        if self.pending_snapshot is None:
            return
        self.snapshot, self.pending_snapshot = self.pending_snapshot, None
        self.fx.persist("snapshot", self.snapshot)
        self.fx.persist("log", [])
        self.log = []

    def _reload(self) -> None:
        """Rebuild the tree from the last snapshot and the log, as a restart would."""
        self.tree = self.impl.tree.restore(self.snapshot[1]) if self.snapshot else self.impl.tree()
        self.committed_log = deque(maxlen=self.config.committed_log_size)
        self.txns_since_snapshot = 0
        self._fast_forward()

    def _fast_forward(self) -> None:
        """``ZKDatabase.fastForwardDataBase``: apply every logged txn the tree does not have yet.

        Which ones is ``Impl.recover_history`` (the reference: all of them, in zxid order);
        an answer that is not a run of this log's txns above the tree, oldest first, is refused.
        """
        last = self.tree.last_processed_zxid
        chosen = self.impl.recover_history(tuple(self.log), last, self.current_epoch)
        logged = {p.zxid: p for p in self.log}
        previous = last
        for proposal in chosen:
            zxid = getattr(proposal, "zxid", None)
            if type(zxid) is not int or zxid not in logged or zxid <= previous:
                raise UsageError(f"recover_history returned {proposal!r}: it must return txns of this server's "
                                 f"log newer than {format_zxid(last)}, oldest first, each once")
            previous = zxid
            self.apply_committed(logged[zxid], replay=True)  # our own copy of that txn

    # ------------------------------------------------------------------ applying txns -----
    def pending_proposals(self) -> list[Proposal]:
        """Logged but not yet applied, in zxid order."""
        last = self.tree.last_processed_zxid
        return [p for p in self.log if p.zxid > last]

    def apply_committed(self, proposal: Proposal, replay: bool = False) -> None:
        """Apply a committed txn to the tree, then tell clients (``FinalRequestProcessor``).

        Watch events go out before the reply, so a client sees the event before the data.
        """
        applied = self.tree.apply(proposal.txn)
        self.committed_log.append(proposal)
        self.txns_since_snapshot += 1
        if replay:
            return
        txn = proposal.txn
        # The checkers (distlab.check.zab) read this typed event from the trace.
        self.emit(Applied(sid=self.sid, zxid=proposal.zxid, txn=txn_fingerprint(txn)))
        for event in applied.events:
            client = self.connections.get(event.watcher)
            if client is not None:
                self.send(client, WatchNotification(event))
        if self.role is not None:
            self.role.on_applied(proposal, applied.result)
        self._answer_client(proposal, applied.result)
        if isinstance(txn, CloseSessionTxn):
            client = self.connections.pop(txn.session_id, None)
            self.tree.remove_watcher(txn.session_id)
            if client is not None and proposal.cxid == -1:
                self.send(client, SessionExpiredNotice(txn.session_id))
        self._maybe_snapshot()

    def _answer_client(self, proposal: Proposal, result: Any) -> None:
        txn = proposal.txn
        client = self.pending.pop((txn.session_id, proposal.cxid), None)
        if client is None:
            return
        self._reply_write(client, proposal, result)
        self._release(txn.session_id)

    def _reply_write(self, client: Any, proposal: Proposal, result: Any) -> None:
        txn = proposal.txn
        zxid = proposal.zxid
        if isinstance(txn, CreateSessionTxn) and proposal.cxid == CONNECT_XID:
            self.connections[txn.session_id] = client
            attempt = self.connect_attempts.pop(txn.session_id, 0)
            self.send(client, ConnectResponse(txn.session_id, txn.timeout, zxid, attempt))
            return
        if isinstance(result, ErrorResult):
            self.send(client, ClientReply(proposal.cxid, zxid, None, result.err, error_for_code(result.err).code_name))
        elif isinstance(result, MultiResult) and result.failed:
            self.send(client, ClientReply(proposal.cxid, zxid, result, result.first_error,
                                          error_for_code(result.first_error).code_name))
        else:
            self.send(client, ClientReply(proposal.cxid, zxid, result))

    def _maybe_snapshot(self) -> None:
        """``SyncRequestProcessor``: every ``snap_count`` txns, snapshot and purge older logs."""
        snap_count = self.config.snap_count
        if snap_count is None or self.txns_since_snapshot < snap_count or self.zab_state is not ZabState.BROADCAST:
            return
        zxid = self.tree.last_processed_zxid
        self.snapshot = (zxid, self.tree.snapshot())
        self.fx.persist("snapshot", self.snapshot)
        self.log = [p for p in self.log if p.zxid > zxid]
        self.fx.persist("log", self.log)
        self.txns_since_snapshot = 0
        self.emit(SnapshotTaken(sid=self.sid, zxid=zxid))

    # ------------------------------------------------------------------ transitions -------
    def _set_state(self, new: ServerState) -> None:
        if new not in ALLOWED_TRANSITIONS[self.state]:
            raise ProtocolViolation(f"server {self.sid}: illegal transition {self.state} -> {new}")
        self.state = new
        self.fx.become(new.name)

    def become_looking(self, reason: str) -> None:
        """Leave any role and start a new election (``QuorumPeer.run``'s loop)."""
        self._become_looking(reason)

    def _become_looking(self, reason: str) -> None:
        if self.role is not None:
            self.role.stop()
            self.role = None
        self._drop_clients()
        if self.pending_snapshot is not None:
            # An interrupted SNAP sync: forget the half-installed database and reload what
            # the disk holds (ZOOKEEPER-3642).
            self.pending_snapshot = None
            self._reload()
        # Logged txns join the tree before voting (fastForwardDataBase, ZooKeeper 3.5+).
        self._fast_forward()
        self._set_state(LOOKING)
        self.zab_state = ZabState.ELECTION
        self.emit(BecameLooking(sid=self.sid, reason=reason, last_processed=self.tree.last_processed_zxid,
                                last_logged=self.last_logged_zxid, accepted_epoch=self.accepted_epoch,
                                current_epoch=self.current_epoch))
        self._run_election(self.election.start(self.last_logged_zxid, self.current_epoch))

    def _become_leading(self, vote: Vote) -> None:
        from distlab.zab.leader import Leader

        self._set_state(LEADING)
        self.zab_state = ZabState.DISCOVERY
        self.emit(LeaderElected(sid=self.sid, leader=self.sid, state="LEADING", round=self.election.logicalclock))
        self.role = Leader(self)
        self.role.start()

    def _become_learner(self, vote: Vote) -> None:
        from distlab.zab.learner import Learner

        state = OBSERVING if self.is_observer else FOLLOWING
        self._set_state(state)
        self.zab_state = ZabState.DISCOVERY
        self.emit(LeaderElected(sid=self.sid, leader=vote.leader, state=state.name,
                                round=self.election.logicalclock))
        self.role = Learner(self, vote.leader)
        self.role.start()

    def update_election_vote(self, epoch: int) -> None:
        """``QuorumPeer.updateElectionVote``: after syncing, our vote carries the new epoch."""
        if self.current_vote is not None:
            self.current_vote = replace(self.current_vote, peer_epoch=epoch)

    # ------------------------------------------------------------------ election glue -----
    def _run_election(self, actions: list[tuple]) -> None:
        for action in actions:
            kind = action[0]
            if kind == "send":
                self.send(action[1], action[2])
            elif kind == "timer":
                self.set_timer(action[1], action[2])
            elif kind == "cancel":
                self.cancel_timer(action[1])
            elif kind == "event":
                self.emit(action[1])
            elif kind == "note":
                self.note(action[1])
            elif kind == "decided":
                self._decided(action[1])
            else:  # pragma: no cover - Election only returns the kinds above
                raise ProtocolViolation(f"unknown election action {action!r}")

    def _decided(self, vote: Vote) -> None:
        self._run_election(self.election.stop())
        if vote.leader == self.sid and self.is_observer:
            raise ProtocolViolation(f"observer {self.sid} was elected leader")
        state = LEADING if vote.leader == self.sid else (OBSERVING if self.is_observer else FOLLOWING)
        self.current_vote = Notification(vote.leader, vote.zxid, self.election.logicalclock,
                                         vote.peer_epoch, state, self.sid)
        if state is LEADING:
            self._become_leading(vote)
        else:
            self._become_learner(vote)

    # ------------------------------------------------------------------ dispatch ----------
    def _on_message(self, src: Any, msg: Any) -> None:
        if type(msg) is Notification:
            self._run_election(self.election.on_notification(msg, self.state, self._current_vote_for_reply()))
        elif type(msg) in _CLIENT_MESSAGES:
            self._on_client_message(src, msg)
        elif self.role is not None:
            self.role.on_packet(src, msg)
        # Quorum packets that reach a LOOKING server belong to a role it no longer has: ignored.

    def _on_disconnected(self, peer: Any) -> None:
        """A connection broke (an IOException in ZooKeeper): to a server, or to a client."""
        if peer in self.config.members:
            # Election traffic reconnects by itself (QuorumCnxManager); roles decide.
            if self.role is not None:
                self.role.on_disconnected(peer)
            return
        # A client's connection: forget it; its session lives on until it expires.
        for session in [s for s, client in self.connections.items() if client == peer]:
            del self.connections[session]
            self.tree.remove_watcher(session)
        for key in [k for k, client in self.pending.items() if client == peer]:
            del self.pending[key]
        for session in [s for s, held in self.held.items() if held and held[0][0] == peer]:
            del self.held[session]

    def _current_vote_for_reply(self) -> Notification | None:
        if self.current_vote is None:
            return None
        return replace(self.current_vote, state=self.state)

    def _on_timer(self, name: str) -> None:
        if name.startswith("election."):
            self._run_election(self.election.on_timer(name))
        elif self.role is not None and name.startswith(self.role.TIMER_PREFIX):
            self.role.on_timer(name)

    # ------------------------------------------------------------------ clients -----------
    @property
    def serving(self) -> bool:
        """Does this server answer clients now? (Leader established / learner up to date.)"""
        return self.role is not None and self.role.serving

    def _drop_clients(self) -> None:
        """Leaving service closes every client connection; in-flight requests end unknown."""
        for (session, cxid), client in sorted(self.pending.items(), key=lambda kv: kv[0]):
            if cxid == CONNECT_XID:
                self.send(client, ConnectRefused(f"server {self.sid} stopped serving",
                                                 attempt=self.connect_attempts.get(session, 0)))
            else:
                self.send(client, ClientReply(cxid, self.tree.last_processed_zxid, None,
                                              Code.CONNECTIONLOSS, "ConnectionLoss: outcome unknown"))
        notified = set(client for (_, cxid), client in self.pending.items())
        for session in sorted(self.connections):
            self.tree.remove_watcher(session)
            client = self.connections[session]
            if client not in notified:
                self.send(client, ConnectionClosed(f"server {self.sid} stopped serving"))
        for session, held in sorted(self.held.items()):
            for client, msg in held:
                self.send(client, ClientReply(msg.xid, self.tree.last_processed_zxid, None,
                                              Code.CONNECTIONLOSS, "ConnectionLoss: outcome unknown"))
        self.held.clear()
        self.pending.clear()
        self.connect_attempts.clear()
        self.connections.clear()
        self.touched.clear()

    def _on_client_message(self, src: Any, msg: Any) -> None:
        if type(msg) is Connect:
            self._on_connect(src, msg)
            return
        if not self.serving:
            if type(msg) is ClientRequest:
                self.send(src, ClientReply(msg.xid, self.tree.last_processed_zxid, None, Code.CONNECTIONLOSS,
                                           f"ConnectionLoss: server {self.sid} is not serving"))
            return
        session = msg.session_id
        if self.connections.get(session) != src:
            if type(msg) is ClientRequest:
                expired = session not in self.tree.sessions
                code = Code.SESSIONEXPIRED if expired else Code.CONNECTIONLOSS
                self.send(src, ClientReply(msg.xid, self.tree.last_processed_zxid, None, code,
                                           f"{error_for_code(code).code_name}: session 0x{session:x} is not connected to server {self.sid}"))
            return
        self._touch(session)
        if type(msg) is ClientPing:
            self.send(src, PingReply(self.tree.last_processed_zxid))
        elif type(msg) is SetWatches:
            self._set_watches(src, msg)
        else:
            self._on_client_request(src, msg)

    def _on_connect(self, src: Any, msg: Connect) -> None:
        if not self.serving:
            self.send(src, ConnectRefused(f"server {self.sid} is not serving ({self.state.name})",
                                          attempt=msg.attempt))
            return
        mine = self.tree.last_processed_zxid
        if msg.last_zxid_seen > mine:
            # Single system image: never show a client an older state than it has seen.
            self.send(src, ConnectRefused(
                f"server {self.sid} is at {format_zxid(mine)}, behind the client's "
                f"{format_zxid(msg.last_zxid_seen)}: try another server", attempt=msg.attempt))
            return
        if msg.session_id is None:
            session = self.next_session_id
            self.next_session_id += 1
            timeout = self._negotiate_timeout(msg.timeout_ms)
            self.pending[(session, CONNECT_XID)] = src
            self.connect_attempts[session] = msg.attempt
            self.role.submit(session, CONNECT_XID, CreateSessionRequest(timeout=timeout))
            return
        timeout = self.tree.sessions.get(msg.session_id)
        if timeout is None:
            self.send(src, ConnectRefused(f"session 0x{msg.session_id:x} has expired", expired=True,
                                          attempt=msg.attempt))
            return
        old = self.connections.get(msg.session_id)
        if old is not None and old != src:
            self.tree.remove_watcher(msg.session_id)
        self.connections[msg.session_id] = src
        self._touch(msg.session_id)
        self.send(src, ConnectResponse(msg.session_id, timeout, mine, msg.attempt))

    def _negotiate_timeout(self, requested: int) -> int:
        tick = self.config.tick_ms
        return max(2 * tick, min(int(requested), 20 * tick))

    def _touch(self, session: int) -> None:
        self.touched.add(session)
        self.role.touch(session)

    def _has_pending(self, session: int) -> bool:
        return any(key[0] == session for key in self.pending)

    def _on_client_request(self, src: Any, msg: ClientRequest) -> None:
        """Serve or forward a request, never answering one before an earlier one of its session."""
        session = msg.session_id
        held = self.held.get(session)
        if held or (type(msg.op) in (GetData, Exists, GetChildren) and self._has_pending(session)):
            self.held.setdefault(session, []).append((src, msg))
            return
        self._serve(src, msg)

    def _release(self, session: int) -> None:
        """A request of ``session`` finished: serve what it held back, in order."""
        held = self.held.get(session)
        while held:
            src, msg = held[0]
            if type(msg.op) in (GetData, Exists, GetChildren) and self._has_pending(session):
                return
            held.pop(0)
            self._serve(src, msg)
        self.held.pop(session, None)

    def _serve(self, src: Any, msg: ClientRequest) -> None:
        op, session, xid = msg.op, msg.session_id, msg.xid
        zxid = self.tree.last_processed_zxid
        if type(op) in (GetData, Exists, GetChildren):
            watcher = session if op.watch else None
            try:
                if type(op) is GetData:
                    result = self.tree.get_data(op.path, watcher)
                elif type(op) is Exists:
                    result = self.tree.exists(op.path, watcher)
                else:
                    result = self.tree.get_children(op.path, watcher)
            except KeeperError as error:
                self.send(src, ClientReply(xid, zxid, None, error.code, str(error)))
                return
            self.send(src, ClientReply(xid, zxid, result))
            return
        if type(op) is SyncRequest:
            self.pending[(session, xid)] = src
            self.role.sync(session, xid, op)
            return
        if type(op) is CloseSession:
            op = CloseSessionRequest()
        if (session, xid) in self.pending:
            self.send(src, ClientReply(xid, zxid, None, Code.BADARGUMENTS, f"BadArguments: xid {xid} is in flight"))
            return
        self.pending[(session, xid)] = src
        self.role.submit(session, xid, op)

    def answer_sync(self, session: int, xid: int) -> None:
        """A sync completed: everything committed before it is applied here now."""
        client = self.pending.pop((session, xid), None)
        if client is not None:
            self.send(client, ClientReply(xid, self.tree.last_processed_zxid, "synced"))
            self._release(session)

    def _set_watches(self, src: Any, msg: SetWatches) -> None:
        """``DataTree.setWatches``: re-arm watches; fire at once what changed since ``relative_zxid``."""
        rel, session, tree = msg.relative_zxid, msg.session_id, self.tree
        zxid = tree.last_processed_zxid
        for path in msg.data_watches:
            stat = tree.exists(path)
            if stat is None:
                self.send(src, WatchNotification(WatchedEvent(EventType.NodeDeleted, path, zxid, session)))
            elif stat.mzxid > rel:
                self.send(src, WatchNotification(WatchedEvent(EventType.NodeDataChanged, path, zxid, session)))
            else:
                tree.get_data(path, session)
        for path in msg.exist_watches:
            if tree.exists(path) is not None:
                self.send(src, WatchNotification(WatchedEvent(EventType.NodeCreated, path, zxid, session)))
            else:
                tree.exists(path, session)
        for path in msg.child_watches:
            stat = tree.exists(path)
            if stat is None:
                self.send(src, WatchNotification(WatchedEvent(EventType.NodeDeleted, path, zxid, session)))
            elif stat.pzxid > rel:
                self.send(src, WatchNotification(WatchedEvent(EventType.NodeChildrenChanged, path, zxid, session)))
            else:
                tree.get_children(path, session)

    # ------------------------------------------------------------------ for people ---------
    def describe(self) -> dict[str, Any]:
        """A plain summary for the viewer and the transcript."""
        vote = self.election.state.proposal if self.election.looking else (
            Vote(self.current_vote.leader, self.current_vote.zxid, self.current_vote.peer_epoch)
            if self.current_vote else None)
        return {
            "sid": self.sid,
            "state": self.state.name if self.state else None,
            "zab_state": self.zab_state.name,
            "vote": None if vote is None else {"leader": vote.leader, "zxid": format_zxid(vote.zxid),
                                               "peer_epoch": vote.peer_epoch},
            "round": self.election.logicalclock,
            "accepted_epoch": self.accepted_epoch,
            "current_epoch": self.current_epoch,
            "last_logged_zxid": format_zxid(self.last_logged_zxid),
            "last_processed_zxid": format_zxid(self.tree.last_processed_zxid),
            "leader": None if self.current_vote is None or self.state is LOOKING else self.current_vote.leader,
        }


_CLIENT_MESSAGES = frozenset({Connect, ClientRequest, ClientPing, SetWatches})


def txn_fingerprint(txn: Any) -> str:
    """A short, process-independent hash of a txn, so checkers can tell two txns apart."""
    return hashlib.sha256(repr(txn).encode()).hexdigest()[:12]


def history_of(peer: QuorumPeer) -> dict[str, Any]:
    """What a server holds, for end-of-run checks: its logged (zxid, txn) pairs and digest."""
    return {
        "server": peer.sid,
        "snapshot_zxid": peer.snapshot_zxid,
        "history": tuple((p.zxid, txn_fingerprint(p.txn)) for p in peer.log),
        "last_processed": peer.tree.last_processed_zxid,
        "digest": peer.tree.digest(),
    }
