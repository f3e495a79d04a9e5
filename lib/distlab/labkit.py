"""Lab notebooks that "Run All" cleanly while parts are still stubs.

A learner's lab is full of stubs (``raise NotImplementedError(hint)``) and of experiments that
call them. Without help, "Run All" stops at the first experiment with a traceback of 60 lines
through distlab's internals, and a later cell then fails with a ``NameError`` because the
experiment never defined its results. This module makes that one line:

    finish Part D first: `events_for` is not written yet

Importing it in a notebook (the labs' setup cell does) registers two things with IPython:

- the cell magic ``%%needs Part D``: it runs the cell; if the cell stops because a stub is not
  written yet, it prints the line above instead of the traceback, and every name the cell
  assigns is bound to an :class:`Unfinished` placeholder, so later cells find their names (and
  a later ``%%needs`` cell that uses one prints the same line). The cell's last expression is
  shown as usual.
- a short error for any other cell that reaches a stub: the same line, not the traceback
  (the cell still fails, so "Run All" stops there).

Outside IPython (the grader, a script) importing this module does nothing; the placeholder
and :func:`unwritten_stub` still work.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PartNotWritten", "Unfinished", "unwritten_stub", "needs", "load_ipython_extension"]

LIBRARY = Path(__file__).resolve().parent


class PartNotWritten(NotImplementedError):
    """A result was used that could not be computed: a part it depends on is a stub."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]  # IPython shows this instead of a traceback


class Unfinished:
    """Stands for a value a cell could not compute because a part is not written yet.

    Using it in any way (attributes, iteration, arithmetic, calls, comparison, ``str``) raises
    :class:`PartNotWritten` with the original message; its ``repr`` names what is missing.
    """

    def __init__(self, message: str, shown_in: int | None = None) -> None:
        object.__setattr__(self, "_message", message)
        object.__setattr__(self, "_shown_in", shown_in)

    def __repr__(self) -> str:
        return f"<not computed: {self._message}>"

    def _ipython_display_(self) -> None:
        # The %%needs cell that made this placeholder has printed the message already.
        if self._shown_in is None or self._shown_in != _execution_count():
            print(self._message)

    def _refuse(self, *args, **kwargs):
        raise PartNotWritten(self._message)

    def __getattr__(self, name: str):
        if name.startswith("_"):  # IPython and pickle probe for _repr_html_ etc.: say "no"
            raise AttributeError(name)
        self._refuse()

    __setattr__ = __iter__ = __len__ = __getitem__ = __contains__ = __call__ = _refuse
    __bool__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __str__ = __format__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = _refuse
    __floordiv__ = __mod__ = __neg__ = __abs__ = __int__ = __float__ = __index__ = _refuse
    __hash__ = object.__hash__


@dataclass(frozen=True)
class Stub:
    """The stub an error came from: the function's name and the hint it raised."""

    name: str
    hint: str

    def message(self, part: str = "") -> str:
        if part:
            return f"finish {part} first: `{self.name}` is not written yet"
        return f"`{self.name}` is not written yet: finish it first"


def unwritten_stub(error: BaseException) -> Stub | PartNotWritten | None:
    """The learner's stub behind ``error`` (following ``raise ... from`` chains), if any.

    A :class:`PartNotWritten` is returned as itself (its message is already the line to show).
    A ``NotImplementedError`` counts when it was raised by code outside the distlab library —
    a notebook cell — so an abstract method of the library is never blamed on the learner.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, PartNotWritten):
            return error
        if isinstance(error, NotImplementedError) and error.__traceback__ is not None:
            tb = error.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            code = tb.tb_frame.f_code
            if LIBRARY not in Path(code.co_filename).resolve().parents:
                return Stub(getattr(code, "co_qualname", code.co_name), str(error))
        error = error.__cause__ or error.__context__
    return None


def _line_for(found: Stub | PartNotWritten, part: str) -> str:
    return str(found) if isinstance(found, PartNotWritten) else found.message(part)


def assigned_names(tree: ast.Module) -> list[str]:
    """Names a cell binds at its top level by assignment (not by def, class or import)."""
    names: list[str] = []

    def targets(node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                targets(element)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    targets(target)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets(node.target)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                targets(node.target)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
            if isinstance(node, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                    visit(block)

    visit(tree.body)
    return list(dict.fromkeys(names))


def _execution_count() -> int | None:
    shell = _shell()
    return getattr(shell, "execution_count", None) if shell is not None else None


def _shell():
    ipython = sys.modules.get("IPython")  # not loaded: not in IPython (and no need to load it)
    return ipython.get_ipython() if ipython is not None else None


def needs(line: str, cell: str):
    """The ``%%needs PART`` cell magic (see the module's docstring); returns the last value."""
    shell = _shell()
    namespace = shell.user_ns
    tree = ast.parse(cell)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    filename = shell.compile.cache(cell, shell.execution_count)  # so tracebacks show the cell's lines
    try:
        exec(compile(ast.Module(tree.body, type_ignores=[]), filename, "exec"), namespace)
        if last is not None:
            return eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
    except Exception as error:
        found = unwritten_stub(error)
        if found is None:
            raise
        message = _line_for(found, line.strip())
        print(message)
        shown_in = shell.execution_count
        for name in assigned_names(ast.parse(cell)):
            namespace[name] = Unfinished(message, shown_in)
    return None


def _short_error(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for exceptions in any cell: one line when a stub is the cause."""
    found = unwritten_stub(value)
    if found is None:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)
        return None
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # %debug still works
    shell._showtraceback(etype, value, [_line_for(found, "")])
    return None


def load_ipython_extension(shell) -> None:
    """Register ``%%needs`` and the one-line stub error (``%load_ext distlab.labkit`` too)."""
    shell.register_magic_function(needs, magic_kind="cell", magic_name="needs")
    shell.set_custom_exc((NotImplementedError, RuntimeError), _short_error)


if _shell() is not None:  # pragma: no cover - exercised in notebooks
    load_ipython_extension(_shell())
