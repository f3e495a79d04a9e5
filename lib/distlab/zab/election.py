"""Fast Leader Election (选举), as ZooKeeper's ``FastLeaderElection`` runs it.

The algorithm, in the order a LOOKING server lives it (``FastLeaderElection.lookForLeader``):

1. Start a new round: ``logicalclock += 1``; propose yourself — ``(myid, lastLoggedZxid,
   currentEpoch)`` — and send that notification to every voter, yourself included.
2. For each notification from a voter, run :func:`handle_notification` (one step, a pure
   function — the Lab 5 seam):

   - a LOOKING sender in a **later round**: jump to its round, forget the votes you had, and
     propose whichever is better of its vote and *your own initial vote*; tell everyone;
   - a LOOKING sender in an **earlier round**: ignore it (the driver sends it your vote);
   - the **same round**: if its vote beats your proposal (:func:`vote_order`: higher peer
     epoch, then higher zxid, then higher server id), adopt it and tell everyone;
   - record its vote; once a quorum of recorded votes equals your proposal, start the
     **finalize wait** (200 ms): a better vote arriving in that window reopens the election;
     silence means you are done — LEADING if you proposed yourself, FOLLOWING otherwise;
   - a FOLLOWING or LEADING sender (a server outside the election): if a quorum already
     follows its leader *and that leader itself says it is LEADING*, join them at once.
3. If nothing arrives for a while, resend your notifications, doubling the wait up to 60 s.

Votes of observers never count; an observer still runs these steps to learn the leader.

:class:`Election` is the sans-I/O driver around the step: timers (finalize wait, back-off) and
the automatic replies of ``Messenger.WorkerReceiver``. Both seams — ``vote_order`` and
``handle_notification`` — are parameters, so a learner's own versions run in the same
simulator and can be watched in the viewer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Collection, Mapping, Protocol

from distlab.sansio import UsageError
from distlab.zab.messages import Notification, ServerState
from distlab.zab.quorum import HasQuorum, has_quorum
from distlab.zab.zxid import format_zxid
from distlab.zab.events import BetterVoteDuringFinalize, ElectionStarted, VoteReceived

__all__ = [
    "Vote",
    "NO_VOTE",
    "VoteOrder",
    "vote_order",
    "votes_equal",
    "ElectionState",
    "ElectionStep",
    "HandleNotification",
    "handle_notification",
    "check_leader",
    "Election",
    "FINALIZE_WAIT_MS",
    "MAX_NOTIFICATION_INTERVAL_MS",
]

FINALIZE_WAIT_MS = 200  # FastLeaderElection.finalizeWait; also the first notification timeout
MAX_NOTIFICATION_INTERVAL_MS = 60_000  # FastLeaderElection.maxNotificationInterval
MIN_LONG = -(2**63)


@dataclass(frozen=True, slots=True)
class Vote:
    """A proposal: who should lead, and how up to date that server is.

    ``zxid`` and ``peer_epoch`` describe the *proposed leader* (its last zxid and its
    currentEpoch), not the voter.
    """

    leader: int
    zxid: int
    peer_epoch: int

    def describe(self) -> str:
        if self.leader == MIN_LONG:
            return "(no vote)"
        return f"({self.leader}, {format_zxid(self.zxid)}, epoch {self.peer_epoch})"


# Observers and non-voters start with this vote: every real vote beats it
# (``FastLeaderElection.getInitId`` returns Long.MIN_VALUE for non-participants).
NO_VOTE = Vote(MIN_LONG, MIN_LONG, MIN_LONG)


def vote_of(n: Notification) -> Vote:
    """The vote a notification carries."""
    return Vote(n.leader, n.zxid, n.peer_epoch)


class VoteOrder(Protocol):
    """The Lab 5 seam: does ``new`` beat ``current``?"""

    def __call__(self, new: Vote, current: Vote) -> bool: ...


def vote_order(new: Vote, current: Vote) -> bool:
    """ZooKeeper's total order on votes (``FastLeaderElection.totalOrderPredicate``).

    ``new`` beats ``current`` iff its peer epoch is higher; or the epochs are equal and its
    zxid is higher; or both are equal and its server id is higher. Ties lose (a vote never
    beats itself). Rows from ``FLEPredicateTest.testPredicate`` (id, zxid, epoch):

    ================  ================  =======  ===========================
    new               current           beats?   why
    ================  ================  =======  ===========================
    (4, 0, epoch 0)   (3, 0, epoch 2)   False    a lower epoch loses to any
    (0, 0, epoch 1)   (1, 0, epoch 0)   True     later epoch
    (0, 1, epoch 0)   (1, 0, epoch 0)   True     higher zxid
    (1, 1, epoch 0)   (0, 1, epoch 0)   True     higher server id
    ================  ================  =======  ===========================

    (ZooKeeper also refuses any server of weight 0 under hierarchical quorums; distlab's
    ensembles use majority quorums, where every voter weighs 1.)
    """
    return (new.peer_epoch, new.zxid, new.leader) > (current.peer_epoch, current.zxid, current.leader)


def votes_equal(recorded: Notification, reference: Notification) -> bool:
    """``Vote.equals``: do two recorded votes agree, for counting a quorum?

    If either side is LOOKING, the leader, zxid, election round and peer epoch must all be
    equal. Between two non-LOOKING votes only the leader and peer epoch are compared: members
    of an established ensemble legitimately differ in zxid and round (ZOOKEEPER-1732/1805).
    """
    if recorded.state is ServerState.LOOKING or reference.state is ServerState.LOOKING:
        return (recorded.leader == reference.leader and recorded.zxid == reference.zxid
                and recorded.election_epoch == reference.election_epoch
                and recorded.peer_epoch == reference.peer_epoch)
    return recorded.leader == reference.leader and recorded.peer_epoch == reference.peer_epoch


@dataclass(frozen=True)
class ElectionState:
    """Everything one election step reads and writes (``FastLeaderElection``'s fields).

    Treat it as a value: a step returns a *new* state (``dataclasses.replace``); it never
    mutates this one or its dicts.

    - ``me``: my server id; ``voters``: the voting members;
    - ``logicalclock``: my election round;
    - ``initial``: the vote I started this election with — my own (id, last zxid, epoch);
    - ``proposal``: the vote I currently propose;
    - ``recvset``: this round's votes, sender id -> its latest notification;
    - ``outofelection``: votes from FOLLOWING/LEADING servers, of any round.
    """

    me: int
    voters: frozenset[int]
    logicalclock: int
    initial: Vote
    proposal: Vote
    recvset: Mapping[int, Notification] = field(default_factory=dict)
    outofelection: Mapping[int, Notification] = field(default_factory=dict)

    def proposal_notification(self, state: ServerState = ServerState.LOOKING) -> Notification:
        """My proposal as the notification I would send."""
        p = self.proposal
        return Notification(p.leader, p.zxid, self.logicalclock, p.peer_epoch, state, self.me)


@dataclass(frozen=True)
class ElectionStep:
    """What one step decided.

    - ``state``: the new election state;
    - ``broadcast``: send my (possibly new) proposal to every voter;
    - ``finalize``: a quorum agrees with my proposal — start the finalize wait;
    - ``decided``: the election is over now; follow (or lead) this vote;
    - ``reason``: one plain sentence for the trace and the viewer.
    """

    state: ElectionState
    broadcast: bool = False
    finalize: bool = False
    decided: Vote | None = None
    reason: str = ""


class HandleNotification(Protocol):
    """The Lab 5 seam: one step of ``lookForLeader`` for one received notification."""

    def __call__(self, state: ElectionState, n: Notification, vote_order: VoteOrder,
                 has_quorum: HasQuorum) -> ElectionStep: ...


def _agreeing(votes: Mapping[int, Notification], reference: Notification) -> set[int]:
    return {sid for sid, recorded in votes.items() if votes_equal(recorded, reference)}


def check_leader(state: ElectionState, votes: Mapping[int, Notification], leader: int, election_epoch: int) -> bool:
    """``FastLeaderElection.checkLeader``: may we trust that ``leader`` leads?

    Another server must itself have said it is LEADING (a majority of followers is not
    enough: they may follow a leader that has since crashed). For myself, the votes must be
    from my current round (ZOOKEEPER-1514, ``FLEBackwardElectionRoundTest``).
    """
    if leader != state.me:
        recorded = votes.get(leader)
        return recorded is not None and recorded.state is ServerState.LEADING
    return state.logicalclock == election_epoch


def handle_notification(state: ElectionState, n: Notification, vote_order: VoteOrder = vote_order,
                        has_quorum: HasQuorum = has_quorum) -> ElectionStep:
    """One step of ``FastLeaderElection.lookForLeader`` for notification ``n``.

    Examples, for server 3 of {1, 2, 3} in round 1 proposing itself (3, 0x0, epoch 0):

    ====================================  ==============================================
    notification                          step
    ====================================  ==============================================
    1: LOOKING round 2, votes (1, 0x5)    jump to round 2, propose (1, 0x5) — it beats my
                                          initial vote; broadcast
    1: LOOKING round 0                    ignored: an earlier round
    2: LOOKING round 1, votes (2, 0x0)    keep (3, 0x0) (same zxid, 3 > 2); record it
    2: LOOKING round 1, votes (3, 0x0)    record; with my own vote that is 2 of 3 agreeing
                                          on (3, round 1): finalize
    1: LEADING round 4, votes (1, ...)    record out of election; decide (1) once a quorum
                                          follows 1 and 1 itself is LEADING
    ====================================  ==============================================
    """
    voters = state.voters
    if n.sid not in voters or n.leader not in voters:
        return ElectionStep(state, reason=f"ignored: {n.sid} or its candidate {n.leader} is not a voter")
    if n.state is ServerState.OBSERVING:
        return ElectionStep(state, reason="ignored: observers do not vote")

    if n.state is ServerState.LOOKING:
        if state.initial.zxid == -1 or n.zxid == -1:
            return ElectionStep(state, reason="ignored: an untrusted empty database (zxid -1) takes no part")
        broadcast = False
        if n.election_epoch > state.logicalclock:
            # A later round: restart from my *initial* vote, not my current proposal.
            proposal = vote_of(n) if vote_order(vote_of(n), state.initial) else state.initial
            state = replace(state, logicalclock=n.election_epoch, recvset={}, proposal=proposal)
            broadcast = True
            reason = f"{n.sid} is in round {n.election_epoch}: jump to it and propose {proposal.describe()}"
        elif n.election_epoch < state.logicalclock:
            return ElectionStep(state, reason=f"ignored: {n.sid} is in an earlier round ({n.election_epoch})")
        elif vote_order(vote_of(n), state.proposal):
            state = replace(state, proposal=vote_of(n))
            broadcast = True
            reason = f"{n.sid}'s vote {vote_of(n).describe()} beats mine: adopt it and tell everyone"
        else:
            reason = f"{n.sid} votes {vote_of(n).describe()}; my proposal {state.proposal.describe()} stays"
        state = replace(state, recvset={**state.recvset, n.sid: n})
        agreeing = _agreeing(state.recvset, state.proposal_notification())
        if has_quorum(agreeing, voters):
            return ElectionStep(state, broadcast=broadcast, finalize=True,
                                reason=f"{reason}; {sorted(agreeing)} agree on {state.proposal.describe()}: finalize")
        return ElectionStep(state, broadcast=broadcast, reason=reason)

    # FOLLOWING or LEADING: a server that is already out of the election.
    if n.election_epoch == state.logicalclock:
        recvset = {**state.recvset, n.sid: n}
        state = replace(state, recvset=recvset)
        if has_quorum(_agreeing(recvset, n), voters) and check_leader(state, recvset, n.leader, n.election_epoch):
            return ElectionStep(state, decided=vote_of(n),
                                reason=f"a quorum of round {n.election_epoch} follows {n.leader}: join it")
    outofelection = {**state.outofelection, n.sid: n}
    state = replace(state, outofelection=outofelection)
    if has_quorum(_agreeing(outofelection, n), voters) and check_leader(state, outofelection, n.leader, n.election_epoch):
        state = replace(state, logicalclock=n.election_epoch)
        return ElectionStep(state, decided=vote_of(n),
                            reason=f"an established quorum follows {n.leader}, which leads: join it")
    return ElectionStep(state, reason=f"{n.sid} is {n.state.name} with leader {n.leader}; not yet a quorum")


def initial_election_state(me: int, voters: Collection[int], logicalclock: int, last_zxid: int,
                           current_epoch: int) -> ElectionState:
    """The state at the start of a round: a voter proposes itself, a non-voter :data:`NO_VOTE`."""
    voters = frozenset(voters)
    initial = Vote(me, last_zxid, current_epoch) if me in voters else NO_VOTE
    return ElectionState(me=me, voters=voters, logicalclock=logicalclock, initial=initial, proposal=initial)


class Election:
    """The sans-I/O driver of one server's elections: the state, the timers, the replies.

    It keeps the server's ``logicalclock`` across elections (in memory only, as ZooKeeper
    does), owns the finalize wait and the notification back-off, and answers notifications
    while the server is not LOOKING (``Messenger.WorkerReceiver``). Each method returns a list
    of ``("send", dst, Notification)``, ``("timer", name, delay)``, ``("cancel", name)``,
    ``("decided", Vote)`` and ``("event", ZabEvent)`` actions (:mod:`distlab.zab.events`)
    that the peer turns into effects.
    """

    FINALIZE_TIMER = "election.finalize"
    RESEND_TIMER = "election.resend"

    def __init__(self, me: int, voters: Collection[int], *, vote_order: VoteOrder = vote_order,
                 handle_notification: HandleNotification = handle_notification,
                 has_quorum: HasQuorum = has_quorum,
                 finalize_wait_ms: int = FINALIZE_WAIT_MS,
                 max_notification_interval_ms: int = MAX_NOTIFICATION_INTERVAL_MS) -> None:
        if not callable(vote_order) or not callable(handle_notification) or not callable(has_quorum):
            raise UsageError("vote_order, handle_notification and has_quorum must be callables")
        self.me = me
        self.voters = frozenset(voters)
        self.vote_order = vote_order
        self.handle_notification = handle_notification
        self.has_quorum = has_quorum
        self.finalize_wait_ms = finalize_wait_ms
        self.max_interval_ms = max_notification_interval_ms
        self.logicalclock = 0
        self.state: ElectionState | None = None  # set while LOOKING
        self.finalizing = False
        self.timeout_ms = finalize_wait_ms

    @property
    def looking(self) -> bool:
        return self.state is not None

    def start(self, last_zxid: int, current_epoch: int) -> list[tuple]:
        """Begin a new election round (``lookForLeader``'s prologue)."""
        self.logicalclock += 1
        self.state = initial_election_state(self.me, self.voters, self.logicalclock, last_zxid, current_epoch)
        self.finalizing = False
        self.timeout_ms = self.finalize_wait_ms
        return [("event", ElectionStarted(sid=self.me, round=self.logicalclock,
                                          proposal=self.state.proposal.describe())),
                *self._broadcast(), ("timer", self.RESEND_TIMER, self.timeout_ms)]

    def stop(self) -> list[tuple]:
        """Leave the election (decided, or shutting down): cancel its timers."""
        self.state = None
        self.finalizing = False
        return [("cancel", self.FINALIZE_TIMER), ("cancel", self.RESEND_TIMER)]

    def on_notification(self, n: Notification, my_state: ServerState, current_vote: Notification | None) -> list[tuple]:
        """A notification arrived. ``current_vote`` is the vote I finished my last election with."""
        actions: list[tuple] = []
        if n.sid not in self.voters:
            # Observers and strangers never enter the queue: answer with my vote at once.
            mine = self._my_vote_for_reply(my_state, current_vote)
            return [("send", n.sid, mine)] if mine is not None else []
        if self.state is None:
            # Not LOOKING: tell a LOOKING server who leads (WorkerReceiver).
            if n.state is ServerState.LOOKING and current_vote is not None:
                actions.append(("send", n.sid, current_vote))
            return actions
        if n.state is ServerState.LOOKING and n.election_epoch < self.logicalclock:
            actions.append(("send", n.sid, self.state.proposal_notification()))  # help a laggard
        # Any arrival resets the quiet-period timer (lookForLeader polls with `timeout`).
        actions.append(("timer", self.RESEND_TIMER, self.timeout_ms))
        if self.finalizing:
            if self.vote_order(vote_of(n), self.state.proposal):
                # A better vote during the finalize wait reopens the election.
                self.finalizing = False
                actions.append(("cancel", self.FINALIZE_TIMER))
                actions.append(("event", BetterVoteDuringFinalize(sid=self.me, sender=n.sid, vote=vote_of(n).describe(),
                                                                  proposal=self.state.proposal.describe())))
            else:
                # Drained and discarded, as ZooKeeper's finalize loop does; the wait restarts.
                actions.append(("timer", self.FINALIZE_TIMER, self.finalize_wait_ms))
                return actions
        step = self.handle_notification(self.state, n, self.vote_order, self.has_quorum)
        if not isinstance(step, ElectionStep) or not isinstance(step.state, ElectionState):
            raise UsageError(f"handle_notification must return an ElectionStep with an ElectionState, got {step!r}")
        self.state = step.state
        self.logicalclock = step.state.logicalclock
        if step.reason:
            actions.append(("event", VoteReceived(sid=self.me, reason=str(step.reason))))
        if step.broadcast:
            actions += self._broadcast()
        if step.decided is not None:
            actions.append(("decided", step.decided))
        elif step.finalize and not self.finalizing:
            self.finalizing = True
            actions.append(("timer", self.FINALIZE_TIMER, self.finalize_wait_ms))
        return actions

    def on_timer(self, name: str) -> list[tuple]:
        """The finalize wait ended quietly (decide), or nobody spoke for a while (resend)."""
        if self.state is None:
            return []
        if name == self.FINALIZE_TIMER and self.finalizing:
            return [("decided", self.state.proposal)]
        if name == self.RESEND_TIMER:
            # Nothing heard: resend and back off (doubling, capped) — lookForLeader's poll timeout.
            self.timeout_ms = min(self.timeout_ms * 2, self.max_interval_ms)
            return [*self._broadcast(), ("timer", self.RESEND_TIMER, self.timeout_ms)]
        return []

    def _broadcast(self) -> list[tuple]:
        n = self.state.proposal_notification()
        return [("send", sid, n) for sid in sorted(self.voters)]

    def _my_vote_for_reply(self, my_state: ServerState, current_vote: Notification | None) -> Notification | None:
        if self.state is not None:
            return self.state.proposal_notification()
        return current_vote
