"""Unit constants. Everything inside llmsizer is SI (seconds, bytes, FLOP); these convert at the edges."""

KB = 1e3
MB = 1e6
GB = 1e9
TB = 1e12
KIB = 2.0**10
MIB = 2.0**20
GIB = 2.0**30
TERA = 1e12
GIGA = 1e9
US = 1e-6
MS = 1e-3
