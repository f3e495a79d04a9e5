"""Lab 4, Parts D and E: the learner's whole lock recipe, and the mistakes learners make.

Each mistake is the reference solution (``lab4_recipe_solution.py``, the notebook's answer)
with one plausible change, the kind kazoo's and Curator's bug trackers record; the part's
check, called directly with the wrong generator, must fail on the public seeds with a message
that names the broken property.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from distlab.grading import lab4
from distlab.grading.parts import PUBLIC_SEEDS

SOLUTION = (Path(__file__).parent / "lab4_recipe_solution.py").read_text()


def variant(old: str, new: str, name: str = "acquire_steps"):
    """The solution with ``old`` replaced by ``new`` (which must occur), as a fresh module."""
    assert old in SOLUTION, old
    namespace: dict = {"__name__": "variant"}
    exec(compile(SOLUTION.replace(old, new, 1), "<variant>", "exec"), namespace)
    return namespace[name]


def failures(check, fn) -> list:
    return [o for o in (check(fn, seed) for seed in PUBLIC_SEEDS) if o.passed is not True]


def test_the_solution_passes_every_public_seed_quickly():
    started = time.monotonic()
    for check, name in ((lab4.check_acquire_steps, "acquire_steps"), (lab4.check_release_steps, "release_steps")):
        for seed in PUBLIC_SEEDS:
            outcome = check(variant("", "", name), seed)
            assert outcome.passed, (name, seed, outcome.message, outcome.excerpt)
    assert time.monotonic() - started < 6  # two check cells, each under 3 s


ACQUIRE_MISTAKES = {
    # watching the lock node's children instead of the predecessor: every release wakes everyone
    "watch the parent (herd)": (
        'yield GetData(f"{path}/{ahead}", watch=True)',
        'yield GetChildren(path, watch=True)', "羊群效应"),
    # after the watch fires, go ahead without listing the children again
    "no re-check after the watch": (
        "            if not (yield AwaitWatch(deadline)):",
        "            if (yield AwaitWatch(deadline)):\n                return node\n            if False:", "互斥"),
    # NoNode on the watch not handled: the error ends the acquire
    "NoNode on the watch not handled": (
        "            except NoNodeError:\n                continue                       # already gone: look again at once",
        "            except KeyError:\n                continue", "NoNodeError"),
    # exists() instead of getData, the None answer ignored: the watch waits for a creation
    "exists() answer ignored (hang)": (
        'yield GetData(f"{path}/{ahead}", watch=True)',
        'yield Exists(f"{path}/{ahead}", watch=True)', "死锁"),
    # NoNode taken to mean "the holder left": go ahead
    "NoNode means I hold it": (
        "            except NoNodeError:\n                continue                       # already gone: look again at once",
        "            except NoNodeError:\n                return node", "互斥"),
    # after a ConnectionLoss during create, create again (no lookup by prefix)
    "second create after ConnectionLoss (orphan)": (
        "            if node is None and created:", "            if False:", "orphan"),
    # the node is not ephemeral
    "persistent node": ("ephemeral=True, sequence=True", "ephemeral=False, sequence=True", "临时顺序节点"),
    # the prefix is not used in the name: the lost create cannot be found
    "no prefix in the name": ('f"{path}/{prefix}{kind}-"', 'f"{path}/{kind}-"', "prefix"),
    # on timeout, raise without deleting the node
    "timeout leaves the node (orphan)": (
        "                yield from _give_up(path, node)\n                raise AcquireTimeout(f\"{path}: not acquired within {timeout} s\")",
        "                raise AcquireTimeout(f\"{path}: not acquired within {timeout} s\")", "orphan"),
    # never gives up: the deadline is not passed to AwaitWatch
    "timeout ignored": ("(yield AwaitWatch(deadline))", "(yield AwaitWatch(None))", "timeout"),
    # a session expiry is taken for a connection loss: retry with the dead node
    "session expiry ignored": (
        "        except SessionExpiredError:            # our node died with the session: start over\n            node, created = None, False",
        "        except SessionExpiredError:\n            return node", "会话过期"),
    # lexicographic order of the names (random prefixes) instead of the predecessor seam
    "names sorted lexicographically": (
        "                ahead = predecessor(children, node, blocked_by)",
        "                line = sorted(c for c in children if c.endswith(tuple('0123456789')))\n"
        "                if node not in line: raise NodeVanished(node)\n"
        "                ahead = line[line.index(node) - 1] if line.index(node) else None", "互斥|死锁"),
    # ConnectionLoss not handled at all
    "ConnectionLoss not handled": (
        "        except (ConnectionLossError, OperationTimeoutError):\n            if deadline",
        "        except KeyError:\n            if deadline", "ConnectionLoss"),
}


@pytest.mark.parametrize("mistake", sorted(ACQUIRE_MISTAKES))
def test_each_acquire_mistake_loses_points_with_a_message_naming_the_concept(mistake):
    import re

    old, new, concept = ACQUIRE_MISTAKES[mistake]
    failed = failures(lab4.check_acquire_steps, variant(old, new))
    assert failed, f"{mistake}: passed every public seed"
    assert re.search(concept, failed[0].message), (mistake, failed[0].message)
    assert failed[0].excerpt, "a failure shows a trace excerpt"


RELEASE_MISTAKES = {
    "no retry after ConnectionLoss": (
        "        except (ConnectionLossError, OperationTimeoutError):\n            retried = True",
        "        except KeyError:\n            retried = True", "ConnectionLoss"),
    "NoNode after a retry taken for a lost lock": ("            if retried:\n                return\n", "", "NoNode"),
    "ConnectionLoss taken for success (orphan)": (
        "            retried = True\n            yield Sleep(0.05)", "            return", "orphan|死锁"),
    "NoNode on the first try swallowed": (
        '            raise LockLost(f"{path}: our node {node} was already gone (session expired)")',
        "            return", "会话过期"),
    "SessionExpired not turned into LockLost": (
        '            raise LockLost(f"{path}: the session expired and took our node {node}")',
        "            return", "会话过期"),
    "deletes every child": (
        '            yield Delete(f"{path}/{node}")\n            return',
        "            for child in (yield GetChildren(path)):\n                yield Delete(f\"{path}/{child}\")\n"
        "            return", "互斥"),
    "deletes the lock node": ('            yield Delete(f"{path}/{node}")\n            return',
                              "            yield Delete(path)\n            return", "own node"),
}


@pytest.mark.parametrize("mistake", sorted(RELEASE_MISTAKES))
def test_each_release_mistake_loses_points_with_a_message_naming_the_concept(mistake):
    import re

    old, new, concept = RELEASE_MISTAKES[mistake]
    failed = failures(lab4.check_release_steps, variant(old, new, "release_steps"))
    assert failed, f"{mistake}: passed every public seed"
    assert re.search(concept, failed[0].message), (mistake, failed[0].message)


def test_a_stub_is_reported_as_not_written():
    def acquire_steps(path, prefix, data=b"", timeout=None, kind="lock", blocked_by=None, *, predecessor):
        raise NotImplementedError("write the recipe")

    with pytest.raises(NotImplementedError):
        lab4.check_acquire_steps(acquire_steps, 1)


@pytest.mark.real_server
def test_the_learners_recipe_runs_inside_zklock_on_real_zookeeper(tmp_path):
    """Parts D and E through kazoo: two contenders, one waits; a timeout leaves nothing behind."""
    import threading

    from distlab.locks import ZkLock
    from distlab.locks.api import AcquireTimeout

    from tests.locks.conftest import KazooBackend

    backend = KazooBackend(tmp_path)  # skips (or fails under make test) without the server
    try:
        acquire, release = variant("", ""), variant("", "", "release_steps")
        first = backend.lock("recipe", recipe=acquire, release_recipe=release)
        second = backend.lock("recipe", recipe=acquire, release_recipe=release)
        assert isinstance(first, ZkLock) and first.acquire()
        with pytest.raises(AcquireTimeout):
            second.acquire(timeout=0.3)
        assert len(first.driver.client.get_children(first.path)) == 1, "the timed-out waiter deleted its node"
        got = []
        waiter = threading.Thread(target=lambda: got.append(second.acquire(timeout=10)))
        waiter.start()
        time.sleep(0.3)
        assert not got, "the second waits while the first holds"
        first_token = first.token
        first.release()
        waiter.join(10)
        assert got == [True] and second.token is not None and second.token > first_token, \
            "the next holder's fencing token is larger"
        second.release()
        assert first.driver.client.get_children(first.path) == []
    finally:
        backend.close()
