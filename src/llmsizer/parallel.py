"""A parallel plan: how a model is split across devices, and where each group sits on the network.

- tp (tensor): heads and FFN widths split, an all-reduce after attention and after the FFN.
- pp (pipeline): layers split into stages; `microbatches` micro-batches keep the stages busy.
- cp (context): a prompt's tokens split across devices; ring attention passes K and V around.
- dp (data): replicas that each serve their own batch (throughput scales, latency does not).
- ep (expert): each MoE layer's experts placed on exactly `ep` devices. When ep divides tp,
  experts sit inside each replica's tensor-parallel group (each expert's width split over
  tp / ep) and the all-reduce combines them. When ep is a multiple of tp, one copy of the experts
  spans ep / tp replicas: attention runs data-parallel, tokens reach their experts by all-to-all
  dispatch and combine (the DeepSeek-style deployment), and dp / (ep / tp) such expert groups
  each hold their own copy.
- attention_dp: the tp devices of a replica run attention and every other non-expert layer
  unsplit, each on 1/tp of the replica's batch, while the experts stay spread over ep devices
  (attention data parallelism, as engines name it with tp and a flag).
- redundant_experts: extra copies of hot experts (expert-parallel load balancing), so a device
  holds ceil((experts + redundant) / ep) expert slots; ep need not divide the expert count.
- two_batch_overlap: the step runs as two half batches, each one's expert dispatch and combine
  hidden behind the other's work (as SGLang and DeepSeek's engines do); weights are read twice.
Groups take network dimensions in `order`, innermost first (tp innermost by default); a job may
use part of a dimension (16 of 72 GPUs in one NVLink domain, 3 of 16 nodes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .arrays import real
from .errors import require
from .hardware.spec import Span, System
from .models.spec import Model

GROUPS = ("tp", "cp", "pp", "dp")


@dataclass(frozen=True)
class Plan:
    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp: int = 1
    cp: int = 1
    microbatches: int | None = None
    order: tuple[str, ...] = GROUPS
    redundant_experts: int = 0
    attention_dp: bool = False
    two_batch_overlap: bool = False
    #: tensor-parallel ranks on each device whose attention heads the engine pads to a multiple of
    #: all ranks, replicating KV heads per rank (NeuronX Distributed's GQA sharding, each NeuronCore
    #: a rank); 0: heads are split as they are, so tp must divide them
    head_ranks: int = 0

    def __post_init__(self):
        for name in ("tp", "pp", "ep", "dp", "cp"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1, name, value, "must be a positive integer")
        require(self.microbatches is None or (isinstance(self.microbatches, int) and self.microbatches >= 1),
                "microbatches", self.microbatches, "must be a positive integer")
        require(isinstance(self.redundant_experts, int) and self.redundant_experts >= 0, "redundant_experts",
                self.redundant_experts, "must be a non-negative integer")
        require(self.redundant_experts == 0 or self.ep > 1, "redundant_experts", self.redundant_experts,
                "copies of experts need expert parallelism (ep > 1) to spread load over")
        if self.attention_dp:
            require((self.tp * self.dp) % self.ep == 0, "ep", self.ep,
                    f"must divide the attention-data-parallel ranks tp x dp ({self.tp * self.dp})")
        else:
            require(self.tp % self.ep == 0 or (self.ep % self.tp == 0 and (self.tp * self.dp) % self.ep == 0), "ep",
                    self.ep, f"must divide tp ({self.tp}), or be a multiple of tp dividing tp x dp ({self.tp * self.dp})")
        require(not self.two_batch_overlap or self.experts_span_replicas, "two_batch_overlap", self.two_batch_overlap,
                "overlaps the expert all-to-all: needs experts spanning replicas or attention ranks")
        require(sorted(self.order) == sorted(GROUPS), "order", self.order, f"must list each of {', '.join(GROUPS)} once")

    @property
    def devices(self) -> int:
        return self.tp * self.pp * self.cp * self.dp

    @property
    def experts_span_replicas(self) -> bool:
        """Experts receive tokens from other replicas (or attention ranks) by all-to-all."""
        return self.ep > 1 and (self.attention_dp or self.tp % self.ep != 0)

    @property
    def expert_group(self) -> int:
        """Devices holding one copy of the experts and sharing tokens: the TP group, or ep devices."""
        return self.ep if self.experts_span_replicas else self.tp

    @property
    def expert_tp(self) -> int:
        """Devices one expert's width is split over."""
        return self.expert_group // self.ep

    @property
    def routed_share(self) -> float:
        """Routed copies a device processes per token of its own replica, over top_k: the expert
        group's replicas' tokens (expert_group / tp of them) spread over ep devices."""
        return self.expert_group / (self.tp * self.ep)

    @property
    def batch_split(self) -> int:
        """Ways a replica's batch is split between its devices' attention: tp with attention_dp."""
        return self.tp if self.attention_dp else 1

    def rank_batch(self, batch):
        """Requests one attention rank serves of a replica's `batch` (all of them without attention_dp)."""
        return real(batch) / self.batch_split

    @property
    def ranks(self) -> "Plan":
        """The plan as one device's work sees it: with attention_dp each attention rank is a
        data-parallel replica of its own (tp = 1) whose experts span the ranks; else the plan."""
        if not self.attention_dp:
            return self
        return replace(self, tp=1, dp=self.tp * self.dp, attention_dp=False)

    @property
    def label(self) -> str:
        """The degrees as people read them, with attention-DP and redundant experts when used."""
        extras = ([" attention-dp"] * self.attention_dp + [" two-batch-overlap"] * self.two_batch_overlap
                  + [f" +{self.redundant_experts} redundant experts"] * bool(self.redundant_experts))
        return f"tp={self.tp} pp={self.pp} ep={self.ep} dp={self.dp} cp={self.cp}" + "".join(extras)

    @property
    def pipeline_microbatches(self) -> int:
        return self.microbatches or self.pp

    def expert_slots(self, num_experts: int) -> int:
        """Expert slots on the busiest device: routed experts plus redundant copies over ep."""
        return -(-(num_experts + self.redundant_experts) // self.ep)

    def placement_imbalance(self, num_experts: int) -> float:
        """Load of the busiest device over the average when every slot carries equal load (the
        aim of redundant copies): above 1 only when ep does not divide experts + copies."""
        return self.expert_slots(num_experts) * self.ep / (num_experts + self.redundant_experts)

    def check(self, model: Model) -> None:
        """Fail with the rule a degree breaks for this model."""
        require(self.pp <= model.num_layers, "pp", self.pp, f"must not exceed the layer count ({model.num_layers})")
        ranks = self.ranks  # attention data parallelism runs attention unsplit
        for layer in model.layer_kinds():
            for part in layer.parts:
                part.check(ranks)
        if not model.is_moe:
            require(self.ep == 1, "ep", self.ep, f"{model.name} has no experts; expert parallelism needs a MoE model")

    def heads_per_device(self, heads: int) -> int:
        """Query heads each device holds: its share, or with `head_ranks` its ranks' share of the
        heads padded to a multiple of every rank."""
        if not self.head_ranks:
            return heads // self.tp
        return -(-heads // (self.tp * self.head_ranks)) * self.head_ranks

    def kv_heads_per_device(self, kv_heads: int, heads: int) -> int:
        """KV heads each device holds: split when tp divides them, else replicated to one per device.
        With `head_ranks`, as NeuronX Distributed shards them (get_shardable_head_counts): one per
        query head when the model has as many or when they do not divide the ranks, else at least
        one per rank."""
        if not self.head_ranks:
            return max(1, kv_heads // self.tp)
        ranks = self.tp * self.head_ranks
        if kv_heads == heads or (ranks % kv_heads and (kv_heads < ranks or kv_heads % ranks)):
            return self.heads_per_device(heads)
        return max(kv_heads, ranks) // ranks * self.head_ranks

    def layout(self, system: System) -> dict[str, tuple[Span, ...]]:
        """The network spans of each group: groups take dimensions in `order`, innermost first,
        each as much of a dimension as the groups before it leave (all of what it needs when that
        fits, else the largest divisor of its degree that does) and the rest further out. The
        expert group is the first `expert_group` devices of the tp and then the dp spans."""
        require(self.devices <= system.num_devices, "devices", self.devices,
                f"the plan needs more devices than {system.name} has ({system.num_devices})")
        free = [dim.size for dim in system.network]
        spans: dict[str, list[Span]] = {}
        for group in self.order:
            need, taken = getattr(self, group), []
            for i, dim in enumerate(system.network):
                if need == 1:
                    break
                use = max(d for d in range(1, min(need, free[i]) + 1) if need % d == 0)
                if use > 1:
                    taken.append(Span(dim, use))
                    free[i] //= use
                    need //= use
            require(need == 1, f"{group}", getattr(self, group),
                    f"cannot be laid out on {system.name}'s network ({' x '.join(str(d.size) for d in system.network)}) "
                    f"after the groups before it in order {','.join(self.order)}")
            spans[group] = taken
        spans["ep"] = _merged(_leading(spans["tp"] + spans["dp"], self.expert_group))
        return {group: tuple(s) for group, s in spans.items()}


def _leading(spans: list[Span], n: int) -> list[Span]:
    """Spans of a sub-group of `n` devices (n divides the group's size), innermost first."""
    taken = []
    for span in spans:
        use = math.gcd(n, span.size)
        if use > 1:
            taken.append(Span(span.dim, use))
            n //= use
    return taken


def _merged(spans: list[Span]) -> list[Span]:
    """One span per network dimension (keyed by identity: swept figures make dims unhashable)."""
    merged: dict[int, Span] = {}
    for span in spans:
        held = merged.get(id(span.dim))
        merged[id(span.dim)] = Span(span.dim, span.size * (held.size if held else 1))
    return list(merged.values())
