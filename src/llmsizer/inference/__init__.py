"""Phases and metrics: memory accounting, prefill, decode over a growing context, estimates."""
