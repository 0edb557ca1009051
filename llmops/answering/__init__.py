"""Answering: the RAG answer path, the checks on an answer, and the audit that re-runs a served
answer."""
