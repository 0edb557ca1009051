"""llmops: operate a retrieval-augmented assistant as versioned Dagster assets."""

__version__ = "0.1.0"
