"""Operators of one engine step, with per-device FLOPs, bytes and messages: pure counting, no hardware."""
