"""The viewer's logic and its ipywidgets face, without a browser (buttons clicked from Python)."""

from __future__ import annotations

import pytest

from distlab.sansio import UsageError
from distlab.viz.runs import Run, Scenario
from distlab.viz.widget import Viewer, ViewerWidget, view
from distlab.zab.config import Impl


@pytest.fixture
def viewer(plain_election_run) -> Viewer:
    return Viewer(plain_election_run)


def test_stepping_and_the_next_state_change(viewer):
    assert viewer.index == 0 and len(viewer) == len(viewer.run)
    first = viewer.svg()
    viewer.step()
    assert viewer.index == 1 and viewer.svg() != first
    viewer.back()
    viewer.back()
    assert viewer.index == 0  # clamped
    viewer.goto(10)
    frame = viewer.next_state_change()
    assert frame.state_change and all(not f.state_change for f in viewer.timeline.frames[11:frame.index])
    viewer.goto(10_000)
    assert viewer.index == len(viewer) - 1


def test_an_action_makes_a_branch_and_the_original_stays(viewer):
    original = viewer.run
    viewer.goto(60)
    before = [f.explanation for f in original.timeline]
    child = viewer.crash(5)
    assert viewer.runs == [original, child] and viewer.run is child
    assert viewer.index == 61 and viewer.frame.event.kind == "crash" and viewer.frame.origin == "crash 5"
    assert viewer.frame.explanation.startswith("(by hand) server 5 crashes")
    # The branch replays the original exactly up to the branch point ...
    assert child.boundaries[:61] == original.boundaries[:61]
    assert child.trace.to_json(0, child.boundaries[60][1]) == original.trace.to_json(0, original.boundaries[60][1])
    # ... then goes its own way: 5 never leads, someone else does.
    assert [v.sid for v in child.timeline[-1].servers if v.status == "LEADING"] not in ([], [5])
    # The original is untouched and still reachable.
    assert [f.explanation for f in original.timeline] == before
    viewer.select(0)
    assert viewer.run is original and viewer.index == 61


def test_deliver_and_drop_a_chosen_message(viewer):
    viewer.goto(4)
    waiting = viewer.in_flight()
    assert len(waiting) == 25
    msg_id, label = waiting[-1]  # the last to be delivered, normally
    viewer.deliver(msg_id)
    frame = viewer.frame
    assert frame.event.kind == "deliver" and frame.event.msg_id == msg_id and frame.origin == f"deliver message #{msg_id}"
    viewer.goto(4)
    viewer.select(0)
    viewer.goto(4)
    dropped = viewer.in_flight()[0][0]
    viewer.drop(dropped)
    assert viewer.frame.event.kind == "drop" and viewer.frame.event.reason == "dropped by hand"
    assert dropped not in [m for m, _ in viewer.in_flight()]
    assert len(viewer.runs) == 3


def test_partition_heal_and_restart(viewer):
    viewer.goto(len(viewer) - 1)
    viewer.partition("5 | 1,2,3,4")
    assert viewer.frame.groups == ((5,), (1, 2, 3, 4))
    viewer.goto(len(viewer) - 1)
    viewer.heal()
    assert viewer.frame.event.kind == "heal"
    viewer.select(0)
    viewer.goto(100)
    viewer.crash(2)
    viewer.restart(2)
    assert viewer.frame.event.kind == "restart" and viewer.frame.server(2).status == "LOOKING"


def test_actions_that_do_not_fit_change_nothing(viewer):
    viewer.goto(3)  # server 5 has not booted yet
    with pytest.raises(UsageError):
        viewer.restart(1)  # it is up
    with pytest.raises(UsageError):
        viewer.deliver(999_999)
    with pytest.raises(UsageError):
        viewer.partition("one | two")
    assert len(viewer.runs) == 1 and viewer.index == 3


def test_the_widget_buttons_drive_the_viewer(plain_election_run):
    widget = ViewerWidget(Viewer(plain_election_run))
    picture = widget.picture.value
    widget.step_button.click()
    assert widget.slider.value == 2 and widget.picture.value != picture  # the slider counts from 1, as the label
    assert widget.label.value.startswith("frame 2 / ")
    widget.next_button.click()
    assert widget.viewer.frame.state_change
    widget.back_button.click()
    assert widget.slider.value == widget.viewer.index + 1
    widget.slider.value = 40
    assert widget.viewer.index == 39 and "vote" in widget.picture.value
    assert "frame 40 /" in widget.label.value
    assert widget.explanation.value and widget.sync.value
    assert len(widget.message.options) == len(widget.viewer.frame.in_flight)
    # A fault button makes a branch, listed beside the original.
    widget.server.value = 5
    widget.crash_button.click()
    assert len(widget.runs.options) == 2 and widget.runs.value == 1
    assert "run 1" in widget.label.value and "crash 5)" in widget.explanation.value
    widget.runs.value = 0
    assert widget.viewer.run.name == "original"
    # A bad action is reported, not raised.
    widget.server.value = 5
    widget.restart_button.click()
    assert "cannot restart" in widget.status.value and len(widget.runs.options) == 2


def test_the_deliver_button_uses_the_chosen_message(plain_election_run):
    widget = ViewerWidget(Viewer(plain_election_run))
    widget.slider.value = 5
    options = list(widget.message.options)
    label, msg_id = options[7]
    widget.message.value = msg_id
    widget.deliver_button.click()
    assert widget.viewer.frame.event.msg_id == msg_id


def test_view_takes_a_learners_implementation():
    def lowest_id_wins(new, current):
        return new.leader < current.leader

    widget = view("election", servers=3, seed=7, impl=Impl(vote_order=lowest_id_wins), histories="1:2,1:9,1:5")
    frames = widget.viewer.timeline.frames
    assert any(f.server(1).status == "LEADING" for f in frames)
    assert view("sync", mode="snap").viewer.run.scenario.kind == "sync"


def test_the_sync_view_shows_logs_and_the_mode():
    from distlab.viz.syncview import sync_rows, sync_view_text

    viewer = Viewer(Run(Scenario("sync", 3, 7, mode="diff")))
    viewer.goto(len(viewer) - 1)
    html = viewer.sync_html()
    assert "DIFF: send 0x1_00000003, 0x1_00000004, 0x1_00000005" in html
    rows = sync_rows(viewer.frame)
    assert rows["leader"] is not None and rows["rows"][0]["leader"]
    assert all(c == "same" for row in rows["rows"] for c in row["cells"])
    # Before the plan the lagging learner lacks the newest txns.
    plan_frame = next(f for f in viewer.timeline if any(s.mode == "DIFF" and s.time == f.time for s in f.syncs))
    text = sync_view_text(viewer.timeline[plan_frame.index])
    learner_line = [l for l in text.splitlines() if "DIFF: send" in l][0]
    assert "□□□" in learner_line


def test_every_button_changes_the_picture_or_says_why_not(plain_election_run):
    widget = ViewerWidget(Viewer(plain_election_run))
    v = widget.viewer
    widget.back_button.click()
    assert "first frame" in widget.status.value and v.index == 0
    widget.server.value = 5  # not started yet at frame 1
    widget.crash_button.click()
    assert "has not started yet" in widget.status.value and "already down" not in widget.status.value
    widget.restart_button.click()
    assert "has not started yet" in widget.status.value
    widget.heal_button.click()
    assert "not partitioned" in widget.status.value
    widget.partition_button.click()
    assert "type the groups" in widget.status.value
    widget.slider.value = len(v)
    widget.step_button.click()
    assert "last frame" in widget.status.value
    widget.next_button.click()
    assert "no server changes state" in widget.status.value
    widget.play_button.value = True
    assert "last frame" in widget.status.value and widget.play_button.value is False
    widget.slider.value = 1
    widget.message.index = None  # no message chosen (as when nothing is in flight)
    widget.deliver_button.click()
    assert "no message is in flight" in widget.status.value
    widget.drop_button.click()
    assert "no message is in flight" in widget.status.value
    assert len(v.runs) == 1


def test_playing_steps_and_pausing_keeps_the_frame(plain_election_run):
    widget = ViewerWidget(Viewer(plain_election_run))
    widget.slider.value = 10
    widget.play_button.value = True
    assert widget.play_button.description.startswith("pause")
    assert widget.tick() and widget.tick()
    assert widget.viewer.index == 11 and widget.slider.value == 12 and "frame 12 /" in widget.label.value
    widget.play_button.value = False
    assert widget.viewer.index == 11 and "paused at frame 12" in widget.status.value
    widget.slider.value = len(widget.viewer) - 1
    widget.play_button.value = True
    assert widget.tick() is False and widget.play_button.value is False


def test_crashing_a_crashed_server_and_short_run_names(plain_election_run):
    viewer = Viewer(plain_election_run)
    viewer.goto(30)
    viewer.crash(2)
    with pytest.raises(UsageError, match="already down"):
        viewer.crash(2)
    assert viewer.run_names()[1] == f"1: crash 2 at frame 31 · {len(viewer.runs[1])} frames"
    widget = ViewerWidget(viewer)
    assert "run 1" in widget.label.value and "crash 2)" in widget.explanation.value


def test_the_side_pane_tabs(plain_election_run):
    widget = ViewerWidget(Viewer(Run(Scenario("sync", 3, 7, mode="diff"))))
    widget.slider.value = len(widget.viewer)
    assert widget.tabs.options[0].startswith("in flight (")
    widget.tabs.value = "sync"
    assert "Sync view" in widget.pane.value
    widget.tabs.value = "notes"
    assert "dl-notes" in widget.pane.value or "no trace notes" in widget.pane.value
    assert "<svg" in widget.spacetime.value and "st-cursor" in widget.spacetime.value
