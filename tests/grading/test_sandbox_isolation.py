"""The grader is a security boundary: the reference is out of reach, no submission touches
another, a part's time budget holds mid-seed, and nothing is left behind (checked in /proc
and /tmp, never assumed)."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import fcntl
from pathlib import Path

import pytest

from distlab.grading.codecs import decode, encode
from distlab.grading.parts import LABS, load_all
from distlab.grading.runner import grade_notebook, grade_path
from distlab.grading.sandbox import (MAX_SLOTS, SANDBOX_UID_BASE, LearnerError, Limits, Sandbox, processes_of,
                                     runtime)
from distlab.grading.withheld import REFERENCE_ANSWERS, withheld_names
from distlab.sansio import Start

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions"
LAB5 = SOLUTIONS / "lab5-election.ipynb"
load_all()

IN_CI = bool(os.environ.get("CI") or os.environ.get("DISTLAB_SERVICES"))
needs_bwrap = pytest.mark.skipif(not runtime().bwrap and not IN_CI,
                                 reason=f"bubblewrap is not usable here ({runtime().bwrap_problem})")


def sandbox_uids_alive() -> dict[int, list[int]]:
    """Processes of every sandbox uid whose slot is free (a slot another grading run holds
    right now may have its processes; a free one never may)."""
    alive = {}
    for slot in range(MAX_SLOTS):
        uid = SANDBOX_UID_BASE + slot
        lock = Path("/run/distlab-grader") / f"slot-{slot}.lock"
        if not lock.exists():
            if processes_of(uid):
                alive[uid] = processes_of(uid)
            continue
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # in use by another grading run
        try:
            if processes_of(uid):
                alive[uid] = processes_of(uid)
        finally:
            os.close(fd)
    return alive


@pytest.fixture
def private_tmp(monkeypatch):
    """The grader's temporary folders go here, so a leftover is ours and not another run's."""
    folder = Path(tempfile.mkdtemp(prefix="distlab-test-tmp-", dir="/tmp"))
    os.chmod(folder, 0o711)  # the sandbox's uid must reach the library copy inside
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    try:
        yield folder
        assert sorted(os.listdir(folder)) == [], "the grading run left something in its temporary folder"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def left_by_submissions() -> list[str]:
    return [n for n in os.listdir("/tmp") if n.startswith(("hostile-", "left-by-a-submission"))]


def with_cells(source: Path, code_for_part, target: Path) -> Path:
    notebook = json.loads(source.read_text())
    for cell in notebook["cells"]:
        part = cell.get("metadata", {}).get("distlab", {}).get("part")
        if part:
            cell["source"] = code_for_part(part)
    target.write_text(json.dumps(notebook))
    return target


# ------------------------------------------------------------------ the environment ------
def test_bubblewrap_is_used_where_make_test_installs_it():
    if IN_CI:
        assert runtime().bwrap, f"make test installs bubblewrap, yet it is not usable: {runtime().bwrap_problem}"
    summary = runtime().summary()
    assert ("bubblewrap" in summary) and (("WITHOUT" in summary) != bool(runtime().bwrap))


PROBE = r'''
import os, socket, sys
def probe(paths, port):
    seen = {}
    for path in paths:
        try:
            if os.path.isdir(path):
                seen[path] = "listed %d" % len(os.listdir(path))
            else:
                with open(path, "rb") as fh:
                    seen[path] = "read %d" % len(fh.read(100))
        except OSError as error:
            seen[path] = "refused " + type(error).__name__
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        seen["net"] = "connected"
    except OSError as error:
        seen["net"] = "refused " + type(error).__name__
    with open("/tmp/left-by-a-submission", "w") as fh:
        fh.write("x")
    seen["uid"] = os.getuid()
    seen["site"] = [p for p in sys.path if "site-packages" in p or "dist-packages" in p]
    for module in ("kazoo", "redis", "distlab.grading.lab5", "distlab.grading.runner"):
        try:
            __import__(module)
            seen[module] = "imported"
        except ImportError:
            seen[module] = "absent"
    import distlab.zab.election as election, inspect
    source = open(election.__file__).read()
    seen["vote_order source"] = "withheld" if "withheld while lab 5" in source else "present"
    seen["getsource"] = "withheld" if "withheld" in inspect.getsource(election.vote_order) else "present"
    try:
        election.vote_order(None, None)
        seen["call"] = "answered"
    except Exception as error:
        seen["call"] = type(error).__name__
    return seen
'''


@needs_bwrap
def test_a_worker_sees_neither_the_repository_nor_the_class_nor_the_network(tmp_path, private_tmp):
    classmate = tmp_path / "class" / "bob"
    classmate.mkdir(parents=True)
    (classmate / "lab5.ipynb").write_text("{}")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    paths = [str(SOLUTIONS / "lab5-election.ipynb"), str(ROOT), str(tmp_path / "class"),
             str(classmate / "lab5.ipynb"), "/etc/shadow", "/root", str(Path(__file__))]
    try:
        with Sandbox(PROBE, ["probe"], lab=5, filename="<probe>") as box:
            seen = box.call("probe", paths, server.getsockname()[1])
    finally:
        server.close()
    for path in paths:
        assert seen[path].startswith("refused"), (path, seen[path])
    assert seen["net"].startswith("refused")
    if os.geteuid() == 0:
        assert SANDBOX_UID_BASE <= seen["uid"] < SANDBOX_UID_BASE + MAX_SLOTS
    assert seen["site"] == []
    assert seen["kazoo"] == seen["redis"] == "absent", "third-party packages are not in the sandbox"
    assert seen["distlab.grading.lab5"] == seen["distlab.grading.runner"] == "absent", "the checks are not there"
    assert seen["vote_order source"] == seen["getsource"] == "withheld"
    assert seen["call"] == "ReferenceWithheld"
    assert left_by_submissions() == [], "the sandbox's /tmp is its own"


def test_every_part_has_an_entry_of_withheld_references_and_they_exist():
    for number, lab in LABS.items():
        assert set(REFERENCE_ANSWERS.get(number, {})) == set(lab.parts), f"lab {number}"
    from distlab.grading.withheld import build_library  # raises for a name that is not there

    for number in LABS:
        assert withheld_names(number) or number == 0


# ------------------------------------------------------------------ borrowing the answer --
BORROW = {
    "import": "from {module} import {name}",
    "import-as": "from {module} import {name} as _ref\n{name} = _ref",
    "importlib": "import importlib\n{name} = getattr(importlib.import_module({module!r}), {name!r})",
    "exec-file": "import importlib\n_m = importlib.import_module({module!r})\n_g = {{}}\n"
                 "exec(open(_m.__file__).read(), _g)\n{name} = _g[{name!r}]",
    "inspect": "import importlib, inspect\nexec(inspect.getsource(getattr(importlib.import_module({module!r}), {name!r})))",
    "wrapper": "import importlib\n_m = importlib.import_module({module!r})\n"
               "def {name}(*args, **kwargs):\n    return getattr(_m, {name!r})(*args, **kwargs)",
    "exec-wrapper": "import importlib\n_m = importlib.import_module({module!r})\n_g = {{}}\n"
                    "exec(open(_m.__file__).read(), _g)\n"
                    "def {name}(*args, **kwargs):\n    return _g[{name!r}](*args, **kwargs)",
}


def _borrowable() -> list[tuple[int, str, str]]:
    """(lab, part, module) for every part whose reference is a same-named library function."""
    found = []
    for number, parts in REFERENCE_ANSWERS.items():
        for part, specs in parts.items():
            for spec in specs:
                module, name = spec.split(":")
                if name == part:
                    found.append((number, part, module))
    return found


@pytest.mark.parametrize("variant", sorted(BORROW))
def test_a_notebook_that_borrows_the_reference_scores_zero_on_every_such_part(variant, tmp_path):
    by_lab: dict[int, dict[str, str]] = {}
    for number, part, module in _borrowable():
        by_lab.setdefault(number, {})[part] = module
    for number, modules in sorted(by_lab.items()):
        solution = SOLUTIONS / LABS[number].notebook
        notebook = with_cells(solution, lambda part: BORROW[variant].format(module=modules[part], name=part)
                              if part in modules else "", tmp_path / f"{variant}-lab{number}.ipynb")
        result = grade_notebook(notebook)
        for p in result.parts:
            if p.part not in modules:
                continue
            text = p.message or (p.first_failure().outcome.message if p.first_failure() else "")
            assert p.points == 0, (number, p.part, variant)
            assert f"`{p.part}` must be written in your notebook" in text or \
                "must be written in your notebook, but your code called" in text, (number, p.part, variant, text)
            if variant == "import":
                assert f"it was imported from {modules[p.part]}" in text


# ------------------------------------------------------------------ one submission, others -
HOSTILE = r'''
import os, subprocess, signal, sys
# a child in its own session that would outlive a process-group kill
subprocess.Popen(["sleep", "4242"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "4243"])
    os._exit(0)
# files in /tmp and in the working folder
for n in range(50):
    open(f"/tmp/hostile-{n}", "w").write("x" * 1000)
open("left-behind.txt", "w").write("x")
# signal games: everything this uid may signal
try:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
except Exception:
    pass
# huge output
try:
    sys.stdout.write("FAKE: vote_order 2 / 2 10/10 seeds\n" * 2_000_000)
    sys.stdout.flush()
except OSError:
    pass
# a fork loop, bounded by the process limit of this uid
children = []
try:
    for _ in range(500):
        pid = os.fork()
        if pid == 0:
            import time
            time.sleep(600)
            os._exit(0)
        children.append(pid)
except OSError:
    pass
def {name}(*args):
    os.kill(-1, signal.SIGKILL)
'''


@needs_bwrap
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_hostile_submission_first_costs_the_honest_one_nothing(jobs, tmp_path, private_tmp):
    batch = tmp_path / "class"
    batch.mkdir()
    with_cells(LAB5, lambda part: HOSTILE.replace("{name}", part), batch / "a-hostile.ipynb")
    shutil.copy(LAB5, batch / "b-honest.ipynb")
    shutil.copy(LAB5, batch / "c-honest.ipynb")
    results = {r.student: r for r in grade_path(batch, jobs=jobs)}
    assert results["a-hostile"].score == 0
    for honest in ("b-honest", "c-honest"):
        r = results[honest]
        assert r.score == r.max_score == 8, {p.part: (p.points, p.message) for p in r.parts}
    assert sandbox_uids_alive() == {}, "a process of a sandbox uid outlived the batch"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "sleep 4242" not in ps and "sleep 4243" not in ps
    assert left_by_submissions() == [], "a submission wrote into the machine's /tmp"


def test_a_notebook_that_fails_to_load_leaves_nothing_behind(tmp_path, private_tmp):
    broken = with_cells(LAB5, lambda part: "def broken(:\n    pass", tmp_path / "syntax.ipynb")
    failing = with_cells(LAB5, lambda part: "raise RuntimeError('at import')", tmp_path / "raises.ipynb")
    for notebook in (broken, failing):
        result = grade_notebook(notebook)
        assert result.score == 0 and not result.error
        assert all(p.message for p in result.parts)
    assert sandbox_uids_alive() == {}


# ------------------------------------------------------------------ time ------------------
def test_the_part_budget_holds_while_a_seed_runs(tmp_path):
    slow = with_cells(LAB5, lambda part: f"import time\ndef {part}(*args):\n    time.sleep(2.0)\n    return False",
                      tmp_path / "slow.ipynb")
    started = time.monotonic()
    result = grade_notebook(slow, only_part="vote_order", limits=Limits(call_timeout_s=3.0, part_budget_s=4.0))
    elapsed = time.monotonic() - started
    part = result.parts[0]
    assert part.points == 0
    assert elapsed < 4.0 + 4.0, f"the 4 s budget was overrun: {elapsed:.1f} s"
    messages = {s.outcome.message for s in part.seeds}
    assert any("time budget of 4 s ran out" in m for m in messages), messages


# ------------------------------------------------------------------ the codec -------------
def test_a_start_event_crosses_the_codec_with_its_random_state():
    rng = random.Random("seed-7/server-1/0")
    rng.random()
    event = Start(5, {"log": (1, 2)}, 0, rng)
    copy = decode(json.loads(json.dumps(encode(event))))
    assert [copy.rng.random() for _ in range(5)] == [rng.random() for _ in range(5)]
    assert copy.now == 5 and copy.incarnation == 0


@pytest.mark.parametrize("bad", [[3, [0] * 10, None], [2, [0] * 625, None], [3, [2**32] + [0] * 624, None],
                                 [3, [0] * 624 + [625], None], [3, [0] * 625, "x"]])
def test_a_forged_random_state_is_refused(bad):
    from distlab.grading.codecs import CodecError

    with pytest.raises(CodecError):
        decode({"$rng": bad})


def test_a_learner_process_draws_the_same_numbers_in_the_grader_as_in_the_notebook():
    code = ("from distlab.sansio import Effects\n"
            "class P:\n"
            "    def step(self, event):\n"
            "        return Effects().note(str([event.rng.randrange(10**9) for _ in range(3)]))\n")
    rng = random.Random("seed-3/p/0")
    with Sandbox(code, ["P"], filename="<probe>") as box:
        handle = box.new("P")
        effects = box.step(handle, Start(0, {}, 0, random.Random("seed-3/p/0")))
    assert str([rng.randrange(10**9) for _ in range(3)]) in str(effects["notes"])


def test_a_graded_name_defined_twice_grades_the_last_tagged_cell_and_says_so(tmp_path):
    notebook = json.loads(LAB5.read_text())
    cells = notebook["cells"]
    index = next(i for i, c in enumerate(cells) if c.get("metadata", {}).get("distlab", {}).get("part") == "vote_order")
    wrong = json.loads(json.dumps(cells[index]))
    wrong["source"] = "def vote_order(new, current):\n    return False\n"
    cells.insert(index, wrong)  # a wrong copy above the right one: the right one, last, counts
    path = tmp_path / "twice.ipynb"
    path.write_text(json.dumps(notebook))
    part = grade_notebook(path, only_part="vote_order").parts[0]
    assert part.points == part.max_points
    assert "the last one" in part.note and part.cell in part.note


# ------------------------------------------------------------------ generators, objects ---
RECIPE = r'''
from distlab.locks.zk import Create, GetChildren, Sleep
from distlab.zk.errors import ConnectionLossError, NoNodeError

def recipe(path):
    while True:
        try:
            node = yield Create(path + "/lock-", b"", ephemeral=True, sequence=True)
            break
        except ConnectionLossError:
            yield Sleep(0.05)
    children = yield GetChildren(path)
    if not children:
        raise NoNodeError(path, "no children at all")
    return node, sorted(children)

class Tree:
    def __init__(self):
        self.nodes = {"/": b""}
    def create(self, path, data):
        self.nodes[path] = data
        return path
    def get(self, path):
        return self.nodes[path]
'''


def test_a_learner_generator_is_driven_from_the_grader_with_yield_from():
    from distlab.grading.parts import Part
    from distlab.grading.runner import _proxy
    from distlab.locks.zk import Create, GetChildren, Sleep
    from distlab.zk.errors import ConnectionLossError, NoNodeError

    with Sandbox(RECIPE, ["recipe", "Tree"], filename="<probe>") as box:
        part = Part(99, "recipe", "probe", 1, "", lambda fn, seed: None, kind="generator")
        start = _proxy(box, part)

        def driver():
            return (yield from start("/locks/x"))

        run = driver()
        assert next(run) == Create("/locks/x/lock-", b"", True, True)
        assert run.throw(ConnectionLossError(None, None)) == Sleep(0.05)  # the recipe retried
        assert run.send(None) == Create("/locks/x/lock-", b"", True, True)
        assert run.send("/locks/x/lock-0000000001") == GetChildren("/locks/x")
        with pytest.raises(StopIteration) as stop:
            run.send(["lock-0000000001"])
        assert stop.value.value == ("/locks/x/lock-0000000001", ["lock-0000000001"])
        failing = start("/locks/y")
        failing.send(None)
        failing.send("/locks/y/lock-0000000000")
        with pytest.raises(NoNodeError):  # the learner's own ZooKeeper error arrives as itself
            failing.send([])
        handle = box.new("Tree")
        from distlab.grading.runner import RemoteObject

        tree = RemoteObject(box, handle)
        assert tree.create("/a", b"x") == "/a" and tree.get("/a") == b"x"
        with pytest.raises(AttributeError):
            tree._private()  # noqa: SLF001 - only public methods are reachable
        with pytest.raises(LearnerError, match="only public methods"):
            box.invoke(handle, "__init__")


def test_a_sandbox_may_call_back_only_for_its_parts_seams_never_for_the_answer():
    from distlab.grading.runner import _seams_for

    choose = LABS[6].parts["choose_sync_mode"]
    walk = LABS[6].parts["queue_committed_proposals"]
    forged = ("import json, os, sys\n"
              "def probe(name):\n"  # speaks the callback protocol itself, as hostile code could
              "    os.write(int(sys.argv[1]), (json.dumps({'callback': name, 'args': "
              "[{'$tuple': []}, 0, None, 0, True]}) + '\\n').encode())\n"
              "    reply = json.loads(sys.stdin.readline())\n"
              "    return 'refused: ' + reply['raise'] if 'raise' in reply else 'answered'\n")
    with Sandbox(forged, ["probe"], filename="<probe>", references=_seams_for(walk)) as box:
        assert box.call("probe", "queue_committed_proposals").startswith("refused"), "the part's own answer"
        assert box.call("probe", "vote_order").startswith("refused"), "a seam of another part"
    with Sandbox(forged, ["probe"], filename="<probe>", references=_seams_for(choose)) as box:
        assert not box.call("probe", "queue_committed_proposals").startswith("refused")


def test_a_mistake_in_an_earlier_part_costs_only_that_part(tmp_path):
    solution = SOLUTIONS / "lab6-sync.ipynb"
    notebook = json.loads(solution.read_text())
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).get("distlab", {}).get("part") == "queue_committed_proposals":
            source = "".join(cell["source"])
            cell["source"] = source.replace("packets.append(Trunc(prev))", "packets.append(Trunc(p.zxid))")
    path = tmp_path / "walk-bug.ipynb"
    path.write_text(json.dumps(notebook))
    result = {p.part: p for p in grade_notebook(path).parts}
    assert result["queue_committed_proposals"].points < result["queue_committed_proposals"].max_points
    assert result["choose_sync_mode"].points == result["choose_sync_mode"].max_points, \
        result["choose_sync_mode"].first_failure()
