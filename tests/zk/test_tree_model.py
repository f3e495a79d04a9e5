"""The DataTree against a plain-dict model, driven by Hypothesis (``RuleBasedStateMachine``).

The model restates the rules of sections 5.1-5.5 in the most direct way: a dict from path to
node, children found by scanning keys, a multi run on a copy. Every write goes through
prepare + apply on the tree; a refused write becomes an ErrorTxn, as on a server. After every
step the invariants compare every node's full Stat and check the Stat rules on their own.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule

from distlab.zk.errors import KeeperError
from distlab.zk.ops import (
    CheckVersionRequest,
    CloseSessionRequest,
    CreateRequest,
    CreateResult,
    CreateSessionRequest,
    DeleteRequest,
    ErrorResult,
    ErrorTxn,
    MultiRequest,
    Request,
    SetDataRequest,
    prepare,
)
from distlab.zk.stat import CreateMode, Stat
from distlab.zk.tree import DataTree

SESSIONS = (1, 2)
SPECIAL = {"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"}
NAMES = ("a", "b")
CANDIDATES = sorted(
    {"/" + "/".join(parts) for parts in [(x,) for x in NAMES] + [(x, y) for x in NAMES for y in NAMES] + [(x, y, z) for x in NAMES for y in NAMES for z in NAMES]}
    | {"/zookeeper/mine", "/zookeeper/config/x", "/zookeeper"}
)
OK = 0  # ErrorResult code of an op rolled back in a failed multi
DONE = "done"  # a delete, setData or check that succeeded


@dataclass
class MNode:
    data: bytes
    version: int
    cversion: int  # stored: counts child creates
    owner: int
    czxid: int
    mzxid: int
    pzxid: int
    ctime: int
    mtime: int


def _parent(path: str) -> str:
    return path[: path.rfind("/")] or "/"


class Model:
    """ZooKeeper's write rules over a dict, written independently of distlab.zk's code."""

    def __init__(self) -> None:
        self.nodes = {path: MNode(b"", 0, 0, 0, 0, 0, 0, 0, 0) for path in SPECIAL}

    def children(self, path: str) -> list[str]:
        return sorted(p[p.rfind("/") + 1 :] for p in self.nodes if p != "/" and _parent(p) == path)

    def stat(self, path: str) -> Stat:
        n = self.nodes[path]
        kids = len(self.children(path))
        return Stat(n.czxid, n.mzxid, n.ctime, n.mtime, n.version, 2 * n.cversion - kids, -1 if path == "/zookeeper/config" else 0, n.owner, len(n.data), kids, n.pzxid)

    def create(self, prefix: str, data: bytes, ephemeral: bool, sequential: bool, session: int, zxid: int) -> int | str:
        parent = _parent(prefix)
        if parent not in self.nodes:
            return -101
        if parent == "/zookeeper/config":
            return -102
        p = self.nodes[parent]
        path = f"{prefix}{p.cversion:010d}" if sequential else prefix
        if path in self.nodes:
            return -110
        if p.owner != 0:
            return -108
        p.cversion += 1
        p.pzxid = zxid
        self.nodes[path] = MNode(data, 0, 0, session if ephemeral else 0, zxid, zxid, zxid, zxid * 10, zxid * 10)
        return path

    def delete(self, path: str, version: int, zxid: int) -> int:
        if path in SPECIAL:
            return -8
        if _parent(path) not in self.nodes or path not in self.nodes:
            return -101
        if version != -1 and version != self.nodes[path].version:
            return -103
        if self.children(path):
            return -111
        del self.nodes[path]
        self.nodes[_parent(path)].pzxid = zxid
        return DONE

    def set(self, path: str, data: bytes, version: int, zxid: int) -> int:
        if path not in self.nodes:
            return -101
        if path == "/zookeeper/config":
            return -102
        n = self.nodes[path]
        if version != -1 and version != n.version:
            return -103
        n.data, n.version, n.mzxid, n.mtime = data, n.version + 1, zxid, zxid * 10
        return DONE

    def check(self, path: str, version: int) -> int:
        if path not in self.nodes:
            return -101
        if version != -1 and version != self.nodes[path].version:
            return -103
        return DONE

    def run(self, op: tuple, session: int, zxid: int) -> int | str:
        kind = op[0]
        if kind == "create":
            return self.create(op[1], op[2], op[3], op[4], session, zxid)
        if kind == "delete":
            return self.delete(op[1], op[2], zxid)
        if kind == "set":
            return self.set(op[1], op[2], op[3], zxid)
        return self.check(op[1], op[2])

    def multi(self, ops: list[tuple], session: int, zxid: int) -> list[int | str]:
        saved = copy.deepcopy(self.nodes)
        outcomes: list[int | str] = []
        for op in ops:
            outcome = self.run(op, session, zxid)
            if isinstance(outcome, int):
                self.nodes = saved
                return [OK] * len(outcomes) + [outcome] + [-2] * (len(ops) - len(outcomes) - 1)
            outcomes.append(outcome)
        return outcomes

    def close(self, session: int, zxid: int) -> None:
        for path in sorted(p for p, n in self.nodes.items() if n.owner == session):
            del self.nodes[path]
            self.nodes[_parent(path)].pzxid = zxid


def to_request(op: tuple) -> Request:
    kind = op[0]
    if kind == "create":
        return CreateRequest(path=op[1], data=op[2], mode=CreateMode.of(ephemeral=op[3], sequence=op[4]))
    if kind == "delete":
        return DeleteRequest(path=op[1], version=op[2])
    if kind == "set":
        return SetDataRequest(path=op[1], data=op[2], version=op[3])
    return CheckVersionRequest(path=op[1], version=op[2])


versions = st.sampled_from(["any", "right", "wrong"])
data_values = st.binary(max_size=6)


class TreeMachine(RuleBasedStateMachine):
    nodes = Bundle("nodes")

    def __init__(self) -> None:
        super().__init__()
        self.tree = DataTree()
        self.model = Model()
        self.zxid = 0

    @initialize()
    def open_sessions(self) -> None:
        for session in SESSIONS:
            self.write(CreateSessionRequest(timeout=4000), session)

    # --- helpers ----------------------------------------------------------------------------

    def write(self, request: Request, session: int):
        """Prepare + apply; a refused write is logged as an ErrorTxn. Returns result or code."""
        self.zxid += 1
        try:
            txn = prepare(self.tree, request, session, self.zxid, self.zxid * 10)
        except KeeperError as error:
            self.tree.apply(ErrorTxn(err=error.code, zxid=self.zxid, time=self.zxid * 10, session_id=session))
            return int(error.code)
        return self.tree.apply(txn).result

    def version_for(self, path: str, choice: str) -> int:
        current = self.model.nodes[path].version if path in self.model.nodes else 0
        return {"any": -1, "right": current, "wrong": current + 1}[choice]

    def path_choice(self):
        return st.one_of(st.sampled_from(CANDIDATES), self.nodes)

    # --- rules ------------------------------------------------------------------------------

    @rule(
        target=nodes,
        prefix=st.sampled_from(CANDIDATES + ["/a/s-", "/s-", "/a/b/"]),
        data=data_values,
        ephemeral=st.booleans(),
        sequential=st.booleans(),
        session=st.sampled_from(SESSIONS),
    )
    def create(self, prefix: str, data: bytes, ephemeral: bool, sequential: bool, session: int):
        if prefix.endswith("/") and not sequential:
            return multiple()  # not a valid plain path; covered in test_paths
        result = self.write(CreateRequest(path=prefix, data=data, mode=CreateMode.of(ephemeral=ephemeral, sequence=sequential)), session)
        expected = self.model.create(prefix, data, ephemeral, sequential, session, self.zxid)
        if isinstance(expected, int):
            assert result == expected
            return multiple()
        assert result.path == expected
        return expected

    @rule(path=st.one_of(st.sampled_from(CANDIDATES), nodes), choice=versions)
    def delete(self, path: str, choice: str) -> None:
        version = self.version_for(path, choice)
        result = self.write(DeleteRequest(path=path, version=version), 1)
        expected = self.model.delete(path, version, self.zxid)
        assert (result if isinstance(result, int) else DONE) == expected

    @rule(path=st.one_of(st.sampled_from(CANDIDATES), nodes), data=data_values, choice=versions)
    def set_data(self, path: str, data: bytes, choice: str) -> None:
        version = self.version_for(path, choice)
        result = self.write(SetDataRequest(path=path, data=data, version=version), 2)
        expected = self.model.set(path, data, version, self.zxid)
        if expected == DONE:
            assert result.stat == self.model.stat(path)
        else:
            assert result == expected

    @rule(path=st.one_of(st.sampled_from(CANDIDATES + ["/"]), nodes))
    def read(self, path: str) -> None:
        if path in self.model.nodes:
            data, stat = self.tree.get_data(path)
            assert (data, stat) == (self.model.nodes[path].data, self.model.stat(path))
            assert self.tree.get_children(path) == self.model.children(path)
        else:
            assert self.tree.exists(path) is None

    @rule(
        raw_ops=st.lists(
            st.tuples(
                st.sampled_from(["create", "create-seq", "delete", "set", "check"]),
                st.sampled_from(CANDIDATES),
                data_values,
                versions,
            ),
            max_size=4,
        ),
        session=st.sampled_from(SESSIONS),
    )
    def multi(self, raw_ops: list, session: int) -> None:
        ops = []
        for kind, path, data, choice in raw_ops:
            version = self.version_for(path, choice)
            if kind == "create":
                ops.append(("create", path, data, False, False))
            elif kind == "create-seq":
                ops.append(("create", path + "-", data, False, True))
            elif kind == "delete":
                ops.append(("delete", path, version))
            elif kind == "set":
                ops.append(("set", path, data, version))
            else:
                ops.append(("check", path, version))
        result = self.write(MultiRequest(ops=tuple(to_request(op) for op in ops)), session)
        expected = self.model.multi(ops, session, self.zxid)
        got = []
        for r in result.results:
            if isinstance(r, ErrorResult):
                got.append(r.err)
            elif isinstance(r, CreateResult):
                got.append(r.path)
            else:
                got.append(DONE)
        assert got == expected

    @rule(session=st.sampled_from(SESSIONS))
    def close_session(self, session: int) -> None:
        self.write(CloseSessionRequest(), session)
        self.model.close(session, self.zxid)
        self.write(CreateSessionRequest(timeout=4000), session)  # reopen, so the id stays usable

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def same_nodes_and_stats(self) -> None:
        assert self.tree.paths() == sorted(self.model.nodes)
        for path in self.model.nodes:
            assert self.tree.exists(path) == self.model.stat(path), path

    @invariant()
    def stat_rules_hold(self) -> None:
        for path in self.tree.paths():
            stat = self.tree.exists(path)
            children = self.tree.get_children(path)
            stored = self.tree.stat_persisted(path).cversion
            assert stat.numChildren == len(children)
            assert stat.dataLength == len(self.tree.get_data(path)[0])
            assert stat.czxid <= stat.mzxid <= self.zxid
            assert stat.czxid <= stat.pzxid <= self.zxid
            assert stat.cversion == 2 * stored - stat.numChildren
            for child in children:
                # a child's create moved the parent's pzxid to at least its czxid
                assert self.tree.exists(("" if path == "/" else path) + "/" + child).czxid <= stat.pzxid
            if path not in SPECIAL:
                assert stat.cversion >= stat.numChildren  # creates + deletes >= live children

    @invariant()
    def bookkeeping(self) -> None:
        assert self.tree.last_processed_zxid == self.zxid
        for session in SESSIONS:
            owned = {p for p, n in self.model.nodes.items() if n.owner == session}
            assert self.tree.ephemerals(session) == owned
        for path, node in self.model.nodes.items():
            if node.owner:
                assert self.tree.get_children(path) == []  # ephemerals never have children


TreeMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_tree_matches_the_dict_model = TreeMachine.TestCase
