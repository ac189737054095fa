"""Plotly figures of the pages. Each has a title and axis labels with units; the pages add the
one-line explanation under it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

#: distinct colours for categories (Streamlit's own palette pairs similar blues and reds)
COLOURS = px.colors.qualitative.D3
PHASE_COLOURS = {"prefill": COLOURS[0], "decode": COLOURS[1]}

MEMORY_PARTS = [("weights", "weights"), ("kv_cache", "KV cache"), ("activations", "activations"),
                ("runtime_reserve", "runtime reserve")]


def _layout(fig: go.Figure, title: str, height: int = 420, legend: str = "top") -> go.Figure:
    """Title, height and legend (a row above the plot, or a column at its right for many entries);
    a log axis over two decades or more is labelled once per decade (`_decades`), a shorter one
    keeps plotly's own ticks, which label the values within a decade."""
    place = ({"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1.0, "traceorder": "normal"}
             if legend == "top" else {"orientation": "v", "yanchor": "top", "y": 1.0, "xanchor": "left", "x": 1.02})
    fig.update_layout(title=title, height=height, margin={"t": 70, "b": 50, "l": 60, "r": 20}, legend=place)
    for axis, values in (("x", _values(fig, "x")), ("y", _values(fig, "y"))):
        if values.size and np.log10(values.max() / values.min()) >= 2:
            getattr(fig, f"update_{axis}axes")(dtick=1, selector={"type": "log"})
    return fig


def _values(fig: go.Figure, axis: str) -> np.ndarray:
    """The positive finite values the figure's traces put on `axis`."""
    values = [np.asarray(getattr(trace, axis), dtype=float).ravel() for trace in fig.data
              if getattr(trace, axis, None) is not None and trace.type in ("scatter", "scattergl")]
    values = np.concatenate(values) if values else np.zeros(0)
    return values[np.isfinite(values) & (values > 0)]


def memory_bar(memory_gib: dict) -> go.Figure:
    """Stacked parts of one device's memory against its capacity (GiB)."""
    fig = go.Figure()
    for key, label in MEMORY_PARTS:
        fig.add_bar(y=["per device"], x=[memory_gib[key]], name=label, orientation="h",
                    hovertemplate=f"{label}: %{{x:.2f}} GiB<extra></extra>")
    capacity = memory_gib["capacity"]
    fig.add_vline(x=capacity, line_dash="dash", line_color="crimson",
                  annotation_text=f"capacity {capacity:.0f} GiB", annotation_position="top left")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="memory per device (GiB)")
    fig.update_yaxes(showticklabels=False)
    return _layout(fig, "Memory per device", height=230)


def block_bars(summary: pd.DataFrame) -> go.Figure:
    """Time of one prefill step and one decode step, split by block; each phase on its own scale."""
    phases = [("prefill", "prefill step (TTFT)"), ("decode", "decode step (TPOT)")]
    fig = make_subplots(rows=1, cols=2, subplot_titles=[title for _, title in phases], horizontal_spacing=0.15)
    for col, (phase, _) in enumerate(phases, start=1):
        part = summary[summary["phase"] == phase]
        fig.add_bar(x=part["time_ms"], y=part["block"], orientation="h", name=phase, showlegend=False,
                    marker_color=PHASE_COLOURS[phase],
                    hovertemplate="%{y}: %{x:.3f} ms<extra></extra>", row=1, col=col)
        fig.update_xaxes(title_text="time per step (ms)", row=1, col=col)
        fig.update_yaxes(title_text="block", autorange="reversed", row=1, col=col)
    return _layout(fig, "Time per step by block", height=360)


def roofline(points: pd.DataFrame, peak_flops: float, bandwidth: float, precision: str) -> go.Figure:
    """Operators at their operational intensity and achieved rate, under the device's roofs."""
    fig = px.scatter(points, x="flop_per_byte", y="achieved_tflops", color="phase", symbol="bound",
                     color_discrete_map=PHASE_COLOURS, log_x=True, log_y=True, hover_name="operator",
                     hover_data={"block": True, "count": True, "time_ms": ":.3f", "flop_per_byte": ":.1f",
                                 "achieved_tflops": ":.1f", "phase": False, "bound": True})
    peak, bw = peak_flops / 1e12, bandwidth / 1e12
    ridge = peak / bw
    low = min(points["flop_per_byte"].min(), ridge) / 4 if len(points) else ridge / 100
    high = max(points["flop_per_byte"].max(), ridge) * 4 if len(points) else ridge * 100
    fig.add_scatter(x=[low, ridge], y=[low * bw, peak], mode="lines", line={"color": "grey", "dash": "dash"},
                    name=f"memory roof {bandwidth / 1e12:.2f} TB/s")
    fig.add_scatter(x=[ridge, high], y=[peak, peak], mode="lines", line={"color": "black", "dash": "dash"},
                    name=f"compute roof {peak:.0f} TFLOP/s ({precision})")
    fig.update_xaxes(title="operational intensity (FLOP per byte)")
    fig.update_yaxes(title="achieved (TFLOP/s)")
    return _layout(fig, "Roofline of each operator", height=480, legend="right")


def compare_bars(table: pd.DataFrame, label: str, limits_ms: tuple[float, float] | None = None) -> go.Figure:
    """TTFT, TPOT and throughput per device of each scenario side by side, each metric on its own
    axis; scenarios that do not fit in memory are hatched and named so; `limits_ms` (the TTFT and
    TPOT targets) are drawn as dashed lines."""
    metrics = [("ttft_ms", "TTFT (ms)"), ("tpot_ms", "TPOT (ms)"),
               ("throughput_per_device", "throughput per device (tokens/s)")]
    fig = make_subplots(rows=1, cols=3, subplot_titles=[title for _, title in metrics])
    names = [name if fits else f"{name} (does not fit)" for name, fits in zip(table[label], table["fits"])]
    hatch = ["/" if not fits else "" for fits in table["fits"]]
    for col, (key, title) in enumerate(metrics, start=1):
        fig.add_bar(x=names, y=table[key], showlegend=False, name=title,
                    marker={"color": [COLOURS[i % len(COLOURS)] for i in range(len(table))], "pattern_shape": hatch},
                    hovertemplate=f"%{{x}}: %{{y:.2f}}<extra>{title}</extra>", row=1, col=col)
        fig.update_yaxes(title_text=title, row=1, col=col)
        fig.update_xaxes(title_text=label, row=1, col=col)
        if limits_ms is not None and col <= 2:
            fig.add_hline(y=limits_ms[col - 1], line_dash="dash", line_color="crimson", row=1, col=col,
                          annotation_text=f"target {limits_ms[col - 1]:g} ms", annotation_position="top left")
    return _layout(fig, f"TTFT, TPOT and throughput per device by {label}", height=460)


def heatmap(grid: pd.DataFrame, metric: str, title: str) -> go.Figure:
    """`metric` over batch (columns) and prompt length (rows); each cell says pass or fail when the
    grid has a `targets` column; cells that do not fit are blank and say so on hover."""
    verdict = grid["targets"] if "targets" in grid else pd.Series("", index=grid.index)
    mark = verdict.map({"pass": " ✓", "fail": " ✗"}).fillna("")
    values = grid.assign(value=np.where(grid["fits"], grid[metric], np.nan),
                         label=[f"{v:.3g}{m}" if fits else "" for v, m, fits in zip(grid[metric], mark, grid["fits"])],
                         note=np.where(grid["fits"], verdict, "does not fit"))
    table, label, note = (values.pivot(index="input", columns="batch", values=c) for c in ("value", "label", "note"))
    fig = go.Figure(go.Heatmap(z=table.to_numpy(), x=[str(b) for b in table.columns], y=[str(i) for i in table.index],
                               colorscale="Viridis", colorbar={"title": {"text": "ms"}}, text=label.to_numpy(),
                               texttemplate="%{text}", customdata=note.to_numpy(),
                               hovertemplate="batch %{x}, prompt %{y} tokens: %{z:.2f} ms %{customdata}<extra></extra>"))
    fig.update_xaxes(title="batch (requests per replica)", type="category")
    fig.update_yaxes(title="prompt length (tokens)", type="category")
    return _layout(fig, title, height=460)


def pareto(points: pd.DataFrame) -> go.Figure:
    """Throughput per device against tokens/s per user for every fitting plan and batch, with the
    Pareto front joined; with a `targets` column, the marker says pass (circle) or fail (cross)."""
    fitting = points[points["fits"]].assign(batch=lambda f: f["batch"].astype(str))
    symbol = {"symbol": "targets", "symbol_map": {"pass": "circle", "fail": "x"}} if "targets" in fitting else {}
    fig = px.scatter(fitting, x="tokens_per_s_per_user", y="throughput_per_device", color="batch",
                     color_discrete_sequence=COLOURS, hover_name="plan", log_x=True, log_y=True, **symbol,
                     hover_data={"ttft_ms": ":.1f", "tpot_ms": ":.2f", "memory_per_device_gib": ":.1f", "batch": True},
                     labels={"batch": "batch (system)", "targets": "targets"})
    front = fitting[fitting["pareto"]].sort_values("tokens_per_s_per_user")
    fig.add_scatter(x=front["tokens_per_s_per_user"], y=front["throughput_per_device"], mode="lines",
                    line={"color": "black", "dash": "dot"}, name="Pareto front", hoverinfo="skip")
    fig.update_xaxes(title="tokens/s per user (1000 / TPOT ms)")
    fig.update_yaxes(title="throughput per device (output tokens/s)")
    return _layout(fig, "Parallel plans: throughput per device against speed per user", height=480, legend="right")


def validation_scatter(frame: pd.DataFrame) -> go.Figure:
    """Predicted against measured on log axes, one colour per accelerator, with the y = x line and
    the ±20% band."""
    ok = frame[np.isfinite(frame["predicted"]) & (frame["predicted"] > 0) & (frame["value"] > 0)]
    fig = px.scatter(ok, x="value", y="predicted", color="hardware", color_discrete_sequence=COLOURS, log_x=True,
                     log_y=True, hover_name="id",
                     hover_data={"model": True, "source": True, "metric": True, "unit": True, "kind": True})
    low = min(ok["value"].min(), ok["predicted"].min()) / 1.5
    high = max(ok["value"].max(), ok["predicted"].max()) * 1.5
    fig.add_scatter(x=[low, high], y=[low, high], mode="lines", line={"color": "black"}, name="predicted = measured")
    for factor, name in ((1.2, "±20%"), (1 / 1.2, None)):
        fig.add_scatter(x=[low, high], y=[low * factor, high * factor], mode="lines",
                        line={"color": "grey", "dash": "dot"}, name=name or "", showlegend=name is not None,
                        legendgroup="band")
    fig.update_xaxes(title="measured (ms for latencies, tokens/s for throughput)")
    fig.update_yaxes(title="predicted (same unit)")
    return _layout(fig, "Predicted against measured", height=560, legend="right")


def hardware_pareto(points: pd.DataFrame) -> go.Figure:
    """Throughput per device against tokens/s per user of every fitting configuration of several
    accelerators; filled markers meet the targets (`meets_slo`), open ones do not."""
    fitting = points[points["fits"]].assign(
        targets=lambda f: np.where(f["meets_slo"], "pass", "fail"),
        plan=lambda f: [f"{r.devices} devices tp{r.tp} pp{r.pp} ep{r.ep} dp{r.dp}" for r in f.itertuples()])
    fig = px.scatter(fitting, x="tokens_per_s_per_user", y="throughput_per_device", color="hardware",
                     symbol="targets", symbol_map={"pass": "circle", "fail": "circle-open"},
                     color_discrete_sequence=COLOURS, hover_name="plan", log_x=True, log_y=True,
                     hover_data={"batch_per_replica": True, "ttft_ms": ":.1f", "tpot_ms": ":.2f"})
    fig.update_xaxes(title="tokens/s per user (1000 / TPOT ms)")
    fig.update_yaxes(title="throughput per device (output tokens/s)")
    return _layout(fig, "Configurations per accelerator: throughput per device against speed per user", height=480,
                   legend="right")


def timeline(steps: pd.DataFrame, requests: pd.DataFrame, ttft_target_ms: float | None = None) -> go.Figure:
    """A simulated run over time: running and waiting requests, KV-cache use, and each request's
    TTFT at its arrival (with the target dashed)."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=["requests running and waiting", "KV cache used", "TTFT of each request"])
    for i, (replica, part) in enumerate(steps.groupby("replica")):
        name = f" (replica {replica})" if steps["replica"].nunique() > 1 else ""
        colour = COLOURS[i % len(COLOURS)]
        fig.add_scatter(x=part["start"], y=part["running"], mode="lines", name=f"running{name}",
                        line={"color": colour}, row=1, col=1)
        fig.add_scatter(x=part["start"], y=part["waiting"], mode="lines", name=f"waiting{name}",
                        line={"color": colour, "dash": "dot"}, row=1, col=1)
        fig.add_scatter(x=part["start"], y=100 * part["kv_share"], mode="lines", name=f"KV cache{name}",
                        line={"color": colour}, showlegend=False, row=2, col=1)
    fig.add_scatter(x=requests["arrival"], y=requests["ttft_s"] * 1e3, mode="markers",
                    marker={"size": 4, "color": COLOURS[0]},
                    name="TTFT", showlegend=False, row=3, col=1)
    if ttft_target_ms is not None:
        fig.add_hline(y=ttft_target_ms, line_dash="dash", line_color="crimson", row=3, col=1,
                      annotation_text=f"target {ttft_target_ms:g} ms", annotation_position="top left")
    fig.update_yaxes(title_text="requests", row=1, col=1)
    fig.update_yaxes(title_text="KV cache used (%)", range=[0, 105], row=2, col=1)
    fig.update_yaxes(title_text="TTFT (ms)", row=3, col=1)
    fig.update_xaxes(title_text="time (s)", row=3, col=1)
    fig.update_xaxes(showticklabels=True)
    return _layout(fig, "The run over time", height=760)
