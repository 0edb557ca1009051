"""ragas' interfaces answered by our own clients (ragas comes with the `judge` extra).

ragas' metric collections want an "instructor" LLM; `MeteredJudgeLLM` is that interface on top
of `LLMClient`, so every judge call obeys the daily budget and lands in the usage ledger with
purpose `judge`, and ragas never opens a client of its own. `RagasEmbeddings` hands ragas our
embedder, so answer relevancy and semantic similarity use the same model as retrieval.
"""

import os
from typing import TypeVar

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")  # ragas' usage analytics phone home

from pydantic import BaseModel
from ragas.embeddings.base import BaseRagasEmbedding
from ragas.llms.base import InstructorBaseRagasLLM

from llmops.costs.budget import BudgetLimits
from llmops.costs.metering import metered_complete
from llmops.evaluation.judge_model import JudgeOutputError, JudgeSettings, parse_reply
from llmops.storage.metadata.client import MetadataClient
from resources.embedder import Embedder
from resources.llm import LLMClient

T = TypeVar("T", bound=BaseModel)


class MeteredJudgeLLM(InstructorBaseRagasLLM):
    """ragas' structured-output LLM interface, answered by `LLMClient` within the budget."""

    def __init__(
        self, llm: LLMClient, store: MetadataClient, settings: JudgeSettings, limits: BudgetLimits
    ) -> None:
        self.llm = llm
        self.store = store
        self.settings = settings
        self.limits = BudgetLimits(
            max_input_tokens=settings.max_input_tokens,
            max_output_tokens=settings.max_output_tokens,
            daily_budget_usd=limits.daily_budget_usd,
        )
        self.cost_usd = 0.0
        self.calls = 0
        self.prompt_version: str | None = None  # the version being judged, for the ledger

    def generate(self, prompt: str, response_model: type[T]) -> T:
        messages = [{"role": "user", "content": prompt}]
        tokens = self.llm.count_tokens(messages)
        if tokens > self.limits.max_input_tokens:
            raise JudgeOutputError(
                f"judge prompt of {tokens} tokens exceeds LLMOPS_JUDGE_MAX_INPUT_TOKENS="
                f"{self.limits.max_input_tokens}"
            )
        completion, spent = metered_complete(
            self.llm,
            messages,
            tokens,
            self.limits.max_output_tokens,
            self.settings.temperature,
            self.store,
            self.limits,
            purpose="judge",
            prompt_version=self.prompt_version,
        )
        self.cost_usd += spent
        self.calls += 1
        return parse_reply(completion.text, response_model)

    async def agenerate(self, prompt: str, response_model: type[T]) -> T:
        return self.generate(prompt, response_model)


class RagasEmbeddings(BaseRagasEmbedding):
    """Our embedder behind ragas' embedding interface."""

    def __init__(self, embedder: Embedder) -> None:
        super().__init__()
        self.embedder = embedder

    def embed_text(self, text: str, **kwargs) -> list[float]:
        return self.embed_texts([text])[0]

    def embed_texts(self, texts: list[str], **kwargs) -> list[list[float]]:
        return self.embedder.encode(list(texts)).tolist()

    async def aembed_text(self, text: str, **kwargs) -> list[float]:
        return self.embed_text(text)

    async def aembed_texts(self, texts: list[str], **kwargs) -> list[list[float]]:
        return self.embed_texts(texts)
