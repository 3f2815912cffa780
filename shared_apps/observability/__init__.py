"""Logging, metrics, tracing and the health probes."""
