"""Entry points: the `llmops` command, the HTTP service and the Dagster UI launcher, and the
clients they build."""
