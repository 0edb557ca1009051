"""Prompt files: validation errors name file and line; versions follow content, not formatting."""

from pathlib import Path

import pytest

from llmops.errors import InputError
from llmops.prompts.specs import load_prompt_files, parse_prompt, prompt_diff
from tests.support.files import PROJECT_ROOT
from tests.support.records import VALID


def test_shipped_prompts_are_valid_and_distinct():
    files = load_prompt_files(PROJECT_ROOT / "prompts")
    assert {f.spec.name for f in files} == {"answer", "answer-concise"}
    assert len({f.spec.version for f in files}) == 2


def test_version_ignores_formatting_but_not_content():
    spec = parse_prompt(VALID, Path("a.yaml"))
    reformatted = "# a comment\n" + VALID.replace("temperature: 0.0", "temperature: 0")
    assert parse_prompt(reformatted, Path("a.yaml")).version == spec.version
    edited = VALID.replace("handbook only.", "handbook only!")
    assert parse_prompt(edited, Path("a.yaml")).version != spec.version


@pytest.mark.parametrize(
    ("source", "where", "says"),
    [
        (VALID.replace("    {context}\n", ""), "p.yaml:3:", "lacks the variable(s) context"),
        (VALID.replace("{question}", "{question} {user}"), "p.yaml:3:", "unknown variable(s) user"),
        (VALID.replace("{context}", "{context"), "p.yaml:3:", "write {{ and }} for braces"),
        (VALID + "owner: me\n", "p.yaml:11:", "owner: Extra inputs are not permitted"),
        (VALID.replace("temperature: 0.0", "temperature: 7"), "p.yaml:9:", "model.temperature"),
        (VALID.replace("name: answer", "name: Bad Name"), "p.yaml:1:", "name: String should match"),
        (VALID.replace("  user: |", "  user: [oops"), "p.yaml:", "invalid YAML"),
        ("- just\n- a list\n", "p.yaml:1:", "must be a mapping"),
    ],
)
def test_bad_prompt_files_name_file_and_line(source, where, says):
    with pytest.raises(InputError) as error:
        parse_prompt(source, Path("p.yaml"))
    assert str(error.value).startswith(where)
    assert says in str(error.value)


def test_duplicate_names_in_a_folder_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text(VALID)
    (tmp_path / "b.yaml").write_text(VALID.replace("only.", "only, always."))
    with pytest.raises(InputError, match="also used by"):
        load_prompt_files(tmp_path)


def test_diff_shows_the_changed_line():
    old = parse_prompt(VALID, Path("a.yaml"))
    new = parse_prompt(VALID.replace("max_output_tokens: 100", "max_output_tokens: 50"), Path("a"))
    diff = prompt_diff(old, new, old.version, new.version)
    assert "-  max_output_tokens: 100" in diff
    assert "+  max_output_tokens: 50" in diff
    assert diff.startswith(f"--- {old.version}")
