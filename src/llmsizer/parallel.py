"""A parallel plan: how a model is split across devices, and where each group sits on the network.

- tp (tensor): heads and FFN widths split, an all-reduce after attention and after the FFN.
- pp (pipeline): layers split into stages; `microbatches` micro-batches keep the stages busy.
- cp (context): a prompt's tokens split across devices; ring attention passes K and V around.
- dp (data): replicas that each serve their own batch (throughput scales, latency does not).
- ep (expert): each MoE layer's experts spread over `ep` devices. When ep divides tp, experts
  sit inside each replica's tensor-parallel group and the all-reduce combines them. Otherwise
  (ep a multiple of tp dividing tp x dp) experts span the data-parallel replicas: attention runs
  data-parallel, and tokens reach their experts by all-to-all dispatch and combine (the
  DeepSeek-style deployment).
Groups take network dimensions in `order`, innermost first (tp innermost by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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

    def __post_init__(self):
        for name in ("tp", "pp", "ep", "dp", "cp"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1, name, value, "must be a positive integer")
        require(self.microbatches is None or (isinstance(self.microbatches, int) and self.microbatches >= 1),
                "microbatches", self.microbatches, "must be a positive integer")
        require(self.tp % self.ep == 0 or (self.ep % self.tp == 0 and (self.tp * self.dp) % self.ep == 0), "ep",
                self.ep, f"must divide tp ({self.tp}), or be a multiple of tp dividing tp x dp ({self.tp * self.dp})")
        require(sorted(self.order) == sorted(GROUPS), "order", self.order, f"must list each of {', '.join(GROUPS)} once")

    @property
    def devices(self) -> int:
        return self.tp * self.pp * self.cp * self.dp

    @property
    def experts_span_replicas(self) -> bool:
        """Experts spread across data-parallel replicas (all-to-all), not inside one TP group."""
        return self.ep > 1 and self.tp % self.ep != 0

    @property
    def expert_tp(self) -> int:
        """Devices one expert's width is split over."""
        return (self.tp * self.dp if self.experts_span_replicas else self.tp) // self.ep

    @property
    def pipeline_microbatches(self) -> int:
        return self.microbatches or self.pp

    def check(self, model: Model) -> None:
        """Fail with the rule a degree breaks for this model."""
        require(self.pp <= model.num_layers, "pp", self.pp, f"must not exceed the layer count ({model.num_layers})")
        for layer in model.layer_kinds():
            for part in layer.parts:
                part.check(self)
        if not model.is_moe:
            require(self.ep == 1, "ep", self.ep, f"{model.name} has no experts; expert parallelism needs a MoE model")

    def kv_heads_per_device(self, kv_heads: int) -> int:
        """KV heads each device holds: split when tp divides them, else replicated to one per device."""
        return max(1, kv_heads // self.tp)

    def layout(self, system: System) -> dict[str, tuple[Span, ...]]:
        """The network spans of each group: groups take dimensions in `order`, innermost first, a
        group that does not fill a dimension leaving the rest of it to the next. The expert group
        of experts spanning replicas is the tp and dp spans together."""
        require(self.devices <= system.num_devices, "devices", self.devices,
                f"the plan needs more devices than {system.name} has ({system.num_devices})")
        free = [dim.size for dim in system.network]
        spans: dict[str, list[Span]] = {}
        for group in self.order:
            need, taken = getattr(self, group), []
            for i, dim in enumerate(system.network):
                if need == 1:
                    break
                use = math.gcd(need, free[i])
                if use > 1:
                    taken.append(Span(dim, use))
                    free[i] //= use
                    need //= use
            require(need == 1, f"{group}", getattr(self, group),
                    f"cannot be laid out on {system.name}'s network ({' x '.join(str(d.size) for d in system.network)}) "
                    f"after the groups before it in order {','.join(self.order)}")
            spans[group] = taken
        expert: dict[int, Span] = {}  # keyed by the dimension's identity: swept figures make dims unhashable
        for span in spans["tp"] + (spans["dp"] if self.experts_span_replicas else []):
            held = expert.get(id(span.dim))
            expert[id(span.dim)] = Span(span.dim, span.size * (held.size if held else 1))
        spans["ep"] = list(expert.values())
        return {group: tuple(s) for group, s in spans.items()}
