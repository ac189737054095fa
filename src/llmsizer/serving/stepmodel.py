"""The step cost as tables, built once per scenario, so a simulator can price a step in microseconds.

An engine step is priced by `inference.step.step_cost`. Its time is a sum over operators, and each
operator sees only part of the step's composition:
- the projections, norms, FFN and output head see the step's linear tokens T and the sequences S
  that emit a token (`shared`); for attention-only models this splits exactly into F(T) + G(S).
  A step of decodes alone takes its own table D(d): some operators run another form in one-token
  steps (absorbed MLA projections, an engine's fixed-shape decode experts);
- the decode attention sees the decoding sequences d and their summed context (`decode`): its work
  is linear in each sequence's context, so d sequences of any contexts cost what d sequences at
  their mean context cost;
- each prompt chunk's attention sees that chunk's new tokens n and its past p (`prefill`).
F and G are tabulated at every integer, the decode part at every integer d and on a geometric grid
of contexts, the prefill part on a grid of (n, p); between grid points the model interpolates
linearly. Prompt chunks of one step share one attention kernel (a variable-length kernel runs
them all), so the kernel overhead of prefill attention is paid once per step.
`step_model_error` measures how far the tables are from `step_cost` on random compositions.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from ..errors import require
from ..inference.scenario import Scenario
from ..cost.roofline import launch_time
from ..inference.shapes import decode_batch, decode_context, prefill_prompt
from ..inference.step import StepCost, cost_ops, replays_graphs, step_cost
from ..ops.base import Segment, Step, decode_step, prefill_step
from ..ops.graph import step_ops

#: spacing of the geometric grids of contexts and prompt chunk sizes (2% apart)
GRID_RATIO = 1.02
#: grid points below which the grids hold every integer (tile-fill kinks live there)
DENSE_BELOW = 128


def geometric_grid(top: int, start: int = 1) -> np.ndarray:
    """Every integer from `start` up to DENSE_BELOW, then points GRID_RATIO apart, ending at `top`."""
    dense = np.arange(start, min(DENSE_BELOW, top) + 1, dtype=float)
    if top <= DENSE_BELOW:
        return dense
    count = int(np.ceil(np.log(top / DENSE_BELOW) / np.log(GRID_RATIO)))
    sparse = np.unique(np.round(DENSE_BELOW * GRID_RATIO ** np.arange(1, count + 1)))
    return np.concatenate([dense, sparse[sparse < top], [float(top)]])


def _part(cost: StepCost, tag: str | None):
    """Seconds of a step's operators carrying `tag` ("[decode]", "[prefill]"), or of the untagged
    ones plus the step overhead (tag None)."""
    if tag is None:
        parts = [c.total for c in cost.costs if "[" not in c.op.name]
        return sum(parts) + cost.step_overhead_s
    return sum(c.total for c in cost.costs if c.op.name.endswith(tag))


def _interp_row(grid: list, row: list, x: float) -> float:
    i = min(max(bisect_right(grid, x) - 1, 0), len(grid) - 2)
    x0, x1 = grid[i], grid[i + 1]
    return row[i] + (row[i + 1] - row[i]) * (x - x0) / (x1 - x0)


@dataclass
class StepModel:
    """Tables of a scenario's step cost; `time` prices one step from its composition."""

    max_tokens: int
    max_seqs: int
    max_context: int
    tokens_part: list            # F(T), T = 0 .. max_tokens (index 0 unused)
    seqs_part: list              # G(S), S = 0 .. max_seqs
    decode_shared: list          # D(d), the shared part of a step of d decodes alone, d = 0 .. max_seqs
    shared_2d: tuple | None      # (T grid, S grid, table) where F + G does not hold
    context_grid: list           # decode contexts (mean cached tokens per sequence)
    decode_part: list            # [d][context index]
    chunk_grid: list             # prompt chunk sizes n
    past_grid: list              # cached tokens before a chunk p
    prefill_part: list           # [n index][p index], kernel overhead excluded
    prefill_overhead: float      # prefill attention's kernel overhead, once per step with prompts
    launches: tuple = (0.0, 0.0)  # host launch seconds of a prompt-only and a mixed step

    def shared(self, tokens: int, seqs: int) -> float:
        if self.shared_2d is None:
            return self.tokens_part[tokens] + self.seqs_part[seqs]
        t_grid, s_grid, table = self.shared_2d
        i = min(max(bisect_right(t_grid, tokens) - 1, 0), len(t_grid) - 2)
        low = _interp_row(s_grid, table[i], seqs)
        high = _interp_row(s_grid, table[i + 1], seqs)
        return low + (high - low) * (tokens - t_grid[i]) / (t_grid[i + 1] - t_grid[i])

    def time(self, decode_seqs: int, context_sum: float, chunks) -> float:
        """Seconds of a step running `decode_seqs` decodes over `context_sum` cached tokens in all,
        and prompt `chunks` [(new tokens, past tokens), ...] (inlined: the simulator's hot path)."""
        tokens = decode_seqs
        seconds = 0.0
        if chunks:
            grid, rows, past_grid = self.chunk_grid, self.prefill_part, self.past_grid
            last, last_past = len(grid) - 2, len(past_grid) - 2
            seconds = self.prefill_overhead
            for new, past in chunks:
                tokens += new
                i = bisect_right(grid, new) - 1
                i = 0 if i < 0 else (last if i > last else i)
                j = bisect_right(past_grid, past) - 1
                j = 0 if j < 0 else (last_past if j > last_past else j)
                wp = (past - past_grid[j]) / (past_grid[j + 1] - past_grid[j])
                low, high = rows[i], rows[i + 1]
                a = low[j] + (low[j + 1] - low[j]) * wp
                b = high[j] + (high[j + 1] - high[j]) * wp
                seconds += a + (b - a) * (new - grid[i]) / (grid[i + 1] - grid[i])
        if decode_seqs:
            grid, row = self.context_grid, self.decode_part[decode_seqs]
            x = context_sum / decode_seqs
            j = bisect_right(grid, x) - 1
            j = 0 if j < 0 else (len(grid) - 2 if j > len(grid) - 2 else j)
            seconds += row[j] + (row[j + 1] - row[j]) * (x - grid[j]) / (grid[j + 1] - grid[j])
        if not chunks:  # D holds a decode step's own launches
            return seconds + self.decode_shared[decode_seqs]
        # F and G hold a mixed step's launches; a step of prompts alone pays its own
        seconds += self.launches[0 if not decode_seqs else 1] - self.launches[1]
        if self.shared_2d is None:
            return seconds + self.tokens_part[int(tokens)] + self.seqs_part[decode_seqs + len(chunks)]
        return seconds + self.shared(int(tokens), decode_seqs + len(chunks))


def build_step_model(sc: Scenario, max_tokens: int, max_seqs: int, max_context: int) -> StepModel:
    """Tabulate the step cost of `sc` for steps of up to `max_tokens` tokens and `max_seqs`
    sequences over contexts up to `max_context` tokens."""
    require(sc.plan.pp == 1, "pp", sc.plan.pp, "the simulator runs one pipeline stage (pp = 1) for now")
    require(sc.plan.cp == 1, "cp", sc.plan.cp, "the simulator does not run context parallelism (cp = 1)")
    require(sc.offload is None, "offload", sc.offload, "the simulator does not stream offloaded memory")
    require(max_tokens >= max_seqs >= 1, "max_tokens", max_tokens, f"must be >= the sequences per step ({max_seqs})")
    tokens = np.arange(1, max_tokens + 1, dtype=float)
    seqs = np.arange(1, max_seqs + 1, dtype=float)
    one_token = Segment(1.0, 1.0, 0.0, decode=True)

    def shared_at(t, s):
        return _part(step_cost(sc, Step((Segment(s - 1.0, 1.0, 0.0, decode=True), Segment(1.0, t - s + 1.0, 0.0)))),
                     None)

    f = np.broadcast_to(shared_at(tokens, 1.0), tokens.shape)
    g = np.broadcast_to(shared_at(float(max_tokens), seqs), seqs.shape) - float(shared_at(float(max_tokens), 1.0))
    # F(T) + G(S) holds when no operator sees both; check it on a coarse probe of valid (T, S)
    t_probe, s_probe = geometric_grid(max_tokens)[::8], geometric_grid(max_seqs)[::8]
    t2, s2 = np.meshgrid(t_probe, s_probe, indexing="ij")
    valid = t2 >= s2
    probe = np.broadcast_to(shared_at(t2, np.minimum(s2, t2)), t2.shape)
    separable = np.allclose((f[t2.astype(int) - 1] + g[np.minimum(s2, t2).astype(int) - 1])[valid], probe[valid],
                            rtol=1e-9, atol=1e-12)
    shared_2d = None
    if not separable:
        t_grid, s_grid = geometric_grid(max_tokens), geometric_grid(max_seqs)
        tt, ss = np.meshgrid(t_grid, s_grid, indexing="ij")
        table = np.broadcast_to(shared_at(tt, np.minimum(ss, tt)), tt.shape)
        shared_2d = (t_grid.tolist(), s_grid.tolist(), table.tolist())

    contexts = np.concatenate([[0.0], geometric_grid(max_context)])
    decode = step_cost(sc, Step((Segment(seqs[:, None], 1.0, contexts[None, :], decode=True), Segment(1.0, 1.0, 0.0))))
    decode_part = np.broadcast_to(_part(decode, "[decode]"), (max_seqs, contexts.size))
    # a segment alone carries no tag: its attention at context 0 comes off the step's total
    decodes_alone = step_cost(sc, Step((Segment(seqs, 1.0, 0.0, decode=True),))).time - decode_part[:, 0]

    chunks = geometric_grid(max_tokens)
    past = contexts
    prefill = step_cost(sc, Step((one_token, Segment(1.0, chunks[:, None], past[None, :]))))
    prefill_kernels = sum(c.overhead * c.op.count for c in prefill.costs if c.op.name.endswith("[prefill]"))
    prompt = Segment(1.0, 1.0, 0.0)
    kinds = (Step((prompt,)), Step((one_token, prompt)))
    launches = tuple(float(launch_time(step_cost(sc, s).costs, sc.profile)) for s in kinds)  # steps with a prompt run eagerly
    prefill_part = np.broadcast_to(_part(prefill, "[prefill]"), (chunks.size, past.size)) - prefill_kernels
    return StepModel(
        max_tokens, max_seqs, max_context,
        tokens_part=[0.0] + f.tolist(), seqs_part=[0.0] + g.tolist(),
        decode_shared=[0.0] + np.broadcast_to(decodes_alone, seqs.shape).tolist(), shared_2d=shared_2d,
        context_grid=contexts.tolist(), decode_part=[[0.0] * contexts.size] + decode_part.tolist(),
        chunk_grid=chunks.tolist(), past_grid=past.tolist(), prefill_part=prefill_part.tolist(),
        prefill_overhead=float(prefill_kernels), launches=launches,
    )


@dataclass
class CompiledStepModel:
    """Step times on a deployment's compiled graphs: a prompt runs the context graph alone,
    padded to the compiled sequence (`prompt`); a decode step of d real sequences runs the token
    graph at the compiled batch (padding rows copy a real row) over the whole compiled cache, the
    engine's host work paid for the d (`decode[d]`; inference/shapes.py)."""

    prompt: float                # one prompt's step
    decode: list                 # [d] a decode step with d real sequences, d = 0 .. batch

    def time(self, decode_seqs: int, context_sum: float, chunks) -> float:
        return len(chunks) * self.prompt + (self.decode[decode_seqs] if decode_seqs else 0.0)


def build_compiled_step_model(sc: Scenario) -> CompiledStepModel:
    """Tabulate the step cost of `sc` on the graphs its deployment states (compiled batch and
    sequence) for every count of real sequences up to the compiled batch."""
    real = np.arange(1.0, sc.compiled_batch + 1.0)
    padded = decode_batch(sc, real)
    steps = (prefill_step(1.0, prefill_prompt(sc, 1.0, 1.0)),
             decode_step(padded, decode_context(sc, real), padding=padded - real))
    prompt, decode = (cost_ops(step_ops(sc.context, step), sc, sequences=sequences,
                               graphs=replays_graphs(sc.profile, step, sc.eager))
                      for step, sequences in zip(steps, (1.0, real)))
    return CompiledStepModel(float(prompt.time), [0.0] + np.broadcast_to(decode.time, real.shape).tolist())


def exact_step(decode_seqs: int, contexts, chunks) -> Step:
    """The `Step` the model prices for a composition: one decode segment at the mean context and
    one segment per prompt chunk."""
    segments = []
    if decode_seqs:
        segments.append(Segment(float(decode_seqs), 1.0, float(np.sum(contexts)) / decode_seqs, decode=True))
    segments += [Segment(1.0, float(n), float(p)) for n, p in chunks]
    return Step(tuple(segments))


def step_model_error(sc: Scenario, model: StepModel, samples: int = 300, seed: int = 0) -> np.ndarray:
    """Relative error of `model` against `step_cost` on random steps of at most one prompt chunk
    (where the two price the same kernels): decodes only, prompts only, and both mixed."""
    rng = np.random.default_rng(seed)
    errors = []
    for i in range(samples):
        kind = i % 3
        d = 0 if kind == 1 else int(rng.integers(1, model.max_seqs))
        contexts = rng.integers(1, model.max_context, size=d)
        chunks = []
        if kind != 0:
            n = int(rng.integers(1, model.max_tokens - d + 1))
            chunks = [(n, int(rng.integers(0, model.max_context - n + 1)) if model.max_context > n else 0)]
        exact = float(step_cost(sc, exact_step(d, contexts, chunks)).time)
        errors.append(model.time(d, float(np.sum(contexts)), chunks) / exact - 1.0)
    return np.asarray(errors)
