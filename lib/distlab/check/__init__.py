"""distlab.check -- checkers for histories recorded from runs of the systems in this course.

- :func:`check_linearizable` -- is a history of client operations linearizable with
  respect to a sequential model (default: :class:`RegisterModel`, a key-value register)?
  Wing & Gong search with Lowe's memoization, checked per key (P-compositionality).
"""

from __future__ import annotations

from .linearizability import (
    PENDING,
    CheckResult,
    Model,
    Operation,
    RegisterModel,
    check_linearizable,
)

__all__ = [
    "PENDING",
    "CheckResult",
    "Model",
    "Operation",
    "RegisterModel",
    "check_linearizable",
]
