"""What a chat call costs in USD, from prices per million input and output tokens.

Built in are OpenAI's list prices for gpt-4o-mini, gpt-4o, gpt-4.1-mini, gpt-4.1 and
gpt-3.5-turbo, and 0 for the local SmolLM2-135M-Instruct. `LLMOPS_PRICES` names a JSON or YAML
file (`.json` is read as JSON, anything else as YAML) that adds models or replaces built-in
entries, in USD per million tokens:

    gpt-4o-mini: {input: 0.15, output: 0.60}
    llama3.2: {input: 0, output: 0}    # self-hosted: free per token

Model names match case-insensitively, and a dated snapshot such as `gpt-4o-mini-2024-07-18`
(the name OpenAI reports back) costs what its base model costs unless the table lists it.

A model with no price is an error (`UnknownPriceError`), never free: counting it as 0 would let
an endpoint bill without limit while every cost report and the daily budget read zero.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

import yaml

from llmops.errors import InputError, LlmopsError

PRICES_ENV = "LLMOPS_PRICES"
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class UnknownPriceError(LlmopsError):
    """No price is known for a model, so its spend cannot be counted or budgeted."""


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens."""

    input_per_million: float
    output_per_million: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.input_per_million + output_tokens * self.output_per_million
        ) / 1_000_000


BUILTIN_PRICES = MappingProxyType(
    {
        "gpt-4o-mini": Price(0.15, 0.60),
        "gpt-4o": Price(2.50, 10.00),
        "gpt-4.1-mini": Price(0.40, 1.60),
        "gpt-4.1": Price(2.00, 8.00),
        "gpt-3.5-turbo": Price(0.50, 1.50),
        "smollm2-135m-instruct": Price(0.0, 0.0),
    }
)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _parse(text: str, path: Path) -> object:
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise InputError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from exc


def load_price_file(path: Path) -> dict[str, Price]:
    """Prices of a `{model: {input: x, output: y}}` file; InputError names file and problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the price file ({PRICES_ENV}): {exc}") from exc
    data = _parse(text, path)
    if not isinstance(data, dict) or not data:
        raise InputError(
            f"{path}: must map model names to {{input: USD, output: USD}} per million tokens"
        )
    prices = {}
    for model, entry in data.items():
        if not isinstance(model, str) or not model.strip():
            raise InputError(f"{path}: model name {model!r} must be a non-empty string")
        values = {k: _number(v) for k, v in entry.items()} if isinstance(entry, dict) else {}
        if set(values) != {"input", "output"} or None in values.values():
            raise InputError(
                f"{path}: {model}: needs exactly `input` and `output`, each a number ≥ 0 in USD "
                f"per million tokens, got {entry!r}"
            )
        prices[model.strip().lower()] = Price(values["input"], values["output"])
    return prices


@cache
def _load_cached(path: str, mtime_ns: int, size: int) -> dict[str, Price]:
    return load_price_file(Path(path))


def price_table() -> dict[str, Price]:
    """Built-in prices with the `LLMOPS_PRICES` file's entries on top; keys are lower case."""
    table = dict(BUILTIN_PRICES)
    override = os.environ.get(PRICES_ENV)
    if override:
        path = Path(override).expanduser()
        try:
            stat = path.stat()
        except OSError as exc:
            raise InputError(
                f"{path}: {PRICES_ENV} names a file that cannot be read: {exc}"
            ) from exc
        table.update(_load_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size))
    return table


def price(model: str) -> Price:
    """The price of `model`; UnknownPriceError says how to add one."""
    table = price_table()
    key = model.strip().lower()
    found = table.get(key) or table.get(_DATED.sub("", key))
    if found is None:
        where = os.environ.get(PRICES_ENV)
        target = f"the file {where} ({PRICES_ENV})" if where else f"a file named by {PRICES_ENV}"
        raise UnknownPriceError(
            f"no price for chat model {model!r}, so its spend cannot be counted or capped: add "
            f"`{model}: {{input: USD, output: USD}}` per million tokens to {target} "
            "(0 and 0 for a self-hosted model)"
        )
    return found


def cost(model: str, input_tokens: int, output_tokens: int) -> float:
    """USD cost of a call to `model`."""
    return price(model).cost(input_tokens, output_tokens)
