"""Fast Leader Election's pure rules, row by row from ZooKeeper's own tests."""

from __future__ import annotations

from dataclasses import replace

import pytest

from distlab.zab.election import (
    NO_VOTE,
    Election,
    ElectionStep,
    Vote,
    check_leader,
    handle_notification,
    initial_election_state,
    vote_order,
    votes_equal,
)
from distlab.zab.messages import Notification, ServerState
from distlab.zab.zxid import make_zxid

LOOKING, FOLLOWING, LEADING, OBSERVING = (ServerState.LOOKING, ServerState.FOLLOWING,
                                          ServerState.LEADING, ServerState.OBSERVING)


def note(sid, leader, zxid, election_epoch, peer_epoch, state=LOOKING):
    return Notification(leader, zxid, election_epoch, peer_epoch, state, sid)


# ---------------------------------------------------------------- vote order -----------
@pytest.mark.parametrize(
    "new, current, beats",
    [
        # FLEPredicateTest.testPredicate: (id, zxid, epoch)
        ((4, 0, 0), (3, 0, 2), False),
        ((0, 0, 1), (1, 0, 0), True),
        ((0, 1, 0), (1, 0, 0), True),
        ((1, 1, 0), (0, 1, 0), True),
        # and the tie-breaks the order implies
        ((3, 5, 1), (3, 5, 1), False),
        ((1, make_zxid(2, 0), 2), (9, make_zxid(1, 99), 1), True),
        ((9, make_zxid(1, 99), 1), (1, make_zxid(2, 0), 1), False),
    ],
    ids=["lower epoch loses to higher id", "later epoch wins", "higher zxid wins", "higher id wins",
         "a vote never beats itself", "epoch before zxid", "zxid before id"],
)
def test_vote_order(new, current, beats):
    assert vote_order(Vote(*new[:1], new[1], new[2]), Vote(current[0], current[1], current[2])) is beats


def test_every_real_vote_beats_no_vote():
    assert vote_order(Vote(0, 0, 0), NO_VOTE) and not vote_order(NO_VOTE, Vote(0, 0, 0))


# ---------------------------------------------------------------- vote equality --------
@pytest.mark.parametrize(
    "recorded, reference, equal",
    [
        # FLEOutOfElectionTest.testIgnoringZxidElectionEpoch (equal versions: id + peer epoch)
        (note(0, 4, make_zxid(1, 1), 1, 2, FOLLOWING), note(9, 4, make_zxid(2, 1), 2, 2, FOLLOWING), True),
        (note(4, 4, make_zxid(2, 1), 2, 2, LEADING), note(9, 4, make_zxid(2, 1), 2, 2, FOLLOWING), True),
        (note(0, 4, make_zxid(1, 1), 1, 1, FOLLOWING), note(9, 4, make_zxid(2, 1), 2, 2, FOLLOWING), False),
        # testLookingDiffRounds: a LOOKING side compares all four fields
        (note(1, 4, make_zxid(2, 1), 2, 2), note(9, 4, make_zxid(2, 1), 2, 2), True),
        (note(3, 4, make_zxid(2, 1), 3, 2), note(9, 4, make_zxid(2, 1), 2, 2), False),
        (note(4, 4, make_zxid(2, 1), 3, 2, LEADING), note(9, 4, make_zxid(2, 1), 2, 2), False),
    ],
    ids=["followers differ in zxid and round", "leader and follower agree", "different peer epoch",
         "looking: all equal", "looking: other round", "leading vs looking reference: round differs"],
)
def test_votes_equal(recorded, reference, equal):
    assert votes_equal(recorded, reference) is equal


# ---------------------------------------------------------------- one step -------------
def state_of_3(me=3, clock=1, last_zxid=0, epoch=0):
    return initial_election_state(me, {1, 2, 3}, clock, last_zxid, epoch)


def test_a_later_round_restarts_from_the_initial_vote_not_the_current_proposal():
    state = replace(state_of_3(), proposal=Vote(2, 50, 0))  # currently proposing someone better
    step = handle_notification(state, note(1, 1, 5, 2, 0))
    assert step.state.logicalclock == 2 and step.broadcast
    assert step.state.proposal == Vote(1, 5, 0)  # (1, 5) beats my initial (3, 0)
    assert step.state.recvset == {1: note(1, 1, 5, 2, 0)}  # older votes forgotten

    weaker = handle_notification(state, note(1, 1, 0, 2, 0))
    assert weaker.state.proposal == Vote(3, 0, 0)  # back to my initial vote, not (2, 50)


def test_an_earlier_round_is_ignored_and_not_recorded():
    state = state_of_3(clock=4)
    step = handle_notification(state, note(1, 1, 99, 3, 9))
    assert step.state == state and not step.broadcast and "earlier round" in step.reason


def test_a_better_vote_in_the_same_round_is_adopted_and_broadcast():
    step = handle_notification(state_of_3(), note(1, 1, 7, 1, 0))
    assert step.state.proposal == Vote(1, 7, 0) and step.broadcast and not step.finalize


def test_a_worse_vote_is_recorded_but_changes_nothing():
    step = handle_notification(state_of_3(), note(2, 2, 0, 1, 0))
    assert step.state.proposal == Vote(3, 0, 0) and not step.broadcast
    assert 2 in step.state.recvset


def test_a_quorum_agreeing_with_my_proposal_starts_the_finalize_wait():
    state = state_of_3()
    step = handle_notification(state, note(3, 3, 0, 1, 0))  # my own vote via loopback
    assert not step.finalize
    step = handle_notification(step.state, note(2, 3, 0, 1, 0))
    assert step.finalize and step.decided is None
    assert "finalize" in step.reason


def test_votes_from_non_voters_and_observers_are_ignored():
    state = state_of_3()
    assert handle_notification(state, note(7, 7, 100, 1, 5)).state == state
    assert handle_notification(state, note(1, 7, 100, 1, 5)).state == state  # candidate not a voter
    assert handle_notification(state, note(2, 2, 100, 1, 5, OBSERVING)).state == state


def test_untrusted_empty_database_is_ignored():
    state = state_of_3()
    assert handle_notification(state, note(1, 1, -1, 1, 0)).state == state


def test_out_of_election_join_needs_a_quorum_and_a_leading_leader():
    # FLETest.testJoin (ZOOKEEPER-975): 1 and 2 already run with 2 leading; 3 starts later.
    state = state_of_3(me=3, clock=1)
    follower = note(1, 2, make_zxid(1, 4), 6, 1, FOLLOWING)
    step = handle_notification(state, follower)
    assert step.decided is None  # one follower is not a quorum
    leader = note(2, 2, make_zxid(1, 4), 6, 1, LEADING)
    step = handle_notification(step.state, leader)
    assert step.decided == Vote(2, make_zxid(1, 4), 1)
    assert step.state.logicalclock == 6  # adopts the established round


def test_followers_alone_cannot_elect_a_leader_that_never_said_it_leads():
    state = initial_election_state(3, {1, 2, 3, 4, 5}, 1, 0, 0)
    for sid in (1, 2, 4):
        state = handle_notification(state, note(sid, 5, 0, 7, 1, FOLLOWING)).state
    # Three of five follow 5, but 5 itself has not said LEADING (it may have crashed).
    assert not check_leader(state, state.outofelection, 5, 7)
    assert handle_notification(state, note(4, 5, 0, 7, 1, FOLLOWING)).decided is None


def test_backward_election_round_cannot_make_me_leader():
    # FLEBackwardElectionRoundTest (ZOOKEEPER-1514): FOLLOWING votes for me from round 1 must
    # not make me LEADING once I am in round 2.
    state = initial_election_state(0, {0, 1, 2}, 2, 0, 1)
    for sid in (1, 2):
        step = handle_notification(state, note(sid, 0, 0, 1, 1, FOLLOWING))
        state = step.state
        assert step.decided is None
    assert set(state.outofelection) == {1, 2}


def test_lost_message_case_finishes_on_own_vote_plus_one_follower():
    # FLELostMessageTest: server 1 LOOKING in round 1; 0 follows 1 in the same round.
    state = initial_election_state(1, {0, 1, 2}, 1, 0, 0)
    state = handle_notification(state, note(1, 1, 0, 1, 0)).state  # own vote (loopback)
    state = handle_notification(state, note(0, 0, 0, 1, 0)).state  # 0 proposes itself: loses to 1
    step = handle_notification(state, note(0, 1, 0, 1, 0, FOLLOWING))
    assert step.decided == Vote(1, 0, 0)


def test_out_of_election_votes_with_inconsistent_zxids_still_count():
    # FLETest.testJoinInconsistentEnsemble (ZOOKEEPER-1732): a member's vote has zxid+100 and
    # round+100; equality of (leader, peer epoch) is enough between non-LOOKING votes.
    state = initial_election_state(3, {1, 2, 3}, 1, 0, 0)
    state = handle_notification(state, note(1, 2, 100, 101, 1, FOLLOWING)).state
    step = handle_notification(state, note(2, 2, 0, 1, 1, LEADING))
    assert step.decided == Vote(2, 0, 1)


def test_handle_notification_never_mutates_its_input():
    state = state_of_3()
    before = (dict(state.recvset), dict(state.outofelection), state.proposal)
    handle_notification(state, note(1, 1, 9, 1, 0))
    handle_notification(state, note(2, 2, 9, 1, 0, LEADING))
    assert (dict(state.recvset), dict(state.outofelection), state.proposal) == before


# ---------------------------------------------------------------- the driver -----------
def sends(actions):
    return [(a[1], a[2]) for a in actions if a[0] == "send"]


def test_driver_broadcasts_to_every_voter_including_itself_and_arms_the_resend_timer():
    election = Election(2, {1, 2, 3})
    actions = election.start(last_zxid=7, current_epoch=1)
    assert [dst for dst, _ in sends(actions)] == [1, 2, 3]
    assert all(n == note(2, 2, 7, 1, 1) for _, n in sends(actions))
    assert ("timer", Election.RESEND_TIMER, 200) in actions


def test_driver_backs_off_exponentially_up_to_the_maximum():
    election = Election(1, {1, 2, 3}, max_notification_interval_ms=1000)
    election.start(0, 0)
    delays = []
    for _ in range(5):
        actions = election.on_timer(Election.RESEND_TIMER)
        delays.append([a[2] for a in actions if a[0] == "timer"][0])
        assert len(sends(actions)) == 3
    assert delays == [400, 800, 1000, 1000, 1000]


def test_driver_finalize_wait_discards_worse_votes_and_reopens_on_better_ones():
    election = Election(3, {1, 2, 3})
    election.start(0, 0)
    election.on_notification(note(3, 3, 0, 1, 0), LOOKING, None)
    actions = election.on_notification(note(2, 3, 0, 1, 0), LOOKING, None)
    assert ("timer", Election.FINALIZE_TIMER, 200) in actions and election.finalizing
    # A worse vote during the wait is consumed: not recorded, and the wait restarts.
    actions = election.on_notification(note(1, 1, 0, 1, 0), LOOKING, None)
    assert 1 not in election.state.recvset and ("timer", Election.FINALIZE_TIMER, 200) in actions
    # A better one reopens the election and is handled normally.
    actions = election.on_notification(note(1, 1, 5, 1, 0), LOOKING, None)
    assert ("cancel", Election.FINALIZE_TIMER) in actions and not election.finalizing
    assert election.state.proposal == Vote(1, 5, 0)


def test_driver_decides_when_the_finalize_wait_ends_quietly():
    election = Election(3, {1, 2, 3})
    election.start(0, 0)
    election.on_notification(note(3, 3, 0, 1, 0), LOOKING, None)
    election.on_notification(note(1, 3, 0, 1, 0), LOOKING, None)
    assert election.on_timer(Election.FINALIZE_TIMER) == [("decided", Vote(3, 0, 0))]


def test_driver_answers_a_laggard_and_non_voters_at_once():
    election = Election(3, {1, 2, 3})
    election.start(0, 0)
    election.logicalclock = election.state.logicalclock  # round 1
    election.on_notification(note(1, 1, 0, 3, 0), LOOKING, None)  # jump to round 3
    laggard = election.on_notification(note(2, 2, 0, 1, 0), LOOKING, None)
    assert (2, election.state.proposal_notification()) in sends(laggard)
    observer = election.on_notification(note(9, 9, 0, 1, 0), LOOKING, None)
    assert sends(observer) == [(9, election.state.proposal_notification())]


def test_driver_when_not_looking_tells_looking_servers_the_current_vote():
    election = Election(3, {1, 2, 3})
    current = note(3, 2, 5, 4, 1, FOLLOWING)
    assert sends(election.on_notification(note(1, 1, 0, 5, 0), FOLLOWING, current)) == [(1, current)]
    assert sends(election.on_notification(note(1, 2, 0, 4, 1, LEADING), FOLLOWING, current)) == []


def test_driver_rejects_a_seam_that_returns_the_wrong_type():
    election = Election(3, {1, 2, 3}, handle_notification=lambda s, n, vo, hq: s)
    election.start(0, 0)
    with pytest.raises(Exception, match="must return an ElectionStep"):
        election.on_notification(note(1, 1, 0, 1, 0), LOOKING, None)


def test_election_step_defaults_are_inert():
    step = ElectionStep(state_of_3())
    assert not step.broadcast and not step.finalize and step.decided is None
