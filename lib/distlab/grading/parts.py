"""Graded parts: what each lab part checks, as one function of (learner's code, seed).

A :class:`Part` names the function (or class) a graded cell must define, its points, and a
``check(fn, seed) -> Outcome``. The *same* check runs for the public seeds (in the
learner's notebook, through :func:`distlab.grading.check`) and for the hidden ones (in the
grader, with ``fn`` a proxy into the sandbox): hidden tests hide **seeds**, never rules.

Every check tests a property on cases drawn from its seed, and where the seam plugs into a
protocol it also runs the learner's code inside the simulator (an election with their vote
order, a fuzzed ensemble with their quorum rule ...), so a subtle bug is caught, not just a
wrong return value. A failure says which property broke, on what input, what ZooKeeper's
rule expects, and how to replay it.

The registry :data:`LABS` is filled by the ``lab*`` modules of this package.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

__all__ = ["Outcome", "Part", "Lab", "LABS", "register", "hidden_seeds", "PUBLIC_SEEDS", "secret",
           "FATAL_KINDS", "reraise_if_fatal", "named", "REFERENCE_SEAMS", "reference_seam", "Verdict", "verdict_fail", "verdicts"]

PUBLIC_SEEDS = (1, 2, 3)
HIDDEN_PER_PART = 7


@dataclass(frozen=True)
class Outcome:
    """One seed's verdict: True (passed), False (a property broke) or None (undecided)."""

    passed: bool | None
    message: str = ""
    excerpt: str = ""  # a short trace excerpt or the failing case, for people

    @classmethod
    def ok(cls, message: str = "") -> "Outcome":
        return cls(True, message)

    @classmethod
    def fail(cls, message: str, excerpt: str = "") -> "Outcome":
        return cls(False, message, excerpt)


# Learner failures the runner must see as they are (a stub, a hung or dead worker, a memory
# bomb, sys.exit): a check that meets one deep inside a simulation re-raises it rather than
# turning it into a verdict of its own.
FATAL_KINDS = frozenset({"NotImplementedError", "timeout", "died", "dead", "MemoryError", "SystemExit",
                         "ReferenceWithheld", "budget"})

# Reference seams a part may hand to the learner's function (``Part.refs``), so one part's bug
# does not cost another part its points. In the grader they run here: the sandbox's calls to
# them come back over its pipe, and the reference never enters the sandbox.
REFERENCE_SEAMS = {
    "vote_order": "distlab.zab.election:vote_order",
    "has_quorum": "distlab.zab.quorum:has_quorum",
    "queue_committed_proposals": "distlab.grading.lab6:reference_walk",
    "predecessor": "distlab.locks.zk:predecessor",
    "sequence_number": "distlab.grading.lab4:reference_sequence_number",
    "decode_frame": "distlab.rpc.codec:decode_frame",  # Lab 8's provider decodes (valid frames only: FrameError does not cross)
    "admit": "distlab.rpc.dedup:admit",  # ... and suppresses duplicates with it
    "recover_participant": "distlab.txn.two_phase:recover_participant",  # Lab 9's participant recovers with it
}


def reference_seam(name: str) -> Callable[..., Any]:
    """The reference function of seam ``name`` (LookupError for one that is not a seam)."""
    import importlib

    spec = REFERENCE_SEAMS.get(name)
    if spec is None:
        raise LookupError(f"{name!r} is not a reference seam")
    module, attribute = spec.split(":")
    return getattr(importlib.import_module(module), attribute)


def reraise_if_fatal(cause: BaseException | None) -> None:
    """Re-raise ``cause`` if it is a stub or a fatal learner error (see :data:`FATAL_KINDS`)."""
    from distlab.grading.sandbox import LearnerError

    if isinstance(cause, NotImplementedError) or (isinstance(cause, LearnerError) and cause.kind in FATAL_KINDS):
        raise cause


class Verdict(Exception):
    """Raised from deep inside a run (a seam gave a bad answer): the check's outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def verdict_fail(message: str, excerpt: str = "") -> Verdict:
    """A :class:`Verdict` of failure, to ``raise`` where the bad answer is seen."""
    return Verdict(Outcome.fail(message, excerpt))


def named(concept: str, terms: tuple[str, ...]) -> Callable[[Callable[[Any, int], Outcome]], Callable[[Any, int], Outcome]]:
    """A check whose failure messages all name a course concept: ``concept`` is put in front of
    a failure that names none of ``terms`` (a table row says only what was expected)."""
    def wrap(check: Callable[[Any, int], Outcome]) -> Callable[[Any, int], Outcome]:
        @functools.wraps(check)
        def checked(fn: Any, seed: int) -> Outcome:
            outcome = check(fn, seed)
            if outcome.passed is False and not any(term in outcome.message for term in terms):
                return Outcome(False, f"{concept} — {outcome.message}", outcome.excerpt)
            return outcome
        return checked
    return wrap


def verdicts(check: Callable[[Any, int], Outcome]) -> Callable[[Any, int], Outcome]:
    """A check whose :class:`Verdict` raised anywhere inside becomes its outcome."""
    @functools.wraps(check)
    def checked(fn: Any, seed: int) -> Outcome:
        try:
            return check(fn, seed)
        except Verdict as verdict:
            return verdict.outcome
    return checked


@dataclass(frozen=True)
class Part:
    lab: int
    name: str  # the part id, also the name of the function/class the graded cell defines
    title: str
    points: float
    property: str  # the rule checked, in words (shown with every failure)
    check: Callable[[Any, int], Outcome]
    kind: str = "function"  # or "class" (a sans-I/O process the grader steps)
    # Trailing arguments that are functions (seams passed in); the sandbox passes the
    # reference versions of these by name instead, so one part's bug does not cascade.
    refs: tuple[str, ...] = ()
    # Other parts of this lab the learner's code calls by name (choose_sync_mode calls
    # queue_committed_proposals): while this part is graded those names are bound to the
    # reference seams, so a mistake there costs only its own part.
    uses: tuple[str, ...] = ()
    # kind "system" (the capstone): the graded cell defines every one of these (name, kind),
    # and the check gets a :class:`System` that builds an ``Impl`` from them.
    components: tuple[tuple[str, str], ...] = ()

    @property
    def function(self) -> str:
        return self.name


@dataclass
class Lab:
    number: int
    title: str
    notebook: str  # file name in solutions/ and labs/
    parts: dict[str, Part] = field(default_factory=dict)

    @property
    def points(self) -> float:
        return sum(p.points for p in self.parts.values())


LABS: dict[int, Lab] = {}


def register(lab: int, title: str, notebook: str, *parts: Part) -> Lab:
    entry = LABS.setdefault(lab, Lab(lab, title, notebook))
    for part in parts:
        if part.name in entry.parts:
            raise ValueError(f"lab {lab} already has a part {part.name!r}")
        entry.parts[part.name] = part
    return entry


def secret() -> tuple[str, bool]:
    """The instructor's secret that hidden seeds derive from, and whether one was set.

    ``DISTLAB_GRADER_SECRET`` or the file named by ``DISTLAB_GRADER_SECRET_FILE`` (keep it
    readable by the grader only: submissions run as another user and cannot read it). Without
    one, a built-in value is used and the report says the hidden seeds are not secret.
    """
    value = os.environ.get("DISTLAB_GRADER_SECRET")
    if value:
        return value, True
    path = os.environ.get("DISTLAB_GRADER_SECRET_FILE")
    if path:
        try:
            return Path(path).read_text().strip(), True
        except OSError as error:
            raise SystemExit(f"distlab grade: cannot read DISTLAB_GRADER_SECRET_FILE {path}: {error.strerror}")
    return "distlab-default-not-secret", False


def hidden_seeds(lab: int, part: str, count: int = HIDDEN_PER_PART) -> tuple[int, ...]:
    """Seeds only the grader knows (derived from the secret; never the public ones)."""
    key, _ = secret()
    seeds = []
    for n in range(count):
        digest = hashlib.sha256(f"{key}/{lab}/{part}/{n}".encode()).digest()
        seeds.append(1000 + int.from_bytes(digest[:4], "big") % 1_000_000)
    return tuple(seeds)


def load_all() -> dict[int, Lab]:
    """Import every lab module so :data:`LABS` is complete."""
    from distlab.grading import lab5  # noqa: F401

    for name in ("lab0", "lab3", "lab6", "lab7", "lab1", "lab2", "lab4", "lab8", "lab9", "lab10"):
        try:
            __import__(f"distlab.grading.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"distlab.grading.{name}":
                raise
    return LABS
