"""Shared plumbing with no knowledge of models or data: errors, registries, hashing, files, paths."""
