"""The README's demo question, asked of the sample handbook with the local model, end to end.

What a newcomer sees first: `make run`, then `llmops ask` on the question the README suggests.
The answer must carry the handbook's figure (up to 5 days carried over, `leave/pto-policy.md`
§3.1), cite that page, and not repeat itself.
"""

import json
import re

import pytest

from llmops.answering.checks import repetition_start
from tests.support.cli import llmops
from tests.support.files import CORPUS, PROJECT_ROOT

pytestmark = pytest.mark.slow

DEMO_QUESTION = "How many days of annual leave can I carry over into next year?"


def test_the_readme_suggests_the_demo_question():
    assert DEMO_QUESTION in (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_the_demo_question_gets_the_handbooks_figure(tmp_path):
    home = tmp_path / "home"
    assert llmops("ingest", home=home, docs=CORPUS).returncode == 0
    asked = llmops("ask", DEMO_QUESTION, "--json", home=home, docs=CORPUS)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    print(answer["answer"])
    assert answer["status"] == "answered"
    assert re.search(r"\b5\b|\bfive\b", answer["answer"], flags=re.IGNORECASE)
    assert "leave/pto-policy.md" in [c["source"] for c in answer["citations"]]
    assert repetition_start(answer["answer"]) is None
    assert answer["truncated"] is False
