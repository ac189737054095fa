"""A parallel plan: how one model instance is split across devices.

Tensor parallelism (tp) splits heads and FFN width with an all-reduce after attention and after
the FFN; pipeline parallelism (pp) splits the layers into stages; expert parallelism (ep) places
each MoE layer's experts on `ep` devices of the tensor-parallel group (each expert's width is
split over the remaining tp / ep), so it adds no collective beyond the tensor-parallel all-reduce;
data parallelism (dp) runs independent replicas.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import require
from .models.spec import MLA, Attention, Mamba, Mamba2, Model, MoEFFN


@dataclass(frozen=True)
class Plan:
    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp: int = 1

    def __post_init__(self):
        for name in ("tp", "pp", "ep", "dp"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1, name, value, "must be a positive integer")
        require(self.tp % self.ep == 0, "ep", self.ep, f"must divide tp ({self.tp}): experts are placed "
                "inside the tensor-parallel group")

    @property
    def devices_per_replica(self) -> int:
        return self.tp * self.pp

    @property
    def devices(self) -> int:
        return self.devices_per_replica * self.dp

    @property
    def expert_tp(self) -> int:
        """Devices one expert's width is split over."""
        return self.tp // self.ep

    def check(self, model: Model) -> None:
        """Fail with the rule a degree breaks for this model."""
        require(self.pp <= model.num_layers, "pp", self.pp, f"must not exceed the layer count ({model.num_layers})")
        for layer in model.layer_kinds():
            mixer = layer.mixer
            if isinstance(mixer, Attention):
                require(mixer.num_heads % self.tp == 0, "tp", self.tp,
                        f"must divide the attention heads ({mixer.num_heads})")
                require(mixer.num_kv_heads % self.tp == 0 or self.tp % mixer.num_kv_heads == 0, "tp", self.tp,
                        f"must divide the KV heads ({mixer.num_kv_heads}) or be a multiple of them")
            elif isinstance(mixer, MLA):
                require(mixer.num_heads % self.tp == 0, "tp", self.tp, f"must divide the MLA heads ({mixer.num_heads})")
            elif isinstance(mixer, Mamba2):
                require(mixer.num_heads % self.tp == 0, "tp", self.tp, f"must divide the Mamba-2 heads ({mixer.num_heads})")
            elif isinstance(mixer, Mamba):
                require(mixer.d_inner % self.tp == 0, "tp", self.tp, f"must divide the Mamba inner width ({mixer.d_inner})")
            if isinstance(layer.ffn, MoEFFN):
                require(layer.ffn.num_experts % self.ep == 0, "ep", self.ep,
                        f"must divide the expert count ({layer.ffn.num_experts})")
        if not model.is_moe:
            require(self.ep == 1, "ep", self.ep, f"{model.name} has no experts; expert parallelism needs a MoE model")

    def kv_heads_per_device(self, kv_heads: int) -> int:
        """KV heads each device holds: split when tp divides them, else replicated to one per device."""
        return max(1, kv_heads // self.tp)
