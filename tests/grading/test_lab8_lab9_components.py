"""Lab 8's RpcProvider and Lab 9's TxnParticipant: the learner writes a whole process.

The solutions pass; plausible mistakes (each an edit of the solution's own class, as a learner
would make it) lose points with a message that names the broken property with its Chinese
term; through the sandbox, the grader's reference stands in for the earlier parts the class
calls (a broken ``admit`` or ``recover_participant`` costs only its own part).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distlab.grading.codecs import decode, encode
from distlab.grading.notebook import graded_cells, read_notebook, setup_code
from distlab.grading.parts import LABS, PUBLIC_SEEDS, REFERENCE_SEAMS, load_all, reference_seam
from distlab.grading.runner import grade_notebook
from distlab.grading.withheld import REFERENCE_ANSWERS

ROOT = Path(__file__).resolve().parents[2]
LAB8 = ROOT / "solutions" / "lab8-rpc.ipynb"
LAB9 = ROOT / "solutions" / "lab9-transactions.ipynb"
load_all()


def _cell(solution: Path, part: str) -> str:
    return graded_cells(read_notebook(solution))[part].source


def _component(solution: Path, part: str, edits: list[tuple[str, str]], uses: tuple[str, ...]):
    """The solution's class with ``edits`` applied, defined after the setup and the cells it uses."""
    notebook = read_notebook(solution)
    source = _cell(solution, part)
    for old, new in edits:
        assert old in source, f"the solution no longer contains {old!r}"
        source = source.replace(old, new)
    earlier = "\n".join(_cell(solution, name) for name in uses)
    namespace: dict = {"__name__": "submission"}
    exec(compile(setup_code(notebook) + "\n" + earlier + "\n" + source, "<mistake>", "exec"), namespace)
    return namespace[part]


def test_the_new_parts_are_whole_processes_with_reference_seams_and_withheld_answers():
    provider, participant = LABS[8].parts["RpcProvider"], LABS[9].parts["TxnParticipant"]
    assert provider.kind == participant.kind == "class"
    assert provider.uses == ("decode_frame", "admit") and participant.uses == ("recover_participant",)
    for name in provider.uses + participant.uses:
        assert name in REFERENCE_SEAMS and callable(reference_seam(name))
    assert REFERENCE_ANSWERS[8]["RpcProvider"] == ("distlab.rpc.transport:Provider",)
    assert REFERENCE_ANSWERS[9]["TxnParticipant"] == ("distlab.txn.two_phase:Participant",)
    assert {n: p.points for n, p in LABS[8].parts.items()}["RpcProvider"] == 5
    assert {n: p.points for n, p in LABS[9].parts.items()}["TxnParticipant"] == 5


def test_the_2pc_messages_cross_the_sandbox_as_themselves():
    from distlab.txn.two_phase import Ack, Decision, Prepare, StatusQuery, Vote

    for message in (Prepare("t1", (("a", -30),), ("X", "Y")), Vote("t1", False, "a is locked"),
                    Decision("t1", "COMMIT"), Ack("t1"), StatusQuery("t1")):
        assert decode(json.loads(json.dumps(encode(message)))) == message


@pytest.mark.parametrize("solution, part, uses", [(LAB8, "RpcProvider", ("decode_frame", "admit")),
                                                  (LAB9, "TxnParticipant", ("recover_participant",))],
                         ids=["lab8", "lab9"])
def test_the_solution_passes_every_public_seed(solution, part, uses):
    cls = _component(solution, part, [], uses)
    lab = LABS[read_notebook(solution)["metadata"]["distlab"]["lab"]]
    assert all(lab.parts[part].check(cls, seed).passed for seed in PUBLIC_SEEDS)


# ---------------------------------------------------------------- Lab 8: RpcProvider -------
PROVIDER_MISTAKES = {
    "runs a retry of a running or finished call again (ignores wait and replay)": ([(
        '''        action, self.table = admit(self.table, {"client": client, "id": request_id, "acked": acked})''',
        '''        action, self.table = admit(self.table, {"client": client, "id": request_id, "acked": acked})
        if action in ("wait", "replay"):
            action = "execute"''')], "至多一次"),
    "asks admit but keeps its own table (drops the one admit returns)": ([(
        '''        action, self.table = admit(self.table, {"client": client, "id": request_id, "acked": acked})''',
        '''        action, _ = admit(self.table, {"client": client, "id": request_id, "acked": acked})
        self.table.setdefault(client, {"acked": 0, "replies": {}})["replies"].setdefault(request_id, None)''')],
        "去重"),
    "replies under the id of the latest request, not its own": ([
        ('''        fx.send(src, encode_frame("response", request_id, body))
        ### END SOLUTION''', '''        fx.send(src, encode_frame("response", self.latest, body))
        ### END SOLUTION'''),
        ('''        client = f"{src}#{session}"''', '''        client = f"{src}#{session}"
        self.latest = request_id''')], "结果返回"),
    "drops the dedup table on a duplicate": ([(
        '''        if action == "replay":''', '''        if action in ("wait", "replay"):
            self.table = {}
        if action == "replay":''')], "至多一次"),
    "does not answer a retry of a finished call (no replay)": ([(
        '''            fx.send(src, encode_frame("response", request_id, self.table[client]["replies"][request_id]))''',
        '''            pass''')], "至多一次"),
    "forgets to remember the reply, so there is nothing to replay": ([(
        '''        remember_reply(self.table, client, request_id, body)
''', '')], "replay"),
    "runs whatever method the frame names (no check of the decoded request)": ([(
        '''            if method in self.methods:''', '''            if hasattr(self.target, method):''')], "服务调用"),
    "serves a request for another service": ([(
        '''        if body.get("service") != self.service or not isinstance(method, str)''',
        '''        if not isinstance(method, str)''')], "服务调用"),
    "runs the call before asking admit": ([(
        '''        client = f"{src}#{session}"
        action, self.table''', '''        client = f"{src}#{session}"
        early = getattr(self.target, method)(*args) if method == "deposit" else None
        action, self.table''')], "至多一次"),
    "knows a client by its address alone, not its session": ([(
        '''        client = f"{src}#{session}"''', '''        client = str(src)''')], "session"),
    "shares one table between all clients": ([(
        '''        client = f"{src}#{session}"''', '''        client = f"#{session}"''')], "per client"),
    "never answers the hello": ([(
        '''            fx.send(src, encode_frame("welcome", 0,''', '''            (encode_frame("welcome", 0,''')],
        "建立通信"),
}


@pytest.mark.parametrize("mistake", sorted(PROVIDER_MISTAKES))
def test_a_provider_mistake_loses_points_with_the_concept_named(mistake):
    edits, words = PROVIDER_MISTAKES[mistake]
    cls = _component(LAB8, "RpcProvider", edits, ("decode_frame", "admit"))
    outcomes = [LABS[8].parts["RpcProvider"].check(cls, seed) for seed in PUBLIC_SEEDS]
    failed = [o for o in outcomes if o.passed is not True]
    assert failed, f"{mistake}: every public seed passed"
    assert words in failed[0].message, failed[0].message


# ---------------------------------------------------------------- Lab 9: TxnParticipant ----
PARTICIPANT_MISTAKES = {
    "votes yes before logging PREPARED (logs it later)": ([
        ('''        fx.append("log", ("PREPARED", txid, coordinator, tuple(msg.participants), writes))
''', ''),
        ('''        fx.send(coordinator, Vote(txid, True))
        fx.set_timer(f"ask.{txid}", self.ASK_MS)''', '''        fx.send(coordinator, Vote(txid, True))
        fx.set_timer(f"ask.{txid}", self.ASK_MS)
        self.unlogged = ("PREPARED", txid, coordinator, tuple(msg.participants), writes)''')], "持久性"),
    "forgets the outcomes after a restart": ([(
        '''            if record[0] in ("COMMITTED", "ABORTED"):
                self.outcomes[record[1]] = record[0]
            elif''', '''            if record[0] == "-":
                pass
            elif''')], "原子性"),
    "decides alone after voting yes (presumed abort misapplied on a timeout)": ([(
        '''        info = self.in_doubt.get(txid)
        if info is None:
            return
''', '''        info = self.in_doubt.get(txid)
        if info is None:
            return
        info["asked"] = info.get("asked", 0) + 1
        if info["asked"] > 3:  # nobody answers: presume abort
            self.decision(fx, info["coordinator"], Decision(txid, ABORT))
            return
''')], "阻塞"),
    "does not answer a peer's status query": ([(
        '''        if txid in self.in_doubt:
            return  # as uncertain as the asker
''', '''        return
''')], "StatusQuery"),
    "never asks the other participants": ([(
        '''        for node in [info["coordinator"]] + [p for p in info["participants"] if p != self.me]:''',
        '''        for node in [info["coordinator"]]:''')], "协作终止"),
    "applies the writes at prepare time (and undoes them on abort)": ([
        ('''        for key in writes:
            self.locks[key] = txid
        fx.send(coordinator, Vote(txid, True))''', '''        for key in writes:
            self.locks[key] = txid
            self.store[key] = self.store.get(key, 0) + writes[key]
        fx.send(coordinator, Vote(txid, True))'''),
        ('''            if outcome == "COMMITTED":
                for key, delta in info["writes"].items():
                    self.store[key] = self.store.get(key, 0) + delta''', '''            if outcome == "ABORTED":
                for key, delta in info["writes"].items():
                    self.store[key] = self.store.get(key, 0) - delta''')], "原子性"),
    "does not lock an in-doubt transaction's keys again after a restart": ([(
        '''                for key in writes:
                    self.locks[key] = txid
                fx.set_timer(f"ask.{txid}", 0)''', '''                fx.set_timer(f"ask.{txid}", 0)''')], "隔离性"),
    "acknowledges only the first Decision": ([(
        '''        fx.send(src, Ack(txid))
''', '''        if info is not None:
            fx.send(src, Ack(txid))
''')], "Ack"),
    "applies a repeated Decision again": ([(
        '''        info = self.in_doubt.pop(txid, None)
        if info is not None:''', '''        self.settled = getattr(self, "settled", {})
        info = self.in_doubt.pop(txid, None) or self.settled.get(txid)
        if info is not None:
            self.settled[txid] = info'''), ('''            for key in info["writes"]:
                del self.locks[key]''', '''            for key in info["writes"]:
                self.locks.pop(key, None)''')], "幂等"),
    "does not rebuild its data from the log": ([(
        '''        self.store, doubtful = recover_participant(self.initial, log)''',
        '''        _, doubtful = recover_participant(self.initial, log)''')], "recover_participant"),
    "answers ABORT to a peer without logging it first": ([(
        '''            self.outcomes[txid] = "ABORTED"  # we never voted: we may still say no, so nobody can commit
            fx.append("log", ("ABORTED", txid))''', '''            fx.send(peer, Decision(txid, ABORT))
            return''')], "ABORTED first"),
    "never unlocks": ([(
        '''            for key in info["writes"]:
                del self.locks[key]''', '''            pass''')], "locks"),
}


@pytest.mark.parametrize("mistake", sorted(PARTICIPANT_MISTAKES))
def test_a_participant_mistake_loses_points_with_the_concept_named(mistake):
    edits, words = PARTICIPANT_MISTAKES[mistake]
    cls = _component(LAB9, "TxnParticipant", edits, ("recover_participant",))
    outcomes = [LABS[9].parts["TxnParticipant"].check(cls, seed) for seed in PUBLIC_SEEDS]
    failed = [o for o in outcomes if o.passed is not True]
    assert failed, f"{mistake}: every public seed passed"
    assert words in failed[0].message, failed[0].message


# ---------------------------------------------------------------- through the sandbox ------
def _student(solution: Path, replace: dict[str, str], target: Path) -> Path:
    notebook = json.loads(solution.read_text())
    for cell in notebook["cells"]:
        part = cell.get("metadata", {}).get("distlab", {}).get("part")
        if part in replace:
            cell["source"] = replace[part]
    target.write_text(json.dumps(notebook))
    return target


BROKEN_EARLIER = {
    LAB8: ("admit", "def admit(table, request):\n    return 'execute', table  # runs every copy\n", "RpcProvider"),
    LAB9: ("recover_participant", "def recover_participant(initial, log):\n    return dict(initial), []  # forgets\n",
           "TxnParticipant"),
}


@pytest.mark.parametrize("solution", [LAB8, LAB9], ids=["lab8", "lab9"])
def test_through_the_sandbox_a_broken_earlier_part_is_not_charged_to_the_component(tmp_path, solution):
    earlier, broken, component = BROKEN_EARLIER[solution]
    student = _student(solution, {earlier: broken}, tmp_path / "student.ipynb")
    result = grade_notebook(student, only_part=component, only_seed=PUBLIC_SEEDS[0])
    (graded,) = result.parts
    assert graded.points == graded.max_points, (graded.message, graded.first_failure())


@pytest.mark.parametrize("solution, mistakes", [(LAB8, PROVIDER_MISTAKES), (LAB9, PARTICIPANT_MISTAKES)],
                         ids=["lab8", "lab9"])
def test_through_the_sandbox_a_component_mistake_loses_its_points(tmp_path, solution, mistakes):
    earlier, _, component = BROKEN_EARLIER[solution]
    mistake = sorted(mistakes)[0]
    edits, words = mistakes[mistake]
    source = _cell(solution, component)
    for old, new in edits:
        source = source.replace(old, new)
    student = _student(solution, {component: source}, tmp_path / "student.ipynb")
    result = grade_notebook(student, only_part=component, only_seed=PUBLIC_SEEDS[0])
    (graded,) = result.parts
    assert graded.points == 0 and words in graded.first_failure().outcome.message, graded.first_failure()


def test_no_two_classes_that_may_cross_share_a_name():
    # The sandbox codec knows classes by name: a second "Vote" would silently replace Zab's.
    from distlab.grading.codecs import ALLOWED

    names = [spec.split(":")[1] for spec in ALLOWED]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


DECISIONS = [(8, "decode_frame", "帧"), (8, "settle", "结果返回"), (8, "on_registry_event", "服务发现"),
             (8, "smooth_round_robin", "负载均衡"), (8, "admit", "去重"), (9, "decide", "原子性"),
             (9, "recover_coordinator", "原子性"), (9, "recover_participant", "存疑"), (9, "saga_next", "补偿")]


@pytest.mark.parametrize("lab, part, term", DECISIONS, ids=[d[1] for d in DECISIONS])
def test_a_table_row_failure_still_names_the_concept(lab, part, term):
    def wrong(*args):  # returns nothing useful: the first table row fails, before any simulation
        return None

    outcome = LABS[lab].parts[part].check(wrong, PUBLIC_SEEDS[0])
    assert outcome.passed is False and term in outcome.message, outcome.message
