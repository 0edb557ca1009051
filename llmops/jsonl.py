"""Read JSONL files into validated records; a bad line names the file, the line and the field."""

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from llmops.errors import InputError

Record = TypeVar("Record", bound=BaseModel)
MAX_BYTES = 32 * 1024 * 1024  # a batch, an eval set or a window of texts; larger is a mistake


def read_lines(path: Path) -> list[str]:
    """The lines of the UTF-8 text file `path`; InputError if it is missing, binary or too big."""
    return read_text(path).splitlines()


def read_text(path: Path) -> str:
    """The UTF-8 text of the input file `path`; InputError if it is missing, binary or too big."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(
                f"{path}: {size / 2**20:.0f} MiB is more than an input file may hold "
                f"({MAX_BYTES // 2**20} MiB); split it"
            )
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); a binary file?") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if "\x00" in text:
        raise InputError(f"{path}: not text: it holds NUL bytes; a binary file?")
    return text


def read_jsonl(path: Path, model: type[Record]) -> list[Record]:
    """Every non-blank line of `path` as a `model`; `InputError` names the first bad one."""
    lines = read_lines(path)
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(model.model_validate_json(line))
        except ValidationError as exc:
            raise InputError(f"{path}:{number}: {_problem(exc)}") from exc
    return records


def _problem(exc: ValidationError) -> str:
    """The first error of a line, in words: a bad field by name, or the line not being JSON."""
    error = exc.errors()[0]
    if error["type"] == "json_invalid":
        reason = error["msg"].removeprefix("Invalid JSON: ").replace(" at line 1", " at")
        return f"not valid JSON ({reason}): each line must be one JSON object"
    if error["type"] == "model_type":
        return "not a JSON object: each line must be one"
    field = ".".join(str(part) for part in error["loc"])
    return f"{field}: {error['msg']}" if field else error["msg"]


class TextLine(BaseModel):
    text: str


def read_texts(path: Path) -> list[str]:
    """Texts of a JSONL file with a `text` field per line, or of a plain file, one per line.

    The format is decided by the first non-blank line: a JSON object means JSONL.
    """
    lines = [line for line in read_lines(path) if line.strip()]
    if not lines:
        raise InputError(f"{path}: no texts")
    if lines[0].lstrip().startswith("{"):
        return [record.text for record in read_jsonl(path, TextLine)]
    return [line.strip() for line in lines]
