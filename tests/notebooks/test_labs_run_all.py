"""Every learner lab (labs/*.ipynb, all parts still stubs) survives "Run All".

A fresh lab runs top to bottom in a fresh kernel, as JupyterLab's "Run All" would (nbclient
stops at the first cell that fails, as Run All does). Nothing may fail: an experiment that
needs an unwritten part says so in one line (``%%needs Part X``, distlab.labkit), and a later
cell never meets a ``NameError`` because an earlier one stopped. Every cell a stub stopped
shows at most five lines.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
MAX_LINES = 5


def output_text(output) -> str:
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return "\n".join(output.traceback)
    return str(output.get("data", {}).get("text/plain", ""))


@pytest.mark.parametrize("notebook", LABS, ids=lambda p: p.stem)
def test_fresh_lab_runs_all_with_one_line_per_unwritten_part(notebook, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    # The kernel starts in labs/: give it distlab by absolute path too.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT / "lib"), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(str(notebook), as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"Run All stopped in {notebook.name}:\n{str(error)[-1500:]}")

    stopped = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        text = "\n".join(output_text(o) for o in cell.outputs)
        assert "NameError" not in text, f"cell {index} of {notebook.name}: {text[-500:]}"
        if "not written yet" in text:
            stopped.append(index)
            lines = text.strip().splitlines()
            assert len(lines) <= MAX_LINES, f"cell {index} of {notebook.name} shows {len(lines)} lines:\n{text}"
            assert "Traceback" not in text
    assert stopped, "a fresh lab has stubs: some experiment should say which part to finish"
