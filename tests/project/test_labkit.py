"""distlab.labkit: which error is an unwritten stub, and the placeholder for a missing result."""

from __future__ import annotations

import ast

import pytest

from distlab.labkit import PartNotWritten, Unfinished, assigned_names, unwritten_stub


def stub(x):
    raise NotImplementedError("write this part")


def test_a_stub_is_named_even_behind_a_wrapping_error():
    try:
        try:
            stub(1)
        except NotImplementedError as error:
            raise RuntimeError("process 1 raised NotImplementedError") from error
    except RuntimeError as wrapped:
        found = unwritten_stub(wrapped)
    assert found.name == "stub" and found.hint == "write this part"
    assert found.message("Part B") == "finish Part B first: `stub` is not written yet"


def test_the_librarys_own_not_implemented_is_not_blamed_on_the_learner():
    from distlab import labkit

    code = compile("def abstract():\n    raise NotImplementedError\n", labkit.__file__, "exec")
    namespace = {}
    exec(code, namespace)
    with pytest.raises(NotImplementedError) as info:
        namespace["abstract"]()
    assert unwritten_stub(info.value) is None
    assert unwritten_stub(ValueError("x")) is None


def test_a_missing_result_refuses_every_use_with_the_same_line():
    missing = Unfinished("finish Part D first: `events_for` is not written yet")
    for use in (lambda: list(missing), lambda: missing.tree, lambda: missing + 1, lambda: missing == [],
                lambda: f"{missing}", lambda: missing[0], lambda: bool(missing)):
        with pytest.raises(PartNotWritten, match="finish Part D first"):
            use()
    assert "not computed" in repr(missing)
    assert unwritten_stub(PartNotWritten("finish Part D first")) is not None


def test_assigned_names_are_the_cells_top_level_results():
    cell = "import x\nfrom y import z\na, (b, *c) = f()\nfor i in range(3):\n    d = i\ne += 1\ndef g():\n    h = 1\n"
    assert assigned_names(ast.parse(cell)) == ["a", "b", "c", "i", "d", "e"]
