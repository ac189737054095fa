"""Accuracy: scoring predictions against measurements, fitting efficiency profiles, error bands."""
