#!/usr/bin/env python3
"""Build solutions/lab10-capstone.ipynb from the graded cells of the Lab 3, 5, 6 and 7 solutions.

Run it after changing one of those cells (tests/grading/test_lab10_capstone.py checks they agree),
then `distlab labs build`. Outputs are filled by running the notebook (jupyter nbconvert --execute).
"""
import json
SOL = 'solutions'
def cells_of(lab):
    return json.load(open(f'{SOL}/{lab}.ipynb'))['cells']
def part_source(lab, part):
    for c in cells_of(lab):
        if c.get('metadata', {}).get('distlab', {}).get('part') == part:
            return ''.join(c['source']).strip('\n')
    raise KeyError((lab, part))
def setup_sources(lab):
    return [''.join(c['source']) for c in cells_of(lab) if c.get('metadata', {}).get('distlab', {}).get('role') == 'setup']

pieces = [
    ("Lab 3 — the data tree (数据树)", [("lab3-znode-tree", "ZnodeTree"), ("lab3-znode-tree", "ZkDataTree")]),
    ("Lab 5 — Fast Leader Election (快速领导者选举)", [("lab5-election", "vote_order"), ("lab5-election", "check_leader"),
                                                  ("lab5-election", "handle_notification")]),
    ("Lab 6 — synchronisation (数据同步)", [("lab6-sync", "queue_committed_proposals"), ("lab6-sync", "choose_sync_mode"),
                                          ("lab6-sync", "sync_step")]),
    ("Lab 7 — broadcast and recovery (原子广播, 崩溃恢复)", [("lab7-broadcast", "has_quorum"), ("lab7-broadcast", "process_ack"),
                                              ("lab7-broadcast", "epoch_to_propose"), ("lab7-broadcast", "follower_step"),
                                              ("lab7-broadcast", "recover_history")]),
]
body = []
for title, items in pieces:
    body.append(f"# {'=' * 20} {title} {'=' * max(2, 70 - len(title))}")
    for lab, part in items:
        body.append(part_source(lab, part))
        body.append("")
graded_src = "\n\n".join(body).rstrip() + "\n"

lab3_node_setup = setup_sources("lab3-znode-tree")[1]  # the Node class and the tree's imports
setup_src = '''from dataclasses import replace

from distlab.grading import check
from distlab.sim.ensemble import Ensemble
from distlab.zab.config import Impl
from distlab.zab.election import ElectionState, ElectionStep, Vote, initial_election_state
from distlab.zab.follower import FollowerLog, FollowerStep
from distlab.zab.learner_sync import SyncStep, SyncView
from distlab.zab.messages import (Commit, Diff, Inform, NewLeader, Notification, Proposal, ProposalPacket, ServerState,
                                  Snap, Trunc, UpToDate)
from distlab.zab.sync import LeaderHistory, SyncMode, SyncPlan
from distlab.zab.zxid import counter_of, epoch_of, format_zxid, is_new_epoch_zxid, make_zxid
from distlab.zk.errors import BadArgumentsError, BadVersionError
from distlab.zk.stat import CreateMode
from distlab.zk.watches import EventType
import distlab.labkit  # "%%needs Part X" cells: one line, not a traceback, while X is a stub

LOOKING, FOLLOWING, LEADING, OBSERVING = (ServerState.LOOKING, ServerState.FOLLOWING,
                                          ServerState.LEADING, ServerState.OBSERVING)
Zxid = int        # epoch << 32 | counter, e.g. make_zxid(2, 5) == 0x200000005
ServerId = int    # a server's myid, e.g. 3
Log = tuple       # a history: Proposals in zxid order
Path = str        # a znode path, e.g. "/app/lock-0000000003"
Watcher = str     # who set a watch (a session on a real server)
SEED = 7

''' + lab3_node_setup.strip('\n') + "\n"

def md(cid, text):
    return {"cell_type": "markdown", "id": cid, "metadata": {}, "source": text.strip("\n").splitlines(keepends=True)}
def code(cid, text, meta=None):
    return {"cell_type": "code", "execution_count": None, "id": cid, "metadata": meta or {}, "outputs": [],
            "source": text.strip("\n").splitlines(keepends=True)}

cells = [
md("lab10-cell00", r'''
# Lab 10 — Capstone: a ZooKeeper of your own (你自己的 ZooKeeper)

**Goals.** In Labs 3-7 you wrote the pieces of a ZooKeeper server one at a time, each graded beside
the reference. Here they become **one ensemble (集群)**: every decision of every server is yours —
the data tree that applies each txn (数据树, Lab 3), the vote order and the election step (快速领导者选举,
Lab 5), how the leader syncs a learner and how the learner follows the sync (数据同步, Lab 6), the majority rule, the commit rule, the new
epoch, the follower's side of broadcast and the recovery of the acknowledged history (原子广播 and
崩溃恢复, Lab 7). Nothing of the reference's decisions is left: if your system works, *you* built it.

Read first: [chapter 10, Zab](../course/10-zab.ipynb). The grade is what the course's checkers say
about your system under **random faults** (the fuzzer of chapter 10, `distlab fuzz zab`): crashes,
restarts, partitions and lost messages while clients read and write; then everything heals. Each
graded seed is one such run; it passes when every property holds:

| property | in words |
|---|---|
| one leader per epoch (每个纪元只有一个领导者) | no two servers lead the same epoch |
| agreement (一致性) and order (顺序性) | every server applies the same txn at each zxid, in zxid order |
| no committed txn lost (持久性) | what a client was told is committed survives every crash |
| client guarantees (顺序一致性, 单一视图) | a session's requests take effect in order; a client never sees the state go back |
| linearizable znodes (线性一致性) | the clients' writes and reads could have happened one at a time |
| liveness (活性) | once healed, a majority elects a leader and serves again |
'''),
code("lab10-cell01", setup_src, {"distlab": {"role": "setup"}}),
md("lab10-cell02", r'''
## Your pieces (20 points)

Paste your graded cells of Labs 3, 5, 6 and 7 into the cell below, in the places marked — the
whole functions and classes, with any helper they call (`agree`, say). The cell is graded as a
whole: it must define every name of the table, with `def` or `class` in this cell (a piece
imported from distlab is refused, and distlab's own answers are not there while grading).

| piece | lab | what the servers use it for |
|---|---|---|
| `ZnodeTree`, `ZkDataTree` | 3 | the data tree every server applies txns to (`Impl.tree`) |
| `vote_order`, `check_leader`, `handle_notification` | 5 | Fast Leader Election |
| `queue_committed_proposals`, `choose_sync_mode`, `sync_step` | 6 | the leader's DIFF / TRUNC / SNAP choice, the learner's side of the sync |
| `has_quorum`, `process_ack`, `epoch_to_propose` | 7 | quorums, in-order commits, the new epoch |
| `follower_step`, `recover_history` | 7 | a follower's PROPOSAL/COMMIT, a server's recovery |

Pieces call each other as the servers do: your `handle_notification` gets *your* `vote_order` and
`has_quorum`, your `choose_sync_mode` calls *your* `queue_committed_proposals`.
'''),
code("lab10-cell03", graded_src,
     {"distlab": {"part": "my_zookeeper", "hint": "paste your graded cells of Labs 3, 5, 6 and 7 here"},
      "nbgrader": {"grade": False, "grade_id": "my_zookeeper", "locked": False, "schema_version": 3,
                   "solution": True, "task": False}}),
code("lab10-cell04", 'check("my_zookeeper", globals())\n### BEGIN HIDDEN TESTS\n'
     'assert check("my_zookeeper", globals(), show=False), "your ZooKeeper does not pass its public checks yet"\n'
     '### END HIDDEN TESTS',
     {"nbgrader": {"grade": True, "grade_id": "check_my_zookeeper", "locked": True, "points": 20,
                   "schema_version": 3, "solution": False, "task": False}}),
md("lab10-cell05", r'''
## Run it

`impl_of(globals())` is your system as an `Impl`: the same seam the reference plugs into. One fuzz
run with faults, checked by every checker — the numbers are your ensemble's own elections and
commits.
'''),
code("lab10-cell06", r'''
%%needs Part my_zookeeper
from distlab.grading.system import impl_of
from distlab.testing.fuzz import random_case, run_case

mine = impl_of(globals())
case = random_case(SEED, servers=5, observers=1, duration_ms=6000)
result, ensemble = run_case(case, impl=mine)
{"faults": [str(f) for _, f in case.schedule.entries], "elections": result.elections, "commits": result.commits,
 "violations": [str(v) for v in result.violations]}
'''),
md("lab10-cell07", r'''
And step through your own election, frame by frame: five servers, each running your
`vote_order` and `handle_notification` (and the rest of your system once a leader is elected).
'''),
code("lab10-cell08", r'''
%%needs Part my_zookeeper
from distlab.viz import view

view("election", servers=5, seed=SEED, impl=mine)
'''),
md("lab10-cell09", r'''
## What ZooKeeper does differently

* The real server's decisions live in many classes (`FastLeaderElection`, `LearnerHandler`,
  `Leader`, `Follower`, `DataTree`, `ZKDatabase`), not in a dozen functions, and its state is
  spread over threads and queues; distlab's sans-I/O core lets the same decisions run in a
  simulator, a model checker and a real TCP server unchanged.
* ZooKeeper adds what the course leaves out: ACL checks in the request pipeline, dynamic
  reconfiguration, hierarchical quorums, local sessions, read-only mode and quotas.

**Open question.** The fuzzer found no violation in ten runs of your system. What would convince
you that it never will — and which of your pieces would you test exhaustively first?
'''),
]
nb = {"cells": cells, "metadata": {"distlab": {"lab": 10, "title": "Capstone: a ZooKeeper of your own"},
                                   "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                                   "language_info": {"name": "python"}},
      "nbformat": 4, "nbformat_minor": 5}
open(f'{SOL}/lab10-capstone.ipynb', 'w').write(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
