"""The library a submission runs against: distlab with the lab's reference answers cut out.

A graded function must be the learner's own. The grader checks where it was defined (see
:mod:`distlab.grading.provenance`); this module is the defence in depth behind that check.
The worker imports a *copy* of distlab in which, for the lab being graded:

- every reference answer listed in :data:`REFERENCE_ANSWERS` (a function, a class, or a
  constant such as the reference Lua script) is replaced by a stub that raises
  :class:`ReferenceWithheld` when used — docstrings go too, since some hold the answer's table;
- the grader itself (``distlab.grading`` but the worker's protocol and codec) is absent, so
  neither the checks nor their reference helpers are there to read;
- parts of *other* labs stay as they are: a lab may let learners use what earlier labs built.

So neither ``from distlab.zab.election import vote_order``, a wrapper that calls the library,
``importlib``, ``inspect.getsource``, nor reading the library's files finds the answer: the
stripped source is all there is in the sandbox. The copy is made once per lab per grading run,
in the run's private folder, and removed with it.
"""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

__all__ = ["REFERENCE_ANSWERS", "ReferenceWithheld", "build_library", "withheld_names"]

PACKAGE = Path(__file__).resolve().parents[1]  # lib/distlab

# lab -> part -> "module:name" of every library object that embodies that part's answer.
# A function is stubbed, a class has every method stubbed, a constant becomes a marker string.
REFERENCE_ANSWERS: dict[int, dict[str, tuple[str, ...]]] = {
    0: {  # the simulator lab's classes have no library twin; the checks' own are in grading/
        "RetryingSender": (), "DedupReceiver": (), "HeartbeatDetector": (),
    },
    1: {
        "cas_update_sql": ("distlab.locks.db:deposit", "distlab.locks.db:write_balance_cas"),
        "cas_won": ("distlab.locks.db:cas_won",),
        "lock_is_free": ("distlab.locks.db:lock_is_free",),
        "release_sql": ("distlab.locks.db:CAS_RELEASE", "distlab.locks.db:CAS_ACQUIRE",
                        "distlab.locks.db:CAS_EXTEND", "distlab.locks.db:DbLock"),
        "acquire_sql": ("distlab.locks.db:CAS_ACQUIRE", "distlab.locks.db:DbLock"),
        "extend_sql": ("distlab.locks.db:CAS_EXTEND", "distlab.locks.db:DbLock"),
    },
    2: {
        "acquire_command": ("distlab.locks.redis:RedisLock", "distlab.locks.redis:ACQUIRE_SCRIPT"),
        "release_script": ("distlab.locks.redis:RELEASE_SCRIPT", "distlab.locks.redis:EXTEND_SCRIPT",
                           "distlab.locks.redis:release_allowed"),
        "extend_script": ("distlab.locks.redis:EXTEND_SCRIPT", "distlab.locks.redis:RedisLock"),
        "acquire_script": ("distlab.locks.redis:ACQUIRE_SCRIPT", "distlab.locks.redis:RedisLock"),
        "token_accepted": ("distlab.locks.api:token_accepted", "distlab.locks.api:FencedStore"),
    },
    3: {
        "path_problem": ("distlab.zk.paths:validate_path", "distlab.zk.paths:path_problem",
                         "distlab.zk.paths:_ANY_PROBLEM", "distlab.zk.paths:_FORBIDDEN_CHAR",
                         "distlab.zk.paths:_FORBIDDEN_CHARS"),
        "sequential_name": ("distlab.zk.ops:prepare", "distlab.zk.ops:_prepare_create", "distlab.zk.tree:DataTree"),
        "check_and_inc_version": ("distlab.zk.ops:_check_version", "distlab.zk.ops:_check_expected_version",
                                  "distlab.zk.stat:next_version"),
        "events_for": ("distlab.zk.watches:WatchManager",),
        # DataTree (withheld above) is the answer to both; the server-side seam adapter is not
        "ZnodeTree": ("distlab.zk.tree:DataNode",),
        "ZkDataTree": (),
    },
    4: {
        "sequence_number": ("distlab.locks.zk:parse_node", "distlab.locks.zk:_NODE"),
        "predecessor": ("distlab.locks.zk:predecessor", "distlab.locks.zk:ZkLock"),
        "shared_predecessor": ("distlab.locks.zk:ZkReadLock", "distlab.locks.zk:ZkWriteLock"),
        "acquire_steps": ("distlab.locks.zk:ZkLock", "distlab.locks.zk:MAX_EXPIRIES"),
        "release_steps": ("distlab.locks.zk:ZkLock",),
    },
    5: {
        "vote_order": ("distlab.zab.election:vote_order",),
        "check_leader": ("distlab.zab.election:check_leader", "distlab.zab.election:_agreeing"),
        "handle_notification": ("distlab.zab.election:handle_notification", "distlab.zab.election:Election"),
    },
    6: {
        "queue_committed_proposals": ("distlab.zab.sync:LearnerQueue",),
        "choose_sync_mode": ("distlab.zab.sync:choose_sync_mode",),
        "apply_sync_to_log": ("distlab.zab.sync:apply_sync_to_log",),
        "sync_step": ("distlab.zab.learner_sync:sync_step", "distlab.zab.learner_sync:committed_prefix"),
    },
    7: {
        "has_quorum": ("distlab.zab.quorum:has_quorum", "distlab.zab.quorum:QuorumMaj"),
        "tolerated_failures": ("distlab.zab.quorum:tolerated_failures",),
        "process_ack": ("distlab.zab.broadcast:process_ack",),
        "epoch_to_propose": ("distlab.zab.discovery:epoch_to_propose",),
        "follower_step": ("distlab.zab.follower:follower_step", "distlab.zab.follower:continues"),
        "recover_history": ("distlab.zab.recovery:recover_history",),
    },
    8: {
        "decode_frame": ("distlab.rpc.codec:decode_frame", "distlab.rpc.codec:FrameBuffer",
                         "distlab.rpc.codec:_check_header"),
        "settle": ("distlab.rpc.proxy:settle",),
        "on_registry_event": ("distlab.rpc.registry:on_registry_event",),
        "smooth_round_robin": ("distlab.rpc.balance:smooth_round_robin",
                               "distlab.rpc.balance:RoundRobinLoadBalance"),
        "admit": ("distlab.rpc.dedup:admit",),
        "RpcProvider": ("distlab.rpc.transport:Provider",),
    },
    10: {  # the capstone: everything of Labs 3, 5, 6 and 7 it is assembled from
        "my_zookeeper": (),
    },
    9: {
        "decide": ("distlab.txn.two_phase:decide",),
        "recover_coordinator": ("distlab.txn.two_phase:recover_coordinator",),
        "recover_participant": ("distlab.txn.two_phase:recover_participant",),
        "saga_next": ("distlab.txn.saga:saga_next",),
        "TxnParticipant": ("distlab.txn.two_phase:Participant",),
    },
}

# What of distlab.grading the worker needs; the rest of the grader is not copied.
_GRADING_KEPT = ("worker.py", "codecs.py")
_WITHHELD_MODULE = '''"""Raised by a reference answer that is withheld while a lab is graded."""


class ReferenceWithheld(RuntimeError):
    """distlab's own answer to a graded part is not available to a submission being graded."""
'''
_GRADING_INIT = '''"""distlab.grading inside the grader's sandbox: the checks are not here."""


def check(part, fn, lab=None, show=True):
    """Self-study checks do nothing while a submission is being graded."""
    return True
'''


class ReferenceWithheld(RuntimeError):
    """The grader-side twin of the sandbox's exception (for ``isinstance`` in tests)."""


CAPSTONE_FROM = {10: (3, 5, 6, 7)}  # a lab assembled from earlier labs withholds theirs too


def withheld_names(lab: int) -> dict[str, list[str]]:
    """``{module: [names]}`` withheld while ``lab`` is graded."""
    found: dict[str, list[str]] = {}
    labs = (lab, *CAPSTONE_FROM.get(lab, ()))
    for specs in (s for number in labs for s in REFERENCE_ANSWERS.get(number, {}).values()):
        for spec in specs:
            module, name = spec.split(":")
            if name not in found.setdefault(module, []):
                found[module].append(name)
    return found


def _stub_body(what: str, lab: int, node: ast.AST) -> list[ast.stmt]:
    message = f"{what}, distlab's reference answer, which is withheld while lab {lab} is graded"
    stub = ast.parse("from distlab._withheld import ReferenceWithheld as _Withheld\n"
                     f"raise _Withheld({message!r})").body
    for statement in stub:
        ast.copy_location(statement, node)
        ast.fix_missing_locations(statement)
    return stub


def _any_arguments() -> ast.arguments:
    """``(*args, **kwargs)``: a stub raises ReferenceWithheld however it is called."""
    return ast.arguments(posonlyargs=[], args=[], vararg=ast.arg("args"), kwonlyargs=[], kw_defaults=[],
                         kwarg=ast.arg("kwargs"), defaults=[])


def _stub_function(node: ast.FunctionDef | ast.AsyncFunctionDef, what: str, lab: int) -> None:
    node.body = _stub_body(what, lab, node)
    node.args = _any_arguments()
    node.returns = None


def _strip_class(node: ast.ClassDef, module: str, lab: int) -> None:
    body: list[ast.stmt] = []
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _stub_function(item, f"{module}.{node.name}.{item.name}", lab)
            body.append(item)
        elif isinstance(item, ast.ClassDef):
            _strip_class(item, module, lab)
            body.append(item)
        elif isinstance(item, ast.Expr) and isinstance(item.value, ast.Constant) and isinstance(item.value.value, str):
            continue  # the docstring
        else:
            body.append(item)  # fields and class constants: the class must still be built
    node.body = body or [ast.Pass()]


def strip_source(source: str, module: str, names: list[str], lab: int) -> str:
    """``source`` with the top-level ``names`` stubbed (raises if one is not found)."""
    tree = ast.parse(source)
    wanted = set(names)
    seen: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in wanted:
            _stub_function(node, f"{module}.{node.name}", lab)
            seen.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name in wanted:
            _strip_class(node, module, lab)
            seen.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            hit = [t.id for t in targets if isinstance(t, ast.Name) and t.id in wanted]
            if hit:
                node.value = ast.Constant(f"<{module}.{hit[0]}: withheld while lab {lab} is graded>")
                seen.update(hit)
    missing = wanted - seen
    if missing:
        raise LookupError(f"{module} has no top-level {sorted(missing)} to withhold (see REFERENCE_ANSWERS)")
    return ast.unparse(tree) + "\n"


def build_library(lab: int, dest: Path) -> Path:
    """Write the sandbox's distlab for ``lab`` to ``dest/distlab``; return ``dest``.

    Written into a temporary sibling and renamed into place, so processes of one grading run
    that build the same lab at once never see half a copy.
    """
    dest = Path(dest)
    if (dest / "distlab").is_dir():
        return dest
    staging = Path(f"{dest}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    target = staging / "distlab"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "grading"))
    grading = target / "grading"
    grading.mkdir()
    for name in _GRADING_KEPT:
        shutil.copy2(PACKAGE / "grading" / name, grading / name)
    (grading / "__init__.py").write_text(_GRADING_INIT)
    (target / "_withheld.py").write_text(_WITHHELD_MODULE)
    for module, names in withheld_names(lab).items():
        path = target.joinpath(*module.split(".")[1:]).with_suffix(".py")
        path.write_text(strip_source(path.read_text(encoding="utf-8"), module, names, lab), encoding="utf-8")
    for root, dirs, files in os.walk(staging):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    try:
        os.rename(staging, dest)
    except OSError:  # another process of this run got there first
        shutil.rmtree(staging, ignore_errors=True)
    return dest
