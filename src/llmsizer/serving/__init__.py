"""Serving under load: a request-level simulator of inference engines.

- workload, trace: requests (arrivals and lengths) drawn from a load or read from a file
- requests: what happens to each request
- stepmodel: the step cost as tables, built once per scenario
- kvcache: the paged KV cache and the prefix cache
- schedulers: each engine's limits and scheduling policy
- engine: one replica stepping through time
- cluster: replicas behind a router, prefill and decode pools
- metrics, saturation, capacity: what a run measured, and load studies
- simulate, table, validation, plot: the front door, tables of scenarios, measurements, timeline
"""
