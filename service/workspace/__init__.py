"""Watching a Databricks workspace: every run that ends there, Lockgate's and everyone
else's, becomes an event (see ``watcher``)."""
