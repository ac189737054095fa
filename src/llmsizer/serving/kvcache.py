"""The paged KV cache: fixed-size blocks handed to requests, and a prefix cache of shared prompts.

Capacity comes from llmsizer's memory account: the device's memory less the weights, the runtime
reserve and the activations of the engine's largest step, divided by the bytes of one block
(`block_size` tokens of every layer's cache on one device). A request holds the blocks of the
tokens in its cache; a shared prompt prefix, once computed, is held by the prefix cache while any
request uses it, and stays there, evictable, until space is needed (least recently used first).
Every block is free, held by one request, or held by the prefix cache: `check` asserts it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..errors import LlmsizerError, require
from ..inference.memory import cache_bytes_per_sequence, scenario_memory
from ..inference.scenario import Scenario
from ..inference.workload import Workload
from ..ops.base import Sizes


class SimulationError(LlmsizerError):
    """A simulated engine cannot serve the workload (a request that never fits, say)."""


@dataclass(frozen=True)
class CacheSize:
    """Blocks of the paged cache and what one holds."""

    blocks: int
    block_size: int
    bytes_per_token: float
    #: blocks a sequence holds whatever its length (recurrent state of Mamba layers); a model
    #: with no attention cache (bytes_per_token 0) holds only these
    state_blocks: int = 0


def _block(sc: Scenario, block_size: int) -> tuple[float, float, int]:
    """(cache bytes per token, bytes of one block, blocks of a sequence's fixed state) on one device."""
    sizes = Sizes.of(sc.precisions)
    state = float(cache_bytes_per_sequence(sc.model, sc.plan, sizes, 0.0))
    per_token = (float(cache_bytes_per_sequence(sc.model, sc.plan, sizes, 65536.0)) - state) / 65536.0
    # a model with no attention cache holds one fixed state per sequence: a block is one state
    block_bytes = per_token * block_size if per_token > 0 else state
    return per_token, block_bytes, int(np.ceil(state / block_bytes)) if state else 0


def cache_size(sc: Scenario, block_size: int, max_tokens: int, max_seqs: int) -> CacheSize:
    """Blocks that fit beside the weights, the reserve and the activations of a step of `max_tokens`
    tokens over `max_seqs` sequences."""
    memory = scenario_memory(sc, Workload(batch=max_seqs, input=max(max_tokens, 1), output=1),
                             prefill_tokens=max_tokens)
    room = memory.capacity - memory.weights - memory.reserve - float(np.max(memory.activations))
    per_token, block_bytes, state_blocks = _block(sc, block_size)
    blocks = int(room // block_bytes) if room > 0 else 0
    require(blocks > 0, "memory", f"{room / 1e9:.1f} GB free", "no room for a KV cache beside the weights, reserve and "
            "activations (more devices, a lower precision or smaller engine limits)")
    return CacheSize(blocks, block_size, per_token, state_blocks)


def compiled_cache_size(sc: Scenario, block_size: int) -> CacheSize:
    """The cache a deployment with compiled graphs allocates whole: its compiled batch of
    sequences of the compiled length (inference/shapes.py), which must fit beside the weights."""
    length = sc.compiled_sequence
    memory = scenario_memory(sc, Workload(batch=sc.compiled_batch, input=length - 1, output=1))
    require(bool(np.all(memory.fits)), "memory", f"{float(np.max(memory.total)) / 1e9:.1f} GB per device",
            f"the cache of {sc.compiled_batch} sequences of {length} tokens does not fit beside the weights")
    per_token, _, state_blocks = _block(sc, block_size)
    per_sequence = (-(-length // block_size) if per_token > 0 else 0) + state_blocks
    return CacheSize(sc.compiled_batch * per_sequence, block_size, per_token, state_blocks)


class PagedKVCache:
    """Free blocks, blocks per request, and the prefix cache (group -> blocks, users)."""

    def __init__(self, size: CacheSize):
        self.size = size
        self.block_size = size.block_size
        self.free = size.blocks
        self.held: dict[int, int] = {}                    # request -> its own blocks
        self.prefixes: dict[int, list] = {}               # group -> [blocks, users]
        self.idle: OrderedDict[int, None] = OrderedDict()  # groups with no user, least recent first

    def blocks_for(self, tokens: int) -> int:
        paged = -(-tokens // self.block_size) if self.size.bytes_per_token > 0 else 0
        return paged + self.size.state_blocks

    def available(self) -> int:
        """Blocks that can be handed out: free ones plus idle prefixes that may be evicted."""
        return self.free + sum(self.prefixes[g][0] for g in self.idle)

    def take(self, request: int, blocks: int) -> bool:
        """Give `request` `blocks` more blocks, evicting idle prefixes if needed; False if they do not exist."""
        if blocks > self.free:
            while self.idle and blocks > self.free:
                group, _ = self.idle.popitem(last=False)
                self.free += self.prefixes.pop(group)[0]
            if blocks > self.free:
                return False
        self.free -= blocks
        self.held[request] = self.held.get(request, 0) + blocks
        return True

    def release(self, request: int) -> None:
        self.free += self.held.pop(request, 0)

    def prefix_hit(self, group: int) -> int:
        """Blocks of `group`'s prefix already cached (0 if none), now used once more."""
        entry = self.prefixes.get(group)
        if entry is None:
            return 0
        entry[1] += 1
        self.idle.pop(group, None)
        return entry[0]

    def share_prefix(self, request: int, group: int, blocks: int) -> bool:
        """After `request` computed `blocks` full blocks of `group`'s prefix, hand them to the prefix
        cache (they stop counting as the request's own); False if the group was cached meanwhile."""
        if group in self.prefixes or blocks <= 0 or self.held.get(request, 0) < blocks:
            return False
        self.held[request] -= blocks
        self.prefixes[group] = [blocks, 1]
        return True

    def leave_prefix(self, group: int) -> None:
        entry = self.prefixes.get(group)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.idle[group] = None

    def used(self) -> int:
        return self.size.blocks - self.free

    def check(self) -> None:
        """Every block is free, a request's, or the prefix cache's; none counted twice or lost."""
        own = sum(self.held.values())
        cached = sum(blocks for blocks, _ in self.prefixes.values())
        if self.free < 0 or any(v < 0 for v in self.held.values()) or self.free + own + cached != self.size.blocks:
            raise AssertionError(f"KV blocks not conserved: free {self.free} + held {own} + prefixes {cached} "
                                 f"!= {self.size.blocks}")
