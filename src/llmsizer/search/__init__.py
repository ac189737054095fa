"""Searches over configurations: parallel plans on a system."""
