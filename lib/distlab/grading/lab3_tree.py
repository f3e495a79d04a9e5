"""Lab 3, Parts E and F: the learner's data tree (the apply step), graded against DataTree.

The seam is the reference's: a class whose ``apply(txn, zxid)`` takes the txns servers make
with ``ops.prepare`` and returns an ``ApplyResult`` (result + watch events), with the reads and
plain-data methods of :mod:`distlab.zk.plugged`. ``prepare`` runs against the learner's own tree
(through :class:`~distlab.zk.plugged.PluggedTree`), so what the tree *stores* decides the next
sequential name, whether a parent is ephemeral, whether a node is empty.

- **E** (``ZnodeTree``): create, delete, setData and watch triggering, differential-tested
  against the reference ``DataTree`` on seeded op sequences and ZooKeeper's test rows: after
  every op the result, the events and the whole stored state must match.
- **F** (``ZkDataTree``, a subclass): multi and closeSession, graded *against the learner's own
  single ops* (a twin tree applies the same sub-txns one by one), so a bug of Part E is not
  charged again; then the tree runs inside a simulated 3-server ensemble with clients.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from distlab.grading.parts import Outcome, reraise_if_fatal
from distlab.zk.errors import KeeperError
from distlab.zk.ops import (CheckVersionRequest, CloseSessionRequest, CloseSessionResult, CreateRequest,
                            CreateSessionRequest, DeleteRequest, DeleteTxn, ErrorResult, ErrorTxn, MultiRequest,
                            MultiResult, SetDataRequest, prepare)
from distlab.zk.plugged import PluggedTree, _call
from distlab.zk.stat import CreateMode
from distlab.zk.tree import ApplyResult, DataTree

_S1, _S2 = 0x11, 0x22
_ZXID_FIELDS = ("czxid", "mzxid", "pzxid")


def _ref_state(tree: DataTree) -> dict:
    return {"nodes": {p: (n.data, n.stat, tuple(sorted(n.children))) for p, n in tree._nodes.items()},
            "ephemerals": {s: tuple(sorted(ps)) for s, ps in tree._ephemerals.items() if ps},
            "sessions": dict(tree._sessions), "last": tree.last_processed_zxid,
            "data_watches": {p: tuple(w) for p, w in tree.data_watches._watchers_by_path.items() if w},
            "child_watches": {p: tuple(w) for p, w in tree.child_watches._watchers_by_path.items() if w}}


def _safe(obj: Any, method: str, *args: Any) -> Any:
    """Call the learner; a non-fatal crash becomes ``_Crash`` (ZooKeeper errors pass as values)."""
    try:
        return _call(obj, method, *args)
    except KeeperError as error:
        return error
    except Exception as error:  # noqa: BLE001
        reraise_if_fatal(error)
        return _Crash(f"{type(error).__name__}: {getattr(error, 'message', error)}")


@dataclasses.dataclass
class _Crash:
    text: str


def _mode_text(mode: CreateMode) -> str:
    return {CreateMode.PERSISTENT: "persistent (持久节点)", CreateMode.EPHEMERAL: "ephemeral (临时节点)",
            CreateMode.PERSISTENT_SEQUENTIAL: "persistent sequential (顺序节点)",
            CreateMode.EPHEMERAL_SEQUENTIAL: "ephemeral sequential (临时顺序节点)"}[mode]


def _describe(session: int, request: Any) -> str:
    who = f"session 0x{session:x}: "
    if isinstance(request, CreateRequest):
        return who + f"create {request.path} {_mode_text(request.mode)}"
    if isinstance(request, DeleteRequest):
        return who + f"delete {request.path} version={request.version}"
    if isinstance(request, SetDataRequest):
        return who + f"setData {request.path} {request.data!r} version={request.version}"
    if isinstance(request, CheckVersionRequest):
        return who + f"check {request.path} version={request.version}"
    if isinstance(request, MultiRequest):
        return who + "multi [" + "; ".join(_describe(session, op).split(": ", 1)[1] for op in request.ops) + "]"
    if isinstance(request, CloseSessionRequest):
        return who + "closeSession"
    if isinstance(request, CreateSessionRequest):
        return who + "createSession"
    return who + repr(request)


_STAT_RULES = {
    "cversion": "the parent's *stored* cversion counts child creates only: a create sets it to the txn's "
                "parent_cversion, a delete leaves it alone (the visible cversion still moves, since "
                "numChildren drops), and the next sequential child (顺序节点) is named from it — bump it on "
                "delete, or derive it from the number of children, and numbers repeat or skip "
                "(ZOOKEEPER-1046, DataTree.createNode / deleteNode)",
    "pzxid": "pzxid is the zxid of the last child create or delete of the parent (DataTree.createNode / "
             "deleteNode)",
    "ephemeralOwner": "an ephemeral node (临时节点) is owned by the session in the txn (ephemeralOwner = "
                      "session_id); a persistent node (持久节点) has owner 0 — prepare refuses children of an "
                      "ephemeral parent and closeSession deletes by this owner (DataTree.createNode)",
    "version": "setData stores the txn's version (prepare already computed it; DataTree.setData); a new node "
               "starts at 0 (DataTree.createStat)",
    "mzxid": "setData sets mzxid and mtime to the txn's zxid and time (DataTree.setData); a create sets "
             "czxid = mzxid = pzxid = its zxid (DataTree.createStat)",
    "mtime": "setData sets mtime to the txn's time (DataTree.setData)",
    "czxid": "a new node's czxid, mzxid and pzxid are the create's zxid (DataTree.createStat)",
    "ctime": "a new node's ctime and mtime are the txn's time (DataTree.createStat)",
    "aversion": "apply never changes aversion outside setACL",
}


def _state_diff(want: dict, got: Any, ignore_sessions: bool = False) -> str | None:
    """The first difference between two states, as a sentence naming the rule."""
    if not isinstance(got, dict) or not {"nodes", "ephemerals", "sessions", "data_watches",
                                         "child_watches"} <= set(got):
        return f"state() must return the dict the given code builds, got {type(got).__name__}"
    wn, gn = want["nodes"], got["nodes"]
    for path in sorted(set(wn) | set(gn)):
        if path not in gn:
            return f"{path} is missing from your tree; ZooKeeper has it (a create adds the node, DataTree.createNode)"
        if path not in wn:
            return (f"{path} is still in your tree; ZooKeeper removed it (delete and closeSession remove the "
                    "node, DataTree.deleteNode)")
        (wd, ws, wc), (gd, gs, gc) = wn[path], gn[path]
        if tuple(gc) != tuple(wc):
            return (f"{path}'s children are {list(gc)} in your tree, {list(wc)} in ZooKeeper's (a create adds "
                    "the name to the parent, a delete removes it; prepare's NotEmpty check reads it)")
        for name in ("ephemeralOwner", "cversion", "pzxid", "version", "czxid", "ctime", "mzxid", "mtime",
                     "aversion"):
            if getattr(gs, name, None) != getattr(ws, name):
                return (f"{path}'s stored {name} is {getattr(gs, name, None)!r} in your tree, "
                        f"{getattr(ws, name)!r} in ZooKeeper's: {_STAT_RULES[name]}")
        if gd != wd:
            return f"{path}'s data is {gd!r} in your tree, {wd!r} in ZooKeeper's (create and setData store the txn's data)"
    we = {s: tuple(p) for s, p in want["ephemerals"].items() if p}
    ge = {s: tuple(p) for s, p in got["ephemerals"].items() if p}
    if we != ge:
        return (f"the sessions' ephemeral nodes (临时节点) are {ge} in your tree, {we} in ZooKeeper's: an ephemeral "
                "create adds the path to its session's set, deleting the node removes it (DataTree.ephemerals; "
                "closeSession reads it)")
    if not ignore_sessions and dict(got["sessions"]) != dict(want["sessions"]):
        return (f"open sessions (会话) are {dict(got['sessions'])} in your tree, {dict(want['sessions'])} in "
                "ZooKeeper's (createSession opens one, closeSession closes it)")
    for table in ("data_watches", "child_watches"):
        w = {p: sorted(map(str, ws)) for p, ws in want[table].items() if ws}
        g = {p: sorted(map(str, ws)) for p, ws in got[table].items() if ws}
        if w != g:
            extra = sorted(p for p in g if p not in w or len(g[p]) > len(w[p]))
            if extra:
                return (f"your {table.replace('_', ' ')} still hold {extra[0]}: {g[extra[0]]}, ZooKeeper's "
                        f"{w.get(extra[0], [])}. A watch (监视) is one-shot: triggering removes it, including for "
                        "a suppressed watcher (WatchManager.triggerWatch)")
            return f"your {table.replace('_', ' ')} are {g}, ZooKeeper's {w} (a watch that did not fire stays armed)"
    return None


def _events(applied: Any) -> list:
    return [(str(e.watcher), e.type.name if hasattr(e.type, "name") else e.type, e.path, e.zxid) for e in applied.events]


_EVENT_RULE = ("Rules (DataTree, WatchManager; Part D's table): create fires NodeCreated on the node's data "
               "watches and NodeChildrenChanged on the parent's child watches; delete fires NodeDeleted on "
               "the node's data and child watches, once per watcher, and NodeChildrenChanged on the parent; "
               "setData fires NodeDataChanged; each event carries the txn's zxid; a watch (监视) fires once")


def _ev_text(events: list) -> str:
    return ", ".join(f"{w}: {t} {p}" for w, t, p, _ in sorted(events)) or "no events"


# ------------------------------------------------------------------ Part E ----------------
class _Run:
    """The learner's tree and the reference, fed the same requests; prepare runs on each."""

    def __init__(self, fn: Any) -> None:
        self.mine = fn()
        self.plugged = PluggedTree(self.mine)
        self.ref = DataTree()
        self.zxid = 0
        self.steps: list[str] = []

    def excerpt(self) -> str:
        return "\n".join(self.steps[-8:])

    def read(self, kind: str, path: str, watcher: int) -> str | None:
        self.steps.append(f"session 0x{watcher:x}: {kind} {path} (watch)")
        method = {"getData": "get_data", "exists": "exists", "getChildren": "get_children"}[kind]
        try:
            want = getattr(self.ref, method)(path, watcher)
        except KeeperError as error:
            want = error
        got = _safe(self.mine, method, path, watcher)
        if isinstance(got, _Crash):
            return f"{kind}({path!r}) raised {got.text}"
        if type(got) is not type(want) or (not isinstance(want, KeeperError) and got != want):
            return f"{kind}({path!r}) returned {got!r}; ZooKeeper's tree returns {want!r}"
        return None

    def write(self, session: int, request: Any) -> str | None:
        self.zxid += 1
        text = _describe(session, request)
        try:
            want_txn = prepare(self.ref, request, session, self.zxid, 1000 + self.zxid)
        except KeeperError as error:
            want_txn = error
        try:
            got_txn = prepare(self.plugged, request, session, self.zxid, 1000 + self.zxid)
        except KeeperError as error:
            got_txn = error
        except Exception as error:  # noqa: BLE001 - a read of the learner's tree crashed
            reraise_if_fatal(error)
            self.steps.append(text)
            return f"preparing {text} read your tree and got {type(error).__name__}: {error}"
        if isinstance(want_txn, KeeperError):
            self.steps.append(f"{text} -> {type(want_txn).__name__}")
            if type(got_txn) is not type(want_txn):
                return (f"{text}: ZooKeeper refuses it with {type(want_txn).__name__} ({want_txn.detail}), but on "
                        f"your tree prepare {'gave ' + type(got_txn).__name__ if isinstance(got_txn, KeeperError) else 'let it through'}"
                        f" — your tree stores something else than ZooKeeper's ({_why(want_txn)})")
            self.zxid -= 1
            return None
        self.steps.append(text)
        if isinstance(got_txn, KeeperError) or got_txn != want_txn:
            return (f"{text}: on ZooKeeper's tree prepare makes {want_txn!r}, on yours "
                    f"{got_txn!r} — the stored stat your tree showed it differs ({_STAT_RULES['cversion']})")
        applied = self.ref.apply(want_txn)
        got = _safe(self.mine, "apply", want_txn, want_txn.zxid)
        if isinstance(got, (KeeperError, _Crash)):
            return f"apply({type(want_txn).__name__}) for {text} raised {getattr(got, 'text', repr(got))}"
        if not isinstance(got, ApplyResult):
            return f"apply must return an ApplyResult(zxid, result, events), got {type(got).__name__}"
        if got.result != applied.result:
            return (f"{text}: apply returned {got.result!r}; ZooKeeper's DataTree returns {applied.result!r} "
                    "(the result carries the node's stat after the write, as a client sees it)")
        want_ev, got_ev = _events(applied), _events(got)
        if sorted(want_ev) != sorted(got_ev):
            return f"{text} fired [{_ev_text(got_ev)}]; ZooKeeper fires [{_ev_text(want_ev)}]. {_EVENT_RULE}"
        diff = _state_diff(_ref_state(self.ref), _safe(self.mine, "state"))
        if diff:
            return f"after {text}: {diff}"
        return None


def _why(error: KeeperError) -> str:
    name = type(error).__name__
    if name == "NoChildrenForEphemeralsError":
        return "an ephemeral node (临时节点) cannot have children: prepare reads the parent's ephemeralOwner"
    if name == "NotEmptyError":
        return "a node with children cannot be deleted: prepare reads the node's numChildren"
    if name == "NodeExistsError":
        return "the sequential name (顺序节点) comes from the parent's stored cversion"
    return "prepare decides from the stored stats your tree returns"


# Scenarios from ZooKeeper's tests and the notes, run before the random ops of every seed.
def _rows() -> list[list[tuple]]:
    seq, eph, eseq = CreateMode.PERSISTENT_SEQUENTIAL, CreateMode.EPHEMERAL, CreateMode.EPHEMERAL_SEQUENTIAL
    w = lambda s, r: ("w", s, r)  # noqa: E731
    rd = lambda k, p, s: ("r", k, p, s)  # noqa: E731
    return [
        # ZOOKEEPER-1046 (SequentialNodeTest): numbers never come back after deletes
        [w(_S1, CreateRequest(path="/p")), w(_S1, CreateRequest(path="/p/a-", mode=seq)),
         w(_S1, CreateRequest(path="/p/x")), w(_S1, DeleteRequest(path="/p/x")),
         w(_S1, CreateRequest(path="/p/a-", mode=seq)), w(_S1, DeleteRequest(path="/p/a-0000000000")),
         w(_S1, CreateRequest(path="/p/a-", mode=seq))],
        # EphemeralNodeTest / NoChildrenForEphemerals: an ephemeral's owner, and no children under it
        [w(_S1, CreateRequest(path="/e", mode=eph)), w(_S2, CreateRequest(path="/e/c")),
         w(_S2, CreateRequest(path="/eq")),
         w(_S2, CreateRequest(path="/eq/l", mode=eseq)), w(_S1, CreateRequest(path="/eq/l0000000000/c", mode=eseq)),
         w(_S1, DeleteRequest(path="/e"))],
        # WatcherTest: NodeDeleted to a child watch of the node, and NodeChildrenChanged to the parent's
        [w(_S1, CreateRequest(path="/w")), w(_S1, CreateRequest(path="/w/c")), rd("getChildren", "/w/c", _S1),
         rd("getChildren", "/w", _S2), rd("getData", "/w/c", _S2), rd("exists", "/w/c", _S2),
         w(_S1, DeleteRequest(path="/w/c")), w(_S1, CreateRequest(path="/w/c")), rd("exists", "/w/c", _S1),
         w(_S1, SetDataRequest(path="/w/c", data=b"1")), w(_S1, SetDataRequest(path="/w/c", data=b"2"))],
        # versions (checkAndIncVersion) and NotEmpty (DeleteTest)
        [w(_S1, CreateRequest(path="/v")), w(_S1, CreateRequest(path="/v/k")),
         w(_S1, SetDataRequest(path="/v", data=b"a", version=0)), w(_S1, SetDataRequest(path="/v", data=b"b", version=0)),
         w(_S1, DeleteRequest(path="/v")), w(_S1, DeleteRequest(path="/v/k", version=3)),
         w(_S1, DeleteRequest(path="/v/k", version=0)), w(_S1, DeleteRequest(path="/v", version=1))],
    ]


def _random_ops(rng: random.Random, run: Any, count: int, sessions=(_S1, _S2)) -> Any:
    """Yield ops drawn against the reference tree's current paths."""
    for _ in range(count):
        paths = [p for p in run.ref.paths() if not p.startswith("/zookeeper")]
        roll = rng.random()
        session = rng.choice(sessions)
        target = rng.choice(paths)
        if roll < 0.2:
            kind = rng.choice(("getData", "exists", "getChildren"))
            path = target if rng.random() < 0.7 else target.rstrip("/") + "/n"
            yield ("r", kind, path, rng.choice(sessions))
        elif roll < 0.55:
            parent = target if len(paths) < 12 or rng.random() < 0.3 else rng.choice(paths[:4])
            name = rng.choice(("a", "b", "lock-", "n"))
            mode = CreateMode(rng.choice((0, 0, 1, 2, 3)))
            yield ("w", session, CreateRequest(path=(parent.rstrip("/") + "/" + name), data=rng.choice((b"", b"x")), mode=mode))
        elif roll < 0.8 and target != "/":
            stat = run.ref.exists(target)
            version = rng.choice((-1, -1, stat.version, stat.version + 1))
            yield ("w", session, DeleteRequest(path=target, version=version))
        else:
            stat = run.ref.exists(target)
            version = rng.choice((-1, stat.version, stat.version, stat.version - 1))
            yield ("w", session, SetDataRequest(path=target, data=bytes([rng.randrange(256)]), version=version))


def _run_op(run: Any, op: tuple) -> str | None:
    if op[0] == "r":
        return run.read(op[1], op[2], op[3])
    return run.write(op[1], op[2])


def check_ZnodeTree(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    run = _Run(fn)
    for s in (_S1, _S2):
        problem = run.write(s, CreateSessionRequest(timeout=4000))
        if problem:
            return Outcome.fail(problem, run.excerpt())
    rows = _rows()
    for scenario in [rows[(seed + i) % len(rows)] for i in range(len(rows))]:
        for op in scenario:
            problem = _run_op(run, op)
            if problem:
                return Outcome.fail(problem, run.excerpt())
    for op in _random_ops(rng, run, 45):
        problem = _run_op(run, op)
        if problem:
            return Outcome.fail(problem, run.excerpt())
    return Outcome.ok()


# ------------------------------------------------------------------ Part F ----------------
def _mapped(value: Any, low: int, high: int, to: int) -> Any:
    """``value`` with every zxid in [low, high) replaced by ``to`` (the twin's restamped sub-txns)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f: to for f in ("czxid", "mzxid", "pzxid", "zxid") if hasattr(value, f)
                   and low <= getattr(value, f) < high}
        inner = {f.name: _mapped(getattr(value, f.name), low, high, to) for f in dataclasses.fields(value)
                 if f.name in ("stat", "results", "result")}
        return dataclasses.replace(value, **changes, **inner) if changes or inner else value
    if isinstance(value, tuple):
        return tuple(_mapped(v, low, high, to) for v in value)
    if isinstance(value, dict):
        return {k: _mapped(v, low, high, to) for k, v in value.items()}
    return value


def _zk_failed_results(txn: Any) -> MultiResult:
    results, after = [], False
    for sub in txn.txns:
        if isinstance(sub, ErrorTxn):
            after = True
            results.append(ErrorResult(sub.err))
        else:
            results.append(ErrorResult(-2 if after else 0))
    return MultiResult(tuple(results))


class _Twins:
    """Two learner trees with one history; A gets multi/closeSession, B the same ops one by one."""

    def __init__(self, fn: Any) -> None:
        self.a, self.b = fn(), fn()
        self.plugged = PluggedTree(self.a)
        self.zxid = 0
        self.steps: list[str] = []
        self.windows: list[tuple[int, int]] = []  # zxids B used for one multi/closeSession of A

    def b_state(self) -> Any:
        state = _safe(self.b, "state")
        for low, high in self.windows:
            state = _mapped(state, low, high, low)
        return state

    def both(self, txn: Any) -> str | None:
        for tree in (self.a, self.b):
            got = _safe(tree, "apply", txn, txn.zxid)
            if not isinstance(got, ApplyResult):
                return f"apply({type(txn).__name__}) {'raised ' + got.text if isinstance(got, _Crash) else 'returned ' + repr(got)}"
        return None

    def read(self, kind: str, path: str, watcher: int) -> None:
        self.steps.append(f"session 0x{watcher:x}: {kind} {path} (watch)")
        method = {"getData": "get_data", "exists": "exists", "getChildren": "get_children"}[kind]
        for tree in (self.a, self.b):
            _safe(tree, method, path, watcher)

    def write(self, session: int, request: Any) -> str | None:
        self.zxid += 1
        z = self.zxid
        text = _describe(session, request)
        try:
            txn = prepare(self.plugged, request, session, z, 1000 + z)
        except KeeperError as error:
            self.steps.append(f"{text} -> {type(error).__name__}")
            self.zxid -= 1
            return None
        except Exception as error:  # noqa: BLE001
            reraise_if_fatal(error)
            return f"preparing {text} read your tree and got {type(error).__name__}: {error}"
        self.steps.append(text)
        if isinstance(request, MultiRequest):
            return self._multi(text, txn)
        if isinstance(request, CloseSessionRequest):
            return self._close(text, txn, session)
        return self.both(txn)

    def _multi(self, text: str, txn: Any) -> str | None:
        before = _safe(self.a, "state")
        got = _safe(self.a, "apply", txn, txn.zxid)
        if not isinstance(got, ApplyResult):
            return f"apply(MultiTxn) for {text} {'raised ' + got.text if isinstance(got, _Crash) else 'returned ' + repr(got)}"
        if not isinstance(got.result, MultiResult):
            return f"{text}: a multi's result is a MultiResult of per-op results (MultiResponse), got {got.result!r}"
        if txn.failed:
            want = _zk_failed_results(txn)
            diff = _state_diff(before, _safe(self.a, "state"))
            if diff:
                return (f"{text} failed (one op was refused), yet your tree changed: {diff}. A multi is all or "
                        "nothing (原子性): a failed multi applies none of its ops (DataTree.processTxn, MultiTxn "
                        "with an ErrorTxn; ZOOKEEPER-2052)")
            if got.events:
                return (f"{text} failed but fired [{_ev_text(_events(got))}]: a failed multi changes nothing, so no "
                        "watch (监视) fires (原子性)")
            if got.result != want:
                return (f"{text} failed; your results are {list(got.result.results)}, ZooKeeper gives "
                        f"{list(want.results)}: ErrorResult(0) for the ops before the failing one, its own error "
                        "code for it, ErrorResult(-2) (RuntimeInconsistency) for every op after it "
                        "(DataTree.processTxn; MultiOperationTest.testMultiRollback)")
            self.both_b = _safe(self.b, "apply", txn, txn.zxid)
            return None
        results, events = [], []
        for i, sub in enumerate(txn.txns):
            single = _safe(self.b, "apply", dataclasses.replace(sub, zxid=txn.zxid + i), txn.zxid + i)
            if not isinstance(single, ApplyResult):
                return None  # the single op itself is broken: Part E's business, not charged here
            results.append(single.result)
            events += _events(single)
        high = txn.zxid + len(txn.txns)
        self.zxid = high - 1
        want = MultiResult(tuple(_mapped(tuple(results), txn.zxid, high, txn.zxid)))
        events = [(w, t, p, txn.zxid if txn.zxid <= z < high else z) for w, t, p, z in events]
        if got.result != want:
            return (f"{text} succeeded; your results are {list(got.result.results)}, but applying its ops one by "
                    f"one in your own tree gives {list(want.results)}: a multi returns one result per op, in op "
                    "order, each as the op alone would (MultiResponse)")
        if sorted(_events(got)) != sorted(events):
            return (f"{text} fired [{_ev_text(_events(got))}]; its ops one by one fire [{_ev_text(events)}] in your "
                    "own tree: a multi fires every watch (监视) its ops fire, with the multi's zxid")
        self.windows.append((txn.zxid, high))
        diff = _state_diff(self.b_state(), _safe(self.a, "state"), ignore_sessions=True)
        if diff:
            return (f"after {text}: {diff} — compared with your own tree applying the same ops one by one "
                    "(every op of a multi shares its zxid; 原子性)")
        return None

    def _close(self, text: str, txn: Any, session: int) -> str | None:
        got = _safe(self.a, "apply", txn, txn.zxid)
        if not isinstance(got, ApplyResult):
            return f"apply(CloseSessionTxn) for {text} {'raised ' + got.text if isinstance(got, _Crash) else 'returned ' + repr(got)}"
        events, deleted = [], []
        for i, path in enumerate(txn.paths):
            single = _safe(self.b, "apply", DeleteTxn(path=path, zxid=txn.zxid + i, time=txn.time,
                                                      session_id=session), txn.zxid + i)
            if not isinstance(single, ApplyResult):
                return None  # delete itself is broken: Part E's business
            deleted.append(path)
            events += _events(single)
        high = txn.zxid + max(1, len(txn.paths))
        self.zxid = high - 1
        events = [(w, t, p, txn.zxid if txn.zxid <= z < high else z) for w, t, p, z in events]
        mine = _safe(self.a, "state")
        if isinstance(mine, dict) and session in dict(mine.get("sessions", {})):
            return (f"after {text}, session 0x{session:x} is still open in your tree: closeSession (and a session "
                    "expiry) ends the session (会话) (DataTree.killSession)")
        if _safe(self.a, "ephemerals", session):
            return (f"after {text}, your tree still lists ephemerals {sorted(_safe(self.a, 'ephemerals', session))} "
                    "for the closed session: every ephemeral node (临时节点) of a session goes with it "
                    "(DataTree.killSession)")
        if sorted(_events(got)) != sorted(events):
            return (f"{text} fired [{_ev_text(_events(got))}]; deleting its ephemerals {list(txn.paths)} one by one "
                    f"fires [{_ev_text(events)}] in your own tree: a session's end fires the watches (监视) of "
                    "every node it deletes — that is how a lock waiter hears its predecessor die (DataTree.killSession)")
        want_result = CloseSessionResult(session, tuple(deleted))
        if got.result != want_result:
            return f"{text}: apply returned {got.result!r}, ZooKeeper returns {want_result!r} (DataTree.killSession)"
        self.windows.append((txn.zxid, high))
        diff = _state_diff(self.b_state(), mine, ignore_sessions=True)
        if diff:
            return f"after {text}: {diff} — compared with your own tree deleting the session's ephemerals one by one"
        return None


def _f_ops(rng: random.Random, twins: _Twins) -> list[tuple]:
    seq, eph, eseq = CreateMode.PERSISTENT_SEQUENTIAL, CreateMode.EPHEMERAL, CreateMode.EPHEMERAL_SEQUENTIAL
    ops: list[tuple] = [("w", s, CreateSessionRequest(timeout=4000)) for s in (_S1, _S2, 0x33)]
    ops += [("w", _S1, CreateRequest(path="/app")), ("w", _S1, CreateRequest(path="/app/cfg", data=b"0"))]
    # MultiOperationTest rows: a failing op in the middle, at the end, first; a create-then-check
    ops += [("w", _S1, MultiRequest(ops=(CreateRequest(path="/app/m1"), DeleteRequest(path="/app/none"),
                                          SetDataRequest(path="/app/cfg", data=b"x")))),
            ("w", _S1, MultiRequest(ops=(CreateRequest(path="/app/m2", mode=eph), SetDataRequest(path="/app/cfg", data=b"1"),
                                          CheckVersionRequest(path="/app/cfg", version=1)))),
            ("r", "exists", "/app/m3", _S2), ("r", "getChildren", "/app", _S2), ("r", "getData", "/app/cfg", 0x33),
            ("w", _S2, MultiRequest(ops=(CreateRequest(path="/app/m3", mode=eseq), SetDataRequest(path="/app/cfg", data=b"2"),
                                          CreateRequest(path="/app/q-", mode=seq)))),
            ("w", 0x33, MultiRequest(ops=(SetDataRequest(path="/app/cfg", data=b"3", version=9),
                                          CreateRequest(path="/app/m4")))),
            ("r", "exists", "/app/m2", _S2), ("r", "getChildren", "/app", 0x33),
            ("w", _S1, CloseSessionRequest())]
    sessions = [_S2, 0x33]
    for n in range(14):
        session = rng.choice(sessions)
        roll = rng.random()
        paths = [p for p in _safe(twins.a, "state")["nodes"] if p.startswith("/app/")] or ["/app/cfg"]
        if roll < 0.35:
            ops.append(("w", session, CreateRequest(path=f"/app/e{n}-", mode=rng.choice((eph, eseq)))))
        elif roll < 0.5:
            ops.append(("r", rng.choice(("exists", "getData", "getChildren")), rng.choice(paths + ["/app"]), rng.choice(sessions)))
        elif roll < 0.85:
            sub = []
            for _ in range(rng.randint(1, 4)):
                kind = rng.random()
                target = rng.choice(paths)
                if kind < 0.4:
                    sub.append(CreateRequest(path=f"/app/k{n}{len(sub)}", mode=CreateMode(rng.choice((0, 1, 2)))))
                elif kind < 0.6:
                    sub.append(DeleteRequest(path=target, version=rng.choice((-1, -1, 5))))
                elif kind < 0.8:
                    sub.append(SetDataRequest(path=target, data=b"m", version=rng.choice((-1, 0))))
                else:
                    sub.append(CheckVersionRequest(path=target, version=rng.choice((0, 1))))
            ops.append(("w", session, MultiRequest(ops=tuple(sub))))
        elif len(sessions) > 1:
            gone = sessions.pop(rng.randrange(len(sessions)))
            ops.append(("w", gone, CloseSessionRequest()))
    return ops


def check_ZkDataTree(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    twins = _Twins(fn)
    for op in _f_ops(rng, twins):
        if op[0] == "r":
            twins.read(op[1], op[2], op[3])
            continue
        problem = twins.write(op[1], op[2])
        if problem:
            return Outcome.fail(problem, "\n".join(twins.steps[-8:]))
    return _ensemble_run(fn, seed)


def _ensemble_run(fn: Any, seed: int) -> Outcome:
    """The learner's tree in every server of a simulated 3-server ensemble, with two clients."""
    from distlab.sim.ensemble import Ensemble
    from distlab.zab.config import Impl
    from distlab.zk.errors import NoNodeError
    from distlab.zk.plugged import tree_factory

    steps: list[str] = []
    try:
        ensemble = Ensemble(3, seed=seed, impl=Impl(tree=tree_factory(fn)), record=False)
        ensemble.wait_for_leader()
        a, b = ensemble.client(name="A"), ensemble.client(name="B")
        a.create("/app")
        steps.append("A: create /app")
        mine = a.create("/app/lock-", ephemeral=True, sequence=True)
        steps.append(f"A: create /app/lock- ephemeral sequential -> {mine}")
        theirs = b.create("/app/lock-", ephemeral=True, sequence=True)
        steps.append(f"B: create /app/lock- ephemeral sequential -> {theirs}")
        b.exists(mine, watch=True)
        steps.append(f"B: exists {mine} (watch)")
        try:
            a.multi(CreateRequest(path="/app/half"), DeleteRequest(path="/app/missing"))
            steps.append("A: multi [create /app/half; delete /app/missing] -> ok?!")
            return Outcome.fail("in the ensemble, a multi with a delete of a missing node succeeded; ZooKeeper "
                                "refuses it with NoNode (原子性)", "\n".join(steps))
        except NoNodeError:
            steps.append("A: multi [create /app/half; delete /app/missing] -> NoNode")
        if b.exists("/app/half") is not None:
            return Outcome.fail("in the ensemble, a failed multi left /app/half behind: a multi is all or nothing "
                                "(原子性)", "\n".join(steps))
        a.close()
        steps.append("A: closeSession")
        b.sync("/")
        children = b.get_children("/app")
        steps.append(f"B: getChildren /app -> {children}")
        if mine.rsplit("/", 1)[1] in children:
            return Outcome.fail(f"in the ensemble, A's ephemeral node (临时节点) {mine} outlived A's session (会话): "
                                "closeSession deletes it on every server (DataTree.killSession)", "\n".join(steps))
        ensemble.quiesce()
        digests = {sid: ensemble.peer(sid).tree.digest() for sid in ensemble.servers if ensemble.is_up(sid)}
        if len(set(digests.values())) != 1:
            return Outcome.fail("the three servers' copies of your tree differ after applying the same txns in "
                                "the same order: apply must be deterministic (every replica ends in the same state)",
                                "\n".join(steps))
    except Exception as error:  # noqa: BLE001 - the learner's tree broke a server or a client call
        reraise_if_fatal(error)
        return Outcome.fail(f"running your tree in a 3-server ensemble failed: {type(error).__name__}: "
                            f"{getattr(error, 'message', error)}", "\n".join(steps[-8:]))
    return Outcome.ok()
