"""Helpers the test modules share; test modules import these, never each other.

- `cli`: the `llmops` command run in this process (or as a real process where the process is
  tested), and the shape of its one-line errors.
- `files`: the project's folders, docs folders written from a dict, a local install's environment.
- `indexing`: the corpus and index assets materialized for real.
- `records`: query log records, prompt files, prompt registration.
- `store`: metadata databases in states an older or newer llmops leaves.
- `runs`: Dagster runs as a killed process leaves them.
- `service`: the HTTP service tests' docs, scripted chat replies and readiness wait.
- `llm_server`, `rule_judge`: an OpenAI-compatible chat endpoint and a rule-based judge behind it.
- `http_servers`: the service on real uvicorn, in a thread or as an `llmops serve` process.
- `drift_data`: labelled query windows for the drift tests.
- `pg`: fresh PostgreSQL databases on the test server.
"""
