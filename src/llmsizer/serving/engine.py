"""One engine replica stepping through time: its queue, running requests, KV cache and clock.

Each `step` asks the scheduling policy what to run (every running decode and/or prompt chunks),
prices that composition with the step model, advances the clock and updates every request.
Decoding requests are kept as aggregates so a step costs O(1) whatever the batch: their count,
their summed context (each decode step adds one token to each), a heap of the decode step at
which each one ends, and per block-phase counts telling how many cross into a new KV block in
a given step. A request's own state is worked out from when it started decoding only when it
ends or is preempted.

Roles: "both" (a plain engine), "prefill" (a disaggregated prefill pool: a request leaves once its
prompt is in, its cache handed over) and "decode" (it arrives with its prompt's cache).
"""

from __future__ import annotations

import heapq
import math
from collections import deque

from .kvcache import CacheSize, PagedKVCache, SimulationError
from .requests import Requests
from .schedulers import POLICIES, Limits
from .stepmodel import StepModel

#: the key under which the KV cache counts every decoding request's blocks together
DECODERS = -1
#: SGLang keeps room for this share of the running requests' remaining output when admitting;
#: the share decays by DECAY each decode step to MIN and is reset by a preemption
#: (SGLANG_INIT_NEW_TOKEN_RATIO, min_new_token_ratio, new_token_ratio_decay in sglang's scheduler)
INIT_TOKEN_RATIO, MIN_TOKEN_RATIO, TOKEN_RATIO_DECAY = 0.7, 0.1, 0.001


class Engine:
    def __init__(self, requests: Requests, model: StepModel, cache: CacheSize, limits: Limits, *,
                 role: str = "both", replica: int = 0, record: bool = True,
                 host_bandwidth: float = 0.0):
        self.r, self.model, self.limits = requests, model, limits
        self.kv = PagedKVCache(cache)
        self.kv.held[DECODERS] = 0
        self.bs = cache.block_size
        self.policy = POLICIES[limits.engine]
        self.reserve = limits.reserves_whole_requests
        self.fixed = self.reserve or cache.bytes_per_token == 0  # a request's blocks never grow while decoding
        self.prefix = bool(limits.prefix_caching) and cache.state_blocks == 0
        self.role, self.replica = role, replica
        self.on_finish = self.on_handoff = None
        self.clock = 0.0
        self.dstep = 0                      # decode steps run so far
        self.waiting: deque = deque()
        self.prefilling: list = []
        self.computed: dict = {}            # prompt tokens in the cache (requests prefilling)
        self.target: dict = {}              # tokens to have in the cache before the next token
        self.generated: dict = {}           # output tokens so far
        self.prefix_blocks: dict = {}       # blocks of a shared prefix the request uses
        self.order: dict = {}               # admission counter: the latest is preempted first
        self.counter = 0
        self.decoders: dict = {}            # request -> (decode step on entry, context then, own blocks then)
        self.decoding = 0
        self.context = 0                    # cached tokens of every decoding request
        self.buckets = [0] * self.bs        # decoders by block phase
        self.ends: list = []                # heap of (last decode step, request, version)
        self.version: dict = {}
        self.remaining = 0                  # output tokens the decoding requests still owe
        self.swap = limits.preemption == "swap"
        self.swapped: dict = {}             # preempted decodes whose cache waits in host memory (tokens)
        self.swap_bytes = 0.0               # cache bytes moved over the host link this step
        self.host_bandwidth = host_bandwidth
        self.token_ratio = INIT_TOKEN_RATIO
        self.record = record
        self.timeline = {name: [] for name in ("start", "duration", "decode_seqs", "prefill_tokens", "running",
                                               "waiting", "kv_blocks_used")}

    # -- state -------------------------------------------------------------------------------
    @property
    def running(self) -> int:
        return self.decoding + len(self.prefilling)

    @property
    def busy(self) -> bool:
        return bool(self.decoding or self.prefilling or self.waiting)

    @property
    def outstanding(self) -> int:
        return self.running + len(self.waiting)

    def submit(self, rid: int, now: float) -> None:
        r = self.r
        if self.kv.blocks_for(r.prompt[rid] + r.output[rid] - 1) > self.kv.size.blocks:
            raise SimulationError(f"request {rid} ({r.prompt[rid]} prompt + {r.output[rid]} output tokens) needs more "
                                  f"than the engine's {self.kv.size.blocks} KV blocks of {self.bs} tokens")
        if not self.busy:
            self.clock = max(self.clock, now)
        self.waiting.append(rid)
        self.r.replica[rid] = self.replica

    def _context_now(self, rid: int) -> tuple[int, int]:
        """(cached tokens, own blocks) of a decoding request now."""
        entered, context, own = self.decoders[rid]
        now = context + self.dstep - entered
        if not self.fixed:
            own += -(-now // self.bs) - (-(-context // self.bs))
        return now, own

    # -- what the policies call --------------------------------------------------------------
    def reserve_decode_blocks(self) -> bool:
        """Blocks for every decode of the next step (preempting the latest requests if short);
        True if any request decodes."""
        while self.decoding and not self.fixed:
            need = self.buckets[-(self.dstep + 1) % self.bs]
            if self.kv.take(DECODERS, need):
                break
            self.preempt(self._latest())
        return self.decoding > 0

    def continue_prompts(self, budget: int) -> list:
        chunks = []
        for rid in list(self.prefilling):
            if budget <= 0:
                break
            left = self.target[rid] - self.computed[rid]
            n = min(left, budget)
            if n < left and not self.limits.chunked_prefill:
                break
            if not self._grow(rid, n):
                break
            chunks.append((rid, n))
            budget -= n
        return chunks

    def admit(self, budget: int | None, most: int | None = None) -> list:
        """Start waiting requests in order (at most `most` of them) while the budget, the sequence
        limit and the cache allow."""
        chunks, r = [], self.r
        while (self.waiting and self.running < self.limits.max_num_seqs and (budget is None or budget > 0)
               and (most is None or len(chunks) < most)):
            rid = self.waiting[0]
            if rid in self.swapped:
                break  # swapped caches come back before a step's decodes are counted (swap_in)
            target = r.prompt[rid] + self.generated.get(rid, 0)
            group = r.prefix_group[rid]
            hit = self.kv.prefix_hit(group) if self.prefix and group >= 0 and self.role != "decode" else 0
            cached = min(hit * self.bs, target - 1)
            if self.role == "decode":
                cached = target
            left = target - cached
            n = left if budget is None else min(left, budget)
            whole = r.prompt[rid] + r.output[rid] - 1 if self.reserve else cached + n
            need = self.kv.blocks_for(whole) - hit
            if (n < left and not self.limits.chunked_prefill) or not self._room(need) or not self.kv.take(rid, need):
                if hit:
                    self.kv.leave_prefix(group)
                break
            self.waiting.popleft()
            self.computed[rid], self.target[rid], self.prefix_blocks[rid] = cached, target, hit
            self.order[rid] = self.counter
            self.counter += 1
            if n:
                self.prefilling.append(rid)
                chunks.append((rid, n))
                budget = None if budget is None else budget - n
            else:  # its cache came from a prefill pool: it decodes from the next step
                self.prefilling.append(rid)
                self._prefilled(rid)
        return chunks

    def _room(self, need: int) -> bool:
        """SGLang admits only while room stays for a share of what the running requests will still write."""
        if self.limits.engine != "sglang":
            return True
        return self.kv.available() - need >= self.token_ratio * self.remaining / self.bs

    def swap_in(self) -> None:
        """Bring swapped caches back, first in the queue first, while sequences and blocks allow."""
        while self.waiting and self.waiting[0] in self.swapped and self.running < self.limits.max_num_seqs:
            rid = self.waiting[0]
            context = self.swapped[rid]
            if not self.kv.take(rid, self.kv.blocks_for(context)):
                return
            self.waiting.popleft()
            del self.swapped[rid]
            self.swap_bytes += context * self.kv.size.bytes_per_token
            self.prefix_blocks[rid] = 0
            self.order[rid] = self.counter
            self.counter += 1
            self._enter_decoders(rid, context)

    def _grow(self, rid: int, n: int) -> bool:
        """Blocks for `n` more prompt tokens, preempting prompts admitted after this one if short
        (never a decode already given its blocks for this step)."""
        need = self.kv.blocks_for(self.computed[rid] + n) - self.prefix_blocks[rid] - self.kv.held.get(rid, 0)
        while not self.kv.take(rid, max(need, 0)):
            later = [other for other in self.prefilling if self.order[other] > self.order[rid]]
            if not later:
                return False
            self.preempt(max(later, key=self.order.__getitem__))
        return True

    def _latest(self) -> int:
        return max(list(self.decoders) + self.prefilling, key=self.order.__getitem__)

    def preempt(self, rid: int) -> None:
        """Free a request's blocks and put it first in the queue; it recomputes its cache later."""
        if rid in self.decoders:
            context, own = self._context_now(rid)
            self._leave_decoders(rid, context, own)
            if self.swap:  # its cache goes to host memory and comes back whole
                self.swapped[rid] = context
                self.swap_bytes += context * self.kv.size.bytes_per_token
        else:
            self.prefilling.remove(rid)
            self.kv.release(rid)
        self._leave_prefix(rid)
        self.computed.pop(rid, None)
        self.waiting.appendleft(rid)
        self.r.preemptions[rid] += 1
        self.token_ratio = INIT_TOKEN_RATIO

    def _leave_prefix(self, rid: int) -> None:
        if self.prefix_blocks.pop(rid, 0):
            self.kv.leave_prefix(self.r.prefix_group[rid])

    def _leave_decoders(self, rid: int, context: int, own: int) -> None:
        entered, first_context, _ = self.decoders.pop(rid)
        self.kv.held[DECODERS] -= own
        self.kv.free += own
        self.decoding -= 1
        self.context -= context
        self.generated[rid] += self.dstep - entered  # tokens it produced while decoding
        self.remaining -= self.r.output[rid] - self.generated[rid]
        self.buckets[(first_context - 1 - entered) % self.bs] -= 1
        self.version[rid] = self.version.get(rid, 0) + 1

    # -- one step ----------------------------------------------------------------------------
    def step(self) -> None:
        if self.role == "decode":
            self.admit(None)  # caches arriving from the prefill pool join before the decodes are counted
        if self.swapped:
            self.swap_in()
        decode, chunks = self.policy(self)
        if not decode and not chunks:
            rid = (self.prefilling or self.waiting)[0]
            r = self.r
            raise SimulationError(f"request {rid} ({r.prompt[rid]} prompt + {r.output[rid]} output tokens) can never "
                                  f"start: the engine's limits or its {self.kv.size.blocks} KV blocks of "
                                  f"{self.bs} tokens are too small")
        seqs = self.decoding if decode else 0
        seconds = self.model.time(seqs, self.context if decode else 0, [(n, self.computed[rid]) for rid, n in chunks])
        if self.swap_bytes:
            seconds += self.swap_bytes / self.host_bandwidth
            self.swap_bytes = 0.0
        if self.record:
            t = self.timeline
            t["start"].append(self.clock)
            t["duration"].append(seconds)
            t["decode_seqs"].append(seqs)
            t["prefill_tokens"].append(sum(n for _, n in chunks))
            t["running"].append(self.running)
            t["waiting"].append(len(self.waiting))
            t["kv_blocks_used"].append(self.kv.used())
        self.clock += seconds
        if decode:
            self.dstep += 1
            self.context += self.decoding
            self.remaining -= self.decoding
            self.token_ratio = max(MIN_TOKEN_RATIO, self.token_ratio - TOKEN_RATIO_DECAY)
            ends = self.ends
            while ends and ends[0][0] <= self.dstep:
                _, rid, version = heapq.heappop(ends)
                if self.version.get(rid, 0) == version and rid in self.decoders:
                    context, own = self._context_now(rid)
                    self._leave_decoders(rid, context, own)
                    self._done(rid)
        for rid, n in chunks:
            computed = self.computed[rid] + n
            self.computed[rid] = computed
            group = self.r.prefix_group[rid]
            if self.prefix and group >= 0 and not self.prefix_blocks[rid] and computed >= self.r.prefix_tokens[rid]:
                blocks = self.r.prefix_tokens[rid] // self.bs
                if self.kv.share_prefix(rid, group, blocks):
                    self.prefix_blocks[rid] = blocks
            if computed == self.target[rid]:
                self._prefilled(rid)

    def _prefilled(self, rid: int) -> None:
        """The request's cache is complete: it emits a token, then decodes, ends, or leaves the pool."""
        self.prefilling.remove(rid)
        r = self.r
        generated = self.generated.get(rid, 0) + 1
        self.generated[rid] = generated
        if math.isnan(r.first_token[rid]) and self.role != "prefill":
            r.first_token[rid] = self.clock
        context = self.target.pop(rid)
        del self.computed[rid]
        if self.role == "prefill" or generated >= r.output[rid]:
            self.kv.release(rid)
            self._leave_prefix(rid)
            if self.role == "prefill":
                self.generated.pop(rid)
                self.order.pop(rid)
                self.on_handoff(rid, self.clock)
            else:
                self._done(rid)
            return
        self._enter_decoders(rid, context)

    def _enter_decoders(self, rid: int, context: int) -> None:
        """The request decodes from the next step on, with `context` tokens cached."""
        own = self.kv.held.pop(rid, 0)
        self.kv.held[DECODERS] += own
        self.decoders[rid] = (self.dstep, context, own)
        self.buckets[(context - 1 - self.dstep) % self.bs] += 1
        self.decoding += 1
        self.context += context
        left = self.r.output[rid] - self.generated[rid]
        self.remaining += left
        heapq.heappush(self.ends, (self.dstep + left, rid, self.version.get(rid, 0)))

    def _done(self, rid: int) -> None:
        self._leave_prefix(rid)
        for table in (self.generated, self.order, self.version):
            table.pop(rid, None)
        self.r.finish[rid] = self.clock
        if self.on_finish is not None:
            self.on_finish(rid, self.clock)

    def check(self) -> None:
        """Blocks conserved, and the decoders' blocks equal what their lengths need."""
        self.kv.check()
        own = sum(self._context_now(rid)[1] for rid in self.decoders)
        if own != self.kv.held[DECODERS]:
            raise AssertionError(f"decoding requests hold {self.kv.held[DECODERS]} blocks, their lengths need {own}")
