"""Grading one submission, or a folder of them.

For each graded part of the submission's lab:

1. the submission's setup cells and its graded cells are read from the notebook (by cell
   metadata, never by position; the file is only read, never written);
2. a fresh sandboxed worker (:mod:`distlab.grading.sandbox`) loads that code;
3. the part's check runs in *this* process for every seed — public and hidden — calling the
   learner's function through the sandbox for each decision; the simulator, the checkers
   and the verdicts all live here;
4. the worker is stopped; then, and only then, the points are computed from this process's
   own records.

A part's score is its points times the fraction of seeds that passed; an undecided seed
(a checker out of budget) counts as failed. One broken submission never stops a batch.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from distlab.grading.notebook import GradedCell, NotebookError, lab_number, read_notebook, setup_code, tagged_cells
from distlab.grading.parts import LABS, PUBLIC_SEEDS, Outcome, Part, hidden_seeds, load_all, reference_seam
from distlab.grading.provenance import provenance_problem
from distlab.grading.sandbox import GraderError, GradingSession, LearnerError, Limits, Sandbox, runtime
from distlab.grading.submissions import find_submissions

__all__ = ["SeedResult", "PartResult", "SubmissionResult", "grade_notebook", "grade_path", "find_submissions"]


@dataclass
class SeedResult:
    seed: int
    hidden: bool
    outcome: Outcome


@dataclass
class PartResult:
    part: str
    title: str
    max_points: float
    points: float
    seeds: list[SeedResult] = field(default_factory=list)
    message: str = ""  # why the part could not run at all, if so
    rule: str = ""  # the property checked, in words
    cell: str = ""  # which notebook cell was graded ("cell 12")
    note: str = ""  # something the learner should know that is not a failure

    @property
    def passed(self) -> int:
        return sum(1 for s in self.seeds if s.outcome.passed is True)

    def first_failure(self) -> SeedResult | None:
        return next((s for s in self.seeds if s.outcome.passed is not True), None)


@dataclass
class SubmissionResult:
    student: str
    path: str
    lab: int | None
    parts: list[PartResult] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    skipped: bool = False  # the entry was not graded at all (a link, a FIFO, no notebook ...)

    @property
    def score(self) -> float:
        return round(sum(p.points for p in self.parts), 2)

    @property
    def max_score(self) -> float:
        return round(sum(p.max_points for p in self.parts), 2) if self.parts else (
            LABS[self.lab].points if self.lab in LABS else 0.0)


def _proxy(sandbox: Sandbox, part: Part) -> Any:
    """The learner's function or class, as the part's check will call it."""
    if part.kind == "class":
        return RemoteClass(sandbox, part.function)
    if part.kind == "system":
        from distlab.grading.system import RemoteSystem

        return RemoteSystem(sandbox, part.components)
    if part.kind == "generator":
        def start(*args: Any, **seams: Any) -> RemoteGenerator:
            # seams passed in stay here; the sandbox gets the grader's reference seams by name
            data = tuple(a for a in args if not callable(a))
            return RemoteGenerator(sandbox, sandbox.start_generator(part.function, *data, with_refs=part.refs))

        start.__name__ = part.function
        return start
    refs = part.refs

    def call(*args: Any, **kwargs: Any) -> Any:
        # Seams passed in as arguments stay here; the worker passes its reference versions.
        data = tuple(a for a in args if not callable(a))
        return sandbox.call(part.function, *data, with_refs=refs)

    call.__name__ = part.function
    return call


class RemoteClass:
    """Builds learner objects in the sandbox; each one steps there (a sans-I/O process)."""

    def __init__(self, sandbox: Sandbox, name: str) -> None:
        self.sandbox, self.name = sandbox, name

    def __call__(self, *args: Any) -> "RemoteObject":
        return RemoteObject(self.sandbox, self.sandbox.new(self.name, *args))


class RemoteGenerator:
    """A learner's generator living in the sandbox, driven from here like a local one.

    ``yield from`` works on it: ``send``/``throw`` cross the pipe; the operations it yields and
    the results sent back are plain data; an exception it raises that may cross (a ZooKeeper
    or lock error) is raised here as itself, anything else as :class:`LearnerError`.
    """

    def __init__(self, sandbox: Sandbox, handle: int) -> None:
        self.sandbox, self.handle = sandbox, handle
        self.finished = False

    def __iter__(self) -> "RemoteGenerator":
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        return self._resume(send=value)

    def throw(self, error: BaseException, *_: Any) -> Any:
        if isinstance(error, type):
            error = error()
        return self._resume(throw=error)

    def close(self) -> None:
        self.finished = True

    def _resume(self, send: Any = None, throw: BaseException | None = None) -> Any:
        if self.finished:
            raise StopIteration
        try:
            how, value = self.sandbox.resume(self.handle, send=send, throw=throw)
        except LearnerError as error:
            self.finished = True
            if error.exception is not None:
                raise error.exception from None
            raise
        if how == "returned":
            self.finished = True
            raise StopIteration(value)
        return value


class RemoteObject:
    def __init__(self, sandbox: Sandbox, handle: int) -> None:
        self.sandbox, self.handle = sandbox, handle

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)

        def invoke(*args: Any) -> Any:
            return self.sandbox.invoke(self.handle, method, *args)

        invoke.__name__ = method
        return invoke

    def step(self, event: Any):
        from distlab.sansio import Effects

        data = self.sandbox.step(self.handle, event)
        if data is None:
            return None
        fx = Effects()
        for name in Effects._FIELDS:
            value = data.get(name) if isinstance(data, dict) else None
            if value is not None:
                setattr(fx, name, list(value) if name != "state" else value)
        return fx


def run_part(part: Part, fn: Any, seeds: list[tuple[int, bool]], budget_s: float = 120.0,
             sandbox: Sandbox | None = None) -> list[SeedResult]:
    """Run ``part.check`` on each seed; a learner failure fails that seed (and the rest).

    With a ``sandbox``, the budget is its deadline too: a call still running when the budget
    runs out is killed there, mid-seed, and every seed not yet run fails with the reason.
    """
    results = []
    started = time.monotonic()
    if sandbox is not None:
        sandbox.deadline = started + budget_s
    borrowed = ""  # a call of a withheld reference is no accident: the other seeds are not run
    for seed, hidden in seeds:
        if borrowed:
            results.append(SeedResult(seed, hidden, Outcome(False, f"not run: {borrowed}")))
            continue
        if time.monotonic() - started > budget_s or (sandbox is not None and sandbox.dead):
            why = (f"not run: the part's time budget of {budget_s:g} s ran out" if sandbox is None or
                   not sandbox.dead else f"not run: {_learner_message(LearnerError('dead', sandbox.dead))}")
            results.append(SeedResult(seed, hidden, Outcome(False, why)))
            continue
        try:
            outcome = part.check(fn, seed)
        except LearnerError as error:
            detail = "" if error.kind in ("NotImplementedError", "ReferenceWithheld") else error.detail
            outcome = Outcome.fail(_learner_message(error), detail)
            borrowed = outcome.message if error.kind == "ReferenceWithheld" else ""
        except NotImplementedError as error:
            outcome = Outcome.fail(f"not implemented yet: {error}")
        except RecursionError:
            outcome = Outcome.fail("the code recursed too deeply")
        except Exception as error:  # the learner's function raised in-kernel (self-study)
            outcome = Outcome.fail(f"your code raised {type(error).__name__}: {error}")
        if not isinstance(outcome, Outcome):
            raise TypeError(f"check of part {part.name} returned {outcome!r}")
        results.append(SeedResult(seed, hidden, outcome))
    return results


def _learner_message(error: LearnerError) -> str:
    if error.kind == "NotImplementedError":
        return f"not implemented yet ({error.message.split(': ', 1)[-1]})"
    if error.kind == "ReferenceWithheld":
        return f"a graded part must be written in your notebook, but your code called {error.message.split(': ', 1)[-1]}"
    if error.kind == "timeout":
        return f"your code did not answer: {error.message}"
    if error.kind == "budget":
        return error.message
    if error.kind in ("died", "dead"):
        return f"your code stopped the grader's worker: {error.message}"
    if error.kind == "MemoryError":
        return "your code ran out of memory (the limit is there to stop runaway allocations)"
    if error.kind == "SystemExit":
        return "your code called sys.exit(); a graded function must return instead"
    return f"your code raised {error.message}"


def _cell_label(cell: GradedCell) -> str:
    return f"cell {cell.index + 1}"


def grade_notebook(path: str | Path, lab: int | None = None, student: str | None = None,
                   limits: Limits | None = None, only_part: str | None = None,
                   only_seed: int | None = None, session: GradingSession | None = None) -> SubmissionResult:
    """Grade one notebook. Never raises for a bad submission: the result says what was wrong."""
    if session is None:
        with GradingSession() as own:
            return grade_notebook(path, lab, student, limits, only_part, only_seed, own)
    load_all()
    limits = limits or Limits()
    path = Path(path)
    started = time.monotonic()
    result = SubmissionResult(student or path.stem, str(path), lab)
    try:
        notebook = read_notebook(path)
    except NotebookError as error:
        result.error = str(error)
        result.lab = lab
        _zero_parts(result)
        return result
    detected = lab_number(notebook)
    result.lab = lab if lab is not None else detected
    if result.lab not in LABS:
        result.error = (f"cannot tell which lab this is: the notebook's metadata says {detected!r}; "
                        f"pass --lab (known labs: {sorted(LABS)})")
        result.lab = None
        return result
    tagged = tagged_cells(notebook)
    cells = {name: found[-1] for name, found in tagged.items()}
    setup = setup_code(notebook)
    for part in LABS[result.lab].parts.values():
        if only_part and part.name != only_part:
            continue
        seeds = [(s, False) for s in PUBLIC_SEEDS] + [(s, True) for s in hidden_seeds(result.lab, part.name)]
        if only_seed is not None:
            seeds = [(only_seed, only_seed not in PUBLIC_SEEDS)]
        part_result = PartResult(part.name, part.title, part.points, 0.0, rule=part.property)
        result.parts.append(part_result)
        cell = cells.get(part.name)
        if cell is None:
            part_result.message = (f"no graded cell for part {part.name!r} (a code cell whose metadata is "
                                   f"distlab.part = {part.name!r}); was it deleted?")
            continue
        part_result.cell = _cell_label(cell)
        if len(tagged[part.name]) > 1:
            earlier = ", ".join(_cell_label(c) for c in tagged[part.name][:-1])
            part_result.note = (f"{len(tagged[part.name])} cells are tagged {part.name}; the last one, "
                                f"{part_result.cell}, was graded ({earlier} ran before it)")
        others = [(c.source, f"<{_cell_label(c)}: {name}>") for name, c in cells.items() if name != part.name]
        filename = f"<{part_result.cell}: {part.name}>"
        graded_names = part.components or ((part.function, part.kind),)
        try:
            problem = next(filter(None, (provenance_problem(name, kind, cell.source, part_result.cell,
                                                            [setup] + [source for source, _ in others])
                                         for name, kind in graded_names)), None)
        except SyntaxError as error:
            part_result.message = (f"the graded cell ({part_result.cell}) does not parse: {error.msg} at line "
                                   f"{error.lineno} (IPython magics such as %time or !pip are not run by the grader)")
            continue
        if problem:
            part_result.message = problem
            continue
        sandbox = None
        try:
            sandbox = Sandbox(cell.source, [name for name, _ in graded_names], limits, extra=others, setup=setup,
                              filename=filename, lab=result.lab, session=session, references=_seams_for(part),
                              bind=part.uses)
            part_result.message = _load_problem(sandbox.loaded, graded_names, part_result.cell)
            if not part_result.message:
                part_result.seeds = run_part(part, _proxy(sandbox, part), seeds, limits.part_budget_s, sandbox)
        except LearnerError as error:
            part_result.message = f"the notebook's code failed to load: {_learner_message(error)}"
        except GraderError as error:
            result.error = f"grader error (not the submission's fault): {error}"
            part_result.message = result.error
        finally:
            if sandbox is not None:
                sandbox.close()
        # Scores are computed here, from our own records, after the worker is gone.
        total = len(seeds)
        part_result.points = round(part.points * part_result.passed / total, 2) if total else 0.0
    result.seconds = time.monotonic() - started
    return result


def _load_problem(loaded: Any, names: tuple[tuple[str, str], ...], cell: str) -> str:
    """What the worker's report of the graded names says is wrong ("" if nothing)."""
    for name, _kind in names:
        entry = loaded.get(name) if isinstance(loaded, dict) else None
        origin = entry.get("origin") if isinstance(entry, dict) else "missing"
        if not isinstance(entry, dict) or not entry.get("callable"):
            return f"the graded cell ({cell}) does not define {name}()"
        if origin != "cell":
            return f"`{name}` must be written in your notebook; it was {_plain(origin)}"
    return ""


def _seams_for(part: Part) -> Callable[[str], Callable[..., Any]]:
    """The reference seams this part's sandbox may call back for — its own, never the answer.

    The worker is learner-controlled and may ask for any name; only the part's ``refs`` and
    ``uses`` are answered (never the part itself, whose reference is the answer).
    """
    allowed = (set(part.refs) | set(part.uses)) - {part.name}

    def lookup(name: str) -> Callable[..., Any]:
        if name not in allowed:
            raise LookupError(f"{name!r} is not a seam of part {part.name}")
        return reference_seam(name)

    return lookup


def _plain(text: Any) -> str:
    """Text the worker sent, made safe to quote (it is learner-controlled)."""
    return str(text)[:200]


def _zero_parts(result: SubmissionResult) -> None:
    if result.lab in LABS:
        for part in LABS[result.lab].parts.values():
            result.parts.append(PartResult(part.name, part.title, part.points, 0.0, message=result.error,
                                           rule=part.property))


_BATCH: list[GradingSession] = []  # the batch's session, in a pool process of grade_path


def _attach(root: str) -> None:
    """Pool initializer: this process grades into the batch's private folder."""
    _BATCH[:] = [GradingSession(root=Path(root))]


def _grade_one(student: str, notebook: Path | None, problem: str, lab: int | None,
               limits: Limits | None, session: GradingSession | None = None) -> SubmissionResult:
    if problem or notebook is None:  # held back by find_submissions: 0, and never opened
        result = SubmissionResult(student, str(notebook or ""), lab, error=problem or "no notebook")
        load_all()  # the lab's parts, to list each with 0
        _zero_parts(result)
        result.skipped = True
        return result
    session = session or (_BATCH[0] if _BATCH else None)
    try:
        result = grade_notebook(notebook, lab=lab, student=student, limits=limits, session=session)
    except Exception as error:  # a grader bug must not stop the batch either
        result = SubmissionResult(student, str(notebook), lab, error=f"grader error: {type(error).__name__}: {error}")
    # A pool process's sandboxes finish dying in the background; if the pool ends it first,
    # its slot locks go with it and the batch's sweep (GradingSession.close) waits for them.
    return result


def grade_path(path: str | Path, lab: int | None = None, jobs: int = 1, limits: Limits | None = None,
               progress: Callable[[int, int, SubmissionResult], None] | None = None) -> list[SubmissionResult]:
    """Grade a notebook or a folder of submissions, ``jobs`` at a time (separate processes:
    the simulations that check each submission are CPU-bound Python).

    One private folder serves the whole batch (the stripped libraries are built once per lab);
    it is removed at the end, after every sandbox uid of the batch is free of processes.
    """
    runtime()  # found once here, so pool processes inherit it instead of probing again
    submissions = find_submissions(path)
    results: list[SubmissionResult | None] = [None] * len(submissions)
    with GradingSession() as session:
        if jobs <= 1 or len(submissions) <= 1:
            for index, (student, notebook, problem) in enumerate(submissions):
                results[index] = _grade_one(student, notebook, problem, lab, limits, session)
                if progress:
                    progress(index + 1, len(submissions), results[index])
            return [r for r in results if r is not None]
        with ProcessPoolExecutor(max_workers=jobs, initializer=_attach, initargs=(str(session.root),)) as pool:
            futures = {pool.submit(_grade_one, student, notebook, problem, lab, limits): index
                       for index, (student, notebook, problem) in enumerate(submissions)}
            for done, future in enumerate(as_completed(futures), 1):
                index = futures[future]
                try:
                    results[index] = future.result()
                except Exception as error:  # the worker process itself died
                    student, notebook, _ = submissions[index]
                    results[index] = SubmissionResult(student, str(notebook), lab,
                                                      error=f"grader error: {type(error).__name__}: {error}")
                if progress:
                    progress(done, len(submissions), results[index])
    return [r for r in results if r is not None]
