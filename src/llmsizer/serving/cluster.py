"""Replicas behind a router, and disaggregated prefill and decode pools joined by a KV transfer.

The run is one event loop over every engine: the earliest of the next arrival and the earliest
engine clock goes first, so replicas advance together and a router sees each replica's queue as
it is when a request arrives. Routers: `round_robin` (in turn) and `least_outstanding` (fewest
requests queued or running; ties to the lower index). With a prefill pool, a request whose prompt
is in leaves it and its cache crosses the link between the pools (one transfer at a time, latency
plus bytes over bandwidth) before the decode pool's router places it.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from ..errors import require
from .engine import Engine
from .requests import Requests

ROUTERS = ("round_robin", "least_outstanding")


@dataclass
class Link:
    """The network between the pools: bytes/s, seconds of latency, and cache bytes per token."""

    bandwidth: float
    latency: float
    bytes_per_token: float
    free_at: float = 0.0

    def send(self, tokens: int, ready: float) -> float:
        start = max(ready, self.free_at)
        self.free_at = start + tokens * self.bytes_per_token / self.bandwidth
        return self.free_at + self.latency


class Cluster:
    def __init__(self, requests: Requests, pools: list[list[Engine]], router: str = "round_robin",
                 link: Link | None = None, progress=None, admission_delay: float = 0.0):
        require(router in ROUTERS, "router", router, f"must be one of {', '.join(ROUTERS)}")
        require(len(pools) == 1 or link is not None, "link", link, "two pools need a link between them")
        self.r, self.pools, self.router, self.link, self.progress = requests, pools, router, link, progress
        self.turn = [0] * len(pools)
        self.engines = [e for pool in pools for e in pool]
        for e in self.engines:
            e.on_finish = self._finished
            e.on_handoff = self._handoff
        # host work before a request reaches an engine (HTTP, tokenization: the profile's prefill
        # overhead) delays its first token and its end alike, not the gaps between its tokens
        self.delay = admission_delay
        self.arrivals = [(a + admission_delay, rid, 0) for rid, a in enumerate(requests.arrival) if not math.isnan(a)]
        heapq.heapify(self.arrivals)
        self.clients = [rid for rid, a in enumerate(requests.arrival) if math.isnan(a)][::-1]
        self.finished = 0

    def _route(self, rid: int, stage: int, now: float) -> None:
        pool = self.pools[stage]
        if self.router == "round_robin":
            engine = pool[self.turn[stage] % len(pool)]
            self.turn[stage] += 1
        else:
            engine = min(pool, key=lambda e: e.outstanding)
        engine.submit(rid, now)

    def _finished(self, rid: int, now: float) -> None:
        self.finished += 1
        if self.clients:  # its client sends the next request at once
            follower = self.clients.pop()
            self.r.arrival[follower] = now
            heapq.heappush(self.arrivals, (now + self.delay, follower, 0))
        if self.progress is not None:
            self.progress(self.finished)

    def _handoff(self, rid: int, now: float) -> None:
        heapq.heappush(self.arrivals, (self.link.send(self.r.prompt[rid], now), rid, 1))

    def run(self) -> None:
        arrivals, engines = self.arrivals, self.engines
        single = engines[0] if len(engines) == 1 else None
        while True:
            if single is not None:
                engine = single if single.busy else None
            else:
                engine = min((e for e in engines if e.busy), key=lambda e: e.clock, default=None)
            if arrivals and (engine is None or arrivals[0][0] <= engine.clock):
                when, rid, stage = heapq.heappop(arrivals)
                self._route(rid, stage, when)
            elif engine is not None:
                engine.step()
            else:
                return
