"""The prompt registry: immutable versions, labels, promotion, rollback and their history."""

from pathlib import Path

import pytest

from llmops.errors import InputError
from llmops.prompts.registry import CANDIDATE, PRODUCTION, promote, register, resolve, rollback
from llmops.prompts.specs import load_prompt_files
from tests.support.records import VALID


def _write(folder: Path, text: str) -> list:
    folder.mkdir(exist_ok=True)
    (folder / "answer.yaml").write_text(text)
    return load_prompt_files(folder)


def test_first_version_is_production_later_ones_candidates(tmp_path, metadata):
    [first] = register(_write(tmp_path / "p", VALID), metadata)
    assert first.label == PRODUCTION
    assert register(_write(tmp_path / "p", "# comment only\n" + VALID), metadata) == []
    [second] = register(_write(tmp_path / "p", VALID.replace("only.", "only!")), metadata)
    assert second.label == CANDIDATE
    assert metadata.prompts.labels("answer") == {
        PRODUCTION: first.version,
        CANDIDATE: second.version,
    }
    stored = metadata.prompts.get("answer", second.version)
    assert "-  system: You answer from the handbook only." in stored.diff
    assert "+  system: You answer from the handbook only!" in stored.diff


def test_resolve_by_name_label_and_version(tmp_path, metadata):
    [v1] = register(_write(tmp_path / "p", VALID), metadata)
    [v2] = register(_write(tmp_path / "p", VALID.replace("only.", "only!")), metadata)
    assert resolve(metadata, "answer").version == v1.version
    assert resolve(metadata, "answer@candidate").version == v2.version
    assert resolve(metadata, f"answer@{v2.version}").version == v2.version
    with pytest.raises(InputError, match="labels: candidate, production"):
        resolve(metadata, "answer@staging")
    with pytest.raises(InputError, match="'nope'"):
        resolve(metadata, "nope")


def test_promote_and_rollback_walk_the_history(tmp_path, metadata):
    versions = []
    for text in (VALID, VALID.replace("only.", "only!"), VALID.replace("only.", "only?")):
        versions += [v.version for v in register(_write(tmp_path / "p", text), metadata)]
    v1, v2, v3 = versions
    promote(metadata, "answer", v2, "v2 scored better")
    promote(metadata, "answer", v3, "v3 scored better")
    assert rollback(metadata, "answer", "v3 hurt abstention") == v2
    assert rollback(metadata, "answer", "v2 too") == v1
    assert metadata.prompts.label("answer", PRODUCTION) == v1
    with pytest.raises(InputError, match="no earlier production version"):
        rollback(metadata, "answer", "again")
    history = metadata.prompts.label_history("answer")
    moves = [(m.from_version, m.to_version, m.reason) for m in history if m.label == PRODUCTION]
    assert moves == [
        (None, v1, "new version from answer.yaml"),
        (v1, v2, "v2 scored better"),
        (v2, v3, "v3 scored better"),
        (v3, v2, "rollback: v3 hurt abstention"),
        (v2, v1, "rollback: v2 too"),
    ]


def test_promote_unknown_version_changes_nothing(tmp_path, metadata):
    [v1] = register(_write(tmp_path / "p", VALID), metadata)
    with pytest.raises(InputError, match="not found"):
        promote(metadata, "answer", "0000deadbeef", "typo")
    assert metadata.prompts.label("answer", PRODUCTION) == v1.version
