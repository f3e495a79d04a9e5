"""One plain-language line per event: what happened and why.

:func:`explain` reads one :class:`~distlab.viz.frames.Frame` — the event, the servers before
and after it, the messages it delivered and sent, and the typed events the protocol emitted
(``record.event``, :mod:`distlab.zab.events`; a note's text is never parsed) — and says in one
sentence what a person should notice::

    server 3 receives 5's vote (5, 0x1_00000007): higher zxid wins, so 3 changes its vote
    and tells everyone

The *why* of a vote change is worked out from the votes themselves with ZooKeeper's order
(``FastLeaderElection.totalOrderPredicate``: epoch, then zxid, then server id), not from the
implementation's wording, so a learner's own election is explained the same way — and when
it adopts a vote the reference order would not, the line says so.
"""

from __future__ import annotations

from typing import Any, Sequence

from distlab.viz.messages import fields_of, label_of
from distlab.zab.events import (Applied, BecameLooking, Committed, EpochAcked, EpochProposed, Established,
                                LearnerDropped, SyncPlanChosen)
from distlab.zab.zxid import counter_of, epoch_of, format_zxid

__all__ = ["explain", "describe_vote", "why_better", "quorum_agreeing"]


def describe_vote(vote: Any, with_epoch: bool = False) -> str:
    """``(5, 0x1_00000007)`` (or with ``epoch 1``); ``(no vote)`` for an observer's."""
    if vote is None:
        return "(no vote)"
    if vote.leader is not None and vote.leader < -(2**62):
        return "(no vote)"
    zxid = "?" if vote.zxid is None else format_zxid(vote.zxid)
    if with_epoch and vote.peer_epoch is not None:
        return f"({vote.leader}, {zxid}, epoch {vote.peer_epoch})"
    return f"({vote.leader}, {zxid})"


def _key(vote: Any) -> tuple:
    return (vote.peer_epoch if vote.peer_epoch is not None else -1,
            vote.zxid if vote.zxid is not None else -1, vote.leader)


def why_better(new: Any, old: Any) -> str | None:
    """Why ``new`` beats ``old`` in ZooKeeper's vote order, or None if it does not."""
    if old is None:
        return "any vote beats none"
    if _key(new) <= _key(old):
        return None
    if (new.peer_epoch or 0) != (old.peer_epoch or 0):
        return "higher epoch wins"
    if (new.zxid or 0) != (old.zxid or 0):
        return "higher zxid wins"
    return "same epoch and zxid, so the higher server id wins"


def quorum_agreeing(view: Any, voters: Sequence[int]) -> list[int]:
    """The voters whose vote this round equals ``view``'s own (a quorum ends the election)."""
    if view.vote is None:
        return []
    return sorted(sender for sender, vote, rnd, state in view.votes
                  if state == "LOOKING" and rnd == view.round and vote == view.vote and sender in voters)


def _majority(agreeing: list[int], voters: Sequence[int]) -> bool:
    return len(agreeing) * 2 > len(voters)


def _who(node: Any) -> str:
    return f"server {node}" if isinstance(node, int) and not isinstance(node, bool) else str(node)


def _groups(groups: Sequence[Sequence[Any]]) -> str:
    return " | ".join("{" + ", ".join(str(n) for n in g) + "}" for g in groups)


def _by_sid(views: Sequence[Any]) -> dict:
    return {v.sid: v for v in views}


class _Ctx:
    def __init__(self, frame: Any, voters: Sequence[int]) -> None:
        self.frame = frame
        self.voters = list(voters)
        self.before = _by_sid(frame.before)
        self.after = _by_sid(frame.servers)
        # The typed events of this frame (distlab.zab.events); a note's text is never parsed.
        self.events = [(r.node, r.event) for r in frame.records if r.kind == "note" and r.event is not None]
        self.sends = [r for r in frame.records if r.kind == "send"]

    def events_of(self, kind: type, node: Any = None) -> list:
        return [e for n, e in self.events if type(e) is kind and (node is None or n == node)]

    def event(self, kind: type, node: Any = None) -> Any:
        found = self.events_of(kind, node)
        return found[0] if found else None

    def sent(self, src: Any, kind: str) -> list:
        return [r for r in self.sends if r.src == src and fields_of(r.msg)[0] == kind]

    def change_tail(self, node: Any, skip: bool = False) -> str:
        if skip:
            return ""
        for sid, old, new in self.frame.changes:
            if sid == node:
                return f"; {node} becomes {new}"
        return ""


def explain(frame: Any, voters: Sequence[int]) -> str:
    """The one-line explanation of ``frame``'s event."""
    event = frame.event
    if event is None:
        return "nothing happens"
    ctx = _Ctx(frame, voters)
    kind = event.kind
    prefix = "(by hand) " if frame.origin else ""
    handler = _HANDLERS.get(kind, _generic)
    try:
        text = handler(ctx, event)
    except Exception as exc:  # a viewer must never fail on an unexpected trace
        text = f"{kind} at {_who(_actor(event))} ({type(exc).__name__} while explaining: {exc})"
    return prefix + text


def _actor(event: Any) -> Any:
    return getattr(event, "node", None) or getattr(event, "dst", None)


# --------------------------------------------------------------------------- per kind ------
def _start(ctx: _Ctx, event: Any) -> str:
    sid = event.node
    view = ctx.after.get(sid)
    verb = "boots" if event.kind == "start" else f"restarts from its disk (incarnation {event.incarnation})"
    if view is None:
        return f"{_who(sid)} {verb}"
    last = format_zxid(view.last_zxid)
    epochs = f"epochs accepted {view.accepted_epoch} / current {view.current_epoch}"
    if view.state == "LOOKING":
        vote = describe_vote(view.vote)
        return (f"server {sid} {verb} with last zxid {last} ({epochs}) and starts LOOKING: "
                f"it votes {vote} in round {view.round} and tells everyone")
    return f"server {sid} {verb} with last zxid {last} ({epochs})"


def _crash(ctx: _Ctx, event: Any) -> str:
    sid = event.node
    before = ctx.before.get(sid)
    text = f"server {sid} crashes: its memory is gone, its disk (log, epochs) survives"
    if before is not None and before.state == "LEADING":
        text += "; its followers notice only when the leader falls silent or the connection breaks"
    return text


def _partition(ctx: _Ctx, event: Any) -> str:
    groups = [g for g in event.groups]
    cuts = [c for c in event.cuts]
    if groups:
        return f"the network splits into {_groups(groups)}: messages across the cut are lost"
    if cuts:
        return "the network cuts one-way links " + ", ".join(f"{a}->{b}" for a, b in cuts)
    return "the network changes"


def _heal(ctx: _Ctx, event: Any) -> str:
    return "the network heals: every server can reach every other again"


def _reset(ctx: _Ctx, event: Any) -> str:
    return f"{_who(event.node)} learns that its connection to {event.peer} broke" + ctx.change_tail(event.node)


def _drop(ctx: _Ctx, event: Any) -> str:
    label = label_of(event.msg)
    return f"{_who(event.src)}'s {label} to {event.dst} is lost ({event.reason})"


def _timer(ctx: _Ctx, event: Any) -> str:
    sid, name = event.node, event.name
    after = ctx.after.get(sid)
    before = ctx.before.get(sid)
    changed = [c for c in ctx.frame.changes if c[0] == sid]
    if name == "election.finalize":
        if changed and after is not None:
            role = after.state
            if role == "LEADING":
                return (f"server {sid}'s finalize wait ends with no better vote: it elected itself, "
                        f"so it becomes LEADING (round {after.round})")
            return (f"server {sid}'s finalize wait ends with no better vote: {after.leader} is elected, "
                    f"so {sid} becomes {role} of {after.leader}")
        return f"server {sid}'s finalize wait ends"
    if name == "election.resend":
        vote = describe_vote(after.vote if after else None)
        return f"server {sid} heard nothing for a while: it resends its vote {vote} to everyone"
    if name == "learner.connect":
        return f"server {sid} has no answer from leader {before.leader if before else '?'} yet: it resends FOLLOWERINFO"
    if name == "learner.watchdog":
        if changed:
            e = ctx.event(BecameLooking, sid)
            return f"server {sid} gives up on its leader ({e.reason if e else 'timeout'}) and starts LOOKING"
        leader = before.leader if before else "?"
        if before is not None and before.heard_at is not None:
            silent = event.time - before.heard_at
            return (f"server {sid}'s watchdog: it last heard from leader {leader} {silent} ms ago, "
                    f"within syncLimit, so it keeps following")
        return f"server {sid}'s watchdog: leader {leader} is still within its time limits"
    if name == "leader.ping":
        if changed:
            e = ctx.event(BecameLooking, sid)
            return f"leader {sid} steps down ({e.reason if e else 'no quorum'}) and starts LOOKING"
        return f"leader {sid} pings its learners and checks that a quorum is still synced"
    if name == "leader.init":
        return f"leader {sid}'s initLimit ran out before a quorum synced: it steps down" + ctx.change_tail(sid, True)
    if name == "leader.sessions":
        return f"leader {sid} checks for expired client sessions"
    return f"timer {name} fires at {_who(sid)}" + ctx.change_tail(sid)


def _send(ctx: _Ctx, event: Any) -> str:
    return f"{event.src} hands {label_of(event.msg)} to {_who(event.dst)}"


def _note(ctx: _Ctx, event: Any) -> str:
    return event.text


def _generic(ctx: _Ctx, event: Any) -> str:
    return f"{event.kind} at {_who(_actor(event))}"


# --------------------------------------------------------------------------- deliveries ----
def _deliver(ctx: _Ctx, event: Any) -> str:
    name, f = fields_of(event.msg)
    handler = _DELIVERIES.get(name)
    src, dst = event.src, event.dst
    if handler is not None and (dst in ctx.after or name in _CLIENT_SIDE):
        return handler(ctx, event, f)
    return f"{_who(dst)} receives {label_of(event.msg)} from {_who(src)}" + ctx.change_tail(dst)


def _vote_delivery(ctx: _Ctx, event: Any, f: dict) -> str:
    from distlab.viz.frames import VoteView

    r = event.dst
    s = f.get("sid", event.src)
    vote = VoteView(f.get("leader"), f.get("zxid"), f.get("peer_epoch"))
    rnd = f.get("election_epoch")
    state = f.get("state") or "LOOKING"
    before, after = ctx.before[r], ctx.after[r]
    whose = f"{s}'s vote" if s == vote.leader else f"{s}'s vote for {vote.leader}"
    got = f"server {r} receives {whose} {describe_vote(vote)}"
    if s not in ctx.voters:
        return f"server {r} hears from observer {s}, whose vote never counts, and tells it its own vote"
    if s == r and before.state != "LOOKING":
        return f"server {r} receives its own vote {describe_vote(vote)}, sent while LOOKING; it is {before.state} now"
    if before.state != "LOOKING":
        answered = [m for m in ctx.sent(r, "Notification") if m.dst == s]
        if state == "LOOKING" and answered:
            return (f"{got}, but {r} is {before.state} (leader {before.leader}): it answers {s} with its vote, "
                    f"so {s} can join")
        return f"{got}; {r} is {before.state} and only notes it"
    # r is LOOKING.
    broadcast = {m.dst for m in ctx.sent(r, "Notification")} >= set(ctx.voters)
    changed = [c for c in ctx.frame.changes if c[0] == r]
    if state != "LOOKING":
        if changed:
            return (f"{got}: {s} is already {state} with leader {vote.leader}, and a quorum is with it, "
                    f"so {r} joins as {after.state} of {after.leader}")
        return f"{got}: {s} is {state} with leader {vote.leader}, not yet a quorum for {r} to join"
    if rnd is not None and rnd > before.round:
        text = (f"{got} from round {rnd}, later than {r}'s round {before.round}: {r} jumps to round {rnd}, "
                f"forgets the votes it had and proposes {describe_vote(after.vote)}")
        text += ", telling everyone" if broadcast else ""
        return text + _quorum_tail(ctx, r, before, after)
    if rnd is not None and rnd < before.round:
        answered = [m for m in ctx.sent(r, "Notification") if m.dst == s]
        text = f"{got} from round {rnd}, earlier than {r}'s round {before.round}: {r} ignores it"
        return text + (f" and sends {s} its own vote" if answered else "")
    old, new = before.vote, after.vote
    if new != old:
        why = why_better(vote, old)
        if why is None:
            why = "the reference order would keep the old vote, but this implementation prefers it"
        text = f"{got}: {why}, so {r} changes its vote" + (" and tells everyone" if broadcast else "")
        return text + _quorum_tail(ctx, r, before, after)
    if old == vote:
        text = f"{got}, the same as its own"
    else:
        why = why_better(old, vote)
        if why is not None:
            text = f"{got}: {r}'s own {describe_vote(old)} is better ({why.replace(' wins', '')}), so {r} keeps it"
        else:
            text = (f"{got}: the reference order would adopt it, but this implementation keeps "
                    f"{describe_vote(old)}")
    return text + _quorum_tail(ctx, r, before, after)


def _quorum_tail(ctx: _Ctx, r: int, before: Any, after: Any) -> str:
    was = quorum_agreeing(before, ctx.voters) if before.vote == after.vote and before.round == after.round else []
    now = quorum_agreeing(after, ctx.voters)
    if not _majority(now, ctx.voters):
        if now:
            return f" ({len(now)} of {len(ctx.voters)} agree so far)"
        return ""
    leader = after.vote.leader
    if _majority(was, ctx.voters):
        return f"; it is in its finalize wait for {leader} and keeps waiting"
    return (f"; now {now} agree on {leader}, a quorum, so {r} waits a moment (finalize wait) "
            f"for a better vote before deciding")


def _follower_info(ctx: _Ctx, event: Any, f: dict) -> str:
    leader, s = event.dst, event.src
    name = "OBSERVERINFO" if fields_of(event.msg)[0] == "ObserverInfo" else "FOLLOWERINFO"
    text = f"leader {leader} receives {name} from {s} (acceptedEpoch {f.get('accepted_epoch')})"
    e = ctx.event(EpochProposed, leader)
    if e:
        return (text + f": with {_ids(e.connected)} connected it has a quorum, so the new epoch is {e.epoch} "
                       f"(1 + the highest acceptedEpoch {e.max_accepted_epoch}); it sends LEADERINFO")
    if ctx.sent(leader, "LeaderInfo"):
        return text + "; the epoch is already fixed, so it answers LEADERINFO"
    if ctx.before[leader].state != "LEADING":
        return text + f", but {leader} is not leading"
    return text + "; it waits for a quorum to connect before fixing the new epoch"


def _leader_info(ctx: _Ctx, event: Any, f: dict) -> str:
    s, leader = event.dst, event.src
    epoch = f.get("new_epoch")
    before = ctx.before[s]
    acks = ctx.sent(s, "AckEpoch")
    text = f"server {s} receives LEADERINFO (new epoch {epoch}) from {leader}"
    if acks:
        _, a = fields_of(acks[0].msg)
        if a.get("current_epoch") == -1:
            return text + f": it already accepted epoch {epoch}, so it answers ACKEPOCH(-1)"
        return (text + f": it saves acceptedEpoch {epoch} and answers ACKEPOCH with its currentEpoch "
                       f"{a.get('current_epoch')} and last zxid {format_zxid(a.get('last_zxid'))}")
    if ctx.frame.changes:
        return text + f": the epoch is older than its acceptedEpoch {before.accepted_epoch}, so it gives up"
    return text


def _ack_epoch(ctx: _Ctx, event: Any, f: dict) -> str:
    leader, s = event.dst, event.src
    text = f"leader {leader} receives {s}'s ACKEPOCH (last zxid {format_zxid(f.get('last_zxid'))})"
    if any(e.learner == s and e.cause == "ahead" for e in ctx.events_of(LearnerDropped, leader)):
        return (text + f": {s} is ahead of the leader, which a correct election never allows, "
                       f"so {leader} drops it")
    m = ctx.event(EpochAcked, leader)
    plan_text = "; ".join(f"{p.learner} gets {p.plan}" for p in ctx.events_of(SyncPlanChosen, leader))
    if m:
        text += (f": a quorum {_ids(m.acks)} acked epoch {m.epoch}, so {leader} saves currentEpoch {m.epoch} "
                 f"and syncs them")
    if plan_text:
        text += (": " if not m else "; ") + plan_text
    elif not m:
        text += "; it waits for a quorum of epoch acks"
    return text


def _ids(ids: Any) -> str:
    return "[" + ", ".join(str(i) for i in ids) + "]"


def _sync_op(ctx: _Ctx, event: Any, f: dict) -> str:
    s, leader = event.dst, event.src
    name, _ = fields_of(event.msg)
    zxid = format_zxid(f.get("zxid")) if isinstance(f.get("zxid"), int) else "?"
    if name == "Diff":
        return (f"server {s} gets DIFF from leader {leader}: its log is a prefix of the leader's history "
                f"(up to {zxid}); the txns it lacks follow as PROPOSAL/COMMIT pairs")
    if name == "Trunc":
        return (f"server {s} gets TRUNC {zxid} from leader {leader}: it cuts its log back to {zxid}, "
                f"dropping txns that were never committed")
    return (f"server {s} gets SNAP from leader {leader}: it replaces its whole database with the "
            f"leader's snapshot at {zxid}")


def _new_leader(ctx: _Ctx, event: Any, f: dict) -> str:
    s, leader = event.dst, event.src
    zxid = f.get("zxid")
    epoch = epoch_of(zxid) if isinstance(zxid, int) else "?"
    if ctx.sent(s, "Ack"):
        return (f"server {s} receives NEWLEADER from {leader}: it logs the synced txns, saves currentEpoch "
                f"{epoch}, and only then ACKs")
    return f"server {s} receives NEWLEADER from {leader}" + ctx.change_tail(s)


def _ack(ctx: _Ctx, event: Any, f: dict) -> str:
    leader, s = event.dst, event.src
    zxid = f.get("zxid")
    if isinstance(zxid, int) and counter_of(zxid) == 0:
        text = f"leader {leader} receives {s}'s ACK of NEWLEADER"
        est = ctx.event(Established)
        if est:
            return (text + f": a quorum {_ids(est.quorum)} is synced, so {leader} starts serving epoch "
                           f"{est.epoch} and tells them UPTODATE")
        if ctx.sent(leader, "UpToDate"):
            return text + f": it is already serving, so {s} gets UPTODATE at once"
        if ctx.before[leader].phase == "BROADCAST":
            return f"leader {leader} receives {s}'s ACK of UPTODATE: {s} is serving, nothing more to do"
        return text + "; it waits for a quorum of them"
    z = format_zxid(zxid) if isinstance(zxid, int) else "?"
    text = f"leader {leader} receives {s}'s ACK for {z}"
    commits = ctx.events_of(Committed)
    if commits:
        zs = ", ".join(format_zxid(c.zxid) for c in commits)
        return text + f": a quorum has logged it, so {leader} commits {zs} and sends COMMIT to its followers"
    done = ctx.before[leader].last_processed
    if isinstance(zxid, int) and done is not None and zxid <= done:
        return text + ": it is committed already, so this ACK changes nothing"
    return text + "; not yet a quorum"


def _uptodate(ctx: _Ctx, event: Any, f: dict) -> str:
    s, leader = event.dst, event.src
    return f"server {s} receives UPTODATE: it is in sync with leader {leader} and starts serving clients"


def _proposal(ctx: _Ctx, event: Any, f: dict) -> str:
    s, leader = event.dst, event.src
    z = format_zxid(f.get("zxid"))
    if ctx.sent(s, "Ack"):
        return f"server {s} logs PROPOSAL {z} from leader {leader} and ACKs it"
    if ctx.after[s].phase == "SYNCHRONIZATION":
        return f"server {s} buffers PROPOSAL {z} until NEWLEADER (it is still syncing)"
    return f"server {s} receives PROPOSAL {z} from {leader}" + ctx.change_tail(s)


def _commit(ctx: _Ctx, event: Any, f: dict) -> str:
    s, leader = event.dst, event.src
    z = format_zxid(f.get("zxid"))
    if ctx.event(Applied):
        return f"server {s} receives COMMIT {z} from leader {leader} and applies it"
    if ctx.after[s].phase == "SYNCHRONIZATION":
        return f"server {s} notes COMMIT {z}: it will apply it at NEWLEADER"
    return f"server {s} receives COMMIT {z} from {leader}" + ctx.change_tail(s)


def _inform(ctx: _Ctx, event: Any, f: dict) -> str:
    return f"observer {event.dst} receives INFORM {format_zxid(f.get('zxid'))}: a committed txn, which it applies"


def _ping(ctx: _Ctx, event: Any, f: dict) -> str:
    dst, src = event.dst, event.src
    if ctx.before[dst].state == "LEADING":
        return f"leader {dst} hears {src}'s PING reply: {src} is alive"
    return f"server {dst} answers leader {src}'s PING"


def _request(ctx: _Ctx, event: Any, f: dict) -> str:
    leader, s = event.dst, event.src
    proposals = ctx.sent(leader, "ProposalPacket")
    if proposals:
        _, p = fields_of(proposals[0].msg)
        return (f"leader {leader} gets a client write forwarded by {s}: it logs it as "
                f"{format_zxid(p.get('zxid'))} and sends PROPOSAL to its followers")
    return f"leader {leader} receives {label_of(event.msg)} from {s}"


def _client_request(ctx: _Ctx, event: Any, f: dict) -> str:
    server, client = event.dst, event.src
    proposals = ctx.sent(server, "ProposalPacket")
    if proposals:
        _, p = fields_of(proposals[0].msg)
        return (f"leader {server} gets a write from {client}: it logs it as {format_zxid(p.get('zxid'))} "
                f"and sends PROPOSAL to its followers")
    if ctx.sent(server, "Request"):
        return f"server {server} gets a write from {client} and forwards it to its leader"
    return f"server {server} receives {label_of(event.msg)} from {client}"


def _api_call(ctx: _Ctx, event: Any, f: dict) -> str:
    client = event.dst
    from distlab.viz.messages import label_of as _label

    what = _label(event.msg).replace("ApiCall ", "")
    sent = [r for r in ctx.sends if r.src == client]
    text = f"the program using {client} asks it to {what}"
    if sent:
        return text + f"; {client} sends the request to {_who(sent[0].dst)}"
    return text + f"; {client} waits until it is connected"


def _client_reply(ctx: _Ctx, event: Any, f: dict) -> str:
    client, server = event.dst, event.src
    code = f.get("code") or 0
    outcome = "it succeeded" if not code else f"it failed ({f.get('error') or 'error ' + str(code)})"
    return f"{client} gets the answer to its request {f.get('xid')} from {_who(server)}: {outcome}"


def _connect(ctx: _Ctx, event: Any, f: dict) -> str:
    server, client = event.dst, event.src
    replies = [fields_of(r.msg) for r in ctx.sends if r.src == server and r.dst == client]
    for name, g in replies:
        if name == "ConnectRefused":
            return f"{_who(server)} refuses {client}'s connection: {g.get('reason')}"
        if name == "ConnectResponse":
            return f"{_who(server)} accepts {client}'s connection (session 0x{g.get('session_id'):x})"
    if ctx.sends:
        return f"{_who(server)} receives {client}'s connection request and creates a session for it (a write)"
    return f"{_who(server)} receives a connection request from {client}"


_DELIVERIES = {
    "ApiCall": _api_call,
    "ClientReply": _client_reply,
    "Connect": _connect,
    "Notification": _vote_delivery,
    "FollowerInfo": _follower_info,
    "ObserverInfo": _follower_info,
    "LeaderInfo": _leader_info,
    "AckEpoch": _ack_epoch,
    "Diff": _sync_op,
    "Trunc": _sync_op,
    "Snap": _sync_op,
    "NewLeader": _new_leader,
    "Ack": _ack,
    "UpToDate": _uptodate,
    "ProposalPacket": _proposal,
    "Commit": _commit,
    "Inform": _inform,
    "Ping": _ping,
    "Request": _request,
    "ClientRequest": _client_request,
}

_CLIENT_SIDE = frozenset({"ApiCall", "ClientReply"})

_HANDLERS = {
    "start": _start,
    "restart": _start,
    "crash": _crash,
    "partition": _partition,
    "heal": _heal,
    "reset": _reset,
    "drop": _drop,
    "timer": _timer,
    "deliver": _deliver,
    "send": _send,
    "note": _note,
}
