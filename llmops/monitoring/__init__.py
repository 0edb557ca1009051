"""Monitoring: the query log, logged questions as vectors, semantic drift and the drift check."""
