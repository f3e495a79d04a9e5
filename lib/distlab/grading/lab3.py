"""Lab 3 — the znode tree (节点): paths, sequential names, versions and watches.

Each check compares the learner's function with ZooKeeper's rule on cases drawn from the
seed (ZooKeeper's own test rows always included), and then uses it *against the reference
tree*: the learner predicts, from what a client can see, what :class:`distlab.zk.DataTree`
(the same tree the simulated servers run) will do — the name a sequential create gets, the
version a conditional write leaves, the watch events a write fires — along a random
sequence of operations, and the prediction must match what the tree actually did.

Graded functions return plain data. ``check_and_inc_version`` signals a version mismatch
the way ZooKeeper does, by raising ``BadVersionError`` (it arrives here as the name of the
exception when the code runs in the grader's sandbox).
"""

from __future__ import annotations

import random
from typing import Any

from distlab.grading.parts import Outcome, Part, register, FATAL_KINDS
from distlab.zk.errors import BadVersionError
from distlab.zk.ops import CreateRequest, DeleteRequest, SetDataRequest, prepare
from distlab.zk.paths import path_problem, parent_of
from distlab.zk.stat import CreateMode, next_version
from distlab.zk.tree import DataTree
from distlab.zk.watches import EventType

# ------------------------------------------------------------------ A: paths ---------------
# PathUtilsTest (every validatePath case) and the data-model doc's rules: (path, is_sequential, valid?)
ZK_PATH_ROWS = [
    ("/", False, True),
    ("/this is / a valid/path", False, True),  # testValidatePath_ValidPath
    ("/name/with.period.", False, True),  # testValidatePath_NameContainingPeriod
    ("/a/...", False, True),
    ("/a/.b", False, True),
    ("/test\u0020", False, True),  # testValidatePath_0x20: the first allowed character
    ("/test\u007e", False, True),  # testValidatePath_0x7e
    ("/test\u00a0", False, True),
    ("/test\uffef", False, True),  # testValidatePath_HighestAllowableChar
    ("/\u4e2d\u6587", False, True),
    ("/zookeeper", False, True),  # reserved for create, still a valid path
    ("", False, False),  # testValidatePath_EmptyString
    ("not/valid", False, False),  # testValidatePath_NotAbsolutePath
    ("/ends/with/slash/", False, False),  # testValidatePath_EndsWithSlash
    ("/test\u0000", False, False),  # testValidatePath_ContainsNullCharacter
    ("/double//slash", False, False),  # testValidatePath_DoubleSlash
    ("//", False, False),
    ("/single/./period", False, False),  # testValidatePath_SinglePeriod
    ("/double/../period", False, False),  # testValidatePath_DoublePeriod
    ("/.", False, False),
    ("/a/..", False, False),
    ("/test\u0001", False, False),  # testValidatePath_0x01
    ("/test\u001f", False, False),  # testValidatePath_0x1F
    ("/test\u007f", False, False),  # testValidatePath_0x7f
    ("/test\u009f", False, False),  # testValidatePath_0x9f
    ("/test\ud800", False, False),  # testValidatePath_ud800
    ("/test\uf8ff", False, False),  # testValidatePath_uf8ff
    ("/test\ufff0", False, False),  # testValidatePath_SupplementaryChar
    ("/test\uffff", False, False),
    ("/smile\U0001f600", False, False),  # a surrogate pair in Java
    ("/q/", True, True),  # a sequential prefix is checked as path + "1"
    ("/q/lock-", True, True),
    ("/", True, True),
    ("/q//", True, False),
    ("q/", True, False),
]

_SEGMENTS = ("a", "b", "lock-", "x.y", ".", "..", "...", ".a", "b.", "", "zookeeper", "with space", "\u4e2d")
_CHARS = ("\u0000", "\u0001", "\u001f", "\u0020", "\u007e", "\u007f", "\u0080", "\u009f", "\u00a0", "\ud7ff",
          "\ud800", "\udfff", "\ue000", "\uf8ff", "\uf900", "\uffef", "\ufff0", "\uffff", "\U0001f600", "é")


def _random_path(rng: random.Random) -> tuple[str, bool]:
    segments = [rng.choice(_SEGMENTS) if rng.random() < 0.6 else rng.choice(("a", "b", "c", "node"))
                for _ in range(rng.randint(0, 4))]
    if segments and rng.random() < 0.35:
        i = rng.randrange(len(segments))
        s = segments[i]
        k = rng.randint(0, len(s))
        segments[i] = s[:k] + rng.choice(_CHARS) + s[k:]
    path = "/".join(segments)
    roll = rng.random()
    if roll < 0.85:
        path = "/" + path
    elif roll < 0.9:
        path = "//" + path
    if rng.random() < 0.15:
        path += "/"
    return path, rng.random() < 0.25


def _show(path: str) -> str:
    return repr(path) if path.isprintable() else ascii(path)


def check_path_problem(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    cases = list(ZK_PATH_ROWS)
    for _ in range(250):
        path, seq = _random_path(rng)
        checked = path + "1" if seq else path
        cases.append((path, seq, path_problem(checked) is None))
    for path, seq, valid in cases:
        got = fn(path, seq)
        if got is not None and (type(got) is not str or not got.strip()):
            return Outcome.fail(f"path_problem must return None (valid) or a non-empty str saying what is wrong, "
                                f"got {got!r} for {_show(path)}")
        if (got is None) != valid:
            checked = path + "1" if seq else path
            why = path_problem(checked)
            flag = ", is_sequential=True" if seq else ""
            if valid:
                return Outcome.fail(f"path_problem({_show(path)}{flag}) said {got!r}, but ZooKeeper accepts "
                                    f"this path{' (checked as ' + _show(checked) + ')' if seq else ''} "
                                    "(PathUtils.validatePath)")
            return Outcome.fail(f"path_problem({_show(path)}{flag}) returned None, but ZooKeeper refuses it: "
                                f"{why}{' (a sequential prefix is checked as ' + _show(checked) + ')' if seq else ''} "
                                "(PathUtils.validatePath)")
    return Outcome.ok()


# ------------------------------------------------------------------ B: sequential names ----
# (prefix, visible cversion, numChildren, expected name)
ZK_NAME_ROWS = [
    ("/p/a-", 0, 0, "/p/a-0000000000"),  # the first sequential child of a fresh parent
    ("/p/a-", 1, 1, "/p/a-0000000001"),
    ("/p/a-", 4, 2, "/p/a-0000000003"),  # create a-, create x, delete x: 3 creates, 1 delete (5.2)
    ("/q/", 2, 0, "/q/0000000001"),  # one child created and deleted
    ("/app/lock-", 10, 10, "/app/lock-0000000010"),
    ("/big-", 1999999998, 2, "/big-1000000000"),
]


class _Writer:
    """Writes to a DataTree through ``prepare`` (the server's path), one zxid each."""

    def __init__(self) -> None:
        self.tree = DataTree()
        self.zxid = 0

    def write(self, request) -> Any:
        self.zxid += 1
        return self.tree.apply(prepare(self.tree, request, 1, self.zxid, 0))


def check_sequential_name(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    cases = [(p, c, n, e) for p, c, n, e in ZK_NAME_ROWS]
    for _ in range(100):
        stored = rng.choice((rng.randint(0, 30), rng.randint(0, 10**9)))
        children = rng.randint(0, min(stored, 40))
        prefix = rng.choice(("/p/a-", "/q/", "/locks/lock-", "/x"))
        cases.append((prefix, 2 * stored - children, children, f"{prefix}{stored:010d}"))
    for prefix, cversion, children, expected in cases:
        got = fn(prefix, cversion, children)
        if type(got) is not str:
            return Outcome.fail(f"sequential_name must return the new node's path (a str), got {got!r}")
        if got != expected:
            return Outcome.fail(
                f"sequential_name({prefix!r}, cversion={cversion}, num_children={children}) returned {got!r}; "
                f"ZooKeeper names it {expected!r}. The suffix is the parent's *stored* child counter, which "
                "counts creates only (cversion = 2 * stored - numChildren, ZOOKEEPER-1046), formatted "
                "%010d, read before this create increments it")
    # Against the tree: a random run of creates and deletes under /p.
    w = _Writer()
    w.write(CreateRequest(path="/p"))
    alive: list[str] = []
    steps = []
    for _ in range(40):
        roll = rng.random()
        if roll < 0.45:
            prefix = rng.choice(("/p/a-", "/p/b-", "/p/"))
            stat = w.tree.exists("/p")
            guess = fn(prefix, stat.cversion, stat.numChildren)
            created = w.write(CreateRequest(path=prefix, mode=CreateMode.PERSISTENT_SEQUENTIAL)).result.path
            steps.append(f"create {prefix} (sequential) -> {created}")
            if guess != created:
                return Outcome.fail(f"the parent /p showed cversion {stat.cversion} and numChildren "
                                    f"{stat.numChildren}, you predicted {guess!r}, but the tree named the new node "
                                    f"{created!r}", "\n".join(steps[-8:]))
            alive.append(created)
        elif roll < 0.7 or not alive:
            name = f"/p/n{len(steps)}"
            w.write(CreateRequest(path=name))
            alive.append(name)
            steps.append(f"create {name}")
        else:
            victim = alive.pop(rng.randrange(len(alive)))
            w.write(DeleteRequest(path=victim))
            steps.append(f"delete {victim}")
    return Outcome.ok()


# ------------------------------------------------------------------ C: versions ------------
# (current, expected, new version or "BadVersion"): PrepRequestProcessor.checkAndIncVersion
ZK_VERSION_ROWS = [
    (0, -1, 1),  # -1 matches any version
    (0, 0, 1),
    (3, 3, 4),
    (1, 0, "BadVersion"),
    (0, 1, "BadVersion"),
    (7, -2, "BadVersion"),  # only -1 is "any"
    (2147483647, -1, -2147483648),  # a Java int wraps
    (2147483647, 2147483647, -2147483648),
    (-2, -1, 0),  # -1 is never handed out: it would mean "any" (ZOOKEEPER-4743)
    (-2, -2, 0),
    (-1, -1, 0),  # a node left at -1 by an older server
]




class _Raised:
    """The learner's function raised another exception than BadVersionError (never equal to an answer)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind


def _version_outcome(fn: Any, current: int, expected: int) -> Any:
    """The learner's answer: an int, "BadVersion" if it raised BadVersionError, else what it raised."""
    from distlab.grading.sandbox import LearnerError

    try:
        return fn(current, expected)
    except BadVersionError:
        return "BadVersion"
    except LearnerError as error:  # in the grader's sandbox the exception arrives by name
        if error.kind == "BadVersionError":
            return "BadVersion"
        if error.kind in FATAL_KINDS:
            raise
        return _Raised(error.kind)
    except NotImplementedError:
        raise
    except Exception as error:  # in the notebook's kernel
        return _Raised(type(error).__name__)


def _reference_version(current: int, expected: int) -> Any:
    return "BadVersion" if expected != -1 and expected != current else next_version(current)


def _describe_version(value: Any) -> str:
    if isinstance(value, _Raised):
        return f"raised {value.kind} (a version mismatch raises BadVersionError)"
    return "raised BadVersionError" if value == "BadVersion" else f"returned {value!r}"


def check_check_and_inc_version(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    cases = list(ZK_VERSION_ROWS)
    for _ in range(120):
        current = rng.choice((rng.randint(0, 20), rng.randint(-3, 3), 2147483647 - rng.randint(0, 2),
                              -2147483648 + rng.randint(0, 2), rng.randint(-2**31, 2**31 - 1)))
        expected = rng.choice((-1, current, current, current + rng.choice((-1, 1)), rng.randint(-3, 20)))
        if -2**31 <= expected < 2**31:
            cases.append((current, expected, _reference_version(current, expected)))
    for current, expected, want in cases:
        got = _version_outcome(fn, current, expected)
        if got != "BadVersion" and type(got) is not int and not isinstance(got, _Raised):
            return Outcome.fail(f"check_and_inc_version must return the new version (an int) or raise "
                                f"BadVersionError, got {got!r}")
        if got != want:
            return Outcome.fail(
                f"check_and_inc_version(current={current}, expected={expected}) {_describe_version(got)}; "
                f"ZooKeeper {_describe_version(want)}. Rule (PrepRequestProcessor.checkAndIncVersion): "
                "expected -1 means any version; otherwise it must equal the current one, else BadVersion; "
                "the new version is current + 1 as a Java int, and -1 is skipped (becomes 0)")
    # Against the tree: conditional setData and delete on one node, as a client would send them.
    w = _Writer()
    w.write(CreateRequest(path="/v"))
    for _ in range(40):
        current = w.tree.exists("/v").version
        expected = rng.choice((-1, current, current, current - 1, current + 1))
        guess = _version_outcome(fn, current, expected)
        try:
            result = w.write(SetDataRequest(path="/v", data=b"x", version=expected)).result.stat.version
        except BadVersionError:
            result = "BadVersion"
        if guess != result:
            return Outcome.fail(f"setData('/v', version={expected}) on a node at version {current}: your "
                                f"function {_describe_version(guess)}, the tree's setData "
                                f"{'failed with BadVersion' if result == 'BadVersion' else 'left version ' + str(result)}")
    return Outcome.ok()


# ------------------------------------------------------------------ D: watch events --------
_UNIVERSE = ("/a", "/a/b", "/a/b/c", "/a/d", "/e")
_READS = ("getData", "exists", "getChildren")
_WATCHERS = ("w1", "w2", "w3")

# Rows from the watches doc and tests/zk/test_watches.py: (existing, reads, op, path, expected events)
_C, _D, _M, _CH = EventType.NodeCreated, EventType.NodeDeleted, EventType.NodeDataChanged, EventType.NodeChildrenChanged
ZK_EVENT_ROWS = [
    (["/p", "/p/c"], [("exists", "/p/n", "w1"), ("getChildren", "/p", "w2")], "create", "/p/n",
     [("w1", _C, "/p/n"), ("w2", _CH, "/p")]),
    (["/p", "/p/c"], [("getData", "/p", "w1")], "create", "/p/n", []),
    (["/p"], [("getChildren", "/", "w1")], "create", "/top", [("w1", _CH, "/")]),
    (["/p", "/p/c"], [("getData", "/p/c", "w1"), ("exists", "/p/c", "w2"), ("getChildren", "/p/c", "w3"),
                      ("getChildren", "/p", "w4"), ("getData", "/p", "w5")], "delete", "/p/c",
     [("w1", _D, "/p/c"), ("w2", _D, "/p/c"), ("w3", _D, "/p/c"), ("w4", _CH, "/p")]),
    (["/p", "/p/c"], [("getData", "/p/c", "w1"), ("getChildren", "/p/c", "w1")], "delete", "/p/c",
     [("w1", _D, "/p/c")]),  # one NodeDeleted for a watcher in both tables
    (["/p", "/p/c"], [("getData", "/p/c", "w1"), ("exists", "/p/c", "w2"), ("getChildren", "/p/c", "w3"),
                      ("getChildren", "/p", "w4")], "setData", "/p/c", [("w1", _M, "/p/c"), ("w2", _M, "/p/c")]),
    (["/p"], [("getData", "/p/n", "w1"), ("getChildren", "/p/n", "w2"), ("exists", "/p/n", "w3")], "create",
     "/p/n", [("w3", _C, "/p/n")]),  # only exists leaves a watch on a missing node
    (["/p"], [("getData", "/p", "w1"), ("getData", "/p", "w1")], "setData", "/p", [("w1", _M, "/p")]),
    (["/p"], [("getData", "/p", "w1"), ("getChildren", "/", "w2")], "setACL", "/p", []),  # setACL fires nothing
]


def _tree_with(existing: list[str]) -> _Writer:
    w = _Writer()
    for path in sorted(existing, key=lambda p: (p.count("/"), p)):
        w.write(CreateRequest(path=path))
    return w


def reference_events(existing: list[str], reads: list[tuple[str, str, str]], op: str, path: str) -> list[tuple]:
    """What the reference DataTree fires: ``(watcher, EventType, path)`` for each event."""
    w = _tree_with(existing)
    for kind, target, watcher in reads:
        try:
            {"getData": w.tree.get_data, "exists": w.tree.exists, "getChildren": w.tree.get_children}[kind](
                target, watcher)
        except Exception:  # NoNode: getData/getChildren on a missing node leave no watch
            pass
    if op == "setACL":
        return []  # setACL changes only the aversion and fires no watch (5.4)
    request = {"create": lambda: CreateRequest(path=path), "delete": lambda: DeleteRequest(path=path),
               "setData": lambda: SetDataRequest(path=path, data=b"new")}[op]()
    applied = w.write(request)
    return [(e.watcher, e.type, e.path) for e in applied.events]


def _random_event_case(rng: random.Random) -> tuple:
    existing = []
    for path in _UNIVERSE:
        if parent_of(path) in ("/", *existing) and rng.random() < 0.7:
            existing.append(path)
    op = rng.choice(("create", "create", "delete", "delete", "setData", "setData", "setACL"))
    if op == "create":
        choices = [p for p in _UNIVERSE if p not in existing and parent_of(p) in ("/", *existing)]
    elif op == "delete":
        choices = [p for p in existing if not any(q.startswith(p + "/") for q in existing)]
    else:
        choices = ["/", *existing]
    if not choices:
        op, choices = "setData", ["/", *existing]
    path = rng.choice(choices)
    near = [path, parent_of(path) if path != "/" else "/", "/", *_UNIVERSE]
    reads = [(rng.choice(_READS), rng.choice(near[:3]) if rng.random() < 0.6 else rng.choice(near),
              rng.choice(_WATCHERS)) for _ in range(rng.randint(0, 6))]
    return existing, reads, op, path


def _event_type(value: Any) -> EventType | None:
    """An EventType, or None. The sandbox's codec carries IntEnum members as their int value
    (``codecs.encode`` tests ``int`` before ``Enum``), so an int that names an event type counts."""
    if type(value) is EventType:
        return value
    if type(value) is int and value in EventType._value2member_map_:
        return EventType(value)
    return None


def _events_text(events: list) -> str:
    if not events:
        return "no events"
    return ", ".join(f"{w}: {t.name if isinstance(t, EventType) else t!r} {p}" for w, t, p in sorted(
        events, key=lambda e: (str(e[0]), str(e[2]), str(e[1]))))


def check_events_for(fn: Any, seed: int) -> Outcome:
    rng = random.Random(seed)
    cases = [(list(e), list(r), op, p) for e, r, op, p, _ in ZK_EVENT_ROWS]
    cases += [_random_event_case(rng) for _ in range(150)]
    for existing, reads, op, path in cases:
        want = reference_events(existing, reads, op, path)
        got = fn(list(reads), op, path, sorted(existing))
        if type(got) is not list or not all(type(e) is tuple and len(e) == 3 and _event_type(e[1]) is not None
                                            for e in got):
            return Outcome.fail(f"events_for must return a list of (watcher, EventType, path) tuples, got {got!r}")
        got = [(w, _event_type(t), p) for w, t, p in got]
        key = lambda e: (str(e[0]), str(e[2]), int(e[1]))  # noqa: E731
        if sorted(got, key=key) != sorted(want, key=key):
            return Outcome.fail(
                f"with nodes {sorted(existing)} (and '/'), after the reads {reads}, {op} {path} fires "
                f"[{_events_text(want)}] in ZooKeeper; you said [{_events_text(got)}]. Rules (DataTree, "
                "WatchManager): getData and getChildren leave a watch only on an existing node, exists always; "
                "create fires NodeCreated (data watches) and the parent's NodeChildrenChanged; delete fires "
                "NodeDeleted on the node's data and child watches (once per watcher) and the parent's "
                "NodeChildrenChanged; setData fires NodeDataChanged; setACL fires nothing; a watcher "
                "gets one event per watch however often it read")
    return Outcome.ok()


register(
    3, "The znode tree", "lab3-znode-tree.ipynb",
    Part(3, "path_problem", "Valid znode paths", 2,
         "a path is valid exactly when PathUtils.validatePath accepts it (absolute, no trailing '/', no empty, "
         "'.' or '..' segment, no forbidden character; a sequential prefix is checked with a digit appended)",
         check_path_problem),
    Part(3, "sequential_name", "Sequential node names", 2,
         "the suffix is %010d of the parent's stored cversion (creates only) before the create; from the "
         "client-visible cversion and numChildren it predicts the name the tree gives", check_sequential_name),
    Part(3, "check_and_inc_version", "Conditional writes and versions", 2,
         "expected -1 matches any version, else it must equal the current one (BadVersion); the next "
         "version is current + 1 as a Java int, skipping -1 (checkAndIncVersion)", check_check_and_inc_version),
    Part(3, "events_for", "Which watches fire", 3,
         "reads leave one-shot data or child watches; create, delete and setData fire exactly the events "
         "DataTree fires, once per watcher (WatchManager)", check_events_for),
)

# ------------------------------------------------------------------ E, F: the data tree ----
from distlab.grading.lab3_tree import check_ZkDataTree, check_ZnodeTree  # noqa: E402

register(
    3, "The znode tree", "lab3-znode-tree.ipynb",
    Part(3, "ZnodeTree", "The apply step: create, delete, setData, watches", 5,
         "applied to the txns prepare makes, create/delete/setData leave exactly DataTree's stored state "
         "(parent cversion counts creates, pzxid, ephemeralOwner, versions, children), return its results "
         "and fire its one-shot watch events", check_ZnodeTree, kind="class"),
    Part(3, "ZkDataTree", "multi, closeSession, and the tree in an ensemble", 4,
         "a multi is all or nothing with ZooKeeper's per-op results; closeSession deletes the session's "
         "ephemerals firing their watches and ends the session; 3 servers running the tree agree",
         check_ZkDataTree, kind="class"),
)
