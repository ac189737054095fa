"""Measured rows prepared once, then predicted under any efficiency profiles.

A row names a scenario, a metric and its measured value (the form of the shipped
`data/validation/measurements.csv`). A row timed at an HTTP client (`client` = http) includes the
request's path through the server (tokenisation, HTTP, streaming) in its TTFT and end-to-end
latency, which an estimate (the engine's time) does not; the profile's `client_overhead_s` stands
for it. Rows that share a scenario are one vectorised evaluation;
their operator graphs are built once, so re-costing them under new profile parameters (as a fit
does hundreds of times) only redoes the roofline arithmetic.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from importlib import resources
from typing import Callable

import numpy as np

from ..cost.levels import family_of
from ..cost.profile import Profile, load_profile
from ..errors import LlmsizerError
from ..inference.batch import Prepared, cost, prepare
from ..inference.scenario import scenario
from ..inference.predict import engine_label
from ..inference.rows import optional_whole_cells, switch_cells
from ..inference.workload import Workload
from ..units import MS

#: measured metric -> the predicted quantity it is compared with
METRIC_KIND = {
    "ttft_ms": "ttft", "prefill_latency_ms": "ttft",
    "tpot_ms": "tpot", "decode_step_ms": "tpot",
    "e2e_latency_ms": "e2e_latency", "throughput_tokens_per_s": "throughput",
}
KINDS = ("ttft", "tpot", "e2e_latency", "throughput")
#: where a row was timed: empty, by the engine (or its offline benchmark); http, at an HTTP client
CLIENTS = ("", "http")
#: the metrics a client's own path lengthens: it comes before the first token
CLIENT_KINDS = ("ttft", "e2e_latency")


def shipped_measurements_path():
    return resources.files("llmsizer.data").joinpath("validation", "measurements.csv")


def read_measurements(path=None):
    import pandas as pd

    with resources.as_file(shipped_measurements_path()) if path is None else nullcontext(path) as p:
        return pd.read_csv(p, keep_default_na=False)


@dataclass
class Group:
    positions: np.ndarray
    prepared: Prepared
    engine: str
    hardware: str
    at_client: bool = False  # its rows were timed at an HTTP client (grouping keeps them apart)


@dataclass
class Rows:
    """Measurements with their scenarios prepared: `frame` gains `kind`, `engine`, `batch_run`
    (the batch evaluated: the stated one, or the largest that fits when it does not) and `error`."""

    frame: object
    groups: list[Group]

    @property
    def engines(self) -> list[str]:
        return sorted({g.engine for g in self.groups})

    @property
    def hardware(self) -> list[str]:
        return sorted({g.hardware for g in self.groups})

    def subset(self, mask) -> "Rows":
        """Rows where `mask` holds (a boolean array over the frame), sharing the prepared graphs."""
        keep = np.flatnonzero(mask)
        remap = -np.ones(len(self.frame), dtype=int)
        remap[keep] = np.arange(len(keep))
        groups = []
        for g in self.groups:
            inside = mask[g.positions]
            if inside.all():
                groups.append(Group(remap[g.positions], g.prepared, g.engine, g.hardware, g.at_client))
            elif inside.any():
                groups.append(_subgroup(g, inside, remap))
        return Rows(self.frame.iloc[keep].reset_index(drop=True), groups)


def _subgroup(g: Group, inside: np.ndarray, remap: np.ndarray) -> Group:
    w = g.prepared.workload
    pick = lambda x: np.asarray(x, dtype=float)[inside]  # noqa: E731
    prepared = prepare(g.prepared.scenario, Workload(pick(w.batch), pick(w.input), pick(w.output)))
    return Group(remap[g.positions[inside]], prepared, g.engine, g.hardware, g.at_client)


def prepare_rows(frame) -> Rows:
    """Resolve and prepare every row's scenario; a row that cannot be estimated keeps its reason."""
    frame = frame.reset_index(drop=True).copy()
    frame["kind"] = frame["metric"].map(METRIC_KIND)
    frameworks = frame["framework"] if "framework" in frame.columns else [""] * len(frame)
    frame["engine"] = [engine_label(f).split(" ")[0] for f in frameworks]
    frame["engine_family"] = frame["engine"].str.split("/").str[0]
    frame["family"] = ""
    frame["batch_run"] = frame["batch_size"].astype(float)
    frame["error"] = ""
    unknown = frame["kind"].isna()  # fails its own row
    frame.loc[unknown, "error"] = [f"metric: {m!r} is not known; known: {', '.join(METRIC_KIND)}"
                                   for m in frame.loc[unknown, "metric"]]
    # optional columns: empty where the source timed the engine itself, states no compiled shape or ran graphs
    frame["client"] = frame["client"].fillna("") if "client" in frame.columns else ""
    blank = np.full(len(frame), "", dtype=object)
    bad_cells = blank.copy()
    for column, parse in (("compiled_batch", optional_whole_cells), ("compiled_sequence", optional_whole_cells),
                          ("eager", switch_cells)):
        frame[column], bad = parse(column, frame[column].to_numpy(dtype=object) if column in frame.columns else blank)
        bad_cells = np.where(bad_cells == "", bad, bad_cells)
    frame["error"] = np.where(frame["error"] == "", bad_cells, frame["error"])
    keys = ["model", "hardware", "num_devices", "tp", "pp", "ep", "weight_precision", "kv_precision", "engine",
            "compiled_batch", "compiled_sequence", "eager", "client"]
    groups = []
    for positions in frame.groupby(keys, sort=False).indices.values():
        positions = positions[bad_cells[positions] == ""]  # a bad cell of the key fails its own row
        if not len(positions):
            continue
        first = frame.iloc[positions[0]]
        if first["client"] not in CLIENTS:  # fails its own rows (the client is part of the group's key)
            frame.loc[positions, "error"] = (f"client: {first['client']!r} is not known; http (timed at an HTTP "
                                             "client) or empty (timed by the engine)")
            continue
        try:
            sc = scenario(first["model"], first["hardware"], devices=int(first["num_devices"]), tp=int(first["tp"]),
                          pp=int(first["pp"]), ep=int(first["ep"]), weight_precision=first["weight_precision"],
                          kv_precision=first["kv_precision"], profile=first["engine"],
                          compiled_batch=int(first["compiled_batch"]) or None,
                          compiled_sequence=int(first["compiled_sequence"]) or None, eager=bool(first["eager"]))
            rows = frame.iloc[positions]
            stated = Workload(rows["batch_size"].to_numpy(float), rows["input_len"].to_numpy(float),
                              rows["output_len"].to_numpy(float))
            fitting = np.minimum(stated.batch, np.maximum(prepare(sc, stated).memory.max_batch, 1))
            frame.loc[positions, "batch_run"] = fitting
            prepared = prepare(sc, Workload(fitting, stated.input, stated.output))
        except (LlmsizerError, ValueError) as exc:
            frame.loc[positions, "error"] = str(exc)
            continue
        frame.loc[positions, "family"] = family_of(sc.system.accelerator.name) or sc.system.accelerator.name
        groups.append(Group(np.asarray(positions), prepared, first["engine"], sc.system.accelerator.name,
                            first["client"] == "http"))
    return Rows(frame, groups)


ProfileFor = Callable[[str, str], Profile]


def default_profiles(engine: str, hardware: str) -> Profile:
    return load_profile(engine, hardware)


def predicted(rows: Rows, profile_for: ProfileFor = default_profiles) -> np.ndarray:
    """The predicted value of each row's metric (NaN where it could not be estimated). A stated
    batch larger than what fits runs as waves of the batch that fits, one after another: its
    end-to-end latency is that of batch / fitting waves; its other metrics those of one wave."""
    out = np.full(len(rows.frame), np.nan)
    kinds = rows.frame["kind"].to_numpy()
    waves = rows.frame["batch_size"].to_numpy(float) / rows.frame["batch_run"].to_numpy(float)
    for g in rows.groups:
        profile = profile_for(g.engine, g.hardware)
        est = cost(g.prepared, profile)
        values = {"ttft": est.ttft / MS, "tpot": est.tpot / MS, "e2e_latency": est.e2e / MS * waves[g.positions],
                  "throughput": est.throughput}
        k = kinds[g.positions]
        client = np.where(g.at_client & np.isin(k, CLIENT_KINDS), profile.client_overhead_s / MS, 0.0)
        out[g.positions] = np.select([k == name for name in KINDS], [values[name] for name in KINDS], np.nan) + client
    return out
