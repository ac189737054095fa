"""A run's timeline: running batch, queue, KV-cache use and each request's TTFT over time."""

from __future__ import annotations


def timeline_plot(result, path=None):
    """Three stacked panels sharing the time axis; saved to `path` when given. Returns the figure."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = result.steps_frame()
    requests = result.requests_frame()
    fig, (batch, kv, ttft) = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    for replica, part in steps.groupby("replica"):
        label = f"replica {replica}" if steps["replica"].nunique() > 1 else None
        batch.plot(part["start"], part["running"], lw=0.8, label=f"running ({label})" if label else "running")
        batch.plot(part["start"], part["waiting"], lw=0.8, ls="--", label=f"waiting ({label})" if label else "waiting")
        kv.plot(part["start"], 100 * part["kv_share"], lw=0.8, label=label)
    batch.set_ylabel("requests")
    batch.legend(loc="upper left", fontsize=8)
    kv.set_ylabel("KV cache used (%)")
    kv.set_ylim(0, 105)
    ttft.scatter(requests["arrival"], requests["ttft_s"] * 1e3, s=2)
    ttft.set_ylabel("TTFT (ms)")
    ttft.set_xlabel("time (s)")
    s = result.summary
    fig.suptitle(f"{s['requests']} requests: TTFT p99 {s['ttft_ms_p99']:.0f} ms, ITL p99 {s['itl_ms_p99']:.1f} ms, "
                 f"{s['output_throughput_tokens_per_s']:.0f} output tokens/s", fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
