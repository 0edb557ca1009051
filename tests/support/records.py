"""Records as the stores keep them: a served answer's query log entry, a valid prompt file, and
prompt files registered from a folder."""

from pathlib import Path

from llmops.prompts.registry import register
from llmops.prompts.specs import load_prompt_files
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import QueryRecord

VALID = """name: answer
description: Answer from the handbook.
template:
  system: You answer from the handbook only.
  user: |
    {context}
    Question: {question}
model:
  temperature: 0.0
  max_output_tokens: 100
"""


def query_record(question: str, **changes) -> QueryRecord:
    """A served answer to `question` as the query log stores it; `changes` override fields."""
    values = {
        "question": question,
        "answer": "…",
        "prompt_name": "answer",
        "prompt_version": "v1",
        "table_name": "chunks_test",
        "table_version": 1,
        "embedding_model": "test",
        "chat_model": "test",
    }
    return QueryRecord(**{**values, **changes})


def register_prompts(folder: Path, meta: MetadataClient, files: dict[str, str]) -> dict[str, str]:
    """Write `files` into `folder`, register them; returns name -> version of every added one."""
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return {v.name: v.version for v in register(load_prompt_files(folder), meta)}
