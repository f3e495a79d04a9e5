"""``distlab bench viz`` — how fast the viewer draws a frame, how big an export is, how fast it plays.

- **ms per frame**: every frame of a 5-server election (seed 7, the replay's default
  histories) is drawn as the widget draws it when you step: the ring with its message marks,
  the space-time diagram and the list of messages in flight, SVG written directly (no
  Graphviz). The median and the 90th percentile are reported. Target: <= 20 ms.
- **export**: the same election written by ``distlab replay election`` as one HTML file (the
  frames as data, drawn in the page by viewer.js): its size in bytes (target: <= 300 KB) and
  the wall time.
- **playing**: the notebook widget plays by stepping once per interval in the kernel; the
  frames per second it can sustain is measured by calling its step (``ViewerWidget.tick``)
  over every frame, widget updates included (no browser attached), and reported beside the
  rate it plays at (one frame per ``interval_ms``).
- **trace to frames**: the time to rebuild every frame's model from the trace.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from distlab.bench import print_report

TARGET_MS = 20.0
TARGET_BYTES = 300_000


def main(argv: list[str] | None = None) -> int:
    from distlab.cli import plain  # the docstring without its reST markup

    parser = argparse.ArgumentParser(prog="distlab bench viz", description=plain(__doc__))
    parser.add_argument("--servers", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--frames", type=int, default=0, help="draw only this many frames (0: all)")
    args = parser.parse_args(argv)

    from distlab.viz.frames import Timeline
    from distlab.viz.html import export_html
    from distlab.viz.runs import Run, Scenario, parse_histories
    from distlab.viz.svg import RunPicture
    from distlab.viz.widget import Viewer, ViewerWidget

    scenario = Scenario("election", args.servers, args.seed, histories=parse_histories("random", args.servers, args.seed))
    started = time.perf_counter()
    run = Run(scenario)
    sim_s = time.perf_counter() - started
    started = time.perf_counter()
    timeline = Timeline(run.trace, run.config, run.boundaries)
    model_s = time.perf_counter() - started
    frames = timeline.frames[:args.frames] if args.frames else timeline.frames
    times = []
    for frame in frames:
        t0 = time.perf_counter()
        picture = RunPicture(timeline) if frame.index == 0 else picture  # noqa: F821 - built once per run
        picture._st_base.clear()  # no cached space-time background: every frame drawn in full
        picture.ring_svg(frame.index)
        picture.spacetime_svg(frame.index)
        picture.inflight_html(frame.index)
        times.append((time.perf_counter() - t0) * 1000)
    median = statistics.median(times)
    p90 = sorted(times)[int(0.9 * (len(times) - 1))]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = export_html(timeline, Path(tmp) / "election.html", scenario.title)
        export_s = time.perf_counter() - t0
        size = path.stat().st_size
    widget = ViewerWidget(Viewer(run))
    ticks = min(len(frames), len(run) - 1)
    t0 = time.perf_counter()
    for _ in range(ticks):
        widget.tick()
    play_s = time.perf_counter() - t0
    play_fps = ticks / play_s if play_s > 0 else 0.0
    interval_fps = 1000 / widget.interval_ms
    rows = [
        ("draw one frame (median)", f"{median:.2f} ms", f"target <= {TARGET_MS:.0f} ms"),
        ("draw one frame (p90)", f"{p90:.2f} ms", "ring + space-time + message list"),
        ("export HTML (161-frame election)" if len(timeline) == 161 else "export HTML",
         f"{size:,} bytes", f"target <= {TARGET_BYTES:,} bytes; written in {export_s:.2f} s"),
        ("playing in the notebook", f"{play_fps:.0f} frames/s", f"kernel side; plays at {interval_fps:.1f} frames/s "
                                                                  f"({widget.interval_ms} ms a frame)"),
        ("trace -> frame models", f"{model_s * 1000 / max(len(timeline), 1):.2f} ms/frame", f"{len(timeline)} frames"),
        ("simulate the election", f"{sim_s * 1000:.0f} ms", ""),
    ]
    summary = {
        "benchmark": "viz",
        "servers": args.servers,
        "seed": args.seed,
        "frames": len(timeline),
        "ms_per_frame_median": round(median, 3),
        "ms_per_frame_p90": round(p90, 3),
        "model_ms_per_frame": round(model_s * 1000 / max(len(timeline), 1), 3),
        "export_s": round(export_s, 3),
        "html_bytes": size,
        "play_fps": round(play_fps, 1),
        "play_interval_ms": widget.interval_ms,
        "target_ms": TARGET_MS,
        "target_bytes": TARGET_BYTES,
        "meets_target": median <= TARGET_MS and size <= TARGET_BYTES,
    }
    print_report(f"distlab bench viz: {scenario.title}", ("what", "measured", "note"), rows, summary)
    return 0
