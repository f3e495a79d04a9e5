"""The checks of Labs 0, 3, 6 and 7 catch plausible mistakes, and say what rule broke.

Each lab's reference answers (taken from its solution notebook's graded cells) pass the public
seeds; then each plausible mistake — a realistic bug a learner writes, named for it — is run
through its part's check directly (no sandbox) on the public seeds and must fail on at least
one, with a message naming the broken rule.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from distlab.grading import lab0, lab3, lab6, lab7
from distlab.grading.notebook import graded_cells, read_notebook, setup_code
from distlab.grading.parts import PUBLIC_SEEDS
from distlab.sansio import Deliver, Effects, Start, Timer
from distlab.zab.messages import Diff, Proposal, ProposalPacket
from distlab.zab.sync import SyncMode, SyncPlan
from distlab.zab.sync import choose_sync_mode as zk_choose_sync_mode
from distlab.zab.zxid import counter_of
from distlab.zk.errors import BadVersionError
from distlab.zk.watches import EventType

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = {0: "lab0-simulator.ipynb", 3: "lab3-znode-tree.ipynb", 6: "lab6-sync.ipynb",
             7: "lab7-broadcast.ipynb"}
CHECKS = {0: lab0, 3: lab3, 6: lab6, 7: lab7}


def solutions(lab: int) -> dict:
    """The namespace of a solution notebook's setup and graded cells."""
    notebook = read_notebook(ROOT / "solutions" / NOTEBOOKS[lab])
    namespace: dict = {"__name__": f"lab{lab}_solution"}
    exec(compile(setup_code(notebook), f"lab{lab} setup", "exec"), namespace)
    for part, cell in graded_cells(notebook).items():
        exec(compile(cell.source, f"lab{lab} {part}", "exec"), namespace)
    return namespace


def outcomes(lab: int, part: str, fn, seeds=PUBLIC_SEEDS) -> list:
    check = getattr(CHECKS[lab], f"check_{part}")
    return [check(fn, seed) for seed in seeds]


def assert_loses(lab: int, part: str, fn, *words: str, seeds=PUBLIC_SEEDS) -> None:
    results = outcomes(lab, part, fn, seeds)
    failed = [o for o in results if o.passed is not True]
    assert failed, f"{fn.__name__} passed every seed of {part}"
    for outcome in failed:
        for word in words:
            assert word in outcome.message, f"{word!r} not in the message: {outcome.message}"


@pytest.mark.parametrize("lab, part", [
    (0, "RetryingSender"), (0, "DedupReceiver"), (0, "HeartbeatDetector"),
    (3, "path_problem"), (3, "sequential_name"), (3, "check_and_inc_version"), (3, "events_for"),
    (6, "queue_committed_proposals"), (6, "choose_sync_mode"), (6, "apply_sync_to_log"),
    (7, "has_quorum"), (7, "tolerated_failures"), (7, "process_ack"), (7, "epoch_to_propose"),
])
def test_the_reference_answer_passes_the_public_seeds(lab, part):
    fn = solutions(lab)[part]
    assert all(o.passed is True for o in outcomes(lab, part, fn)), [o.message for o in outcomes(lab, part, fn)]


# ================================================================ Lab 0 =====================
RETRY_MS, HEARTBEAT_MS, SUSPECT_AFTER_MS = lab0.RETRY_MS, lab0.HEARTBEAT_MS, lab0.SUSPECT_AFTER_MS


class SendsOnce:
    """Never retries: fine on a perfect network, lossy anywhere else."""

    def __init__(self, me, receiver, messages):
        self.receiver, self.messages = receiver, messages

    def step(self, event):
        fx = Effects()
        if isinstance(event, Start):
            for seq, payload in enumerate(self.messages, 1):
                fx.send(self.receiver, ("data", seq, payload))
        return fx


class ResendsEverythingForever:
    """Forgets to look at the acks: resends every message on every timer, for ever."""

    def __init__(self, me, receiver, messages):
        self.receiver, self.messages = receiver, messages

    def step(self, event):
        fx = Effects()
        if isinstance(event, (Start, Timer)):
            for seq, payload in enumerate(self.messages, 1):
                fx.send(self.receiver, ("data", seq, payload))
            fx.set_timer("retry", RETRY_MS)
        return fx


class StopsAtTheFirstAck:
    """Treats any ack as "all done"."""

    def __init__(self, me, receiver, messages):
        self.receiver, self.messages, self.done = receiver, messages, False

    def step(self, event):
        fx = Effects()
        if isinstance(event, Deliver):
            self.done = True
        elif not self.done:
            for seq, payload in enumerate(self.messages, 1):
                fx.send(self.receiver, ("data", seq, payload))
            fx.set_timer("retry", RETRY_MS)
        return fx


class DedupsInMemoryOnly:
    """Remembers deliveries, but only in memory: a restart forgets them."""

    def __init__(self, me):
        self.delivered = set()

    def step(self, event):
        fx = Effects()
        if isinstance(event, Deliver):
            _, seq, payload = event.msg
            if (event.src, seq) not in self.delivered:
                self.delivered.add((event.src, seq))
                fx.note("deliver", src=event.src, seq=seq, payload=payload)
            fx.send(event.src, ("ack", seq))
        return fx


class DedupsBySeqAlone:
    """Keys deliveries by seq only, so two senders' message 1 collide."""

    def __init__(self, me):
        self.delivered = set()

    def step(self, event):
        fx = Effects()
        if isinstance(event, Start):
            self.delivered = set(event.durable.get("delivered", ()))
        elif isinstance(event, Deliver):
            _, seq, payload = event.msg
            if seq not in self.delivered:
                self.delivered.add(seq)
                fx.persist("delivered", self.delivered)
                fx.note("deliver", src=event.src, seq=seq, payload=payload)
            fx.send(event.src, ("ack", seq))
        return fx


class AcksOnlyNewMessages:
    """Deduplicates durably but does not ack a duplicate, so a lost ack is never replaced."""

    def __init__(self, me):
        self.delivered = set()

    def step(self, event):
        fx = Effects()
        if isinstance(event, Start):
            self.delivered = set(event.durable.get("delivered", ()))
        elif isinstance(event, Deliver):
            _, seq, payload = event.msg
            if (event.src, seq) not in self.delivered:
                self.delivered.add((event.src, seq))
                fx.persist("delivered", self.delivered)
                fx.note("deliver", src=event.src, seq=seq, payload=payload)
                fx.send(event.src, ("ack", seq))
        return fx


class Detector:
    """A correct detector whose pieces the mistakes below get wrong."""

    timeout = SUSPECT_AFTER_MS
    trust_again = True
    check_on_timer = True

    def __init__(self, me, peers):
        self.me, self.peers, self.last, self.suspects = me, list(peers), {}, set()

    def step(self, event):
        fx = Effects()
        if isinstance(event, Start):
            self.last = {p: event.now for p in self.peers}
        elif isinstance(event, Deliver):
            if not self.check_on_timer:
                self._check(fx, event.now, [event.src])
            self.last[event.src] = event.now
            if self.trust_again and event.src in self.suspects:
                self.suspects.discard(event.src)
                fx.note("trust", trust=event.src)
            return fx
        if self.check_on_timer:
            self._check(fx, event.now, self.peers)
        for p in self.peers:
            fx.send(p, ("heartbeat", self.me))
        fx.set_timer("beat", HEARTBEAT_MS)
        return fx

    def _check(self, fx, now, peers):
        for p in peers:
            if p not in self.suspects and now - self.last[p] > self.timeout:
                self.suspects.add(p)
                fx.note("suspect", suspect=p)


class NeverTrustsAgain(Detector):
    trust_again = False


class TimesOutAfterOneBeat(Detector):
    timeout = HEARTBEAT_MS


class ChecksOnlyWhenAMessageArrives(Detector):
    check_on_timer = False


@pytest.mark.parametrize("part, variant, words", [
    ("RetryingSender", SendsOnce, ["resend"]),
    ("RetryingSender", ResendsEverythingForever, ["acknowledged", "still sent"]),
    ("RetryingSender", StopsAtTheFirstAck, ["never had every message acknowledged"]),
    ("DedupReceiver", DedupsInMemoryOnly, ["exactly once", "persisted"]),
    ("DedupReceiver", DedupsBySeqAlone, ["never delivered", "(sender, seq)"]),
    ("DedupReceiver", AcksOnlyNewMessages, ["Ack every copy"]),
    ("HeartbeatDetector", NeverTrustsAgain, ["trust="]),
    ("HeartbeatDetector", TimesOutAfterOneBeat, ["good network"]),
    ("HeartbeatDetector", ChecksOnlyWhenAMessageArrives, ["own timer"]),
], ids=lambda v: getattr(v, "__name__", None) if isinstance(v, type) else None)
def test_lab0_mistakes_lose_points(part, variant, words):
    assert_loses(0, part, variant, *words)


# ================================================================ Lab 3 =====================
def path_allows_trailing_slash(path, is_sequential=False):
    trimmed = path[:-1] if len(path) > 1 and path.endswith("/") else path
    return solutions(3)["path_problem"](trimmed, is_sequential)


def path_ignores_the_sequential_flag(path, is_sequential=False):
    return solutions(3)["path_problem"](path, False)


def path_forgets_control_characters(path, is_sequential=False):
    cleaned = "".join(c for c in path if not (0x01 <= ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F))
    return solutions(3)["path_problem"](cleaned, is_sequential)


def name_from_the_visible_cversion(prefix, cversion, num_children):
    return f"{prefix}{cversion:010d}"


def name_from_the_child_count(prefix, cversion, num_children):
    return f"{prefix}{num_children:010d}"


def version_without_wrapping(current, expected):
    if expected != -1 and expected != current:
        raise BadVersionError(None, "mismatch")
    return current + 1


def version_that_hands_out_minus_one(current, expected):
    if expected != -1 and expected != current:
        raise BadVersionError(None, "mismatch")
    return (current + 1 + 2**31) % 2**32 - 2**31


def version_any_negative_matches(current, expected):
    if expected >= 0 and expected != current:
        raise BadVersionError(None, "mismatch")
    following = (current + 1 + 2**31) % 2**32 - 2**31
    return 0 if following == -1 else following


def version_raises_value_error(current, expected):
    if expected != -1 and expected != current:
        raise ValueError("version mismatch")
    following = (current + 1 + 2**31) % 2**32 - 2**31
    return 0 if following == -1 else following


def events_getdata_watches_missing_nodes(reads, op, path, existing):
    as_exists = [("exists" if kind == "getData" else kind, target, w) for kind, target, w in reads]
    return solutions(3)["events_for"](as_exists, op, path, existing)


def events_twice_for_a_double_watcher(reads, op, path, existing):
    events = solutions(3)["events_for"](reads, op, path, existing)
    if op == "delete":
        data = {w for kind, target, w in reads if target == path and kind in ("getData", "exists")}
        child = {w for kind, target, w in reads if target == path and kind == "getChildren"}
        events += [(w, EventType.NodeDeleted, path) for w in sorted(data & child)]
    return events


def events_parent_data_watch_on_create(reads, op, path, existing):
    events = solutions(3)["events_for"](reads, op, path, existing)
    if op == "create":
        parent = path.rsplit("/", 1)[0] or "/"
        events += [(w, EventType.NodeDataChanged, parent) for kind, target, w in dict.fromkeys(reads)
                   if target == parent and kind == "getData"]
    return events


@pytest.mark.parametrize("part, variant, words", [
    ("path_problem", path_allows_trailing_slash, ["refuses it", "end with '/'"]),
    ("path_problem", path_ignores_the_sequential_flag, ["checked as"]),
    ("path_problem", path_forgets_control_characters, ["invalid character"]),
    ("sequential_name", name_from_the_visible_cversion, ["stored", "creates only"]),
    ("sequential_name", name_from_the_child_count, ["stored"]),
    ("check_and_inc_version", version_without_wrapping, ["Java int"]),
    ("check_and_inc_version", version_that_hands_out_minus_one, ["-1 is skipped"]),
    ("check_and_inc_version", version_any_negative_matches, ["BadVersion"]),
    ("check_and_inc_version", version_raises_value_error, ["raised ValueError", "BadVersionError"]),
    ("events_for", events_getdata_watches_missing_nodes, ["only on an existing node"]),
    ("events_for", events_twice_for_a_double_watcher, ["once per watcher"]),
    ("events_for", events_parent_data_watch_on_create, ["the parent's NodeChildrenChanged"]),
], ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_lab3_mistakes_lose_points(part, variant, words):
    assert_loses(3, part, variant, *words)


# ================================================================ Lab 6 =====================
def walk_that_truncates_across_epochs(proposals, peer, max_zxid, last_committed, need_op):
    """Forgets ZOOKEEPER-1413's epoch check: TRUNCs to the last shared zxid whatever the epoch."""
    from distlab.zab.messages import Commit, Trunc
    from distlab.zab.zxid import is_new_epoch_zxid

    packets, queued, prev = [], peer, -1
    for p in proposals:
        if max_zxid is not None and p.zxid > max_zxid:
            break
        if p.zxid < peer:
            prev = p.zxid
            continue
        if need_op:
            if p.zxid == peer or is_new_epoch_zxid(peer):
                packets.append(Diff(last_committed))
                need_op = False
                if p.zxid == peer:
                    continue
            else:
                packets.append(Trunc(prev))
                need_op = False
        if p.zxid <= queued:
            continue
        packets += [ProposalPacket(p.zxid, p.txn, p.cxid), Commit(p.zxid)]
        queued = p.zxid
    if need_op and is_new_epoch_zxid(peer):
        packets.append(Diff(last_committed))
        need_op = False
    return tuple(packets), queued, need_op


def walk_that_resends_the_peers_own_txn(proposals, peer, max_zxid, last_committed, need_op):
    packets, queued, need = lab6.reference_walk(proposals, peer, max_zxid, last_committed, need_op)
    own = next((p for p in proposals if p.zxid == peer), None)
    if own is not None and packets and isinstance(packets[0], Diff):
        from distlab.zab.messages import Commit

        packets = packets[:1] + (ProposalPacket(own.zxid, own.txn, own.cxid), Commit(own.zxid)) + packets[1:]
    return packets, queued, need


def sync_that_never_truncates(peer, history):
    """ZOOKEEPER-1154's bug: a learner ahead of the leader gets a DIFF and keeps its stray txns."""
    plan = zk_choose_sync_mode(peer, history)
    if plan.mode is SyncMode.TRUNC:
        return SyncPlan(SyncMode.DIFF, (Diff(plan.trunc_zxid),), plan.forward_from, None, None, "DIFF: no TRUNC")
    return plan


def sync_whose_diff_carries_last_processed(peer, history):
    from dataclasses import replace

    plan = zk_choose_sync_mode(peer, history)
    if plan.mode is SyncMode.DIFF and plan.packets[0].zxid != peer:
        return replace(plan, packets=(Diff(history.last_processed_zxid),) + plan.packets[1:])
    return plan


def sync_that_snaps_from_the_peer(peer, history):
    """Forwards a SNAP learner from its own zxid instead of the snapshot's."""
    from dataclasses import replace

    plan = zk_choose_sync_mode(peer, history)
    if plan.mode is SyncMode.SNAP and plan.forward_from != peer:
        return replace(plan, forward_from=peer)
    return plan


def apply_that_never_truncates(learner_log, plan, leader_log=()):
    if plan.mode is SyncMode.SNAP:
        return tuple(p for p in leader_log if p.zxid <= plan.snap_zxid)
    held = {p.zxid for p in learner_log}
    return tuple(learner_log) + tuple(Proposal(p.zxid, p.txn, p.cxid) for p in plan.packets
                                      if isinstance(p, ProposalPacket) and p.zxid not in held)


def apply_that_takes_the_whole_leader_log(learner_log, plan, leader_log=()):
    if plan.mode is SyncMode.SNAP:
        return tuple(leader_log)
    return solutions(6)["apply_sync_to_log"](learner_log, plan, leader_log)


@pytest.mark.parametrize("part, variant, words", [
    ("queue_committed_proposals", walk_that_truncates_across_epochs, ["other epoch", "expected: []"]),
    ("queue_committed_proposals", walk_that_resends_the_peers_own_txn, ["packets"]),
    ("choose_sync_mode", sync_that_never_truncates, ["expected: TRUNC", "maxCommittedLog"]),
    ("choose_sync_mode", sync_whose_diff_carries_last_processed, ["packets", "DIFF"]),
    ("choose_sync_mode", sync_that_snaps_from_the_peer, ["forward_from"]),
    ("apply_sync_to_log", apply_that_never_truncates, ["TRUNC drops"]),
    ("apply_sync_to_log", apply_that_takes_the_whole_leader_log, ["snap_zxid"]),
], ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_lab6_mistakes_lose_points(part, variant, words):
    assert_loses(6, part, variant, *words)


def test_lab6_a_sync_that_never_truncates_breaks_durability_in_a_running_ensemble():
    """Even without the table rows, the ensemble run catches ZOOKEEPER-1154: servers diverge."""
    story = "old leader with an uncommitted tail (ZOOKEEPER-1154)"
    results = [lab6.ensemble_run(sync_that_never_truncates, seed, story)[0] for seed in range(1, 9)]
    broken = [o for o in results if not o.passed]
    assert broken and any("durability" in o.message for o in broken), [o.message for o in results]
    assert all(lab6.ensemble_run(zk_choose_sync_mode, seed, story)[0].passed for seed in range(1, 4))


# ================================================================ Lab 7 =====================
def quorum_of_one(acks, voters):
    return len(acks) >= 1


def quorum_that_counts_observers(acks, voters):
    return len(set(acks)) > len(voters) // 2


def quorum_of_half(acks, voters):
    return len(set(acks) & set(voters)) >= len(voters) / 2


def quorum_that_counts_repeats(acks, voters):
    return len([a for a in acks if a in voters]) > len(voters) // 2


def half_the_servers_may_fail(n):
    return n // 2


def one_fewer_than_needed(n):
    return max(0, (n - 1) // 2 - 1)


def commits_whatever_has_a_quorum(outstanding, last_committed, sid, zxid, voters, has_quorum):
    if sid not in voters or zxid <= last_committed or zxid not in outstanding:
        return dict(outstanding), []
    outstanding = dict(outstanding)
    outstanding[zxid] = frozenset(outstanding[zxid]) | {sid}
    committed = sorted(z for z, acks in outstanding.items() if has_quorum(acks, voters))
    for z in committed:
        del outstanding[z]
    return outstanding, committed


def commits_on_its_own_count(outstanding, last_committed, sid, zxid, voters, has_quorum):
    """Counts acks itself — observers' acks included."""
    if counter_of(zxid) == 0 or zxid <= last_committed or zxid not in outstanding:
        return dict(outstanding), []
    outstanding = dict(outstanding)
    outstanding[zxid] = frozenset(outstanding[zxid]) | {sid}
    committed = []
    while outstanding and len(outstanding[min(outstanding)]) > len(voters) // 2:
        committed.append(min(outstanding))
        del outstanding[min(outstanding)]
    return outstanding, committed


def epoch_without_the_plus_one(leader, accepted, infos, voters, has_quorum):
    if not has_quorum({leader} | {s for s in infos if s in voters}, voters):
        return None
    return max([accepted, *infos.values()])


def epoch_that_ignores_observers(leader, accepted, infos, voters, has_quorum):
    if not has_quorum({leader} | {s for s in infos if s in voters}, voters):
        return None
    return 1 + max([accepted, *(e for s, e in infos.items() if s in voters)])


def epoch_that_forgets_the_leader(leader, accepted, infos, voters, has_quorum):
    if not has_quorum({s for s in infos if s in voters}, voters):
        return None
    return 1 + max([accepted, *infos.values()])


@pytest.mark.parametrize("part, variant, words", [
    ("has_quorum", quorum_of_one, ["more than half"]),
    ("has_quorum", quorum_that_counts_observers, ["Observers"]),
    ("has_quorum", quorum_of_half, ["more than half"]),
    ("has_quorum", quorum_that_counts_repeats, ["same id twice"]),
    ("tolerated_failures", half_the_servers_may_fail, ["An even ensemble"]),
    ("tolerated_failures", one_fewer_than_needed, ["(n - 1) // 2"]),
    ("process_ack", commits_whatever_has_a_quorum, ["zxid order"]),
    ("process_ack", commits_on_its_own_count, ["non-voter"]),
    ("epoch_to_propose", epoch_without_the_plus_one, ["1 + the highest"]),
    ("epoch_to_propose", epoch_that_ignores_observers, ["observers included"]),
    ("epoch_to_propose", epoch_that_forgets_the_leader, ["leader and the voters"]),
], ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_lab7_mistakes_lose_points(part, variant, words):
    assert_loses(7, part, variant, *words)


def test_lab7_a_quorum_of_one_ack_breaks_a_fuzzed_ensemble():
    """The fuzz run alone (without the table rows) fails a has_quorum that accepts one ack."""
    results = [lab7._fuzz(quorum_of_one, seed) for seed in PUBLIC_SEEDS]
    assert any(not o.passed for o in results), [o.message for o in results]
    assert all("has_quorum" in o.message for o in results if not o.passed)


def test_lab7_the_crash_test_alone_catches_a_wrong_tolerance():
    """Crashing f, then f + 1 servers of a real ensemble exposes both over- and under-estimates."""
    over = [lab7._crash_test(half_the_servers_may_fail, seed) for seed in range(1, 11)]
    under = [lab7._crash_test(one_fewer_than_needed, seed) for seed in range(1, 11)]
    assert any(not o.passed and "did not serve a write" in o.message for o in over)
    assert any(not o.passed and "tolerates more" in o.message for o in under)


# ================================================================ through the sandbox ======
def test_a_mistake_in_a_class_part_loses_points_through_the_sandbox(tmp_path):
    """The same checks behind the grader's sandbox: the learner's class steps in another process."""
    import json

    from distlab.grading.runner import grade_notebook

    notebook = json.loads((ROOT / "solutions" / NOTEBOOKS[0]).read_text())
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).get("distlab", {}).get("part") == "DedupReceiver":
            cell["source"] = """
class DedupReceiver:
    def __init__(self, me):
        self.delivered = set()  # in memory only: a restart forgets it

    def step(self, event):
        fx = Effects()
        if isinstance(event, Deliver):
            _, seq, payload = event.msg
            if (event.src, seq) not in self.delivered:
                self.delivered.add((event.src, seq))
                fx.note("deliver", src=event.src, seq=seq, payload=payload)
            fx.send(event.src, ("ack", seq))
        return fx
"""
    submission = tmp_path / "student.ipynb"
    submission.write_text(json.dumps(notebook))
    (part,) = grade_notebook(submission, only_part="DedupReceiver").parts
    assert part.points == 0, [s.outcome.message for s in part.seeds]
    assert "exactly once" in part.first_failure().outcome.message
