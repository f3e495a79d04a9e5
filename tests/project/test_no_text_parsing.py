"""The viewer and the checkers read typed events, never protocol text (issue 13).

No module of ``distlab.viz`` or ``distlab.check`` may import ``re`` (or ``regex``), so no
regular expression can be run over a note's text: facts come from ``record.event``
(:mod:`distlab.zab.events`). SVG post-processing is not protocol text; a module that still
needs a regex for it is exempted here by name only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "lib" / "distlab"
# Rendering-only modules allowed a regex over markup (never over trace notes).
EXEMPT: frozenset[str] = frozenset()  # none left: viz/graph.py's SVG regexes went with graph.py


def _modules() -> list[Path]:
    return sorted((LIB / "viz").rglob("*.py")) + sorted((LIB / "check").rglob("*.py"))


def _regex_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] in ("re", "regex")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("re", "regex"):
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            found.append(f"line {node.lineno}: __import__")
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(LIB)))
def test_no_regular_expressions_in_viz_or_check(path):
    if path.relative_to(LIB).as_posix() in EXEMPT:
        pytest.skip("rendering-only regex, exempt by name")
    uses = _regex_uses(path)
    assert not uses, f"{path.relative_to(LIB)} uses regular expressions {uses}: read record.event, not text"


def test_notes_are_read_through_events_in_the_frame_builder():
    from distlab.viz import frames

    source = Path(frames.__file__).read_text(encoding="utf-8")
    assert "_EVENT_HANDLERS" in source and ".text" not in source.split("class _Reducer", 1)[1]
