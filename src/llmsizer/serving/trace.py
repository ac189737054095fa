"""Request traces in and out: CSV or JSON Lines, one request per row.

Columns: `arrival` (seconds from the start; or `timestamp`), `input` (prompt tokens; or
`input_length`, `prompt_tokens`), `output` (or `output_length`, `output_tokens`), and optionally
`prefix_group` and `prefix_tokens` for a shared prompt prefix. A file whose rows have no arrival
column replays offline (every request at 0).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import LlmsizerError, require
from .requests import Requests

ALIASES = {
    "arrival": ("arrival", "timestamp", "arrival_time"),
    "input": ("input", "input_length", "prompt_tokens", "input_tokens"),
    "output": ("output", "output_length", "output_tokens", "completion_tokens"),
}


def _table(path: Path):
    import pandas as pd

    require(path.exists(), "trace", str(path), "no such file")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return pd.read_json(path, lines=True)
    return pd.read_csv(path)


def read_trace(path) -> Requests:
    path = Path(path)
    frame = _table(path)
    lower = {c.lower(): c for c in frame.columns}
    picked = {}
    for name, aliases in ALIASES.items():
        found = next((lower[a] for a in aliases if a in lower), None)
        if found is None and name != "arrival":
            raise LlmsizerError(f"trace {path}: no {name} column (one of {', '.join(aliases)})")
        picked[name] = found
    arrival = frame[picked["arrival"]].astype(float) if picked["arrival"] else [0.0] * len(frame)
    if picked["arrival"]:
        arrival = arrival - float(arrival.min())
    extra = {k: frame[k].astype(int).tolist() for k in ("prefix_group", "prefix_tokens") if k in frame}
    return Requests(list(arrival), frame[picked["input"]].astype(int).tolist(),
                    frame[picked["output"]].astype(int).tolist(), extra.get("prefix_group"), extra.get("prefix_tokens"))


def write_trace(requests: Requests, path) -> None:
    """The requests' arrivals and lengths, replayable with `read_trace`."""
    import pandas as pd

    path = Path(path)
    frame = pd.DataFrame({"arrival": requests.arrival, "input": requests.prompt, "output": requests.output,
                          "prefix_group": requests.prefix_group, "prefix_tokens": requests.prefix_tokens})
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_csv(path, index=False)
