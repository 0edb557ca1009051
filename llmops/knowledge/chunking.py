"""Split documents into chunks that the embedding model sees whole.

Budgets are counted in the embedding model's own word pieces: MiniLM silently truncates past
256 of them, so a chunk measured in characters or words can lose its tail without anyone
knowing. Chunks prefer heading and paragraph boundaries, fall back to sentences, and only as a
last resort cut inside a sentence (at token offsets). Consecutive chunks of a section overlap
by a few sentences. Every chunk's `embedding_text` (heading trail + body) is verified against
the limit, special tokens included.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import groupby
from typing import Protocol

from llmops.knowledge.documents import SourceDocument
from llmops.knowledge.extraction import extract_blocks

CHUNKER_VERSION = 1
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")


class Tokenizer(Protocol):
    """The part of a Hugging Face fast tokenizer the chunker uses."""

    @property
    def backend_tokenizer(self) -> object: ...


@dataclass(frozen=True)
class ChunkerSettings:
    """Chunk size and overlap in model tokens; `max_tokens` includes the special tokens.
    `heading_context` prefixes each chunk's heading trail to the text the model encodes."""

    max_tokens: int = 256
    overlap_tokens: int = 32
    heading_context: bool = True

    def __post_init__(self) -> None:
        if self.max_tokens < 32:
            raise ValueError(f"max_tokens must be at least 32, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise ValueError(
                f"overlap_tokens must be between 0 and max_tokens/2, got {self.overlap_tokens}"
            )

    def capped(self, model_max_tokens: int) -> ChunkerSettings:
        """These settings with `max_tokens` no larger than what the model reads."""
        return replace(self, max_tokens=min(self.max_tokens, model_max_tokens))

    @property
    def fingerprint(self) -> str:
        base = f"v{CHUNKER_VERSION}:max={self.max_tokens}:overlap={self.overlap_tokens}"
        return base if self.heading_context else base + ":noheading"


@dataclass(frozen=True)
class Chunk:
    """A piece of a document, ready to embed; `chunk_id` is stable across runs."""

    chunk_id: str
    document: str
    document_hash: str
    position: int
    headings: tuple[str, ...]
    text: str
    token_count: int
    embed_heading: bool = True

    @property
    def heading(self) -> str:
        return " > ".join(self.headings)

    @property
    def embedding_text(self) -> str:
        return embedding_text(self.heading if self.embed_heading else "", self.text)


def embedding_text(heading: str, text: str) -> str:
    """What the model encodes: the heading trail gives a chunk the context its body lacks."""
    return f"{heading}\n\n{text}" if heading else text


def chunk_id(document: str, text: str, settings: ChunkerSettings) -> str:
    payload = "\0".join([document, text, settings.fingerprint]).encode()
    return hashlib.sha256(payload).hexdigest()[:32]


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a cut piece of one) with its trailing whitespace, and its token count."""

    text: str
    tokens: int
    starts_paragraph: bool


class Chunker:
    """Chunks documents for one tokenizer and one token budget.

    Tokens are counted with the fast tokenizer's Rust backend in one batch per document: the
    `transformers` wrapper costs about a millisecond per call, which dominated ingest time.
    """

    def __init__(self, tokenizer: Tokenizer, settings: ChunkerSettings) -> None:
        self.settings = settings
        self._tokenizer = _untruncated(tokenizer)
        self._special = len(self._tokenizer.encode("", add_special_tokens=True).ids)

    def count(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, special tokens excluded."""
        if not texts:
            return []
        encoded = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encoded]

    def chunk_document(self, document: SourceDocument) -> list[Chunk]:
        """All chunks of one document, in reading order, duplicates within it dropped."""
        sections = [
            (trail, list(blocks))
            for trail, blocks in groupby(
                extract_blocks(document.text, document.type), key=lambda b: b.headings
            )
        ]
        trails = self._trails_for_budget([trail for trail, _ in sections])
        sentences = [_sentences(block.text) for _, blocks in sections for block in blocks]
        counts = iter(self.count([s for paragraph in sentences for s in paragraph]))
        paragraphs = iter([[(s, next(counts)) for s in paragraph] for paragraph in sentences])
        pieces: list[tuple[tuple[str, ...], str]] = []
        for (trail, tokens), (_, blocks) in zip(trails, sections, strict=True):
            budget = self.settings.max_tokens - self._special - tokens
            units = [self._units(next(paragraphs), budget) for _ in blocks]
            pieces += [(trail, body) for body in self._pack(units, budget)]
        return self._chunks(document, pieces)

    def _chunks(
        self, document: SourceDocument, pieces: list[tuple[tuple[str, ...], str]]
    ) -> list[Chunk]:
        with_heading = self.settings.heading_context
        texts = [
            embedding_text(" > ".join(trail) if with_heading else "", body)
            for trail, body in pieces
        ]
        chunks: list[Chunk] = []
        seen: set[str] = set()
        for (trail, body), text, tokens in zip(pieces, texts, self.count(texts), strict=True):
            cid = chunk_id(document.path, text, self.settings)
            if cid in seen:
                continue
            seen.add(cid)
            chunks.append(
                Chunk(
                    chunk_id=cid,
                    document=document.path,
                    document_hash=document.content_hash,
                    position=len(chunks),
                    headings=trail,
                    text=body,
                    token_count=tokens + self._special,
                    embed_heading=with_heading,
                )
            )
        return chunks

    def _trails_for_budget(
        self, trails: list[tuple[str, ...]]
    ) -> list[tuple[tuple[str, ...], int]]:
        """Each heading trail with its token count, cut to its last heading (or none) when it
        would take more than a quarter of the budget."""
        full = self.count([" > ".join(t) for t in trails])
        last = self.count([t[-1] if t else "" for t in trails])
        quarter = self.settings.max_tokens // 4
        fitted = []
        for trail, full_tokens, last_tokens in zip(trails, full, last, strict=True):
            if full_tokens <= quarter:
                fitted.append((trail, full_tokens))
            elif last_tokens <= quarter:
                fitted.append((trail[-1:], last_tokens))
            else:
                fitted.append(((), 0))
        return fitted

    def _pack(self, paragraphs: list[list[_Unit]], budget: int) -> list[str]:
        """Greedy packing of a section's sentences into bodies that fit the budget."""
        bodies: list[str] = []
        current: list[_Unit] = []
        used = 0
        for units in paragraphs:
            paragraph_tokens = sum(u.tokens for u in units)
            if current and used + paragraph_tokens > budget and paragraph_tokens <= budget:
                bodies.append(_join(current))
                current = _overlap(current, self.settings.overlap_tokens, budget - paragraph_tokens)
                used = sum(u.tokens for u in current)
            for unit in units:
                if current and used + unit.tokens > budget:
                    bodies.append(_join(current))
                    current = _overlap(current, self.settings.overlap_tokens, budget - unit.tokens)
                    used = sum(u.tokens for u in current)
                current.append(unit)
                used += unit.tokens
        if current:
            bodies.append(_join(current))
        return [b for b in bodies if b]

    def _units(self, sentences: list[tuple[str, int]], budget: int) -> list[_Unit]:
        """A paragraph's sentences as units; one longer than the budget is cut at token offsets."""
        units: list[_Unit] = []
        for sentence, tokens in sentences:
            cuts = [(sentence, tokens)] if tokens <= budget else self._cut(sentence, budget)
            for cut, cut_tokens in cuts:
                units.append(_Unit(cut, cut_tokens, starts_paragraph=not units))
        return units

    def _cut(self, text: str, budget: int) -> list[tuple[str, int]]:
        """Windows of at most `budget` tokens, cut where a new word starts, with their counts."""
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        offsets = encoding.offsets
        total = len(encoding.ids)
        pieces: list[tuple[str, int]] = []
        start = 0
        while start < total:
            end = min(start + budget, total)
            if end < total:
                word_start = end
                while (
                    word_start > start + 1 and offsets[word_start][0] == offsets[word_start - 1][1]
                ):
                    word_start -= 1
                end = word_start if word_start > start + 1 else end
            last_char = offsets[end][0] if end < total else len(text)
            pieces.append((text[offsets[start][0] : last_char], end - start))
            start = end
        return pieces


def _untruncated(tokenizer: Tokenizer):
    """The Rust tokenizer behind a Hugging Face fast tokenizer, without truncation or padding."""
    backend = copy.deepcopy(tokenizer.backend_tokenizer)
    backend.no_truncation()
    backend.no_padding()
    return backend


def _sentences(text: str) -> list[str]:
    """Sentences of a paragraph, each keeping its trailing whitespace."""
    starts = [0, *(m.end() for m in _SENTENCE_END.finditer(text))]
    pieces = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
    return [p for p in pieces if p.strip()]


def _join(units: list[_Unit]) -> str:
    text = ""
    for unit in units:
        if unit.starts_paragraph and text:
            text = text.rstrip() + "\n\n"
        text += unit.text
    return text.strip()


def _overlap(units: list[_Unit], overlap_tokens: int, room: int) -> list[_Unit]:
    """The trailing sentences of a chunk to repeat at the start of the next one."""
    limit = min(overlap_tokens, room)
    tail: list[_Unit] = []
    total = 0
    for unit in reversed(units[1:]):
        if total + unit.tokens > limit:
            break
        tail.insert(0, unit)
        total += unit.tokens
    return tail


def chunk_documents(
    documents: Sequence[SourceDocument], tokenizer: Tokenizer, settings: ChunkerSettings
) -> list[Chunk]:
    chunker = Chunker(tokenizer, settings)
    return [chunk for document in documents for chunk in chunker.chunk_document(document)]
