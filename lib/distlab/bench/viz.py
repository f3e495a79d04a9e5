"""``distlab bench viz`` — how fast the viewer draws a frame, and how big an export is.

- **ms per frame**: every frame of a 5-server election (seed 7) is rebuilt into DOT and
  rendered to SVG one at a time, as the widget does when you step (cache cleared, so each is
  a real Graphviz run); the median and the 90th percentile are reported. Target: <= 100 ms,
  so stepping feels immediate.
- **export**: the same election written by ``distlab replay election`` as one HTML file: its
  size in bytes and the wall time (all frames rendered in one Graphviz process).
- **trace to frames**: the time to rebuild every frame's model from the trace.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from distlab.bench import print_report

TARGET_MS = 100.0


def main(argv: list[str] | None = None) -> int:
    from distlab.cli import plain  # the docstring without its reST markup

    parser = argparse.ArgumentParser(prog="distlab bench viz", description=plain(__doc__))
    parser.add_argument("--servers", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--frames", type=int, default=0, help="render only this many frames (0: all)")
    args = parser.parse_args(argv)

    from distlab.viz import graph
    from distlab.viz.frames import Timeline
    from distlab.viz.html import export_html, frame_title
    from distlab.viz.runs import Run, Scenario, parse_histories

    scenario = Scenario("election", args.servers, args.seed, histories=parse_histories("random", args.servers, args.seed))
    started = time.perf_counter()
    run = Run(scenario)
    sim_s = time.perf_counter() - started
    started = time.perf_counter()
    timeline = Timeline(run.trace, run.config, run.boundaries)
    model_s = time.perf_counter() - started
    layout = graph.Layout.for_timeline(timeline)
    frames = timeline.frames[:args.frames] if args.frames else timeline.frames
    times = []
    for frame in frames:
        graph._CACHE.clear()
        t0 = time.perf_counter()
        graph.render_svg(frame, layout, frame_title(frame, len(timeline)))
        times.append((time.perf_counter() - t0) * 1000)
    median = statistics.median(times)
    p90 = sorted(times)[int(0.9 * (len(times) - 1))]
    with tempfile.TemporaryDirectory() as tmp:
        graph._CACHE.clear()
        t0 = time.perf_counter()
        path = export_html(timeline, Path(tmp) / "election.html", scenario.title)
        export_s = time.perf_counter() - t0
        size = path.stat().st_size
    rows = [
        ("render one frame (median)", f"{median:.1f} ms", f"target <= {TARGET_MS:.0f} ms"),
        ("render one frame (p90)", f"{p90:.1f} ms", ""),
        ("trace -> frame models", f"{model_s * 1000 / max(len(timeline), 1):.2f} ms/frame", f"{len(timeline)} frames"),
        ("simulate the election", f"{sim_s * 1000:.0f} ms", ""),
        ("export HTML (all frames)", f"{export_s:.2f} s", f"{size:,} bytes"),
    ]
    summary = {
        "benchmark": "viz",
        "servers": args.servers,
        "seed": args.seed,
        "frames": len(timeline),
        "ms_per_frame_median": round(median, 2),
        "ms_per_frame_p90": round(p90, 2),
        "model_ms_per_frame": round(model_s * 1000 / max(len(timeline), 1), 3),
        "export_s": round(export_s, 2),
        "html_bytes": size,
        "target_ms": TARGET_MS,
        "meets_target": median <= TARGET_MS,
    }
    print_report(f"distlab bench viz: {scenario.title}", ("what", "measured", "note"), rows, summary)
    return 0
