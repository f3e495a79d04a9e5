"""Labs 8 and 9 grade like the others: solutions full marks, generated labs zero, and plausible
mistakes lose points with a message that names the rule they broke."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distlab.grading.notebook import graded_cells, make_lab, read_notebook, setup_code
from distlab.grading.parts import LABS, PUBLIC_SEEDS, load_all
from distlab.grading.runner import grade_notebook

ROOT = Path(__file__).resolve().parents[2]
LAB8 = ROOT / "solutions" / "lab8-rpc.ipynb"
LAB9 = ROOT / "solutions" / "lab9-transactions.ipynb"
load_all()


def test_both_labs_are_registered_with_their_parts_and_points():
    assert {n: p.points for n, p in LABS[8].parts.items()} == {
        "decode_frame": 2, "settle": 2, "on_registry_event": 3, "smooth_round_robin": 3, "admit": 4, "RpcProvider": 5}
    assert {n: p.points for n, p in LABS[9].parts.items()} == {
        "decide": 2, "recover_coordinator": 3, "recover_participant": 3, "saga_next": 3, "TxnParticipant": 5}
    assert LABS[8].notebook == LAB8.name and LABS[9].notebook == LAB9.name


@pytest.mark.parametrize("solution", [LAB8, LAB9], ids=["lab8", "lab9"])
def test_the_notebooks_follow_the_conventions(solution):
    notebook = read_notebook(solution)
    lab = LABS[notebook["metadata"]["distlab"]["lab"]]
    cells = graded_cells(notebook)
    assert set(cells) == set(lab.parts) and all(c.hint for c in cells.values())
    assert "import graphviz" not in setup_code(notebook)  # the grader's sandbox has no graphviz
    text = json.dumps(notebook["cells"][-1]["source"])
    assert "differently" in text and "Open question" in text
    generated = make_lab(notebook)
    assert all("raise NotImplementedError" in c.source for c in graded_cells(generated).values())
    assert (ROOT / "labs" / solution.name).read_text() == json.dumps(generated, indent=1, ensure_ascii=False,
                                                                    sort_keys=True) + "\n"


@pytest.mark.parametrize("solution", [LAB8, LAB9], ids=["lab8", "lab9"])
def test_the_solution_scores_full_marks_and_the_lab_zero(solution):
    result = grade_notebook(solution)
    assert not result.error and result.score == result.max_score > 0, {
        p.part: (p.points, p.message, p.first_failure()) for p in result.parts}
    lab = grade_notebook(ROOT / "labs" / solution.name)
    assert lab.parts and all(p.points == 0 for p in lab.parts)
    assert all("not implemented yet" in p.first_failure().outcome.message for p in lab.parts)


# ---------------------------------------------------------------- plausible mistakes ------
MISTAKES = [
    # Lab 8
    (LAB8, "decode_frame", """
def decode_frame(frame, max_body=MAX_BODY):
    # waits for the whole body before looking at the header's length: no 'oversized'
    if len(frame) < HEADER_SIZE:
        raise FrameError("truncated", "short")
    magic, version, kind, request_id, length = struct.unpack(">2sBBQI", frame[:HEADER_SIZE])
    if magic != MAGIC:
        raise FrameError("magic", "")
    if version not in SUPPORTED_VERSIONS:
        raise FrameError("version", "")
    if kind not in KINDS:
        raise FrameError("kind", "")
    if len(frame) - HEADER_SIZE != length:
        raise FrameError("truncated", "")
    body = json.loads(frame[HEADER_SIZE:])
    return {"version": version, "kind": KINDS[kind], "id": request_id, "body": body}
""", "oversized"),
    (LAB8, "decode_frame", """
def decode_frame(frame, max_body=MAX_BODY):
    # lets the JSON parser's exception escape
    magic, version, kind, request_id, length = struct.unpack(">2sBBQI", frame[:HEADER_SIZE])
    return {"version": version, "kind": KINDS[kind], "id": request_id, "body": json.loads(frame[HEADER_SIZE:])}
""", "must raise FrameError"),
    (LAB8, "settle", """
def settle(pending, reply):
    # takes any reply as the answer to the oldest call still waiting
    if not pending:
        return None
    oldest = min(pending)
    if reply.get("ok"):
        return (oldest, "return", reply.get("result"))
    return (oldest, "raise", reply["error"]["type"], reply["error"]["message"])
""", "not pending"),
    (LAB8, "settle", """
def settle(pending, reply):
    # returns the error as a value
    if reply.get("id") not in pending:
        return None
    return (reply["id"], "return", reply.get("result", reply.get("error")))
""", "never returned as a value"),
    (LAB8, "on_registry_event", """
def on_registry_event(providers, event):
    # re-reads without a new watch
    if event[0] == "children":
        return {a: w for a, w in filter(None, map(parse_provider, event[1]))}, []
    return dict(providers), [("get_children", event[0] == "session")]
""", "watches fire once"),
    (LAB8, "on_registry_event", """
def on_registry_event(providers, event):
    # adds what it reads to what it had: crashed providers are never removed
    if event[0] == "children":
        table = dict(providers)
        table.update(filter(None, map(parse_provider, event[1])))
        return table, []
    return dict(providers), [("get_children", True)]
""", "replaces"),
    (LAB8, "on_registry_event", """
def on_registry_event(providers, event):
    # trusts every child to be a provider
    if event[0] == "children":
        return dict(parse_provider(name) for name in event[1]), []
    return dict(providers), [("get_children", True)]
""", "parse_provider refuses"),
    (LAB8, "smooth_round_robin", """
def smooth_round_robin(weights, current):
    # pays back its own weight instead of the total
    scores = {a: current.get(a, 0) + w for a, w in sorted(weights.items())}
    chosen = max(scores, key=scores.get)
    scores[chosen] -= weights[chosen]
    return chosen, scores
""", "total weight"),
    (LAB8, "smooth_round_robin", """
def smooth_round_robin(weights, current):
    # breaks ties towards the heavier provider
    total = sum(weights.values())
    scores = {a: current.get(a, 0) + w for a, w in sorted(weights.items())}
    chosen = max(scores, key=lambda a: (scores[a], weights[a]))
    scores[chosen] -= total
    return chosen, scores
""", "sorted order"),
    (LAB8, "admit", """
def admit(table, request):
    # a retry that arrives while the call still runs is run again
    table = copy.deepcopy(table)
    entry = table.setdefault(request["client"], {"acked": 0, "replies": {}})
    entry["acked"] = max(entry["acked"], request["acked"])
    entry["replies"] = {r: v for r, v in entry["replies"].items() if r >= entry["acked"]}
    rid = request["id"]
    if rid < entry["acked"]:
        return "stale", table
    if entry["replies"].get(rid) is not None:
        return "replay", table
    entry["replies"][rid] = None
    return "execute", table
""", "running"),
    (LAB8, "admit", """
def admit(table, request):
    # takes the request's mark as it comes: a delayed copy lowers it
    table = copy.deepcopy(table)
    entry = table.setdefault(request["client"], {"acked": 0, "replies": {}})
    entry["acked"] = request["acked"]
    entry["replies"] = {r: v for r, v in entry["replies"].items() if r >= entry["acked"]}
    rid = request["id"]
    if rid in entry["replies"]:
        return ("wait" if entry["replies"][rid] is None else "replay"), table
    entry["replies"][rid] = None
    return "execute", table
""", "stale"),
    (LAB8, "admit", """
def admit(table, request):
    # never forgets a reply
    table = copy.deepcopy(table)
    entry = table.setdefault(request["client"], {"acked": 0, "replies": {}})
    entry["acked"] = max(entry["acked"], request["acked"])
    rid = request["id"]
    if rid < entry["acked"]:
        return "stale", table
    if rid in entry["replies"]:
        return ("wait" if entry["replies"][rid] is None else "replay"), table
    entry["replies"][rid] = None
    return "execute", table
""", "forgotten"),
    # Lab 9
    (LAB9, "decide", """
def decide(participants, votes, timed_out):
    # a majority of yes votes commits, as in Zab
    yes = sum(1 for p in participants if votes.get(p) is True)
    if 2 * yes > len(participants):
        return COMMIT
    return ABORT if timed_out or False in votes.values() else None
""", "majority is not enough"),
    (LAB9, "decide", """
def decide(participants, votes, timed_out):
    # at the timeout, commits if nobody said no
    if False in votes.values():
        return ABORT
    if timed_out or all(votes.get(p) for p in participants):
        return COMMIT
    return None
""", "timeout passed"),
    (LAB9, "decide", """
def decide(participants, votes, timed_out):
    # counts the votes, not what they say
    if len(votes) == len(participants):
        return COMMIT
    return ABORT if timed_out else None
""", "no vote"),
    (LAB9, "recover_coordinator", """
def recover_coordinator(log):
    # aborts everything unfinished, even what was logged as committed
    ended = {r[1] for r in log if r[0] == "END"}
    return {r[1]: ABORT for r in log if r[0] == "BEGIN" and r[1] not in ended}
""", "decision is in the log"),
    (LAB9, "recover_coordinator", """
def recover_coordinator(log):
    # presumes commit for what was begun and not decided
    state = {}
    for r in log:
        if r[0] == "BEGIN":
            state.setdefault(r[1], COMMIT)
        elif r[0] in (COMMIT, ABORT):
            state[r[1]] = r[0]
        elif r[0] == "END":
            state.pop(r[1], None)
    return state
""", "presumed abort"),
    (LAB9, "recover_participant", """
def recover_participant(initial, log):
    # applies prepared writes at once
    store, prepared, decided = dict(initial), {}, set()
    for r in log:
        if r[0] == "PREPARED":
            prepared[r[1]] = r[4]
            for k, d in r[4].items():
                store[k] = store.get(k, 0) + d
        elif r[0] in ("COMMITTED", "ABORTED"):
            decided.add(r[1])
    return store, [t for t in prepared if t not in decided]
""", "COMMITTED transactions only"),
    (LAB9, "recover_participant", """
def recover_participant(initial, log):
    # treats a transaction in doubt as aborted
    store, prepared = dict(initial), {}
    for r in log:
        if r[0] == "PREPARED":
            prepared[r[1]] = r[4]
        elif r[0] == "COMMITTED":
            for k, d in prepared[r[1]].items():
                store[k] = store.get(k, 0) + d
    return store, []
""", "in doubt"),
    (LAB9, "saga_next", """
def saga_next(steps, log):
    # compensates in the order the steps were done
    done = [s for k, s in log if k == "done"]
    undone = {s for k, s in log if k == "undone"}
    if any(k == "failed" for k, _ in log):
        left = [s for s in done if s not in undone]
        return ("undo", left[0]) if left else ("end", "COMPENSATED")
    left = [s for s in steps if s not in done]
    return ("do", left[0]) if left else ("end", "COMMITTED")
""", "latest completed step first"),
    (LAB9, "saga_next", """
def saga_next(steps, log):
    # also compensates the step that failed
    done = [s for k, s in log if k in ("done", "failed")]
    undone = {s for k, s in log if k == "undone"}
    if any(k == "failed" for k, _ in log):
        left = [s for s in reversed(done) if s not in undone]
        return ("undo", left[0]) if left else ("end", "COMPENSATED")
    left = [s for s in steps if s not in done]
    return ("do", left[0]) if left else ("end", "COMMITTED")
""", "nothing to undo"),
    (LAB9, "saga_next", """
def saga_next(steps, log):
    # keeps going after a failure
    done = {s for k, s in log if k in ("done", "failed")}
    left = [s for s in steps if s not in done]
    return ("do", left[0]) if left else ("end", "COMMITTED")
""", "compensate instead"),
]


def _function(solution: Path, part: str, code: str):
    namespace: dict = {"__name__": "submission"}
    exec(compile(setup_code(read_notebook(solution)) + "\n" + code, "<mistake>", "exec"), namespace)
    return namespace[part]


@pytest.mark.parametrize("solution, part, code, words", MISTAKES,
                         ids=[f"lab{8 if m[0] == LAB8 else 9}-{m[1]}-{m[3].split()[0]}" for m in MISTAKES])
def test_a_plausible_mistake_fails_every_public_seed_with_a_useful_message(solution, part, code, words):
    lab = LABS[read_notebook(solution)["metadata"]["distlab"]["lab"]]
    fn = _function(solution, part, code)
    outcomes = [lab.parts[part].check(fn, seed) for seed in PUBLIC_SEEDS]
    assert all(o.passed is False for o in outcomes), outcomes
    assert words in outcomes[0].message, outcomes[0].message


def with_cell(source: Path, part: str, code: str, target: Path) -> Path:
    notebook = json.loads(source.read_text())
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).get("distlab", {}).get("part") == part:
            cell["source"] = code
    target.write_text(json.dumps(notebook))
    return target


@pytest.mark.parametrize("index", [9, 15, 19], ids=["lab8-admit", "lab9-recover_coordinator", "lab9-saga_next"])
def test_through_the_sandbox_a_mistake_loses_its_points_and_keeps_its_message(tmp_path, index):
    solution, part, code, words = MISTAKES[index]
    result = grade_notebook(with_cell(solution, part, code, tmp_path / "student.ipynb"), only_part=part)
    (graded,) = result.parts
    assert graded.points == 0 and words in graded.first_failure().outcome.message
