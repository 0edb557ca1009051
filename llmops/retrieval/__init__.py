"""Retrieval: searching the index, context configurations (how the knowledge base is chunked,
embedded and searched) and their registry, context experiments and retrieval metrics."""
