"""Pass or fail against a use case's TTFT and TPOT targets, for every number a page shows.

One check (`usecases.within_slo`) marks metrics, table rows, heat-map cells and Pareto points
alike; a configuration that does not fit in memory is marked so rather than passed or failed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..usecases import UseCase, list_usecases, load_usecase, within_slo
from ..units import MS

PASS, FAIL, UNFIT = "pass", "fail", "does not fit"
#: the use-case picker's entry for lengths and targets typed by hand
CUSTOM = "custom"
#: targets of a custom use case until the user types others
CUSTOM_TARGETS_MS = (1000.0, 50.0)


def usecase_names() -> list[str]:
    return [CUSTOM, *(u.name for u in list_usecases())]


def usecase(name: str, input_tokens: int, output_tokens: int, ttft_ms: float, tpot_ms: float) -> UseCase:
    """The picked use case with the lengths and targets as typed (a built-in's as shipped unless
    edited; `custom` names typed ones)."""
    base = (UseCase(CUSTOM, "lengths and targets typed by hand", "", 1, 1, 1.0, 1.0) if name == CUSTOM
            else load_usecase(name))
    return replace(base, input_tokens=int(input_tokens), output_tokens=int(output_tokens),
                   ttft_slo_s=float(ttft_ms) * MS, tpot_slo_s=float(tpot_ms) * MS)


def verdicts(ttft_ms, tpot_ms, fits, case: UseCase | None) -> np.ndarray:
    """"pass", "fail" or "does not fit" per configuration (arrays broadcast); empty strings
    without a use case."""
    fits = np.asarray(fits, dtype=bool)
    if case is None:
        return np.full(np.broadcast(np.asarray(ttft_ms), fits).shape, "", dtype=object)
    ok = within_slo(np.asarray(ttft_ms) * MS, np.asarray(tpot_ms) * MS, case.ttft_slo_s, case.tpot_slo_s)
    return np.where(~fits, UNFIT, np.where(ok, PASS, FAIL)).astype(object)


def mark(frame, case: UseCase | None, column: str = "targets"):
    """`frame` (with ttft_ms, tpot_ms, fits) with a verdict column added."""
    return frame.assign(**{column: verdicts(frame["ttft_ms"].to_numpy(float), frame["tpot_ms"].to_numpy(float),
                                            frame["fits"].to_numpy(bool), case)})


def e2e_target_ms(case: UseCase) -> float:
    """End-to-end latency the two targets allow together: TTFT + (output - 1) x TPOT."""
    return (case.ttft_slo_s + (case.output_tokens - 1) * case.tpot_slo_s) / MS


def describe(case: UseCase) -> str:
    return f"{case.name}: TTFT <= {case.ttft_slo_s / MS:g} ms, TPOT <= {case.tpot_slo_s / MS:g} ms"


def metric_checks(d: dict, case: UseCase) -> dict[str, tuple[str, str]]:
    """Per headline metric of `Estimate.to_dict()`: its verdict and the target it is held to. The
    end-to-end target is what TTFT and TPOT allow together; tokens/s per user is 1000 / TPOT."""
    if not d["fits"]:
        return dict.fromkeys(("ttft", "tpot", "e2e", "user"), (UNFIT, ""))
    ttft, tpot = case.ttft_slo_s / MS, case.tpot_slo_s / MS
    check = lambda ok: PASS if ok else FAIL  # noqa: E731
    return {"ttft": (check(d["ttft_ms"] <= ttft), f"≤ {ttft:g} ms"),
            "tpot": (check(d["tpot_ms"] <= tpot), f"≤ {tpot:g} ms"),
            "e2e": (check(d["e2e_latency_ms"] <= e2e_target_ms(case)), f"≤ {e2e_target_ms(case):,.0f} ms"),
            "user": (check(1000 / d["tpot_ms"] >= 1000 / tpot), f"≥ {1000 / tpot:,.0f} tok/s")}
