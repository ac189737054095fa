"""Model architectures as data: the spec, parameter counts, the Hugging Face loader and the zoo."""
