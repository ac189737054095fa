"""Hardware as data: accelerators, networks of ordered dimensions, and systems."""
