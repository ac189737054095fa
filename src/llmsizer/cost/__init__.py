"""Time of each operator on a system: roofline with a small physical efficiency model."""
