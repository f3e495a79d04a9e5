"""The step-through viewer in a notebook: :class:`Viewer` (the logic) and its ipywidgets face.

    from distlab.viz import view
    view("election", servers=5, seed=7)                    # the reference election
    view("election", impl=Impl(vote_order=my_vote_order))   # a learner's own

:class:`Viewer` holds the runs (the original and every branch), the current run and the
current frame, and does everything a button does: step, step back, jump to the next state
change, and act on the current moment — crash or restart a server, partition or heal the
network, deliver or drop a chosen in-flight message. An action makes a *branch*: the run is
replayed deterministically up to the current frame, the action applied, and the run goes on
(:meth:`~distlab.viz.runs.Run.branch`); the original stays in the run list. It needs no
browser, so tests drive it directly.

:class:`ViewerWidget` lays the controls out with ipywidgets and only forwards to the viewer.
"""

from __future__ import annotations

from typing import Any, Sequence

from distlab.sansio import UsageError
from distlab.viz.frames import Frame, Timeline
from distlab.viz.html import asset
from distlab.viz.runs import Action, Run, Scenario, parse_groups, parse_histories
from distlab.viz.svg import Layout, RunPicture
from distlab.viz.syncview import SYNC_CSS, sync_view_html

__all__ = ["Viewer", "ViewerWidget", "view", "snapshot_html"]


class Viewer:
    """Runs and a cursor over their frames; every control of the widget is a method here."""

    def __init__(self, run: Run | Scenario) -> None:
        if isinstance(run, Scenario):
            run = Run(run)
        if not isinstance(run, Run):
            raise UsageError(f"Viewer needs a Run or a Scenario, got {type(run).__name__}")
        self.runs: list[Run] = [run]
        self.current = 0
        self.index = 0
        self._layouts: dict[int, Layout] = {}
        self._pictures: dict[int, RunPicture] = {}

    # ------------------------------------------------------------------ looking -------------
    @property
    def run(self) -> Run:
        return self.runs[self.current]

    @property
    def timeline(self) -> Timeline:
        return self.run.timeline

    @property
    def frame(self) -> Frame:
        return self.timeline[self.index]

    def __len__(self) -> int:
        return len(self.timeline)

    @property
    def layout(self) -> Layout:
        # One layout for every run of this viewer, so positions never move between branches.
        if 0 not in self._layouts:
            self._layouts[0] = Layout.for_timeline(self.runs[0].timeline)
        layout = self._layouts[0]
        missing = [c for c in self.timeline.clients if layout.position(c) is None]
        if missing:
            servers = sorted(list(self.timeline.voters) + list(self.timeline.observers))
            others = [n for n, _, _ in layout.positions if n not in servers] + missing
            layout = self._layouts[0] = Layout.for_members(servers, others)
        return layout

    @property
    def picture(self) -> RunPicture:
        """The current run's pictures (built once per run, with the viewer's one layout)."""
        layout = self.layout
        picture = self._pictures.get(self.current)
        if picture is None or picture.layout != layout:
            picture = self._pictures[self.current] = RunPicture(self.timeline, layout)
        return picture

    def svg(self) -> str:
        """The ring: servers, message marks, legend (SVG written directly, no Graphviz)."""
        return self.picture.ring_svg(self.index)

    def spacetime(self) -> str:
        """The space-time diagram of the run with the current frame's cursor."""
        return self.picture.spacetime_svg(self.index)

    def inflight_html(self) -> str:
        return self.picture.inflight_html(self.index)

    def explanation(self) -> str:
        return self.frame.explanation

    def sync_html(self) -> str:
        return sync_view_html(self.frame)

    def in_flight(self) -> list[tuple[int, str]]:
        """``(msg_id, "src -> dst: label")`` for every message in flight now."""
        return [(m.msg_id, f"#{m.msg_id} {m.src}→{m.dst}: {m.label}") for m in self.frame.in_flight]

    def servers(self) -> list[int]:
        return [v.sid for v in self.frame.servers]

    def run_names(self) -> list[str]:
        return [f"{i}: {r.name} · {len(r)} frames" for i, r in enumerate(self.runs)]

    # ------------------------------------------------------------------ moving --------------
    def goto(self, index: int) -> Frame:
        self.index = max(0, min(len(self) - 1, int(index)))
        return self.frame

    def step(self) -> Frame:
        return self.goto(self.index + 1)

    def back(self) -> Frame:
        return self.goto(self.index - 1)

    def next_state_change(self) -> Frame:
        return self.goto(self.timeline.next_state_change(self.index))

    def select(self, run: int) -> Frame:
        """Switch to another run (0 is the original); the frame index is kept where it fits."""
        if not 0 <= run < len(self.runs):
            raise UsageError(f"no run {run}; runs are 0..{len(self.runs) - 1}")
        self.current = run
        return self.goto(self.index)

    # ------------------------------------------------------------------ acting --------------
    def act(self, action: Action) -> Run:
        """Branch at the current frame with ``action``; the viewer moves to the new run.

        The new run's first new frame is the action itself, so one ``step`` shows what it did.
        """
        child = self.run.branch(self.index, action, name=f"{action.describe()} at frame {self.index + 1}")
        self.runs.append(child)
        self.current = len(self.runs) - 1
        self.goto(self.index + 1)
        return child

    def _status(self, sid: int) -> str:
        try:
            return self.frame.server(int(sid)).status
        except KeyError:
            raise UsageError(f"there is no server {sid} in this run") from None

    def crash(self, sid: int) -> Run:
        status = self._status(sid)
        if status == "NOT STARTED":
            raise UsageError(f"cannot crash server {sid}: it has not started yet at this moment "
                             f"(t = {self.frame.time} ms); step on until it boots, then crash it")
        if status == "CRASHED":
            raise UsageError(f"cannot crash server {sid}: it is already down")
        return self.act(Action("crash", (int(sid),)))

    def restart(self, sid: int) -> Run:
        status = self._status(sid)
        if status == "NOT STARTED":
            raise UsageError(f"cannot restart server {sid}: it has not started yet; it boots by itself later")
        if status != "CRASHED":
            raise UsageError(f"cannot restart server {sid}: it is up ({status}); crash it first")
        return self.act(Action("restart", (int(sid),)))

    def partition(self, groups: str | Sequence[Sequence[int]]) -> Run:
        if isinstance(groups, str):
            groups = parse_groups(groups)
        return self.act(Action("partition", tuple(tuple(g) for g in groups)))

    def heal(self) -> Run:
        if not self.frame.groups and not self.frame.cuts:
            raise UsageError("nothing to heal: the network is not partitioned at this moment")
        return self.act(Action("heal"))

    def _in_flight(self, msg_id: Any) -> int:
        if msg_id is None:
            raise UsageError("no message is in flight at this moment")
        if int(msg_id) not in {m.msg_id for m in self.frame.in_flight}:
            raise UsageError(f"message #{msg_id} is not in flight at this moment")
        return int(msg_id)

    def deliver(self, msg_id: int) -> Run:
        return self.act(Action("deliver", (self._in_flight(msg_id),)))

    def drop(self, msg_id: int) -> Run:
        return self.act(Action("drop", (self._in_flight(msg_id),)))


_WIDGET_CSS = """
.dl-viewer .widget-html-content { line-height: 1.35; }
.dl-viewer .dl-expl { height: 44px; }
.dl-viewer .dl-expl .widget-html-content, .dl-viewer .dl-pane .widget-html-content { align-self: flex-start; }
.dl-viewer .widget-button, .dl-viewer .widget-toggle-button { padding: 0 6px; font-size: 12px; }
.dl-viewer .dl-tabs .widget-toggle-button { height: 22px; line-height: 20px; font-size: 11px; }
.dl-viewer .dl-tabs .widget-toggle-buttons { height: 24px; }
.dl-viewer .dl-label .widget-html-content { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.dl-viewer .dl-status .widget-html-content { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; line-height: 20px; }
.dl-viewer .dl-actions { gap: 3px; flex-wrap: nowrap; }
.dl-viewer .dl-actions .widget-dropdown select, .dl-viewer .dl-actions input { font-size: 12px; }
.dl-viewer .widget-inline-hbox, .dl-viewer .widget-html { margin: 1px 0; }
"""


class ViewerWidget:
    """The ipywidgets face of a :class:`Viewer` (display it as the last line of a cell).

    One compact layout, the same as the exported page (``assets/viewer.css``): step controls
    and the frame label on one line, the explanation, then the ring (with its legend) beside
    the space-time diagram and a side pane (messages in flight / sync view / trace notes),
    then the what-if controls and one status line. It fits 1280x800 in JupyterLab with the
    file browser open. Every button either changes the picture or says why not in the
    status line.
    """

    TABS = ("in flight", "sync", "notes")

    def __init__(self, viewer: Viewer, interval_ms: int = 400) -> None:
        import ipywidgets as w

        L = w.Layout
        self.viewer = viewer
        v = viewer
        self.interval_ms = interval_ms
        self._updating = False
        self._timer: Any = None
        top = max(len(v), 1)
        self.back_button = w.Button(description="◀ back", tooltip="previous event", layout=L(width="66px"))
        self.step_button = w.Button(description="step ▶", tooltip="next event", layout=L(width="66px"))
        self.next_button = w.Button(description="next change »", tooltip="jump to the next state change",
                                    layout=L(width="106px", min_width="106px"))
        self.play_button = w.ToggleButton(value=False, description="play ▷", tooltip="play / pause (keeps the frame)",
                                          layout=L(width="74px", min_width="74px"))
        # The slider counts frames from 1, like the label: frame 72 is 72 on both.
        self.slider = w.IntSlider(value=1, min=1, max=top, readout=False, continuous_update=True,
                                  layout=L(flex="1 1 160px", width="auto", min_width="80px"))
        self.label = w.HTML(layout=L(flex="0 1 auto", min_width="0", overflow="hidden"))
        self.explanation = w.HTML(layout=L(width="100%"))
        self.picture = w.HTML(layout=L(flex="0 1 470px", min_width="0", width="auto"))
        self.spacetime = w.HTML(layout=L(width="100%"))
        self.tabs = w.ToggleButtons(options=list(self.TABS), value="in flight", style={"button_width": "100px"})
        self.pane = w.HTML(layout=L(width="100%"))
        self.notes = self.pane  # the trace notes show in the pane's "notes" tab
        self.sync = w.HTML()  # the sync view of the current frame (shown in the "sync" tab)
        self.status = w.HTML(layout=L(width="100%"))
        # Acting on the current moment.
        self.server = w.Dropdown(options=[(f"server {sid}", sid) for sid in v.servers()],
                                 layout=L(width="96px", min_width="96px"))
        self.crash_button = w.Button(description="crash", button_style="danger", layout=L(width="58px", min_width="58px"))
        self.restart_button = w.Button(description="restart", layout=L(width="64px", min_width="64px"))
        self.groups = w.Text(value="", placeholder="1,2 | 3,4,5", tooltip="partition groups",
                             layout=L(width="96px", min_width="96px"))
        self.partition_button = w.Button(description="partition", layout=L(width="74px", min_width="74px"))
        self.heal_button = w.Button(description="heal", layout=L(width="48px", min_width="48px"))
        self.runs = w.Dropdown(options=[], layout=L(flex="1 1 auto", width="auto", min_width="0"))
        self.message = w.Dropdown(options=[], layout=L(flex="1 1 auto", width="auto", min_width="0"))
        self.deliver_button = w.Button(description="deliver now", layout=L(width="90px", min_width="90px"))
        self.drop_button = w.Button(description="drop", layout=L(width="52px", min_width="52px"))

        for widget, css in ((self.back_button, "distlab-back"), (self.step_button, "distlab-step"),
                            (self.next_button, "distlab-next"), (self.play_button, "distlab-play"),
                            (self.picture, "distlab-picture"), (self.picture, "dl-ring"),
                            (self.label, "distlab-label"), (self.label, "dl-label"),
                            (self.explanation, "distlab-explanation"), (self.explanation, "dl-expl"),
                            (self.slider, "distlab-slider"), (self.crash_button, "distlab-crash"),
                            (self.restart_button, "distlab-restart"), (self.partition_button, "distlab-partition"),
                            (self.heal_button, "distlab-heal"), (self.deliver_button, "distlab-deliver"),
                            (self.drop_button, "distlab-drop"), (self.server, "distlab-server"),
                            (self.groups, "distlab-groups"), (self.message, "distlab-message"),
                            (self.runs, "distlab-runs"), (self.spacetime, "distlab-spacetime"),
                            (self.spacetime, "dl-st"), (self.tabs, "dl-tabs"), (self.tabs, "distlab-tabs"),
                            (self.pane, "dl-pane"), (self.pane, "distlab-pane"), (self.status, "dl-status"),
                            (self.status, "distlab-status")):
            widget.add_class(css)

        self.slider.observe(self._on_slider, names="value")
        self.back_button.on_click(lambda _: self._move(v.index - 1, "this is the first frame"))
        self.step_button.on_click(lambda _: self._move(v.index + 1, "this is the last frame"))
        self.next_button.on_click(lambda _: self._next_change())
        self.play_button.observe(self._on_play, names="value")
        self.crash_button.on_click(lambda _: self._act(lambda: v.crash(self.server.value)))
        self.restart_button.on_click(lambda _: self._act(lambda: v.restart(self.server.value)))
        self.partition_button.on_click(lambda _: self._act(lambda: v.partition(self._groups_text())))
        self.heal_button.on_click(lambda _: self._act(v.heal))
        self.deliver_button.on_click(lambda _: self._act(lambda: v.deliver(self._message_id())))
        self.drop_button.on_click(lambda _: self._act(lambda: v.drop(self._message_id())))
        self.runs.observe(self._on_run, names="value")
        self.tabs.observe(lambda _: self._refresh_pane(), names="value")

        style = w.HTML(f"<style>{asset('viewer.css')}{SYNC_CSS}{_WIDGET_CSS}</style>",
                       layout=L(height="0px", margin="0", overflow="hidden"))
        bar = w.HBox([self.back_button, self.step_button, self.next_button, self.play_button, self.slider,
                      self.label], layout=L(width="100%", flex_flow="row nowrap", align_items="center"))
        bar.add_class("dl-bar")
        side = w.VBox([self.spacetime, self.tabs, self.pane], layout=L(flex="1 1 340px", min_width="0"))
        side.add_class("dl-side")
        main = w.HBox([self.picture, side], layout=L(width="100%", flex_flow="row nowrap", align_items="flex-start"))
        main.add_class("dl-main")
        acts1 = w.HBox([self.server, self.crash_button, self.restart_button, self.groups, self.partition_button,
                        self.heal_button, self.runs], layout=L(width="100%"))
        acts2 = w.HBox([self.message, self.deliver_button, self.drop_button], layout=L(width="100%"))
        for box in (acts1, acts2):
            box.add_class("dl-actions")
        self.box = w.VBox([style, bar, self.explanation, main, acts1, acts2, self.status],
                          layout=L(width="100%", max_width="880px"))
        self.box.add_class("dl-viewer")
        self.box.add_class("distlab-viewer")
        self._refresh_runs()
        self.refresh()

    # ------------------------------------------------------------------ display -------------
    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)

    def refresh(self) -> None:
        """Redraw everything from the viewer's current run and frame."""
        import html as _html

        v = self.viewer
        frame = v.frame
        self._updating = True
        try:
            self.slider.max = max(len(v), 1)
            if self.slider.value != v.index + 1:
                self.slider.value = v.index + 1
        finally:
            self._updating = False
        run = f" · run {v.current}" if len(v.runs) > 1 else ""
        self.label.value = f"frame {v.index + 1} / {len(v)} · t = {frame.time} ms{run}"
        self.explanation.value = explanation_html(frame.explanation, frame.origin)
        self.picture.value = v.svg()
        self.spacetime.value = v.spacetime()
        self.sync.value = v.sync_html()
        self._refresh_pane()
        options = v.in_flight()
        self.message.options = [(label, msg_id) for msg_id, label in options]
        if options:
            self.message.value = options[0][0]

    def _refresh_pane(self) -> None:
        import html as _html

        v = self.viewer
        frame = v.frame
        tab = self.tabs.value
        if tab == "sync":
            self.pane.value = self.sync.value
        elif tab == "notes":
            notes = "\n".join(frame.notes)
            self.pane.value = (f'<div class="dl-notes">{_html.escape(notes)}</div>' if notes
                               else '<p class="dl-empty">no trace notes in this frame</p>')
        else:
            self.pane.value = v.inflight_html()
        flight = f"in flight ({len(frame.in_flight)})"
        if self.tabs.options[0] != flight:
            self._updating = True
            try:
                value = self.tabs.value
                self.tabs.options = [flight, "sync", "notes"]
                self.tabs.value = flight if value not in ("sync", "notes") else value
            finally:
                self._updating = False

    def _refresh_runs(self) -> None:
        v = self.viewer
        self._updating = True
        try:
            self.runs.options = [(name, i) for i, name in enumerate(v.run_names())]
            self.runs.value = v.current
        finally:
            self._updating = False

    def snapshot_html(self) -> str:
        """A static picture of the current frame (for a notebook's stored output)."""
        return snapshot_html(self.viewer)

    # ------------------------------------------------------------------ events --------------
    def say(self, text: str, why: bool = False) -> None:
        import html as _html

        text = _html.escape(text)
        self.status.value = f'<span class="dl-why" title="{text}">{text}</span>' if why else text

    def _move(self, index: int, why: str = "") -> None:
        v = self.viewer
        if index < 0 or index > len(v) - 1 or index == v.index:
            self.say(why or "that frame is not in this run", why=True)
            return
        v.goto(index)
        self.say("")
        self.refresh()

    def _next_change(self) -> None:
        v = self.viewer
        j = v.timeline.next_state_change(v.index)
        if j == v.index or not v.timeline[j].state_change:
            if j != v.index:
                self._move(j)
                self.say("no server changes state after this: jumped to the last frame", why=True)
            else:
                self.say("no server changes state after this frame", why=True)
            return
        self._move(j)

    def _on_slider(self, change: dict) -> None:
        if not self._updating:
            self.viewer.goto(change["new"] - 1)
            self.say("")
            self.refresh()

    def _on_run(self, change: dict) -> None:
        if not self._updating and change["new"] is not None:
            self.viewer.select(change["new"])
            self.say(f"showing run {change['new']}: {self.viewer.run.name}")
            self.refresh()

    # Playing runs in the kernel: a timer steps once per interval and pausing keeps the frame
    # (ipywidgets' Play has a stop button that jumps back to the first frame).
    def _on_play(self, change: dict) -> None:
        if self._updating:
            return
        if change["new"]:
            if self.viewer.index >= len(self.viewer) - 1:
                self._set_play(False)
                self.say("this is the last frame: move the slider back to play again", why=True)
                return
            self.play_button.description = "pause ❚❚"
            self.say("")
            self._schedule()
        else:
            self._stop_timer()
            self.play_button.description = "play ▷"
            self.say(f"paused at frame {self.viewer.index + 1}")

    def _set_play(self, value: bool) -> None:
        self._updating = True
        try:
            self.play_button.value = value
            self.play_button.description = "pause ❚❚" if value else "play ▷"
        finally:
            self._updating = False

    def _schedule(self) -> None:
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            try:
                loop = asyncio.get_event_loop_policy().get_event_loop()
            except RuntimeError:
                return
        self._timer = loop.call_later(self.interval_ms / 1000, self.tick)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def tick(self) -> bool:
        """One step of playing (the timer calls it); False once the last frame is reached."""
        self._timer = None
        v = self.viewer
        if v.index >= len(v) - 1:
            self._set_play(False)
            self.say("played to the last frame")
            return False
        v.goto(v.index + 1)
        self.refresh()
        if v.index >= len(v) - 1:
            self._set_play(False)
            self.say("played to the last frame")
            return False
        if self.play_button.value:
            self._schedule()
        return True

    def _message_id(self) -> int:
        if self.message.value is None:
            raise UsageError("no message is in flight at this moment")
        return self.message.value

    def _groups_text(self) -> str:
        if not self.groups.value.strip():
            raise UsageError("type the groups first, e.g. 1,2 | 3,4,5, then press partition")
        return self.groups.value

    def _act(self, action) -> None:
        try:
            child = action()
        except (UsageError, ValueError) as error:
            self.say(str(error), why=True)
            return
        self._refresh_runs()
        self.say(f"new branch {self.viewer.current}: {child.name} — the original stays in the run list")
        self.refresh()


def explanation_html(text: str, origin: str = "") -> str:
    """The frame's sentence, with what a person did first: ``(by hand: crash 5) server 5 ...``."""
    import html as _html

    if not origin:
        return _html.escape(text)
    if text.startswith("(by hand)"):
        text, origin = text[len("(by hand)"):].lstrip(), f"by hand: {origin}"
    return f'<span class="dl-origin">({_html.escape(origin)})</span> {_html.escape(text)}'


def snapshot_html(viewer: Viewer) -> str:
    """The current frame as static HTML: explanation, ring with legend, space-time diagram."""
    import html as _html

    frame = viewer.frame
    return (f"<style>{asset('viewer.css')}</style><div class=\"dl-viewer\">"
            f"<div class=\"dl-bar\"><span class=\"dl-label\">frame {viewer.index + 1} / {len(viewer)} · "
            f"t = {frame.time} ms · a still picture: run the cell for the live viewer</span></div>"
            f"<div class=\"dl-expl\">{explanation_html(frame.explanation, frame.origin)}</div>"
            f"<div class=\"dl-main\"><div class=\"dl-ring\">{viewer.svg()}</div>"
            f"<div class=\"dl-side\"><div class=\"dl-st\">{viewer.spacetime()}</div>"
            f"<div class=\"dl-pane\">{viewer.inflight_html()}</div></div></div></div>")

def view(kind: str = "election", *, servers: int | None = None, seed: int = 7, impl: Any = None,
         histories: str | dict | None = "random", crash_leader_at: int | None = None, mode: str = "diff",
         writes: int = 3, observers: int = 0, **config: Any) -> ViewerWidget:
    """Build a scenario, run it, and return the widget (the last expression of a cell shows it).

    ``kind`` is ``election``, ``sync`` or ``broadcast``; ``impl`` takes a learner's
    :class:`~distlab.zab.config.Impl`; ``histories`` (election) is ``"random"``,
    ``"empty"``, ``"1:3,1:7,..."`` or ``{sid: zxid}``.
    """
    if servers is None:
        servers = 5 if kind == "election" else 3
    if isinstance(histories, str) or histories is None:
        histories = parse_histories(histories, servers, seed)
    scenario = Scenario(kind, servers, seed, observers=observers, impl=impl, histories=histories,
                        crash_leader_at=crash_leader_at, mode=mode, writes=writes,
                        config=tuple(sorted(config.items())))
    return ViewerWidget(Viewer(Run(scenario)))
