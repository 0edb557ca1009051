"""`llmops prompts list|show|promote|rollback` as a user runs them."""

import json

import pytest

from tests.support.cli import llmops
from tests.support.records import VALID


@pytest.fixture
def env(tmp_path, monkeypatch):
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "answer.yaml").write_text(VALID)
    monkeypatch.setenv("LLMOPS_PROMPTS_DIR", str(prompts))
    return tmp_path / "home", prompts


def _json(*args, home):
    result = llmops(*args, "--json", home=home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_promote_and_rollback_show_in_history(env):
    home, prompts = env
    [v1] = _json("prompts", "list", home=home)["prompts"]["answer"]
    assert v1["labels"] == ["production"]
    (prompts / "answer.yaml").write_text(VALID.replace("only.", "only!"))
    versions = _json("prompts", "list", home=home)["prompts"]["answer"]
    v2 = versions[0]
    assert v2["labels"] == ["candidate"]
    assert versions[1]["version"] == v1["version"]

    refused = llmops("prompts", "promote", "answer", "candidate", "--reason", "x", home=home)
    assert refused.returncode == 2
    assert "gate of answer@" in refused.stderr
    assert "never ran" in refused.stderr
    assert _json("prompts", "show", "answer", home=home)["version"] == v1["version"]
    bare_force = llmops("prompts", "promote", "answer", "candidate", "--force", home=home)
    assert bare_force.returncode == 2
    assert "--force needs --reason" in bare_force.stderr

    promoted = _json(
        "prompts", "promote", "answer", "candidate", "--force", "--reason", "better", home=home
    )
    assert promoted["production"] == v2["version"]
    assert promoted["previous"] == v1["version"]
    assert promoted["forced"] is True
    assert promoted["reason"].startswith("forced past the gate (the promotion gate of answer@")
    assert promoted["reason"].endswith("never ran: run `llmops eval` first): better")
    assert _json("prompts", "show", "answer", home=home)["version"] == v2["version"]
    rolled = _json("prompts", "rollback", "answer", "--reason", "worse", home=home)
    assert rolled["production"] == v1["version"]

    shown = _json("prompts", "show", f"answer@{v2['version']}", home=home)
    assert "+  system: You answer from the handbook only!" in shown["diff"]
    moves = [(h["label"], h["from"], h["to"], h["reason"]) for h in shown["history"]]
    assert moves[-2:] == [
        ("production", v1["version"], v2["version"], promoted["reason"]),
        ("production", v2["version"], v1["version"], "rollback: worse"),
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["prompts", "show", "answer@staging"], "no version or label 'staging'"),
        (["prompts", "promote", "answer", "0123456789ab"], "not found"),
        (["prompts", "rollback", "answer"], "no earlier production version"),
        (["prompts", "show", "missing"], "'missing' not found"),
    ],
)
def test_bad_references_exit_2(env, args, says):
    home, _ = env
    result = llmops(*args, home=home)
    assert result.returncode == 2
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_invalid_prompt_file_is_named(env):
    home, prompts = env
    (prompts / "answer.yaml").write_text(VALID.replace("{question}", "{questoin}"))
    result = llmops("prompts", "list", home=home)
    assert result.returncode == 2
    assert f"{prompts / 'answer.yaml'}:3: template: " in result.stderr
