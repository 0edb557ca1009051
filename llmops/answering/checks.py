"""Answer checks that need no model: did the assistant abstain, and is its content in the context?

`groundedness` is written by hand because ragas 0.4 has no non-LLM metric for it: its
faithfulness needs a judge, and its string metrics compare an answer with a reference, not with
the retrieved passages. The check is lexical on purpose — a number, a name or a content word of
the answer that appears in no retrieved passage is exactly what an unsupported claim looks like,
and it is cheap enough to run on every answer.
"""

import re
from dataclasses import dataclass

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

_CITATION = re.compile(r"\[[^\]\n]{1,200}\]")
_TOKEN = re.compile(r"\d+(?:[.,:/]\d+)*%?|[^\W\d_]+(?:['’-][^\W\d_]+)*")
_ABSTAIN = re.compile(
    r"\bi (?:do not|don't|dont) know\b"
    r"|\b(?:handbook|passages?|context|documents?|sources?)\b[^.]{0,40}"
    r"\b(?:does not|do not|doesn't|don't|did not|didn't)\b[^.]{0,20}"
    r"\b(?:say|mention|cover|contain|state|specify|answer|include|address)"
    r"|\bnot (?:mentioned|covered|stated|specified|included|addressed) in\b"
    r"|\b(?:cannot|can't|could not|couldn't|unable to) (?:find|answer|determine|tell|say)\b"
    r"|\bi(?:'m| am) not sure\b"
    r"|\bno information (?:about|on|regarding)\b"
)


def _normalise(text: str) -> str:
    return text.replace("’", "'").lower()


def abstained(answer: str) -> bool:
    """True when the answer says it does not know (in the words prompts and models use)."""
    return bool(_ABSTAIN.search(_normalise(answer)))


def content_tokens(text: str) -> list[str]:
    """Numbers, names and content words of `text`, lower-cased, citations and stop words removed.

    A trailing plural `s` is dropped so "days" in an answer is supported by "day" in a passage.
    """
    tokens = []
    for token in _TOKEN.findall(_normalise(_CITATION.sub(" ", text))):
        if token in ENGLISH_STOP_WORDS or (len(token) < 2 and not token.isdigit()):
            continue
        if token[0].isalpha() and len(token) > 3 and token.endswith("s"):
            token = token[:-1]
        tokens.append(token)
    return tokens


@dataclass(frozen=True)
class Groundedness:
    """Share of the answer's content tokens found in the retrieved context, and the rest."""

    score: float
    tokens: int
    unsupported: tuple[str, ...]


def groundedness(answer: str, contexts: list[str]) -> Groundedness | None:
    """How much of `answer`'s content is supported by `contexts`; None when there is nothing
    to check (an answer with no content words, or no context)."""
    claimed = content_tokens(answer)
    if not claimed or not contexts:
        return None
    available = set(content_tokens("\n".join(contexts)))
    unsupported = [t for t in claimed if t not in available]
    return Groundedness(
        score=1 - len(unsupported) / len(claimed),
        tokens=len(claimed),
        unsupported=tuple(dict.fromkeys(unsupported)),
    )


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def repetition_start(text: str) -> int | None:
    """Where `text` begins writing a sentence it has already written, or None.

    Small models loop: greedy decoding of SmolLM2-135M repeats its first sentence until the token
    cap. Only complete sentences (followed by white space) count, compared without case,
    punctuation or citations, so a sentence cut by the cap is never mistaken for a repeat.
    """
    seen: set[str] = set()
    start = 0
    for boundary in _SENTENCE_END.finditer(text):
        sentence = " ".join(
            re.findall(r"\w+", _CITATION.sub(" ", _normalise(text[start : boundary.start()])))
        )
        if sentence:
            if sentence in seen:
                return start
            seen.add(sentence)
        start = boundary.end()
    return None
