"""The checks of Labs 1, 2 and 4 (the three distributed locks) catch plausible mistakes.

Each lab's reference answers (taken from its solution notebook's graded cells) pass the public
seeds. Each plausible mistake — a realistic bug, named for it — is run through its part's check
directly (no sandbox) on the public seeds and must fail on at least one, with a message naming
the broken rule. The runs inside the checks are tested on their own too: a wrong seam plugged
straight into ``DbLock`` / ``RedisLock`` / ``ZkLock`` must break the property the run watches,
so no check rests on its table of cases alone. Finally the grader's guards: learner SQL and Lua
run in the grader's process, and hostile text must be refused before it runs.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest

from distlab.grading import lab1, lab2, lab4
from distlab.grading.notebook import graded_cells, read_notebook, setup_code
from distlab.grading.parts import PUBLIC_SEEDS
from distlab.grading.runner import grade_notebook
from distlab.locks.redis import RELEASE_SCRIPT
from distlab.locks.zk import EXCLUSIVE, SHARED, parse_node, predecessor


ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = {1: "lab1-db-lock.ipynb", 2: "lab2-redis-lock.ipynb", 4: "lab4-zk-lock.ipynb"}
CHECKS = {1: lab1, 2: lab2, 4: lab4}
PARTS = {1: ["cas_update_sql", "cas_won", "lock_is_free", "release_sql"],
         2: ["acquire_command", "release_script", "token_accepted"],
         4: ["sequence_number", "predecessor", "shared_predecessor"]}
# The whole-component parts each lab ends with (tested in test_lab1_lab2_components.py and
# test_lab4_recipe.py), and every lab's points.
COMPONENT_PARTS = {1: ["acquire_sql", "extend_sql"], 2: ["extend_script", "acquire_script"],
                   4: ["acquire_steps", "release_steps"]}
POINTS = {1: 18, 2: 18, 4: 21}

_SOLUTIONS: dict[int, dict] = {}


def with_cell(source_path: Path, part: str, code: str, target: Path) -> Path:
    """A copy of a notebook whose graded cell for ``part`` holds ``code``."""
    notebook = json.loads(source_path.read_text())
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).get("distlab", {}).get("part") == part:
            cell["source"] = code
    target.write_text(json.dumps(notebook))
    return target


def solutions(lab: int) -> dict:
    """The namespace of a solution notebook's setup and graded cells."""
    if lab not in _SOLUTIONS:
        notebook = read_notebook(ROOT / "solutions" / NOTEBOOKS[lab])
        namespace: dict = {"__name__": f"lab{lab}_solution"}
        exec(compile(setup_code(notebook), f"lab{lab} setup", "exec"), namespace)
        for part, cell in graded_cells(notebook).items():
            exec(compile(cell.source, f"lab{lab} {part}", "exec"), namespace)
        _SOLUTIONS[lab] = namespace
    return _SOLUTIONS[lab]


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


@pytest.mark.parametrize("lab, part", [(lab, part) for lab, parts in PARTS.items() for part in parts])
def test_the_reference_answer_passes_the_public_seeds(lab, part):
    fn = solutions(lab)[part]
    results = outcomes(lab, part, fn)
    assert all(o.passed is True for o in results), [o.message for o in results]


@pytest.mark.parametrize("lab", sorted(PARTS))
def test_every_part_of_the_lab_is_registered_with_points(lab):
    from distlab.grading.parts import LABS

    registered = LABS[lab]
    assert list(registered.parts) == PARTS[lab] + COMPONENT_PARTS[lab]
    assert registered.points == POINTS[lab] and registered.notebook == NOTEBOOKS[lab]


def test_the_same_seed_gives_the_same_verdict():
    def lowest(children, me):
        ranked = sorted((c for c in children if parse_node(c)), key=lambda c: parse_node(c).seq)
        return None if ranked[0] == me else ranked[0]

    assert outcomes(4, "predecessor", lowest) == outcomes(4, "predecessor", lowest)
    blind = lambda: "return redis.call('DEL', KEYS[1])"  # noqa: E731
    assert outcomes(2, "release_script", blind) == outcomes(2, "release_script", blind)


# ================================================================ Lab 1: 数据库乐观锁 ==========
CAS_SQL = ("UPDATE distlab_accounts SET balance = :balance, version = version + 1 "
           "WHERE id = :id AND version = :version")
RELEASE_SQL = ("UPDATE distlab_locks SET owner = NULL, lease_until = NULL, version = version + 1 "
               "WHERE name = :name AND owner = :owner AND version = :version")


def test_lab1_a_write_that_does_not_compare_the_version_loses_updates():
    def cas_update_sql():  # bumps the version, but never checks it
        return "UPDATE distlab_accounts SET balance = :balance, version = version + 1 WHERE id = :id"

    assert_loses(1, "cas_update_sql", cas_update_sql, "lost update", "更新丢失")


def test_lab1_a_write_that_compares_but_never_moves_the_version_loses():
    def cas_update_sql():
        return "UPDATE distlab_accounts SET balance = :balance WHERE id = :id AND version = :version"

    assert_loses(1, "cas_update_sql", cas_update_sql, "version = version + 1")


def test_lab1_a_write_that_forgets_the_id_changes_other_accounts():
    def cas_update_sql():
        return "UPDATE distlab_accounts SET balance = :balance, version = version + 1 WHERE version = :version"

    assert_loses(1, "cas_update_sql", cas_update_sql, "also changed account", "id = :id")


def test_lab1_positional_placeholders_are_explained():
    def cas_update_sql():
        return "UPDATE distlab_accounts SET balance = ?, version = version + 1 WHERE id = ? AND version = ?"

    assert_loses(1, "cas_update_sql", cas_update_sql, "named parameters")


def test_lab1_sql_that_is_not_text_is_explained():
    assert_loses(1, "cas_update_sql", lambda: None, "must return the SQL statement as a str")
    assert_loses(1, "release_sql", lambda: ["UPDATE"], "must return the SQL statement as a str")


def test_lab1_a_cas_that_ignores_the_row_count_loses():
    def cas_won(rowcount):
        return True

    assert_loses(1, "cas_won", cas_won, "cas_won(0) returned True")


def test_lab1_a_cas_that_counts_any_row_as_a_win_loses():
    def cas_won(rowcount):
        return rowcount > 0

    assert_loses(1, "cas_won", cas_won, "cas_won(2) returned True", "primary key")


def test_lab1_a_cas_that_returns_the_count_itself_loses():
    def cas_won(rowcount):
        return rowcount

    assert_loses(1, "cas_won", cas_won, "must return True or False")


def test_lab1_a_lease_blind_is_free_loses():
    def lock_is_free(owner, lease_until, now):
        return owner is None

    assert_loses(1, "lock_is_free", lock_is_free, "run out")


def test_lab1_a_lease_that_has_not_run_out_when_it_ends_loses():
    def lock_is_free(owner, lease_until, now):
        return owner is None or (lease_until is not None and lease_until < now)

    assert_loses(1, "lock_is_free", lock_is_free, "ends exactly now")


def test_lab1_an_is_free_that_breaks_on_a_missing_lease_loses():
    def lock_is_free(owner, lease_until, now):
        return owner is None or lease_until <= now

    assert_loses(1, "lock_is_free", lock_is_free, "TypeError", "None")


def test_lab1_a_release_by_name_only_lets_anybody_release():
    def release_sql():
        return "UPDATE distlab_locks SET owner = NULL, version = version + 1 WHERE name = :name"

    assert_loses(1, "release_sql", release_sql, "安全 broken", "owner = :owner")


def test_lab1_a_release_that_ignores_the_version_frees_a_newer_grant():
    def release_sql():
        return ("UPDATE distlab_locks SET owner = NULL, version = version + 1 "
                "WHERE name = :name AND owner = :owner")

    assert_loses(1, "release_sql", release_sql, "安全 broken", "version = :version")


def test_lab1_a_release_that_does_not_move_the_version_loses():
    def release_sql():
        return "UPDATE distlab_locks SET owner = NULL WHERE name = :name AND owner = :owner AND version = :version"

    assert_loses(1, "release_sql", release_sql, "version = version + 1")


def test_lab1_a_release_that_deletes_the_row_is_refused():
    def release_sql():
        return "DELETE FROM distlab_locks WHERE name = :name AND owner = :owner AND version = :version"

    assert_loses(1, "release_sql", release_sql, "only an UPDATE of distlab_locks")


# The runs inside the checks catch the same bugs with the table of cases out of the way.
@pytest.mark.parametrize("seed", PUBLIC_SEEDS)
def test_lab1_the_race_run_catches_a_cas_that_ignores_the_row_count(seed):
    outcome = lab1._Run(seed, part="cas_won", won=lambda rowcount: True).run()
    assert outcome.passed is False and "互斥 broken" in outcome.message and "won the race" in outcome.message


@pytest.mark.parametrize("seed", PUBLIC_SEEDS)
def test_lab1_the_race_run_catches_an_is_free_that_ignores_the_holder(seed):
    outcome = lab1._Run(seed, part="lock_is_free", is_free=lambda owner, lease, now: True).run()
    assert outcome.passed is False and "lease running" in outcome.message


@pytest.mark.parametrize("seed", PUBLIC_SEEDS)
def test_lab1_the_race_run_passes_the_reference_and_races_for_real(seed):
    run = lab1._Run(seed, part="cas_won")
    assert run.run().passed is True
    assert any("slips in" in line for line in run.trace), "the rival never slipped in: the race is untested"


def test_lab1_the_crash_run_catches_a_lease_blind_is_free():
    outcome = lab1._crashed_holder(lambda owner, lease, now: owner is None, random.Random(1), 1)
    assert outcome.passed is False and "死锁" in outcome.message


def test_lab1_the_pause_run_catches_releases_that_are_too_broad_or_do_not_bump():
    blind = "UPDATE distlab_locks SET owner = NULL, version = version + 1 WHERE name = :name"
    no_bump = "UPDATE distlab_locks SET owner = NULL WHERE name = :name AND owner = :owner AND version = :version"
    assert "paused holder's late release" in lab1._replaced_holder(blind, random.Random(1), 1).message
    assert "互斥 broken" in lab1._replaced_holder(no_bump, random.Random(1), 1).message
    assert lab1._replaced_holder(RELEASE_SQL, random.Random(1), 1).passed is True


def test_lab1_the_deposit_run_catches_a_lost_update():
    db = lab1._Database()
    blind = "UPDATE distlab_accounts SET balance = :balance, version = version + 1 WHERE id = :id"
    outcome = lab1._deposits(db.conn, blind, random.Random(2), 2)
    assert outcome.passed is False and "更新丢失" in outcome.message


@pytest.mark.parametrize("sql, words", [
    ("ATTACH DATABASE '/tmp/distlab-evil.db' AS evil", "refused"),
    ("UPDATE distlab_accounts SET balance = :balance; DROP TABLE distlab_accounts", "one statement"),
    ("PRAGMA writable_schema = 1", "refused"),
    ("UPDATE distlab_locks SET owner = NULL", "refused"),
    ("SELECT balance FROM distlab_accounts", "not an UPDATE"),
    ("UPDATE distlab_accounts SET balance = length(randomblob(100000000))", "not authorized"),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) "
     "UPDATE distlab_accounts SET balance = (SELECT count(*) FROM r)", "refused"),
    ("UPDATE distlab_accounts SET balance = :balance WHERE id IN (SELECT name FROM sqlite_master)", "refused"),
    ("x" * 5000, "characters long"),
    (42, "must be a str"),
], ids=["attach", "two-statements", "pragma", "other-table", "select", "memory", "recursive", "schema",
        "too-long", "not-text"])
def test_lab1_the_grader_runs_only_an_update_of_the_labs_table(sql, words):
    conn = lab1._Database().conn
    with pytest.raises(lab1.SqlRefused, match=words):
        lab1.run_learner_sql(conn, sql, "distlab_accounts", {"id": "a", "balance": 1, "version": 0})
    assert not Path("/tmp/distlab-evil.db").exists()
    assert conn.execute("SELECT count(*) FROM distlab_accounts").fetchone() == (0,)


def test_lab1_a_runaway_statement_is_stopped():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE distlab_accounts (id TEXT, balance BIGINT, version BIGINT)")
    conn.execute("INSERT INTO distlab_accounts VALUES ('a', 0, 0)")
    slow = ("UPDATE distlab_accounts SET balance = (SELECT max(a.balance + b.balance + c.balance + d.balance) "
            "FROM distlab_accounts a, distlab_accounts b, distlab_accounts c, distlab_accounts d) + abs(:balance)")
    for _ in range(14):  # 2**14 rows: the four-way join needs ~7e16 steps
        conn.execute("INSERT INTO distlab_accounts SELECT id || 'x', balance, version FROM distlab_accounts")
    with pytest.raises(lab1.SqlRefused, match="ran too long"):
        lab1.run_learner_sql(conn, slow, "distlab_accounts", {"id": "a", "balance": 1, "version": 0})


# ================================================================ Lab 2: Redis ================
def test_lab2_a_set_without_nx_overwrites_the_holder():
    def acquire_command(key, token, ttl_ms):
        return ["SET", key, token, "PX", ttl_ms]

    assert_loses(2, "acquire_command", acquire_command, "互斥 broken", "NX")


def test_lab2_setnx_without_a_ttl_deadlocks_behind_a_crashed_holder():
    def acquire_command(key, token, ttl_ms):
        return ["SETNX", key, token]

    assert_loses(2, "acquire_command", acquire_command, "no expiry", "死锁")


def test_lab2_ex_with_milliseconds_keeps_the_key_a_thousand_times_too_long():
    def acquire_command(key, token, ttl_ms):
        return ["SET", key, token, "NX", "EX", ttl_ms]

    assert_loses(2, "acquire_command", acquire_command, "EX counts seconds")


def test_lab2_a_command_as_one_string_is_explained():
    def acquire_command(key, token, ttl_ms):
        return f"SET {key} {token} NX PX {ttl_ms}"

    assert_loses(2, "acquire_command", acquire_command, "list of words")


def test_lab2_a_release_that_deletes_without_checking_the_token_loses():
    def release_script():
        return "return redis.call('DEL', KEYS[1])"

    assert_loses(2, "release_script", release_script, "安全 broken", "ARGV[1]")


def test_lab2_a_release_that_checks_only_that_the_key_exists_loses():
    def release_script():
        return "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DEL', KEYS[1]) end return 0"

    assert_loses(2, "release_script", release_script, "安全 broken")


def test_lab2_a_release_that_returns_nothing_loses():
    def release_script():
        return "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end"

    assert_loses(2, "release_script", release_script, "number 1")


def test_lab2_a_release_that_compares_the_wrong_argument_refuses_the_holder():
    def release_script():
        return "if redis.call('GET', KEYS[1]) == ARGV[2] then return redis.call('DEL', KEYS[1]) end return 0"

    assert_loses(2, "release_script", release_script, "holder must be able to release")


def test_lab2_fencing_that_refuses_the_same_token_twice_loses():
    def token_accepted(highest_seen, token):
        return highest_seen is None or token > highest_seen

    assert_loses(2, "token_accepted", token_accepted, "the same holder writes again")


def test_lab2_fencing_that_accepts_everything_lets_the_paused_holder_write():
    def token_accepted(highest_seen, token):
        return True

    assert_loses(2, "token_accepted", token_accepted, "paused holder")


def test_lab2_fencing_that_forgets_the_first_write_loses():
    def token_accepted(highest_seen, token):
        return token >= highest_seen

    assert_loses(2, "token_accepted", token_accepted, "None before the first write")


@pytest.mark.parametrize("seed", PUBLIC_SEEDS)
def test_lab2_the_runs_catch_the_bugs_on_their_own(seed):
    run = lambda fn, *args: fn(*args, random.Random(seed), seed)  # noqa: E731
    no_nx = lambda key, token, ttl: ["SET", key, token, "PX", ttl]  # noqa: E731
    no_ttl = lambda key, token, ttl: ["SETNX", key, token]  # noqa: E731
    assert "互斥 broken" in run(lab2._acquire_run, no_nx).message
    assert "死锁" in run(lab2._acquire_run, no_ttl).message
    blind = "return redis.call('DEL', KEYS[1])"
    assert "安全 broken" in run(lab2._release_run, blind).message
    assert "安全 broken" in run(lab2._paused_holder, blind).message
    assert "the current holder must be able to write" in run(
        lab2._fenced_run, lambda highest, token: highest is None or token > highest).message
    assert run(lab2._release_run, RELEASE_SCRIPT).passed is True


def test_lab2_the_fenced_run_catches_a_store_that_accepts_everything():
    messages = [lab2._fenced_run(lambda highest, token: True, random.Random(s), s).message for s in PUBLIC_SEEDS]
    assert any("栅栏令牌" in m and "late write was accepted" in m for m in messages), messages


@pytest.mark.parametrize("script, words", [
    ("return python.eval('__import__(\"os\").getcwd()')", "'python' is not available"),
    ("return _G['python']", "'_G' is not available"),
    ("local t = redis return t", "use redis only as"),
    ("while true do end", "'while' is not allowed"),
    ("local function f() return f() end return f()", "'function' is not allowed"),
    ("return string.rep('x', 1000000000)", "'string' is not available"),
    ("return ('x')['rep']('x', 1000000000)", "index only KEYS and ARGV"),
    ("return ('x'):rep(1000000000)", "not allowed"),
    ("return redis.call(ARGV[1], KEYS[1])", "string literal"),
    ("return redis.call('SETRANGE', KEYS[1], 1000000000, 'x')", "allows only"),
    ("return loadstring('return 1')()", "'loadstring' is not available"),
    ("return tostring'x'", "parentheses"),
    ("return [[x]]", "long strings"),
    ("return {1, 2}", "not allowed"),
    ("local a = ARGV[1]" + " .. a" * 12 + " return 0", "too many"),
    ("return 1 --[[ a long\ncomment ]]", "long"),
    ("local KEYS = 1 return 0", "may not be called"),
], ids=["python", "G", "alias-redis", "loop", "recursion", "string-rep", "index-string", "method", "dynamic-command",
        "setrange", "loadstring", "call-without-parens", "long-string", "table", "concat-bomb", "long-comment",
        "shadow"])
def test_lab2_the_grader_refuses_lua_it_cannot_run_safely(script, words):
    problem = lab2.vet_lua(script)
    assert problem is not None and words in problem, problem


@pytest.mark.parametrize("script", [
    RELEASE_SCRIPT,
    # redis-py's Lock.LUA_RELEASE_SCRIPT
    "local token = redis.call('get', KEYS[1])\nif not token or token ~= ARGV[1] then\n    return 0\nend\n"
    "redis.call('del', KEYS[1])\nreturn 1\n",
    # the Redis SET page's pattern, with comments
    '-- compare and delete\nif redis.call("get",KEYS[1]) == ARGV[1] then\n    return redis.call("del",KEYS[1])\n'
    "else\n    return 0\nend",
    "local v = redis.pcall('GET', KEYS[1]); if v == ARGV[1] then redis.call('UNLINK', KEYS[1]) return 1 end return 0",
    "if tostring(redis.call('GET', KEYS[1])) == tostring(ARGV[1]) then return redis.call('DEL', KEYS[1]) end return 0",
], ids=["distlab", "redis-py", "redis-docs", "pcall-unlink", "tostring"])
def test_lab2_real_release_scripts_are_accepted_and_pass(script):
    assert lab2.vet_lua(script) is None
    assert all(o.passed is True for o in outcomes(2, "release_script", lambda: script)), \
        [o.message for o in outcomes(2, "release_script", lambda: script)]


# ================================================================ Lab 4: ZooKeeper ============
def _ranked(children):
    return sorted((c for c in children if parse_node(c)), key=lambda c: parse_node(c).seq)


def test_lab4_watching_the_lowest_node_causes_a_herd():
    def predecessor(children, me):  # every waiter watches the holder
        ranked = _ranked(children)
        return None if ranked[0] == me else ranked[0]

    assert_loses(4, "predecessor", predecessor, "羊群效应", "notifications per release")


def test_lab4_assuming_the_children_come_sorted_breaks_mutual_exclusion():
    def predecessor(children, me):  # getChildren promises no order; names start with random prefixes
        return None if children[0] == me else children[children.index(me) - 1]

    assert_loses(4, "predecessor", predecessor, "互斥 broken")


def test_lab4_sorting_by_name_instead_of_sequence_breaks_mutual_exclusion():
    def predecessor(children, me):
        ranked = sorted(c for c in children if "-lock-" in c)
        index = ranked.index(me)
        return None if index == 0 else ranked[index - 1]

    assert_loses(4, "predecessor", predecessor, "互斥 broken", "compare sequence numbers, not names")


def test_lab4_waiting_on_a_node_that_never_goes_deadlocks():
    def predecessor(children, me):  # holds only when alone, otherwise waits on the first other child
        others = [c for c in children if c != me]
        return others[0] if others else None

    assert_loses(4, "predecessor", predecessor, "死锁", "waits on")


def test_lab4_watching_the_parent_is_not_a_child_to_watch():
    def predecessor(children, me):  # "watch the lock node itself"
        return None if _ranked(children)[0] == me else "/locks/lab4"

    assert_loses(4, "predecessor", predecessor, "one of the children's names")


def test_lab4_watching_your_own_node_is_a_deadlock():
    def predecessor(children, me):
        return None if _ranked(children)[0] == me else me

    assert_loses(4, "predecessor", predecessor, "our own node", "死锁")


def test_lab4_a_sequence_parser_that_ignores_the_wrapped_counter_loses():
    def sequence_number(name):
        tail = name[-10:]
        return int(tail) if tail.isdigit() and name[:-10].endswith(("lock-", "read-", "write-")) else None

    assert_loses(4, "sequence_number", sequence_number, "wraps")


def test_lab4_a_sequence_parser_that_reads_every_digit_loses():
    def sequence_number(name):
        digits = "".join(ch for ch in name if ch.isdigit())
        return int(digits) if digits else None

    assert_loses(4, "sequence_number", sequence_number, "expected")


def test_lab4_a_sequence_parser_that_returns_text_loses():
    def sequence_number(name):
        return name[-10:]

    assert_loses(4, "sequence_number", sequence_number, "must return an int or None")


def test_lab4_a_read_lock_that_waits_for_readers_never_shares():
    def shared_predecessor(children, me):
        return predecessor(children, me, EXCLUSIVE)

    assert_loses(4, "shared_predecessor", shared_predecessor, "readers never held the lock together")


def test_lab4_a_writer_that_ignores_readers_breaks_exclusion():
    def shared_predecessor(children, me):
        return predecessor(children, me, SHARED)

    assert_loses(4, "shared_predecessor", shared_predecessor, "a writer must hold the lock alone")


def test_lab4_a_reader_that_does_not_count_lock_nodes_as_writers_loses():
    def shared_predecessor(children, me):
        blocked = frozenset({"write"}) if parse_node(me).kind == "read" else EXCLUSIVE
        return predecessor(children, me, blocked)

    assert_loses(4, "shared_predecessor", shared_predecessor, "lock-1")


def test_lab4_an_error_in_the_learners_choice_is_reported_as_such_not_as_a_deadlock():
    def predecessor(children, me):
        return {"lowest": None}[me]  # KeyError inside the simulated clients

    with pytest.raises(KeyError):  # the grader's runner reports "your code raised KeyError: ..."
        lab4.check_predecessor(predecessor, 1)


@pytest.mark.parametrize("seed", PUBLIC_SEEDS)
def test_lab4_the_reference_wakes_exactly_one_waiter_per_release(seed):
    decide = lab4._Decide(lambda children, me: predecessor(children, me), "reference")
    assert lab4.herd_run(decide, seed).passed is True
    assert lab4.counter_run(decide, seed).passed is True


# ================================================================ through the grader =========
@pytest.mark.parametrize("lab, part, code, words", [
    (1, "cas_won", "def cas_won(rowcount):\n    return True\n", "cas_won(0) returned True"),
    (2, "release_script", "def release_script():\n    return \"return redis.call('DEL', KEYS[1])\"\n", "安全 broken"),
    (4, "predecessor", "def predecessor(children, me):\n    ranked = sorted(children, key=sequence_number)\n"
                       "    return None if ranked[0] == me else ranked[0]\n", "羊群效应"),
], ids=["lab1-cas-ignores-rowcount", "lab2-blind-del", "lab4-watch-the-lowest"])
def test_a_mistake_loses_points_when_graded_in_the_sandbox(tmp_path, lab, part, code, words):
    submission = with_cell(ROOT / "solutions" / NOTEBOOKS[lab], part, code, tmp_path / "student.ipynb")
    result = grade_notebook(submission, only_part=part)
    (graded,) = result.parts
    assert graded.points == 0 < graded.max_points, graded.message
    failure = graded.first_failure()
    assert failure is not None and words in failure.outcome.message, failure.outcome.message
