"""Lab 2 — the Redis lock: ``SET key token NX PX ttl``, a Lua release, expiry, fencing tokens.

Three parts, each checked on cases drawn from the seed and then run with the real pieces:

- ``acquire_command`` (互斥, 死锁): the learner's command is sent, as given, to the grader's
  own fakeredis by competing clients; some holders crash and never release. The grader
  plays Redis's clock: it reads the key's TTL right after a grant and expires the key when
  the simulated time passes it, so runs are deterministic and never wait.
- ``release_script`` (安全): the learner's Lua runs inside :class:`distlab.locks.RedisLock`
  (its ``release_script=``) on the grader's fakeredis; holders pause past their TTL, get
  replaced, and release late.
- ``token_accepted`` (栅栏令牌, fencing): plugged into :class:`distlab.locks.FencedStore` as
  ``accept=``; paused holders wake up and write after their successor did.

A release script is text the grader runs. fakeredis runs Lua without Redis's sandbox (its
runtime can reach Python), so the grader first vets the script's tokens: straight-line Lua
only (``if``/``local``/``return``, no loops, functions, tables, method calls or globals other
than ``KEYS``, ``ARGV``, ``redis``, ``tonumber``, ``tostring``, ``type``), and ``redis.call`` /
``redis.pcall`` with a literal command from a short list. Such a script ends in a bounded
number of steps, allocates little, and reaches nothing but the grader's throw-away server.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

from distlab.grading.parts import Outcome, Part, register, Verdict, named, verdict_fail, verdicts
from distlab.locks.api import FencedStore, LockLost, ManualClock, StaleToken, token_accepted
from distlab.locks.redis import RELEASE_SCRIPT, RedisLock

KEY = "lock:orders"
LONG_TTL = 1000.0  # seconds: RedisLock's keys in the grader never expire by themselves
ACQUIRE_COMMANDS = ("SET", "SETNX", "SETEX", "PSETEX")
RELEASE_COMMANDS = ("GET", "DEL", "UNLINK", "EXISTS", "PTTL", "TTL", "TYPE")
MAX_SCRIPT = 2000




def _server() -> Any:
    import fakeredis

    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


# ------------------------------------------------------------------ vetting Lua ---------------
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<long>--\[=*\[|\[=*\[)
  | (?P<comment>--[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>0[xX][0-9a-fA-F]+|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\.\.\.|\.\.|==|~=|<=|>=|[-+*/%^#<>=(),;\[\].:{}])
""", re.VERBOSE | re.DOTALL)
_KEYWORDS = frozenset({"if", "then", "else", "elseif", "end", "return", "local", "and", "or", "not",
                       "nil", "true", "false"})
_FORBIDDEN_KEYWORDS = frozenset({"while", "for", "repeat", "until", "function", "goto", "do", "break", "in"})
_GLOBALS = frozenset({"KEYS", "ARGV", "redis", "tonumber", "tostring", "type"})
_REDIS_FIELDS = frozenset({"call", "pcall", "error_reply", "status_reply"})


def vet_lua(script: str, commands: tuple[str, ...] = RELEASE_COMMANDS, keys: int | None = None) -> str | None:
    """Why the grader will not run ``script`` (None: it may). See the module docstring.

    With ``keys``, every ``redis.call`` must name its key as ``KEYS[1]`` .. ``KEYS[keys]``: a
    script touches only the keys it is given (as Redis Cluster requires, too).
    """
    if len(script) > MAX_SCRIPT:
        return f"the script is {len(script)} characters long; a release needs a few lines (limit {MAX_SCRIPT})"
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(script):
        match = _TOKEN.match(script, position)
        if match is None:
            return f"the grader cannot read the script at {script[position:position + 20]!r}"
        position = match.end()
        kind = match.lastgroup
        if kind in ("space", "comment"):
            continue
        if kind == "long":
            return "long strings and long comments ([[ ... ]]) are not needed in a release script"
        tokens.append((kind, match.group()))
    if len(tokens) > 400:
        return f"the script has {len(tokens)} tokens; a release needs a few dozen"
    local_names = set()
    for i, (kind, text) in enumerate(tokens):
        if (kind, text) == ("name", "local"):
            j = i + 1
            while j < len(tokens) and tokens[j][0] == "name" and tokens[j][1] not in _FORBIDDEN_KEYWORDS:
                local_names.add(tokens[j][1])
                if j + 1 < len(tokens) and tokens[j + 1] == ("op", ","):
                    j += 2
                else:
                    break
    clash = local_names & (_KEYWORDS | _FORBIDDEN_KEYWORDS | _GLOBALS)
    if clash:
        return f"a local may not be called {sorted(clash)[0]!r}"
    concats = 0
    for i, (kind, text) in enumerate(tokens):
        before = tokens[i - 1] if i else ("op", "")
        after = tokens[i + 1] if i + 1 < len(tokens) else ("op", "")
        if kind == "name":
            if text in _FORBIDDEN_KEYWORDS:
                return (f"the grader runs straight-line release scripts only: '{text}' is not allowed "
                        f"(a release needs no loops or functions)")
            if text == "redis":
                if after != ("op", ".") or i + 3 >= len(tokens) or tokens[i + 2][1] not in _REDIS_FIELDS \
                        or tokens[i + 3] != ("op", "("):
                    return "use redis only as redis.call(...), redis.pcall(...) or redis.error_reply(...)"
                if tokens[i + 2][1] in ("call", "pcall"):
                    command = tokens[i + 4] if i + 4 < len(tokens) else ("op", "")
                    if command[0] != "string":
                        return "name the Redis command as a string literal: redis.call('GET', KEYS[1])"
                    name = command[1][1:-1].upper()
                    if name not in commands:
                        return (f"the grader allows only {', '.join(commands)} in this script, "
                                f"not {command[1]}")
                    if keys is not None:
                        key = tokens[i + 5:i + 10]
                        allowed = [f"KEYS[{n}]" for n in range(1, keys + 1)]
                        if len(key) < 5 or key[0] != ("op", ",") or key[1] != ("name", "KEYS") or \
                                key[2] != ("op", "[") or key[4] != ("op", "]") or \
                                key[3][1] not in [str(n) for n in range(1, keys + 1)]:
                            return (f"every redis.call names its key as {' or '.join(allowed)}: a script may touch "
                                    f"only the keys it is given ({command[1]} does not)")
            elif before == ("op", "."):
                if text not in _REDIS_FIELDS or i < 2 or tokens[i - 2] != ("name", "redis"):
                    return f"'.{text}' is not allowed: only redis.call / redis.pcall and the reply helpers"
            elif text not in _KEYWORDS and text not in _GLOBALS and text not in local_names:
                return (f"'{text}' is not available to the grader's release scripts (use KEYS, ARGV, "
                        f"redis.call, tonumber, tostring and your own locals)")
        elif kind == "string":
            if before[0] == "name" and before[1] not in _KEYWORDS or before in (("op", ")"), ("op", "]")):
                return "call functions with parentheses: f('x'), not f 'x'"
        elif kind == "op":
            if text in (":", "{", "}", "..."):
                return f"'{text}' is not allowed in the grader's release scripts (no methods, tables or varargs)"
            if text == "[" and before not in (("name", "KEYS"), ("name", "ARGV")):
                return "index only KEYS and ARGV: KEYS[1], ARGV[1]"
            if text == "." and before != ("name", "redis"):
                return "'.' is allowed only in redis.call / redis.pcall"
            if text == "(" and before[0] == "name" and before[1] not in _KEYWORDS:
                callee = before[1]
                if callee not in ("tonumber", "tostring", "type") and not (
                        i >= 2 and tokens[i - 2] == ("op", ".")):
                    return f"'{callee}(...)' cannot be called here: only redis.call, tonumber, tostring and type"
            if text == "(" and before in (("op", ")"), ("op", "]")) or text == "(" and before[0] == "string":
                return "only named functions may be called"
            if text == "..":
                concats += 1
                if concats > 8:
                    return "too many '..' concatenations for a release script"
    return None


def _interleave(tasks: dict, rng: random.Random, steps: int = 5000) -> list[str]:
    """Step seeded-random clients (generators) one yield at a time, as contending processes
    interleave; return the names still unfinished after ``steps`` (empty when all finished).
    A Verdict raised inside a client passes through."""
    for _ in range(steps):
        if not tasks:
            return []
        name = rng.choice(sorted(tasks))
        try:
            next(tasks[name])
        except StopIteration:
            del tasks[name]
    return sorted(tasks)


# ------------------------------------------------------------------ A: acquire_command -------
def _acquire_words(fn: Any, key: str, token: str, ttl_ms: int) -> list:
    got = fn(key, token, ttl_ms)
    call = f"acquire_command({key!r}, {token!r}, {ttl_ms})"
    if not isinstance(got, (list, tuple)) or not got:
        raise verdict_fail(f"{call} must return the command as a list of words, e.g. ['SET', key, token, ...]; got {got!r}")
    if len(got) > 10:
        raise verdict_fail(f"{call} returned {len(got)} words; one SET needs six")
    for word in got:
        if type(word) not in (str, int):
            raise verdict_fail(f"{call}: every word must be a str or an int, got {word!r} ({type(word).__name__})")
        if isinstance(word, str) and len(word) > 200:
            raise verdict_fail(f"{call}: a word of {len(word)} characters is too long")
    if not isinstance(got[0], str) or got[0].upper() not in ACQUIRE_COMMANDS:
        raise verdict_fail(f"{call} returned {list(got)!r}: take the lock with one SET command "
                    f"(the grader accepts {', '.join(ACQUIRE_COMMANDS)})")
    return list(got)


def _send(client: Any, words: list) -> Any:
    try:
        return client.execute_command(*words)
    except Exception as error:  # redis.ResponseError: the command itself is malformed
        raise verdict_fail(f"Redis refused {words!r}: {error}") from None


def _set_and_ttl(client: Any, words: list) -> tuple[Any, int, int]:
    """Send the command; return its reply, the key's PTTL right after, and the real ms between."""
    started = time.monotonic()
    reply = _send(client, words)
    pttl = client.pttl(KEY)
    return reply, pttl, int((time.monotonic() - started) * 1000) + 1


def _expiry_problem(pttl: int, ttl_ms: int, words: list, elapsed_ms: int = 0) -> str | None:
    if pttl == -1:
        return (f"after {words!r} the key has no expiry: a holder that crashes keeps the lock forever "
                f"(死锁). Give the key a TTL in the same command (PX milliseconds, or EX seconds)")
    if pttl > ttl_ms:
        return (f"after {words!r} the key lives {pttl} ms, but ttl_ms is {ttl_ms}: PX counts milliseconds, "
                f"EX counts seconds")
    if pttl < ttl_ms - elapsed_ms:
        return f"after {words!r} the key expires after {pttl} ms, sooner than ttl_ms = {ttl_ms}"
    return None


@verdicts
def check_acquire_command(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab2/acquire_command/{seed}")
    ttl_ms = rng.choice((1500, 2000, 2500, 3000, 5000, 10000))
    client = _server()
    try:
        first = _acquire_words(fn, KEY, "token-a", ttl_ms)
        reply, pttl, elapsed = _set_and_ttl(client, first)
        if not reply or _text(client.get(KEY)) != "token-a":
            return Outcome.fail(f"nobody held {KEY!r}; {first!r} should have set it to 'token-a', but the reply was "
                                f"{reply!r} and the key holds {_text(client.get(KEY))!r}")
        problem = _expiry_problem(pttl, ttl_ms, first, elapsed)
        if problem:
            return Outcome.fail(problem)
        before = client.pttl(KEY)
        second = _acquire_words(fn, KEY, "token-b", ttl_ms)
        reply = _send(client, second)
        if _text(client.get(KEY)) != "token-a":
            return Outcome.fail(f"互斥 broken: {KEY!r} was held by 'token-a'; {second!r} overwrote it with "
                                f"{_text(client.get(KEY))!r}. Set the key only if it does not exist (NX)")
        if reply:
            return Outcome.fail(f"{second!r} left the key alone but Redis answered {reply!r}: a client reading that "
                                f"answer would believe it holds the lock")
        if client.pttl(KEY) > before:
            return Outcome.fail(f"{second!r} did not take the lock but extended the holder's TTL")
    except Verdict as verdict:
        return verdict.outcome
    finally:
        client.close()
    return _acquire_run(fn, rng, seed)


def _acquire_run(fn: Any, rng: random.Random, seed: int) -> Outcome:
    """Clients take the lock with the learner's command; some holders crash; Redis expires keys."""
    client = _server()
    clients = [f"c{i + 1}" for i in range(rng.randint(3, 5))]
    crashers = set(rng.sample(clients, rng.randint(1, 2)))
    # Long TTLs, so fakeredis's own (real-time) expiry never fires during a run; the grader
    # expires keys on the simulated clock, which moves ttl/15 per step.
    ttl_ms = rng.choice((15_000, 20_000, 30_000))
    step_ms = ttl_ms // 15
    now = 0  # simulated ms: the grader is Redis's clock
    deadline: int | None = None  # when the current key expires
    holding: dict[str, int] = {}  # client -> when its grant's key expires (None: never)
    left = {c: rng.randint(1, 3) for c in clients}
    trace: list[str] = []
    tries = 0

    def work(name: str):
        nonlocal deadline, tries
        while left[name]:
            tries += 1
            token = f"{name}-{tries}"
            words = _acquire_words(fn, KEY, token, ttl_ms)
            reply, pttl, elapsed = _set_and_ttl(client, words)
            if not reply:
                yield
                continue
            if _text(client.get(KEY)) != token:
                raise verdict_fail(f"{name}'s command {words!r} was answered {reply!r} but the key holds "
                            f"{_text(client.get(KEY))!r}", "\n".join(trace[-8:]))
            problem = _expiry_problem(pttl, ttl_ms, words, elapsed)
            for other, until in holding.items():
                if other != name and (until is None or until > now):
                    raise verdict_fail(f"互斥 broken: at t={now} ms {name} was granted the lock while {other} held it "
                                f"(its key ran until {'forever' if until is None else f't={until} ms'}) "
                                f"(seed {seed})", "\n".join(trace[-8:] + [f"t={now} {name}: {words!r} -> {reply!r}"]))
            deadline = None if pttl < 0 else now + pttl
            holding[name] = deadline
            trace.append(f"t={now} ms {name} takes the lock with {words!r}")
            if problem and pttl != -1:
                raise verdict_fail(problem)
            if name in crashers:
                crashers.discard(name)
                trace.append(f"t={now} ms {name} crashes while holding the lock")
                return  # its grant stays in `holding`: the key is the lock until it expires
            for _ in range(rng.randint(1, 4)):
                yield
            if client.eval(RELEASE_SCRIPT, 1, KEY, token):
                trace.append(f"t={now} ms {name} releases")
            holding.pop(name, None)
            left[name] -= 1
            yield

    tasks = {name: work(name) for name in clients}
    budget_ms = 60 * ttl_ms
    first = sorted(crashers)[0]  # a crasher goes first: everyone else must get past its grant
    try:
        for _ in tasks[first]:
            break  # one step: its first grant (then it crashes, or holds on)
        else:
            del tasks[first]
        while tasks:
            if now > budget_ms:
                waiting = sorted(tasks)
                return Outcome.fail(f"死锁: {waiting} were still waiting for the lock {now / 1000:g} s into the run; "
                                    f"the last grant's key {'never expires' if deadline is None else 'expired'} "
                                    f"(seed {seed}). A crashed holder's key must expire by itself: give it a TTL",
                                    "\n".join(trace[-8:]))
            name = rng.choice(sorted(tasks))
            try:
                next(tasks[name])
            except StopIteration:
                del tasks[name]
            now += step_ms
            if deadline is not None and now >= deadline and client.exists(KEY):
                client.delete(KEY)  # the TTL ran out on the (simulated) server clock
                trace.append(f"t={now} ms the key expires")
                deadline = None
    except Verdict as verdict:
        return verdict.outcome
    finally:
        client.close()
    return Outcome.ok()


# ------------------------------------------------------------------ B: release_script --------
def _script(fn: Any) -> str:
    script = fn()
    if not isinstance(script, str):
        raise verdict_fail(f"release_script() must return the Lua script as a str, got {script!r} ({type(script).__name__})")
    problem = vet_lua(script, keys=1)
    if problem:
        raise verdict_fail(f"the grader will not run this script: {problem}")
    return script


def _eval(client: Any, script: str, *args: str) -> Any:
    try:
        return client.eval(script, 1, *args)
    except Exception as error:
        raise verdict_fail(f"your script failed inside Redis: {error}") from None


@verdicts
def check_release_script(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab2/release_script/{seed}")
    try:
        script = _script(fn)
        outcome = _release_cases(script, rng)
        if outcome.passed is not True:
            return outcome
        outcome = _paused_holder(script, rng, seed)
        if outcome.passed is not True:
            return outcome
        return _release_run(script, rng, seed)
    except Verdict as verdict:
        return verdict.outcome


def _release_cases(script: str, rng: random.Random) -> Outcome:
    client = _server()
    mine, theirs = f"{rng.getrandbits(64):016x}", f"{rng.getrandbits(64):016x}"
    ttl_ms = rng.randint(5, 60) * 1000
    try:
        client.set(KEY, mine, px=ttl_ms)
        got = _eval(client, script, KEY, mine)
        if type(got) is not int:
            return Outcome.fail(f"the holder's release returned {got!r}; return the number 1 when the script "
                                f"deleted the key and 0 when it did not (Lua false and nil arrive as nil)")
        if got != 1 or client.exists(KEY):
            return Outcome.fail(f"the key holds our token {mine!r}; releasing with ARGV[1] = {mine!r} returned {got} "
                                f"and left the key {'in place' if client.exists(KEY) else 'deleted'}: the holder must "
                                f"be able to release (delete the key, return 1)")
        client.set(KEY, theirs, px=ttl_ms)
        got = _eval(client, script, KEY, mine)
        if _text(client.get(KEY)) != theirs:
            return Outcome.fail(f"安全 broken: the key holds another client's token {theirs!r}; releasing with "
                                f"ARGV[1] = {mine!r} deleted it. Compare the stored value with ARGV[1] first, "
                                f"inside the script, and delete only if they are equal")
        if got != 0 or type(got) is not int:
            return Outcome.fail(f"a release that deleted nothing (the key belongs to {theirs!r}) returned {got!r}; "
                                f"return 0, so the caller learns it had lost the lock")
        client.delete(KEY)
        got = _eval(client, script, KEY, mine)
        if got != 0 or type(got) is not int:
            return Outcome.fail(f"with the key gone (our TTL ran out) the release returned {got!r}; return 0")
        return Outcome.ok()
    finally:
        client.close()


def _release(lock: RedisLock) -> bool:
    """The lock's release; True if released, False if it said LockLost."""
    try:
        lock.release()
        return True
    except LockLost:
        return False
    except TypeError:
        raise verdict_fail("your script returned nil (Lua false or nil); RedisLock needs a number: 1 released, "
                    "0 not") from None
    except Exception as error:
        raise verdict_fail(f"your script failed inside Redis: {error}") from None


def _paused_holder(script: str, rng: random.Random, seed: int) -> Outcome:
    client = _server()
    clock = ManualClock()
    try:
        old = RedisLock(client, KEY, clock=clock, ttl=LONG_TTL, release_script=script)
        new = RedisLock(client, KEY, clock=clock, ttl=LONG_TTL, release_script=script)
        old.acquire(blocking=False)
        client.delete(KEY)  # old pauses past its TTL: the key expires
        new.acquire(blocking=False)
        if _release(old):
            return Outcome.fail(f"安全 broken: a holder paused past its TTL and another client took the lock; the "
                                f"paused holder's late release still deleted a key (the script returned 1) "
                                f"(seed {seed})")
        if not new.is_held():
            return Outcome.fail("安全 broken: a replaced holder's late release deleted the new holder's key")
        if not _release(new):
            return Outcome.fail("the current holder's release was refused (the script returned 0): compare the "
                                "stored value with ARGV[1], the caller's token")
        if client.exists(KEY):
            return Outcome.fail("the holder's release returned 1 but the key is still there")
        return Outcome.ok()
    finally:
        client.close()


def _release_run(script: str, rng: random.Random, seed: int) -> Outcome:
    """Clients with the learner's release contend; holders pause past their TTL and release late."""
    client = _server()
    clock = ManualClock()
    names = [f"c{i + 1}" for i in range(rng.randint(3, 5))]
    locks = {name: RedisLock(client, KEY, clock=clock, ttl=LONG_TTL, release_script=script) for name in names}
    current: list[str | None] = [None]  # whose grant the key is
    trace: list[str] = []

    def work(name: str):
        lock = locks[name]
        for _ in range(rng.randint(2, 3)):
            while not lock.acquire(blocking=False):
                yield
            current[0] = name
            trace.append(f"{name} takes the lock (fencing token {lock.token})")
            yield
            if rng.random() < 0.4 and client.exists(KEY):
                client.delete(KEY)  # this holder pauses past its TTL; the key expires
                current[0] = None
                trace.append(f"{name} pauses past its TTL: the key expires")
                for _ in range(rng.randint(1, 4)):
                    yield  # meanwhile others may take the lock
            was_current = current[0] == name
            released = _release(lock)
            trace.append(f"{name} releases: {'released' if released else 'LockLost'}")
            if was_current and not released:
                raise verdict_fail(f"{name} held the lock (its key was still there) but its release was refused",
                            "\n".join(trace[-8:]))
            if current[0] not in (None, name) and not locks[current[0]].is_held():
                raise verdict_fail(f"安全 broken: {name}'s late release (its TTL had run out) deleted {current[0]}'s lock "
                            f"(seed {seed})", "\n".join(trace[-8:]))
            if was_current:
                current[0] = None
            yield

    tasks = {name: work(name) for name in names}
    try:
        stuck = _interleave(tasks, rng)
        if stuck:
            return Outcome.fail(f"no progress: {stuck} never got the lock (seed {seed})", "\n".join(trace[-8:]))
    except Verdict as verdict:
        return verdict.outcome
    finally:
        client.close()
    return Outcome.ok()


# ------------------------------------------------------------------ C: token_accepted --------
TOKEN_ROWS = [
    (None, 1, True, "the first write ever"),
    (33, 34, True, "a newer grant"),
    (34, 34, True, "the same holder writes again"),
    (34, 33, False, "a paused holder woke up after being replaced"),
]


@verdicts
def check_token_accepted(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab2/token_accepted/{seed}")
    rows = list(TOKEN_ROWS)
    for _ in range(30):
        highest = rng.choice((None, rng.randint(1, 500)))
        token = rng.randint(1, 500) if highest is None else max(1, highest + rng.choice((-3, -1, 0, 0, 1, 5)))
        rows.append((highest, token, token_accepted(highest, token), ""))
    for highest, token, expected, why in rows:
        try:
            got = fn(highest, token)
        except TypeError as error:
            return Outcome.fail(f"token_accepted({highest!r}, {token!r}) raised TypeError ({error}); highest_seen is "
                                f"None before the first write")
        if type(got) is not bool:
            return Outcome.fail(f"token_accepted must return True or False, got {got!r} ({type(got).__name__})")
        if got != expected:
            rule = why or "accept a token at least as high as the highest seen; refuse a lower one"
            return Outcome.fail(f"token_accepted(highest_seen={highest!r}, token={token}) returned {got}; expected "
                                f"{expected} ({rule})")
    return _fenced_run(fn, rng, seed)


def _fenced_run(fn: Any, rng: random.Random, seed: int) -> Outcome:
    """Holders pause past their TTL and write late; the fenced store decides with the learner's rule.

    Every holder writes its report (sometimes in two writes with the same token); a paused
    holder's write comes after its successor's. The store must accept exactly the writes that
    no newer grant has overtaken.
    """
    client = _server()
    clock = ManualClock()

    def accept(highest: Any, token: Any) -> bool:
        got = fn(highest, token)
        if type(got) is not bool:
            raise verdict_fail(f"token_accepted must return True or False, got {got!r}")
        return got

    store = FencedStore(accept=accept)
    names = [f"c{i + 1}" for i in range(rng.randint(3, 5))]
    locks = {name: RedisLock(client, KEY, clock=clock, ttl=LONG_TTL) for name in names}
    last: list[tuple[int, str] | None] = [None]  # the last accepted write: (token, value)
    trace: list[str] = []

    def write(name: str, token: int, value: str) -> bool:
        highest = store.highest.get("report")
        try:
            store.write("report", value, token=token)
        except StaleToken:
            trace.append(f"{name} writes with token {token}: refused")
            if highest is None or token >= highest:
                raise verdict_fail(f"the store refused {name}'s write with token {token}, the newest grant's token (the "
                            f"highest seen is {highest}): the current holder must be able to write, more than "
                            f"once", "\n".join(trace[-8:])) from None
            return False
        trace.append(f"{name} writes with token {token}: accepted")
        if highest is not None and token < highest:
            raise verdict_fail(f"栅栏令牌: {name} paused past its TTL while holding token {token}; token {highest} was "
                        f"granted since and wrote; then {name}'s late write was accepted and overwrote that "
                        f"newer work (seed {seed})", "\n".join(trace[-8:]))
        last[0] = (token, value)
        return True

    def work(name: str):
        lock = locks[name]
        for _ in range(rng.randint(2, 3)):
            while not lock.acquire(blocking=False):
                yield
            token = lock.token
            trace.append(f"{name} takes the lock (token {token})")
            yield
            if rng.random() < 0.4 and client.exists(KEY):
                client.delete(KEY)
                trace.append(f"{name} pauses past its TTL: the key expires")
                for _ in range(rng.randint(2, 5)):
                    yield
            report = f"report by {name} (token {token})"
            if write(name, token, report + ", part 1") and rng.random() < 0.5:
                yield
                write(name, token, report + ", part 2")  # the same holder writes again
            try:
                lock.release()
            except LockLost:
                pass
            yield

    tasks = {name: work(name) for name in names}
    try:
        _interleave(tasks, rng)  # a client still waiting is judged by the store below
    except Verdict as verdict:
        return verdict.outcome
    finally:
        client.close()
    if last[0] is not None and store.read("report") != last[0][1]:
        return Outcome.fail(f"the store holds {store.read('report')!r}, not the last accepted write {last[0][1]!r}",
                            "\n".join(trace[-8:]))
    return Outcome.ok()


# ------------------------------------------------------------------ D: extend_script ---------
EXTEND_COMMANDS = ("GET", "EXISTS", "PTTL", "TTL", "TYPE", "PEXPIRE", "EXPIRE", "SET")
ACQUIRE_LUA_COMMANDS = ("SET", "SETNX", "EXPIRE", "PEXPIRE", "INCR", "INCRBY", "GET", "EXISTS", "PTTL", "TTL")
FENCE = KEY + ":fence"


def _lua(fn: Any, part: str, commands: tuple[str, ...], keys: int) -> str:
    script = fn()
    if not isinstance(script, str):
        raise verdict_fail(f"{part}() must return the Lua script as a str, got {script!r} ({type(script).__name__})")
    problem = vet_lua(script, commands, keys=keys)
    if problem:
        raise verdict_fail(f"the grader will not run this script: {problem}")
    return script


def _eval_n(client: Any, script: str, keys: tuple, *args: Any) -> Any:
    try:
        return client.eval(script, len(keys), *keys, *args)
    except Exception as error:
        raise verdict_fail(f"your script failed inside Redis: {error}") from None


@verdicts
def check_extend_script(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab2/extend_script/{seed}")
    script = _lua(fn, "extend_script", EXTEND_COMMANDS, 1)
    outcome = _extend_cases(script, rng)
    if outcome.passed is not True:
        return outcome
    return _extend_run(script, rng, seed)


def _extend_cases(script: str, rng: random.Random) -> Outcome:
    client = _server()
    mine, theirs = f"{rng.getrandbits(64):016x}", f"{rng.getrandbits(64):016x}"
    old_ms = rng.randint(3, 9) * 1000
    new_ms = rng.randint(20, 60) * 1000
    try:
        client.set(KEY, mine, px=old_ms)
        got = _eval_n(client, script, (KEY,), mine, new_ms)
        case = (f"the key holds our token {mine!r} with {old_ms} ms left; extending with ARGV[1] = {mine!r}, "
                f"ARGV[2] = {new_ms} (ms)")
        if type(got) is not int:
            return Outcome.fail(f"锁续期 (lease renewal): {case} returned {got!r}; return the number 1 when the script "
                                f"extended the key and 0 when it did not (Lua false and nil arrive as nil)")
        pttl = client.pttl(KEY)
        if _text(client.get(KEY)) != mine:
            return Outcome.fail(f"锁续期 (lease renewal) broken: {case} changed the key's value to "
                                f"{_text(client.get(KEY))!r}; a renewal keeps the holder's token")
        if got != 1:
            return Outcome.fail(f"锁续期 (lease renewal) broken: {case} returned {got}: the holder's renewal must go "
                                f"through (return 1), or a holder that works longer than one TTL loses the lock")
        if pttl == -1:
            return Outcome.fail(f"死锁: {case}; afterwards the key has no expiry any more: if this holder now crashes, "
                                f"nobody gets the lock again. Set a TTL (PEXPIRE KEYS[1] ARGV[2])")
        if pttl > new_ms:
            return Outcome.fail(f"锁续期 (lease renewal) wrong: {case}; afterwards the key lives {pttl} ms, more than "
                                f"ARGV[2] = {new_ms} ms: EXPIRE counts seconds, PEXPIRE milliseconds")
        if pttl < new_ms - 1000:
            return Outcome.fail(f"锁续期 (lease renewal) broken: {case}; afterwards the key expires after {pttl} ms, not "
                                f"{new_ms} ms: push the TTL to ARGV[2] milliseconds (PEXPIRE), or the key expires "
                                f"as if nobody had renewed it and another client takes the lock (互斥)")
        client.set(KEY, theirs, px=old_ms)
        got = _eval_n(client, script, (KEY,), mine, new_ms)
        if _text(client.get(KEY)) != theirs:
            return Outcome.fail(f"互斥 broken: the key holds another client's token {theirs!r}; our renewal (ARGV[1] = "
                                f"{mine!r}) overwrote it with {_text(client.get(KEY))!r}: we now both believe we hold "
                                f"the lock. Compare the stored value with ARGV[1] first, inside the script")
        if client.pttl(KEY) > old_ms:
            return Outcome.fail(f"安全 broken: the key holds another client's token {theirs!r} with {old_ms} ms left; "
                                f"our renewal (ARGV[1] = {mine!r}) pushed its TTL to {client.pttl(KEY)} ms — it "
                                f"extended someone else's lock. Extend only if the stored value equals ARGV[1]")
        if got != 0 or type(got) is not int:
            return Outcome.fail(f"锁续期 (lease renewal): a renewal of a key that holds another client's token returned "
                                f"{got!r}; return 0, so the caller learns it has lost the lock")
        client.delete(KEY)
        got = _eval_n(client, script, (KEY,), mine, new_ms)
        if client.exists(KEY):
            return Outcome.fail(f"安全 broken: our TTL had run out (the key is gone), and our renewal created the key "
                                f"again ({_text(client.get(KEY))!r}). Anyone may have held the lock since it expired; "
                                f"a renewal that finds the key gone must report the lock lost (return 0), not take "
                                f"it again (a new grant needs SET NX and a new fencing token)")
        if got != 0 or type(got) is not int:
            return Outcome.fail(f"锁续期 (lease renewal): with the key gone (our TTL ran out) the renewal returned "
                                f"{got!r}; return 0")
        return Outcome.ok()
    finally:
        client.close()


def _lock_call(what: str, call: Any) -> Any:
    try:
        return call()
    except LockLost:
        raise
    except (TypeError, ValueError):
        raise verdict_fail(f"{what}: your script returned something RedisLock cannot read as a number (Lua nil, "
                           f"false or a status reply); return 1 or 0") from None
    except Exception as error:
        raise verdict_fail(f"{what}: your script failed inside Redis: {error}") from None


def _extend_run(script: str, rng: random.Random, seed: int) -> Outcome:
    """Holders renew inside the critical section; some pause past their TTL, are replaced and renew late."""
    client = _server()
    clock = ManualClock()
    names = [f"c{i + 1}" for i in range(rng.randint(3, 5))]
    locks = {name: RedisLock(client, KEY, clock=clock, ttl=LONG_TTL, extend_script=script) for name in names}
    current: list[str | None] = [None]
    trace: list[str] = []

    def work(name: str):
        lock = locks[name]
        for _ in range(rng.randint(2, 3)):
            while not lock.acquire(blocking=False):
                yield
            current[0] = name
            trace.append(f"{name} takes the lock (fencing token {lock.token})")
            yield
            paused = rng.random() < 0.4
            if paused:
                client.delete(KEY)  # this holder pauses past its TTL; the key expires
                current[0] = None
                trace.append(f"{name} pauses past its TTL: the key expires")
                for _ in range(rng.randint(1, 4)):
                    yield  # meanwhile others may take the lock
            other = current[0]
            before = (_text(client.get(KEY)), client.pttl(KEY))
            try:
                _lock_call(f"{name}'s renewal", lock.extend)
                renewed = True
            except LockLost:
                renewed = False
            trace.append(f"{name} renews: {'extended' if renewed else 'LockLost'}")
            if not paused and not renewed:
                raise verdict_fail(f"锁续期 (lease renewal) broken: {name} held the lock (its key was still there, "
                                   f"holding its token) but its renewal was refused (seed {seed})",
                                   "\n".join(trace[-8:]))
            if paused and other not in (None, name):
                after = (_text(client.get(KEY)), client.pttl(KEY))
                if renewed or after[0] != before[0] or after[1] > before[1]:
                    raise verdict_fail(f"安全 broken: {name} paused past its TTL and {other} took the lock; {name}'s "
                                       f"late renewal {'was accepted' if renewed else 'changed the key'} (key "
                                       f"{before} -> {after}): it extended {other}'s lock (seed {seed})",
                                       "\n".join(trace[-8:]))
            if paused and other is None and renewed:
                raise verdict_fail(f"安全 broken: {name}'s TTL ran out and nobody held the lock; its late renewal "
                                   f"was accepted and brought the lock back (seed {seed})", "\n".join(trace[-8:]))
            if renewed:
                yield
                try:
                    lock.release()
                except LockLost:
                    raise verdict_fail(f"锁续期 (lease renewal) broken: after {name} renewed, its release was refused: "
                                       f"the renewal must keep the key's value (the holder's token)",
                                       "\n".join(trace[-8:])) from None
                trace.append(f"{name} releases")
                current[0] = None
            yield

    tasks = {name: work(name) for name in names}
    try:
        stuck = _interleave(tasks, rng)
        if stuck:
            return Outcome.fail(f"死锁: no progress: {stuck} never got the lock (seed {seed})",
                                "\n".join(trace[-8:]))
    except Verdict as verdict:
        return verdict.outcome
    finally:
        client.close()
    return Outcome.ok()


# ------------------------------------------------------------------ E: acquire_script --------
@verdicts
def check_acquire_script(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab2/acquire_script/{seed}")
    script = _lua(fn, "acquire_script", ACQUIRE_LUA_COMMANDS, 2)
    outcome = _acquire_script_cases(script, rng)
    if outcome.passed is not True:
        return outcome
    return _fencing_source_run(script, rng, seed)


def _acquire_script_cases(script: str, rng: random.Random) -> Outcome:
    client = _server()
    start = rng.randint(0, 40)  # the fence counter is where earlier grants left it
    ttl_ms = rng.choice((5000, 10000, 20000))
    tokens: list[int] = []
    try:
        if start:
            client.set(FENCE, start)

        def grant(token: str, unit: str = "PX", ttl: int = ttl_ms) -> Any:
            return _eval_n(client, script, (KEY, FENCE), token, unit, ttl)

        for unit, ttl, expect_ms in (("PX", ttl_ms, ttl_ms), ("EX", ttl_ms // 1000, ttl_ms)):
            client.delete(KEY)
            who = f"tok-{unit.lower()}-{rng.getrandbits(32):08x}"
            started = time.monotonic()
            got = grant(who, unit, ttl)
            elapsed = int((time.monotonic() - started) * 1000) + 1
            case = f"nobody holds {KEY!r}; your script with ARGV = ({who!r}, {unit!r}, {ttl})"
            if _text(client.get(KEY)) != who:
                return Outcome.fail(f"死锁: {case} left the key holding {_text(client.get(KEY))!r} (reply {got!r}): the "
                                    f"free lock must be granted (SET KEYS[1] ARGV[1] NX ARGV[2] ARGV[3])")
            if type(got) is not int or got <= 0:
                return Outcome.fail(f"栅栏令牌 (fencing token): {case} took the key but returned {got!r}; a grant "
                                    f"returns its fencing token, a number above 0 (0 means 'not granted')")
            pttl = client.pttl(KEY)
            if pttl == -1:
                return Outcome.fail(f"死锁: {case}; afterwards the key has no expiry: a holder that crashes keeps the lock "
                                    f"forever. Give it the TTL in the same SET (ARGV[2] is the unit, ARGV[3] the TTL)")
            if pttl > expect_ms or pttl < expect_ms - elapsed - 1000:
                return Outcome.fail(f"死锁 / 互斥 (the TTL): {case}; afterwards the key lives {pttl} ms, not {expect_ms} ms: "
                                    f"ARGV[2] is the unit ('PX' milliseconds or 'EX' seconds) and ARGV[3] the TTL in it")
            if tokens and got <= tokens[-1]:
                return Outcome.fail(f"栅栏令牌 (fencing token) broken: the grant after one with token {tokens[-1]} "
                                    f"got token {got}; tokens must grow with every grant, or the storage cannot tell "
                                    f"a stale holder from the current one. INCR a counter key (KEYS[2]) and return "
                                    f"its new value")
            tokens.append(got)
            fence_ttl = client.pttl(FENCE)
            if fence_ttl not in (-1, -2):
                return Outcome.fail(f"栅栏令牌 (fencing token) broken: the fence counter {FENCE!r} expires (PTTL "
                                    f"{fence_ttl} ms). When it does, the count starts again at 1 and a new holder's "
                                    f"token is lower than an old holder's: the storage would refuse the current "
                                    f"holder and accept the stale one. The counter must never expire")
        # The lock is held: another client's grant must fail and change nothing.
        holder = _text(client.get(KEY))
        before = client.pttl(KEY)
        other = f"tok-b-{rng.getrandbits(32):08x}"
        got = grant(other)
        if _text(client.get(KEY)) != holder:
            return Outcome.fail(f"互斥 broken: {KEY!r} was held by {holder!r}; your script with ARGV[1] = {other!r} "
                                f"overwrote it. Set the key only if it does not exist (NX)")
        if got is None:
            return Outcome.fail(f"互斥 / 死锁: {KEY!r} is held by {holder!r}, and your script answered nil to {other!r}; "
                                f"RedisLock needs a number: return 0 when SET NX did not set the key")
        if got != 0 or type(got) is not int:
            return Outcome.fail(f"互斥 broken: {KEY!r} is held by {holder!r}, and your script answered {got!r} to "
                                f"{other!r}; RedisLock takes any number above 0 as a grant (and its fencing token). "
                                f"Return 0 when SET NX did not set the key — a token is given only with the lock")
        if client.pttl(KEY) > before:
            return Outcome.fail(f"互斥 / 安全: {other!r} did not get the lock, but your script extended {holder!r}'s "
                                f"TTL")
        return Outcome.ok()
    finally:
        client.close()


def _fencing_source_run(script: str, rng: random.Random, seed: int) -> Outcome:
    """Clients take the lock with the learner's script; holders pause past their TTL and write late.

    The storage is the reference FencedStore: with tokens that grow with every grant it refuses
    exactly the late writes. Every grant must really hold the key, and its token must exceed
    every earlier grant's.
    """
    client = _server()
    clock = ManualClock()
    store = FencedStore(accept=token_accepted)
    names = [f"c{i + 1}" for i in range(rng.randint(3, 5))]
    locks = {name: RedisLock(client, KEY, clock=clock, ttl=LONG_TTL, acquire_script=script) for name in names}
    granted: list[tuple[int, str]] = []
    trace: list[str] = []

    def work(name: str):
        lock = locks[name]
        for _ in range(rng.randint(2, 3)):
            while not _lock_call(f"{name}'s acquire", lambda: lock.acquire(blocking=False)):
                yield
            token = lock.token
            trace.append(f"{name} takes the lock (fencing token {token})")
            if _text(client.get(KEY)) != lock._secret:
                raise verdict_fail(f"互斥 broken: {name} was told it holds the lock (token {token}), but the key holds "
                                   f"another client's value {_text(client.get(KEY))!r} (seed {seed})",
                                   "\n".join(trace[-8:]))
            if granted and token <= granted[-1][0]:
                raise verdict_fail(f"栅栏令牌 (fencing token) broken: {name}'s grant got token {token} after "
                                   f"{granted[-1][1]}'s grant got {granted[-1][0]}; every grant's token must exceed "
                                   f"all earlier ones (seed {seed})", "\n".join(trace[-8:]))
            granted.append((token, name))
            yield
            if rng.random() < 0.4 and client.exists(KEY):
                client.delete(KEY)
                trace.append(f"{name} pauses past its TTL: the key expires")
                for _ in range(rng.randint(2, 5)):
                    yield
            highest = store.highest.get("report")
            try:
                store.write("report", f"by {name}", token=token)
                trace.append(f"{name} writes with token {token}: accepted")
                if highest is not None and token < highest:
                    raise verdict_fail(f"栅栏令牌 (fencing token) broken: {name}'s late write was accepted",
                                       "\n".join(trace[-8:]))
            except StaleToken:
                trace.append(f"{name} writes with token {token}: refused")
                if lock.is_held():
                    raise verdict_fail(f"栅栏令牌 (fencing token) broken: {name} holds the lock, yet the storage "
                                       f"refused its write with token {token}: a token of an earlier grant "
                                       f"({highest}) was higher (seed {seed})", "\n".join(trace[-8:])) from None
            try:
                lock.release()
            except LockLost:
                pass
            yield

    tasks = {name: work(name) for name in names}
    try:
        stuck = _interleave(tasks, rng)
        if stuck:
            return Outcome.fail(f"死锁: no progress: {stuck} never got the lock (seed {seed})",
                                "\n".join(trace[-8:]))
    except Verdict as verdict:
        return verdict.outcome
    finally:
        client.close()
    return Outcome.ok()


# ------------------------------------------------------------------ every message names its rule
_CONCEPTS = ("互斥", "死锁", "安全", "栅栏令牌", "锁续期", "原子")


def _named(concept: str):
    return named(concept, _CONCEPTS)


check_acquire_command = _named("互斥 / 死锁 (SET NX with a TTL)")(check_acquire_command)
check_release_script = _named("安全 (only the holder releases)")(check_release_script)
check_token_accepted = _named("栅栏令牌 (fencing token)")(check_token_accepted)
check_extend_script = _named("锁续期 (lease renewal)")(check_extend_script)
check_acquire_script = _named("栅栏令牌 / 互斥 (the grant and its fencing token)")(check_acquire_script)


register(
    2, "Redis lock", "lab2-redis-lock.ipynb",
    Part(2, "acquire_command", "SET NX with a TTL", 3,
         "one SET sets the key only if it is absent (NX) and gives it the TTL (PX ms or EX s); with it, "
         "competing clients never both hold the lock and a crashed holder's key expires (互斥, 死锁)",
         check_acquire_command),
    Part(2, "release_script", "The Lua release", 4,
         "the release deletes the key only if it still holds the caller's token, compared inside the script, and "
         "returns 1 or 0; a holder replaced after its TTL cannot delete its successor's lock (安全)",
         check_release_script),
    Part(2, "token_accepted", "Fencing tokens", 3,
         "storage accepts a write whose token is at least the highest it has seen and refuses a lower one; a "
         "paused holder's late write is refused, the current holder may write again (栅栏令牌)",
         check_token_accepted),
    Part(2, "extend_script", "The whole lock: the Lua renewal", 4,
         "the renewal pushes the key's TTL to ARGV[2] ms only if it still holds the caller's token, compared inside "
         "the script, and returns 1 or 0; it never extends, overwrites or re-creates another holder's key (锁续期, 安全)",
         check_extend_script),
    Part(2, "acquire_script", "The whole lock: the grant and its fencing token", 4,
         "one script sets the key only if absent, with the TTL, and in the same atomic step INCRs the fence counter "
         "and returns its value; a token exists exactly when the lock was granted and grows with every grant "
         "(互斥, 死锁, 栅栏令牌)", check_acquire_script),
)
