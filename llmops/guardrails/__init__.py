"""Guardrails: checks on questions and answers (PII, prompt injection, forbidden topics, leaks,
profanity), the pipeline that runs them per stage, and their report."""
