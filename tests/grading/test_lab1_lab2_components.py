"""Labs 1 and 2, the whole-component parts: the learner writes the lock's SQL and Lua.

Lab 1's ``acquire_sql`` / ``extend_sql`` (with Part D's ``release_sql``: every statement
``DbLock`` sends) and Lab 2's ``extend_script`` / ``acquire_script`` (with Part B's
``release_script``: every script ``RedisLock`` sends, the fencing token's source included).

For each new part, at least five plausible mistakes — the bugs people write in office hours —
are run through the part's check directly (no sandbox), on the public seeds: each must lose
the part on at least one seed with a message that names the broken concept in the course's
words. Correct variants a careful learner may write must pass. Every failure message of Labs
1 and 2 names a concept (the table-row checks too, not only the simulations). The reference
statements and scripts run in the real recipe on PostgreSQL and real Redis (``real_server``).
"""

from __future__ import annotations

import threading
import time

import pytest

from distlab.grading import lab1, lab2
from distlab.grading.parts import LABS, PUBLIC_SEEDS, load_all
from distlab.grading.withheld import REFERENCE_ANSWERS
from distlab.locks import DbLock, FencedStore, LockLost, ManualClock, RedisLock, token_accepted
from distlab.locks.db import CAS_ACQUIRE, CAS_EXTEND, CAS_RELEASE, PostgresDb, _named_to_pyformat
from distlab.locks.redis import ACQUIRE_SCRIPT, EXTEND_SCRIPT, RELEASE_SCRIPT

from tests.grading.test_lock_labs import solutions

CONCEPTS = ("互斥", "死锁", "安全", "栅栏令牌", "锁续期", "更新丢失")
CHECKS = {1: lab1, 2: lab2}
NEW_PARTS = {1: ["acquire_sql", "extend_sql"], 2: ["extend_script", "acquire_script"]}


def outcomes(lab: int, part: str, text: str, seeds=PUBLIC_SEEDS) -> list:
    check = getattr(CHECKS[lab], f"check_{part}")
    return [check(lambda: text, seed) for seed in seeds]


def assert_loses(lab: int, part: str, text: str, *words: str) -> None:
    failed = [o for o in outcomes(lab, part, text) if o.passed is not True]
    assert failed, f"this mistake passed every public seed of {part}:\n{text}"
    for outcome in failed:
        assert any(c in outcome.message for c in CONCEPTS), f"no concept named: {outcome.message}"
        for word in words:
            assert word in outcome.message, f"{word!r} not in the message: {outcome.message}"


def assert_passes(lab: int, part: str, text: str) -> None:
    results = outcomes(lab, part, text)
    assert all(o.passed is True for o in results), [o.message for o in results]


# ------------------------------------------------------------------ registry and references --
def test_the_new_parts_are_registered_withheld_and_pass_with_the_reference():
    load_all()
    for lab, parts in NEW_PARTS.items():
        for part in parts:
            assert part in LABS[lab].parts and LABS[lab].parts[part].points > 0
            assert REFERENCE_ANSWERS[lab][part], f"{part} withholds nothing"
    assert_passes(1, "acquire_sql", CAS_ACQUIRE)
    assert_passes(1, "extend_sql", CAS_EXTEND)
    assert_passes(1, "release_sql", CAS_RELEASE)
    assert_passes(2, "extend_script", EXTEND_SCRIPT)
    assert_passes(2, "acquire_script", ACQUIRE_SCRIPT)
    assert_passes(2, "release_script", RELEASE_SCRIPT)


@pytest.mark.parametrize("lab, part", [(lab, part) for lab, parts in NEW_PARTS.items() for part in parts])
def test_the_solution_notebooks_answer_passes_and_a_check_cell_answers_in_3_s(lab, part):
    fn = solutions(lab)[part]
    started = time.monotonic()
    results = [getattr(CHECKS[lab], f"check_{part}")(fn, seed) for seed in PUBLIC_SEEDS]
    assert time.monotonic() - started < 3.0
    assert all(o.passed is True for o in results), [o.message for o in results]


# ------------------------------------------------------------------ Lab 1: acquire_sql -------
U = "UPDATE distlab_locks SET "
ACQUIRE_OK = "owner = :owner, version = version + 1, lease_until = :lease_until"


def test_lab1_acquire_without_the_version_lets_a_rival_in():
    assert_loses(1, "acquire_sql", U + ACQUIRE_OK + " WHERE name = :name", "互斥", "version = :version")


def test_lab1_acquire_that_does_not_move_the_version_on_loses():
    assert_loses(1, "acquire_sql", U + "owner = :owner, lease_until = :lease_until WHERE name = :name AND "
                 "version = :version", "互斥", "version = version + 1")


def test_lab1_acquire_without_a_lease_deadlocks_behind_a_crash():
    assert_loses(1, "acquire_sql", U + "owner = :owner, version = version + 1 WHERE name = :name AND "
                 "version = :version", "死锁", "lease_until = :lease_until")


def test_lab1_acquire_that_only_takes_unowned_rows_never_replaces_a_crashed_holder():
    assert_loses(1, "acquire_sql", U + ACQUIRE_OK + " WHERE name = :name AND version = :version AND "
                 "owner IS NULL", "死锁", "owner IS NULL")


def test_lab1_acquire_comparing_the_lease_with_lt_instead_of_le_loses():
    assert_loses(1, "acquire_sql", U + ACQUIRE_OK + " WHERE name = :name AND version = :version AND "
                 "(owner IS NULL OR lease_until < :now)", "死锁", "<=")


def test_lab1_acquire_without_the_name_takes_other_locks():
    assert_loses(1, "acquire_sql", U + ACQUIRE_OK + " WHERE version = :version", "互斥", "name = :name")


def test_lab1_acquire_with_a_lease_ending_now_lets_the_next_client_in():
    assert_loses(1, "acquire_sql", U + "owner = :owner, version = version + 1, lease_until = :now "
                 "WHERE name = :name AND version = :version", "互斥")


def test_lab1_acquire_that_forgets_the_owner_loses():
    assert_loses(1, "acquire_sql", U + "version = version + 1, lease_until = :lease_until WHERE name = :name "
                 "AND version = :version", "互斥", "owner = :owner")


def test_lab1_acquire_with_positional_placeholders_is_explained_with_the_concept():
    assert_loses(1, "acquire_sql", U + "owner = ?, version = version + 1, lease_until = ? WHERE name = ? AND "
                 "version = ?", "named parameters")


def test_lab1_acquire_that_also_checks_the_lease_itself_passes():
    assert_passes(1, "acquire_sql", U + ACQUIRE_OK + " WHERE name = :name AND version = :version AND "
                  "(owner IS NULL OR lease_until <= :now)")


def test_lab1_acquire_that_deletes_or_reads_other_tables_is_refused():
    assert_loses(1, "acquire_sql", "DELETE FROM distlab_locks WHERE name = :name", "only an UPDATE")
    assert_loses(1, "acquire_sql", U + "owner = (SELECT balance FROM distlab_accounts) WHERE name = :name",
                 "SQLite refused")


# ------------------------------------------------------------------ Lab 1: extend_sql --------
EXTEND_SET = "version = version + 1, lease_until = :lease_until"


def test_lab1_renewal_by_name_only_renews_anybodys_lock():
    assert_loses(1, "extend_sql", U + EXTEND_SET + " WHERE name = :name", "安全", "owner = :owner")


def test_lab1_renewal_that_ignores_the_version_renews_a_newer_grant():
    assert_loses(1, "extend_sql", U + EXTEND_SET + " WHERE name = :name AND owner = :owner", "安全",
                 "version = :version")


def test_lab1_renewal_that_ignores_the_owner_lets_a_stranger_renew():
    assert_loses(1, "extend_sql", U + EXTEND_SET + " WHERE name = :name AND version = :version", "安全")


def test_lab1_renewal_that_does_not_move_the_version_lets_a_rival_take_over():
    assert_loses(1, "extend_sql", U + "lease_until = :lease_until WHERE name = :name AND owner = :owner AND "
                 "version = :version", "互斥", "version = version + 1")


def test_lab1_renewal_that_does_not_move_the_lease_loses_the_lock():
    assert_loses(1, "extend_sql", U + "version = version + 1 WHERE name = :name AND owner = :owner AND "
                 "version = :version", "锁续期", "lease_until = :lease_until")


def test_lab1_renewal_to_now_loses_the_lock():
    assert_loses(1, "extend_sql", U + "version = version + 1, lease_until = :now WHERE name = :name AND "
                 "owner = :owner AND version = :version", "锁续期")


def test_lab1_renewal_without_the_name_renews_other_locks():
    assert_loses(1, "extend_sql", U + EXTEND_SET + " WHERE owner = :owner AND version = :version", "锁续期",
                 "name = :name")


def test_lab1_renewal_that_refuses_an_expired_lease_is_safe_and_passes():
    assert_passes(1, "extend_sql", U + EXTEND_SET + " WHERE name = :name AND owner = :owner AND "
                  "version = :version AND lease_until > :now")


def test_lab1_the_late_renewal_race_on_its_own_catches_a_renewal_without_version_bump():
    import random

    sql = U + "lease_until = :lease_until WHERE name = :name AND owner = :owner AND version = :version"
    outcome = lab1._renewal_race(sql, random.Random(1), 1)
    assert outcome.passed is False and "互斥 broken" in outcome.message and "rival" in outcome.excerpt


# ------------------------------------------------------------------ Lab 2: extend_script -----
GET = "redis.call('GET', KEYS[1]) == ARGV[1]"


def test_lab2_renewal_without_token_check_extends_someone_elses_lock():
    assert_loses(2, "extend_script", "return redis.call('PEXPIRE', KEYS[1], ARGV[2])", "安全", "someone else")


def test_lab2_renewal_that_checks_only_that_the_key_exists_loses():
    assert_loses(2, "extend_script", "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('PEXPIRE', "
                 "KEYS[1], ARGV[2]) end return 0", "安全")


def test_lab2_renewal_with_set_overwrites_the_other_holder():
    assert_loses(2, "extend_script", "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1", "互斥")


def test_lab2_renewal_with_expire_counts_seconds():
    assert_loses(2, "extend_script", f"if {GET} then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end return 0",
                 "锁续期", "EXPIRE counts seconds")


def test_lab2_renewal_that_brings_an_expired_key_back_loses():
    assert_loses(2, "extend_script", "local v = redis.call('GET', KEYS[1]) if v == ARGV[1] or not v then "
                 "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0", "安全", "gone")


def test_lab2_renewal_that_returns_nothing_loses():
    assert_loses(2, "extend_script", f"if {GET} then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end", "锁续期")


def test_lab2_renewal_comparing_the_wrong_argument_refuses_the_holder():
    assert_loses(2, "extend_script", "if redis.call('GET', KEYS[1]) == ARGV[2] then return redis.call('PEXPIRE', "
                 "KEYS[1], ARGV[2]) end return 0", "锁续期")


def test_lab2_renewal_with_a_fixed_ttl_ignores_the_callers():
    assert_loses(2, "extend_script", f"if {GET} then return redis.call('PEXPIRE', KEYS[1], 10000) end return 0",
                 "锁续期")


def test_lab2_renewal_with_set_xx_after_the_check_passes():
    assert_passes(2, "extend_script", f"if {GET} then redis.call('SET', KEYS[1], ARGV[1], 'XX', 'PX', ARGV[2]) "
                  f"return 1 end return 0")


# ------------------------------------------------------------------ Lab 2: acquire_script ----
SETNX = "redis.call('SET', KEYS[1], ARGV[1], 'NX', ARGV[2], ARGV[3])"


def test_lab2_grant_without_nx_overwrites_the_holder():
    assert_loses(2, "acquire_script", "redis.call('SET', KEYS[1], ARGV[1], ARGV[2], ARGV[3]) "
                 "return redis.call('INCR', KEYS[2])", "互斥", "NX")


def test_lab2_grant_without_expiry_deadlocks():
    assert_loses(2, "acquire_script", "if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return "
                 "redis.call('INCR', KEYS[2]) end return 0", "死锁")


def test_lab2_token_returned_without_the_grant_loses():
    assert_loses(2, "acquire_script", f"local t = redis.call('INCR', KEYS[2]) {SETNX} return t", "互斥",
                 "a token is given only with the lock")


def test_lab2_a_success_flag_is_no_fencing_token():
    assert_loses(2, "acquire_script", f"if {SETNX} then return 1 end return 0", "栅栏令牌", "grow")


def test_lab2_reading_the_counter_without_incr_is_no_fencing_token():
    assert_loses(2, "acquire_script", f"if {SETNX} then return redis.call('GET', KEYS[2]) end return 0", "栅栏令牌")


def test_lab2_a_fence_counter_with_a_ttl_restarts_and_loses():
    assert_loses(2, "acquire_script", f"if {SETNX} then local t = redis.call('INCR', KEYS[2]) "
                 f"redis.call('PEXPIRE', KEYS[2], ARGV[3]) return t end return 0", "栅栏令牌", "never expire")


def test_lab2_incr_of_the_lock_key_fails_inside_redis():
    assert_loses(2, "acquire_script", f"if {SETNX} then return redis.call('INCR', KEYS[1]) end return 0",
                 "failed inside Redis")


def test_lab2_a_fence_key_that_was_not_given_is_refused():
    assert_loses(2, "acquire_script", f"if {SETNX} then return redis.call('INCR', 'fence') end return 0",
                 "only the keys it is given")


def test_lab2_hard_coded_px_ignores_the_unit():
    assert_loses(2, "acquire_script", "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[3]) then return "
                 "redis.call('INCR', KEYS[2]) end return 0", "ARGV[2] is the unit")


def test_lab2_nil_when_not_granted_loses():
    assert_loses(2, "acquire_script", f"if {SETNX} then return redis.call('INCR', KEYS[2]) end", "互斥")


def test_lab2_incr_first_inside_the_same_script_is_still_safe_and_passes():
    # Inside one atomic script the order does not matter: tokens still follow the grants.
    assert_passes(2, "acquire_script", f"local t = redis.call('INCR', KEYS[2]) if {SETNX} then return t end return 0")


def test_lab2_the_fenced_run_on_its_own_catches_tokens_that_do_not_grow():
    import random

    outcome = lab2._fencing_source_run(f"if {SETNX} then return 7 end return 0", random.Random(2), 2)
    assert outcome.passed is False and "栅栏令牌" in outcome.message


# ------------------------------------------------------------------ every message names its concept
OLD_MISTAKES = [
    (1, "cas_won", lambda rowcount: rowcount >= 0),
    (1, "cas_won", lambda rowcount: rowcount != 0),
    (1, "lock_is_free", lambda owner, lease_until, now: owner is None),
    (1, "lock_is_free", lambda owner, lease_until, now: owner is None or lease_until < now),
    (1, "cas_update_sql", lambda: "UPDATE distlab_accounts SET balance = :balance WHERE id = :id"),
    (1, "release_sql", lambda: "UPDATE distlab_locks SET owner = NULL WHERE name = :name"),
    (2, "acquire_command", lambda key, token, ttl_ms: ["SET", key, token]),
    (2, "acquire_command", lambda key, token, ttl_ms: "SET"),
    (2, "release_script", lambda: "return redis.call('DEL', KEYS[1])"),
    (2, "token_accepted", lambda highest, token: True),
    (2, "token_accepted", lambda highest, token: highest is None or token > highest),
]


@pytest.mark.parametrize("lab, part, fn", OLD_MISTAKES)
def test_table_row_failures_of_the_first_parts_name_the_concept_too(lab, part, fn):
    check = getattr(CHECKS[lab], f"check_{part}")
    failed = [o for o in (check(fn, seed) for seed in PUBLIC_SEEDS) if o.passed is not True]
    assert failed
    for outcome in failed:
        assert any(c in outcome.message for c in CONCEPTS), outcome.message


# ------------------------------------------------------------------ named parameters ---------
def test_named_parameters_become_psycopg_placeholders_outside_strings_and_casts():
    assert _named_to_pyformat("UPDATE t SET a = ':x', b = :y::int WHERE c LIKE '10%' AND d = :z") == \
        "UPDATE t SET a = ':x', b = %(y)s::int WHERE c LIKE '10%%' AND d = %(z)s"


# ------------------------------------------------------------------ the real servers ---------
def _contend(make_lock, clients: int = 4, rounds: int = 10) -> tuple[int, list[int]]:
    counter = [0]
    tokens: list[int] = []

    def client(n: int) -> None:
        lock = make_lock(n)
        for _ in range(rounds):
            with lock:
                tokens.append(lock.token)
                value = counter[0]
                lock.extend()
                time.sleep(0.0005)
                counter[0] = value + 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counter[0], tokens


@pytest.mark.real_server
def test_the_learners_sql_runs_on_postgresql_under_contention_and_a_paused_holder():
    from tests.locks.conftest import PG_DSN, require

    require("postgres")
    import uuid

    answers = solutions(1)
    statements = dict(acquire_sql=answers["acquire_sql"](), extend_sql=answers["extend_sql"](),
                      release_sql=answers["release_sql"]())
    name = f"components-{uuid.uuid4().hex[:8]}"
    dbs = []

    def make_lock(n: int) -> DbLock:
        db = PostgresDb(PG_DSN)
        dbs.append(db)
        return DbLock(db, name, clock=time, ttl=5, poll=0.002, identifier=f"c{n}", **statements)

    try:
        counter, tokens = _contend(make_lock)
        assert counter == 40 and tokens == sorted(set(tokens))
        # A holder paused past its lease is replaced; its late renewal and release change nothing.
        clock = ManualClock()
        db = PostgresDb(PG_DSN)
        dbs.append(db)
        old, new = (DbLock(db, name + "-pause", clock=clock, ttl=5, identifier=n, **statements) for n in ("old", "new"))
        assert old.acquire(blocking=False)
        clock.advance(6)
        assert new.acquire(blocking=False) and new.token > old.token
        with pytest.raises(LockLost):
            old.extend()
        assert new.is_held()
        new.extend()
        new.release()
    finally:
        for db in dbs:
            db.close()


@pytest.mark.real_server
def test_the_learners_lua_runs_on_real_redis_with_fencing():
    from tests.locks.conftest import REDIS_URL, require

    require("redis")
    import uuid

    import redis

    answers = solutions(2)
    scripts = dict(acquire_script=answers["acquire_script"](), extend_script=answers["extend_script"](),
                   release_script=answers["release_script"]())
    name = f"components-{uuid.uuid4().hex[:8]}"
    clients = []

    def make_lock(n: int) -> RedisLock:
        client = redis.Redis.from_url(REDIS_URL)
        clients.append(client)
        return RedisLock(client, name, clock=time, ttl=5, poll=0.001, **scripts)

    try:
        counter, tokens = _contend(make_lock)
        assert counter == 40 and tokens == sorted(set(tokens))
        # A paused holder: its key expires for real; the successor's token is higher and fences it out.
        store = FencedStore(accept=token_accepted)
        old, new = make_lock(0), make_lock(1)
        old.ttl, old._ttl_arg = 0.2, 200
        assert old.acquire(blocking=False)
        time.sleep(0.35)
        assert new.acquire(blocking=False) and new.token > old.token
        store.write("report", "new", token=new.token)
        with pytest.raises(LockLost):
            old.extend()
        assert new.is_held()
        with pytest.raises(Exception):
            store.write("report", "old", token=old.token)
        new.release()
        clients[0].delete(name + ":fence")
    finally:
        for client in clients:
            client.close()
