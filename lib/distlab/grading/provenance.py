"""Is a graded function the learner's own? Read from the notebook's source, in the grader.

A part's function (or class) must be written in its graded cell — the last code cell tagged
with the part (``distlab.part`` metadata); the other graded cells and the setup cells run
before it, so the tagged cell's definition is the one graded. This module answers from the
*source* (``ast``), where nothing the submission runs can interfere:

- the last top-level statement of the cell that binds the name must be ``def name`` or
  ``class name`` (decorators allowed);
- an import of the name (``from distlab.zab.election import vote_order``, in any cell) or an
  assignment (``vote_order = election.vote_order``) is refused, with a message saying where
  it came from.

The worker reports where the object it ended up with was defined (``worker.origin``); both
must agree. Behind both, the sandbox's library has the lab's reference answers cut out
(:mod:`distlab.grading.withheld`), so a ``def`` that only calls the library finds a stub.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

__all__ = ["Binding", "last_binding", "provenance_problem"]


@dataclass(frozen=True)
class Binding:
    kind: str  # "def", "class", "import", "assign"
    line: int
    source: str = ""  # for imports: the module it came from


def _bindings(statements: list[ast.stmt], name: str) -> list[Binding]:
    found: list[Binding] = []
    for node in statements:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            found.append(Binding("def", node.lineno))
        elif isinstance(node, ast.ClassDef) and node.name == name:
            found.append(Binding("class", node.lineno))
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name or alias.name == "*":
                    found.append(Binding("import", node.lineno, "." * node.level + (node.module or "")))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if (alias.asname or alias.name.split(".")[0]) == name:
                    found.append(Binding("import", node.lineno, alias.name))
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t)):
                found.append(Binding("assign", node.lineno))
        if isinstance(node, (ast.If, ast.For, ast.While, ast.With, ast.Try)) or type(node).__name__ == "TryStar":
            for field in ("body", "orelse", "finalbody"):
                found.extend(_bindings(getattr(node, field, []) or [], name))
            for handler in getattr(node, "handlers", []) or []:
                found.extend(_bindings(handler.body, name))
    return sorted(found, key=lambda b: b.line)


def last_binding(source: str, name: str) -> Binding | None:
    """The last top-level binding of ``name`` in ``source`` (raises SyntaxError)."""
    found = _bindings(ast.parse(source).body, name)
    return found[-1] if found else None


def _imported_anywhere(sources: list[str], name: str) -> str | None:
    for source in sources:
        try:
            found = [b for b in _bindings(ast.parse(source).body, name) if b.kind == "import"]
        except SyntaxError:
            continue
        if found:
            return found[-1].source
    return None


def provenance_problem(name: str, kind: str, cell_source: str, cell_label: str,
                       other_sources: list[str]) -> str | None:
    """Why the graded ``name`` is not the submission's own writing, or None if it is.

    ``kind`` is ``"function"`` or ``"class"``; raises SyntaxError for a cell that does not
    parse (the caller reports it as such).
    """
    statement = "class" if kind == "class" else "def"
    binding = last_binding(cell_source, name)
    if binding is None:
        origin = _imported_anywhere(other_sources, name)
        if origin is not None:
            return (f"`{name}` must be written in your notebook; it was imported from {origin} "
                    f"(write `{statement} {name}(...)` in its graded cell, {cell_label})")
        return (f"`{name}` must be written in your notebook: its graded cell ({cell_label}) does not define it "
                f"with `{statement} {name}(...)`")
    if binding.kind == "import":
        return (f"`{name}` must be written in your notebook; it was imported from {binding.source} "
                f"({cell_label}, line {binding.line})")
    if binding.kind == "assign":
        return (f"`{name}` must be written in your notebook with `{statement} {name}(...)`; its graded cell "
                f"({cell_label}) assigns it instead (line {binding.line})")
    if binding.kind != statement:
        return f"`{name}` must be a {kind} (`{statement} {name}`); {cell_label} defines it with `{binding.kind}`"
    return None
