"""Lockgate: an event-driven control plane for Databricks runs."""
