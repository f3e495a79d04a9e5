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
from distlab.viz.graph import Layout, render_svg
from distlab.viz.html import frame_title
from distlab.viz.runs import Action, Run, Scenario, parse_groups, parse_histories
from distlab.viz.syncview import SYNC_CSS, sync_view_html

__all__ = ["Viewer", "ViewerWidget", "view"]


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

    def svg(self) -> str:
        return render_svg(self.frame, self.layout, frame_title(self.frame, len(self)))

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
        return [f"{i}: {r.name} ({len(r)} frames)" for i, r in enumerate(self.runs)]

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
        child = self.run.branch(self.index, action,
                                name=f"branch {len(self.runs)}: {action.describe()} at frame {self.index + 1}")
        self.runs.append(child)
        self.current = len(self.runs) - 1
        self.goto(self.index + 1)
        return child

    def crash(self, sid: int) -> Run:
        return self.act(Action("crash", (int(sid),)))

    def restart(self, sid: int) -> Run:
        return self.act(Action("restart", (int(sid),)))

    def partition(self, groups: str | Sequence[Sequence[int]]) -> Run:
        if isinstance(groups, str):
            groups = parse_groups(groups)
        return self.act(Action("partition", tuple(tuple(g) for g in groups)))

    def heal(self) -> Run:
        return self.act(Action("heal"))

    def deliver(self, msg_id: int) -> Run:
        return self.act(Action("deliver", (int(msg_id),)))

    def drop(self, msg_id: int) -> Run:
        return self.act(Action("drop", (int(msg_id),)))


class ViewerWidget:
    """The ipywidgets face of a :class:`Viewer` (display it as the last line of a cell)."""

    def __init__(self, viewer: Viewer, interval_ms: int = 600) -> None:
        import ipywidgets as w

        self.viewer = viewer
        v = viewer
        self._updating = False
        self.play = w.Play(value=0, min=0, max=max(len(v) - 1, 0), step=1, interval=interval_ms,
                           description="play", show_repeat=False)
        self.slider = w.IntSlider(value=0, min=0, max=max(len(v) - 1, 0), description="frame",
                                  continuous_update=True, layout=w.Layout(width="420px"))
        w.jslink((self.play, "value"), (self.slider, "value"))
        self.back_button = w.Button(description="◀ back", tooltip="previous event")
        self.step_button = w.Button(description="step ▶", tooltip="next event")
        self.next_button = w.Button(description="next state change »", tooltip="jump to the next state change",
                                    layout=w.Layout(width="180px", min_width="180px"))
        self.label = w.HTML()
        self.explanation = w.HTML(layout=w.Layout(min_height="2.4em"))
        self.picture = w.HTML()
        self.notes = w.HTML()
        self.sync = w.HTML()
        self.status = w.HTML()
        # Acting on the current moment.
        self.server = w.Dropdown(options=v.servers(), description="server", layout=w.Layout(width="150px"))
        self.crash_button = w.Button(description="crash", button_style="danger", layout=w.Layout(width="80px"))
        self.restart_button = w.Button(description="restart", layout=w.Layout(width="80px"))
        self.groups = w.Text(value="", placeholder="1,2 | 3,4,5", description="partition",
                             layout=w.Layout(width="230px"))
        self.partition_button = w.Button(description="partition", layout=w.Layout(width="90px"))
        self.heal_button = w.Button(description="heal", layout=w.Layout(width="70px"))
        self.message = w.Dropdown(options=[], description="message", layout=w.Layout(width="420px"))
        self.deliver_button = w.Button(description="deliver now", layout=w.Layout(width="100px"))
        self.drop_button = w.Button(description="drop", layout=w.Layout(width="70px"))
        self.runs = w.Dropdown(options=[], description="run", layout=w.Layout(width="420px"))

        for widget, css in ((self.back_button, "distlab-back"), (self.step_button, "distlab-step"),
                            (self.next_button, "distlab-next"), (self.picture, "distlab-picture"),
                            (self.label, "distlab-label"), (self.explanation, "distlab-explanation"),
                            (self.slider, "distlab-slider"), (self.crash_button, "distlab-crash"),
                            (self.runs, "distlab-runs"), (self.sync, "distlab-sync")):
            widget.add_class(css)

        self.slider.observe(self._on_slider, names="value")
        self.back_button.on_click(lambda _: self._move(v.index - 1))
        self.step_button.on_click(lambda _: self._move(v.index + 1))
        self.next_button.on_click(lambda _: self._move(v.timeline.next_state_change(v.index)))
        self.crash_button.on_click(lambda _: self._act(lambda: v.crash(self.server.value)))
        self.restart_button.on_click(lambda _: self._act(lambda: v.restart(self.server.value)))
        self.partition_button.on_click(lambda _: self._act(lambda: v.partition(self.groups.value)))
        self.heal_button.on_click(lambda _: self._act(v.heal))
        self.deliver_button.on_click(lambda _: self._act(lambda: v.deliver(self._message_id())))
        self.drop_button.on_click(lambda _: self._act(lambda: v.drop(self._message_id())))
        self.runs.observe(self._on_run, names="value")

        style = w.HTML(f"<style>{SYNC_CSS} .distlab-picture svg {{ max-width: 100%; height: auto; }}</style>")
        self.box = w.VBox([
            style,
            w.HBox([self.back_button, self.step_button, self.next_button, self.play, self.slider, self.label]),
            self.explanation,
            self.picture,
            self.notes,
            w.HBox([self.server, self.crash_button, self.restart_button, self.groups, self.partition_button,
                    self.heal_button]),
            w.HBox([self.message, self.deliver_button, self.drop_button]),
            w.HBox([self.runs]),
            self.status,
            self.sync,
        ])
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
            top = max(len(v) - 1, 0)
            self.play.max = self.slider.max = top
            if self.slider.value != v.index:
                self.slider.value = v.index
            if self.play.value != v.index:
                self.play.value = v.index
        finally:
            self._updating = False
        origin = f" · <b>{_html.escape(frame.origin)}</b>" if frame.origin else ""
        self.label.value = f"frame {v.index + 1} / {len(v)} · t = {frame.time} ms{origin}"
        self.explanation.value = (f'<div style="background:#f1f5f9;border-left:4px solid #dc2626;padding:4px 8px">'
                                  f"{_html.escape(frame.explanation)}</div>")
        self.picture.value = v.svg()
        notes = "<br>".join(_html.escape(n) for n in frame.notes)
        self.notes.value = f'<div style="color:#475569;font-size:12px">{notes}</div>' if notes else ""
        self.sync.value = v.sync_html()
        options = v.in_flight()
        self.message.options = [(label, msg_id) for msg_id, label in options]
        if options:
            self.message.value = options[0][0]

    def _refresh_runs(self) -> None:
        v = self.viewer
        self._updating = True
        try:
            self.runs.options = [(name, i) for i, name in enumerate(v.run_names())]
            self.runs.value = v.current
        finally:
            self._updating = False

    # ------------------------------------------------------------------ events --------------
    def _move(self, index: int) -> None:
        self.viewer.goto(index)
        self.status.value = ""
        self.refresh()

    def _on_slider(self, change: dict) -> None:
        if not self._updating:
            self._move(change["new"])

    def _on_run(self, change: dict) -> None:
        if not self._updating and change["new"] is not None:
            self.viewer.select(change["new"])
            self.refresh()

    def _message_id(self) -> int:
        if self.message.value is None:
            raise UsageError("no message is in flight at this moment")
        return self.message.value

    def _act(self, action) -> None:
        import html as _html

        try:
            child = action()
        except (UsageError, ValueError) as error:
            self.status.value = f'<span style="color:#b91c1c">{_html.escape(str(error))}</span>'
            return
        self._refresh_runs()
        self.status.value = f"new branch: {_html.escape(child.name)} — the original run stays in the run list"
        self.refresh()


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
