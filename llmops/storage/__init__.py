"""Storage: the SQL metadata store (prompt and context registries, query log, feedback, usage
ledger, evaluations, alerts, guardrail events, API keys) as plain Python, without Dagster.

`resources/` wraps these clients as Dagster resources; everything else takes the plain client.
"""
