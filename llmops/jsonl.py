"""Read JSONL files into validated records; a bad line names the file, the line and the field."""

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from llmops.errors import InputError

Record = TypeVar("Record", bound=BaseModel)


def read_jsonl(path: Path, model: type[Record]) -> list[Record]:
    """Every non-blank line of `path` as a `model`; `InputError` names the first bad one."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(model.model_validate_json(line))
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"]) or "line"
            raise InputError(f"{path}:{number}: {field}: {error['msg']}") from exc
    return records
