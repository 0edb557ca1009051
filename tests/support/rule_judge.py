"""A rule-based stand-in for a chat model and an LLM judge behind the test server.

Chat requests get an answer built from the first fenced passage (or, when the system text asks
to ignore the passages, a generic guess); ragas judge prompts get the JSON their output models
ask for, decided by word overlap with the context. It is deterministic, so tests can predict
its verdicts, and it is only as good a judge as a word-overlap rule.
"""

from __future__ import annotations

import json
import re

from llmops.answering.checks import abstained, groundedness
from tests.support.llm_server import Reply, ok

IGNORE_CONTEXT = "general knowledge"
GENERIC = "Please ask your manager; policies like this usually vary by team and country."
_PASSAGE = re.compile(r"\[DATA [^\]]+\]\s*source: (\S+)\n(.*?)\[END ", re.DOTALL)


def judge_input(prompt: str) -> dict:
    """The JSON after ragas' last `input:` (the prompt ends `Output: `)."""
    raw = prompt.rsplit("input:", 1)[1].rsplit("Output:", 1)[0]
    return json.loads(raw)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 3]


def _supported(statement: str, context: str) -> int:
    found = groundedness(statement, [context])
    return int(found is not None and found.score >= 0.8)


def answer(messages: list[dict]) -> str:
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    if IGNORE_CONTEXT in system:
        return GENERIC
    passages = _PASSAGE.findall(messages[-1]["content"])
    if not passages:
        return "I don't know based on the handbook."
    source, text = passages[0]
    body = " ".join(line for line in text.splitlines() if line and not line.startswith("#"))
    return " ".join(_sentences(body)[:2]) + f" [{source}]"


def judge(prompt: str) -> dict:
    data = judge_input(prompt)
    if "Break down each sentence" in prompt:
        return {"statements": _sentences(data["answer"]) or [data["answer"]]}
    if "judge the faithfulness of a series of statements" in prompt:
        verdicts = [
            {"statement": s, "reason": "word overlap", "verdict": _supported(s, data["context"])}
            for s in data["statements"]
        ]
        return {"statements": verdicts}
    if "Generate a question for the given answer" in prompt:
        response = data["response"]
        return {"question": response, "noncommittal": int(abstained(response))}
    if "verify if the context was useful" in prompt:
        return {"reason": "overlap", "verdict": _supported(data["answer"], data["context"])}
    if "classify if the statement can be attributed" in prompt:
        return {
            "classifications": [
                {"statement": s, "reason": "overlap", "attributed": _supported(s, data["context"])}
                for s in _sentences(data["answer"])
            ]
        }
    raise AssertionError(f"unknown judge prompt: {prompt[:80]!r}")


def respond(body: dict) -> Reply:
    """The reply to one chat-completions request body."""
    messages = body["messages"]
    content = messages[-1]["content"]
    if "Please return the output in a JSON format" in content:
        return ok(json.dumps(judge(content)), prompt_tokens=400, completion_tokens=60)
    return ok(answer(messages), prompt_tokens=300, completion_tokens=40)
