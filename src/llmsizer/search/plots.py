"""Plots of studies, written as PNG or SVG (by the file's extension), readable without a legend hunt."""

from __future__ import annotations

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plain_log_ticks(ax) -> None:
    """Major ticks as plain numbers and no minor labels, so log axes stay legible."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(NullFormatter())


def pareto_plot(frame, front, path: str, title: str) -> None:
    """Throughput per device against tokens per second per user, the front drawn and labelled."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    fitting = frame[frame["fits"]]
    scatter = ax.scatter(fitting["tokens_per_s_per_user"], fitting["throughput_per_device"], c=np.log2(fitting["devices"]),
                         cmap="viridis", s=14, alpha=0.6)
    ax.plot(front["tokens_per_s_per_user"], front["throughput_per_device"], color="crimson", lw=2, marker="o",
            label="Pareto front")
    for _, row in front.iterrows():
        ax.annotate(f"{row['devices']}x tp{row['tp']} pp{row['pp']} b{row['batch_per_replica']}",
                    (row["tokens_per_s_per_user"], row["throughput_per_device"]), fontsize=6, xytext=(3, 3),
                    textcoords="offset points")
    bar = fig.colorbar(scatter, ax=ax)
    bar.set_label("log2(devices)")
    ax.set(xscale="log", yscale="log", xlabel="tokens per second per user (1 / TPOT)",
           ylabel="output tokens per second per device", title=title)
    _plain_log_ticks(ax)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def heat_map(flops_scales, bandwidth_scales, values, slo, path: str, title: str, datasheet: tuple[float, float],
             metric: str = "TPOT (ms)") -> None:
    """A metric over peak FLOPS x memory bandwidth, the SLO boundary drawn in white."""
    plt = _pyplot()
    from matplotlib.colors import LogNorm

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    x, y = np.asarray(flops_scales) * datasheet[0], np.asarray(bandwidth_scales) * datasheet[1]
    mesh = ax.pcolormesh(x, y, np.asarray(values).T, shading="auto", cmap="magma_r", norm=LogNorm())
    ax.contour(x, y, np.asarray(values).T, levels=[slo], colors="white", linewidths=2)
    ax.plot(*datasheet, marker="*", color="cyan", markersize=14, label="datasheet")
    fig.colorbar(mesh, ax=ax).set_label(metric)
    ax.set(xscale="log", yscale="log", xlabel="peak bf16 TFLOP/s per device", ylabel="memory bandwidth, TB/s per device",
           title=f"{title}\nwhite line: SLO {slo:g} ms")
    _plain_log_ticks(ax)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def estimate_plot(frame, peak_flops: float, bandwidth: float, path: str, title: str) -> None:
    """Two panels: time per block of each phase's step, and each operator under the roofline."""
    plt = _pyplot()
    fig, (bars, roof) = plt.subplots(1, 2, figsize=(14, 5.5))
    blocks = frame.groupby(["phase", "block"], sort=False)["time_ms"].sum().unstack(fill_value=0.0)
    blocks.plot(kind="barh", stacked=True, ax=bars, colormap="tab10")
    bars.set(xlabel="milliseconds per step", ylabel="", title="time per step by block")
    bars.legend(fontsize=7, loc="lower right")
    ops = frame[(frame["gflop"] > 0) & (frame["mbytes"] > 0) & (frame["time_ms"] > 0)]
    intensity = ops["gflop"] * 1e9 / (ops["mbytes"] * 1e6)
    achieved = ops["gflop"] * 1e9 / (ops["time_ms"] / 1e3)
    x = np.geomspace(min(intensity.min(), 0.1), max(intensity.max(), 1e4), 200)
    roof.plot(x, np.minimum(peak_flops, bandwidth * x) / 1e12, color="black", lw=1.5, label="roofline (datasheet)")
    for phase, marker in (("prefill", "o"), ("decode", "s")):
        pick = ops["phase"] == phase
        roof.scatter(intensity[pick], achieved[pick] / 1e12, marker=marker, s=28, label=phase)
        for name, xi, yi in zip(ops["operator"][pick], intensity[pick], achieved[pick] / 1e12):
            roof.annotate(name, (xi, yi), fontsize=6, xytext=(3, 2), textcoords="offset points")
    roof.set(xscale="log", yscale="log", xlabel="arithmetic intensity, FLOP per byte", ylabel="achieved TFLOP/s",
             title="operators under the roofline")
    _plain_log_ticks(roof)
    roof.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
