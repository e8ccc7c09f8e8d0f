"""Persistent state in SQLite: the judge cache and the study store."""
