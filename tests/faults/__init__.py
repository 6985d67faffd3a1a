"""Fault tests with real processes (marker ``faults``)."""
