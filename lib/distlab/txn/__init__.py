"""``distlab.txn`` — distributed transactions (分布式事务): two-phase commit and sagas.

- :mod:`~distlab.txn.two_phase` — two-phase commit (两阶段提交) with coordinator and
  participant logs, the blocking case, recovery, and why ZooKeeper's ``multi`` is different;
- :mod:`~distlab.txn.saga` — an orchestrated saga with compensations (补偿).

Both are sans-I/O processes for the simulator; their decisions are pure functions, the seams
of Lab 9 (``decide``, ``recover_coordinator``, ``recover_participant``, ``saga_next``).
"""

from distlab.txn.saga import (
    SagaOrchestrator,
    SagaService,
    SagaStep,
    StartSaga,
    run_local_saga,
    saga_next,
    saga_violations,
    trip_saga,
)
from distlab.txn.two_phase import (
    ABORT,
    COMMIT,
    Begin,
    Coordinator,
    Participant,
    TxnImpl,
    atomicity_violations,
    decide,
    recover_coordinator,
    recover_participant,
)

__all__ = [
    "COMMIT", "ABORT", "Begin", "Coordinator", "Participant", "TxnImpl", "decide", "recover_coordinator",
    "recover_participant", "atomicity_violations",
    "SagaStep", "StartSaga", "SagaOrchestrator", "SagaService", "saga_next", "trip_saga", "saga_violations",
    "run_local_saga",
]
