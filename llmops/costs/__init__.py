"""Costs: model prices, metering of every LLM call into the usage ledger, budgets, and the cost
report."""
