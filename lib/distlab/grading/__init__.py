"""``distlab.grading`` — self-study checks in the notebook, and the classroom grader.

In a lab notebook::

    from distlab.grading import check
    check("vote_order", vote_order)

runs the part's *public* checks (the same checks the grader runs, on public seeds) in the
kernel and prints a verdict with hints. The grader (``distlab grade``) runs the same checks on
hidden seeds, with the learner's code in a sandboxed process.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check"]


def check(part: str, fn: Any, lab: int | None = None, show: bool = True) -> bool:
    """Run the public checks of ``part`` on ``fn`` and print what passed and what did not.

    Returns True when every public check passed. Never says "all tests passed": the grader
    also runs hidden seeds of the same property.
    """
    from distlab.grading.parts import HIDDEN_PER_PART, LABS, PUBLIC_SEEDS, load_all
    from distlab.grading.runner import run_part

    load_all()
    matches = [lab_entry.parts[part] for number, lab_entry in sorted(LABS.items())
               if part in lab_entry.parts and (lab is None or number == lab)]
    if not matches:
        known = sorted(name for entry in LABS.values() for name in entry.parts)
        raise ValueError(f"no graded part called {part!r}; parts are {known}")
    graded = matches[0]
    if graded.kind == "system":
        from collections.abc import Mapping

        from distlab.grading.system import LocalSystem

        if not isinstance(fn, Mapping):
            raise TypeError(f"check({part!r}, globals()) needs your notebook's names (globals()), got {fn!r}")
        fn = LocalSystem(fn, graded.components)
    elif not callable(fn):
        raise TypeError(f"check({part!r}, ...) needs your function or class, got {fn!r}")
    results = run_part(graded, fn, [(seed, False) for seed in PUBLIC_SEEDS])
    passed = sum(1 for r in results if r.outcome.passed is True)
    lines = []
    for r in results:
        mark = {True: "PASS", False: "FAIL", None: "UNKNOWN"}[r.outcome.passed]
        lines.append(f"[{mark}] seed {r.seed}" + ("" if r.outcome.passed else f": {r.outcome.message}"))
        if r.outcome.passed is not True and r.outcome.excerpt:
            lines.append("        " + r.outcome.excerpt.replace("\n", "\n        "))
    total = len(PUBLIC_SEEDS) + HIDDEN_PER_PART
    if passed == len(results):
        lines.append(f"public checks passed ({HIDDEN_PER_PART} of {total} graded checks are hidden)")
    else:
        lines.append(f"{passed} of {len(results)} public checks passed; rule: {graded.property}")
    if show:
        print("\n".join(lines))
    return passed == len(results)
