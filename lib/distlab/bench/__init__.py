"""Benchmarks behind ``distlab bench NAME``.

Every benchmark prints a human-readable table and then, as its very last line, one JSON object
with the measured figures (ratios are always measured within the same run, never against a
number remembered from another machine). Targets live here, in the benchmark, and never in a
timed unit test: the machines we run on are shared and noisy.
"""

from __future__ import annotations

import json
import platform
import sys
from typing import Any, Sequence

__all__ = ["print_report"]


def print_report(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    summary: dict[str, Any],
    out=None,
) -> None:
    """Print ``title``, an aligned table of ``rows`` and then ``summary`` as one JSON line.

    The JSON line is always last, so ``distlab bench X | tail -n 1 | python -m json.tool``
    works. ``summary`` gets ``python`` and ``machine`` fields added for context.
    """
    out = out or sys.stdout
    cells = [[str(h) for h in header]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(title, file=out)
    for n, row in enumerate(cells):
        # First column (a name) left-aligned, figures right-aligned.
        print("  ".join(c.ljust(w) if (i == 0 or n == 0) else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths))), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)
    summary = dict(summary)
    summary.setdefault("python", platform.python_version())
    summary.setdefault("machine", platform.machine())
    print(json.dumps(summary, sort_keys=True), file=out, flush=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
