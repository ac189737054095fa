"""Unit constants. Everything inside llmsizer is SI (seconds, bytes, FLOP); these convert at the edges."""

GB = 1e9
TB = 1e12
MIB = 2.0**20
GIB = 2.0**30
TERA = 1e12
US = 1e-6
MS = 1e-3
