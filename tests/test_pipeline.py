"""Pipeline stages: contiguous layers, paced by the slowest stage."""

import pytest

from llmsizer.inference.batch import cost, prepare
from llmsizer.inference.options import Deployment
from llmsizer.inference.step import pipeline_factors, slowest_stage_share, stage_layers
from llmsizer.inference.workload import Workload
from llmsizer.models.zoo import load_model


def test_stages_take_contiguous_layers_of_alternating_kinds():
    model = load_model("gemma-2-9b")  # 42 layers alternating sliding-window and global attention
    stages = stage_layers(model, 6)
    assert [sum(stage.values()) for stage in stages] == [7] * 6
    assert sorted(sorted(stage.values()) for stage in stages) == [[3, 4]] * 6  # 4 of one kind, 3 of the other


def test_even_stages_give_the_plain_factors():
    assert pipeline_factors(type("P", (), {"pp": 4, "pipeline_microbatches": 8})(), 64, 0.25) == (1 + 7 * 0.25, 8 * 0.25)


def test_a_step_waits_for_the_slowest_stage():
    sc = Deployment(model="gemma-2-9b", hardware="h100", pp=6, devices=6).resolve()
    work = Workload(6, 32768, 64)
    prep = prepare(sc, work)
    est = cost(prep)
    decode_ops = cost(prep).decode
    share = slowest_stage_share(sc, prep.decode_step, decode_ops.costs)
    assert float(share.max() if hasattr(share, "max") else share) > 1 / 6 * 1.05  # global layers weigh more at 32k
    whole = sum(c.total for c in decode_ops.costs)
    stage_with_most_global = max(stage_layers(sc.model, 6), key=lambda s: max(s.values()))
    assert max(stage_with_most_global.values()) == 4
    # six micro-batches of one sequence: a decode step is six slowest-stage times
    assert float(est.mean_over_contexts(decode_ops.time)) == pytest.approx(
        float(est.mean_over_contexts(6 * share * whole + 6 * share * sc.profile.step_overhead_s)), rel=1e-6)


def test_one_micro_batch_takes_one_pass_however_uneven_the_stages():
    """80 layers over 72 stages: eight stages hold two layers, but a single sequence still crosses
    each stage once per token."""
    plan = type("P", (), {"pp": 72, "pipeline_microbatches": 72})()
    assert pipeline_factors(plan, 1, 2 / 80) == (1.0, 1.0)
    assert pipeline_factors(plan, 64, 2 / 80) == (1 + 63 * 2 / 80, 64 * 2 / 80)
