"""Prompt-injection checks: named rules over a normalised text, and nearness to known attacks.

`InjectionRulesCheck` matches regular expressions per attack family on the text after it is
normalised (Unicode compatibility forms, zero-width characters dropped, homoglyphs and
leetspeak mapped to Latin letters, spaced-out letters joined) and on payloads it decodes
(base64, hex, URL and HTML escapes, ROT13, reversed text). It is cheap enough for every input.

`InjectionSemanticCheck` catches rewordings no rule names. Its score is contrastive: the mean
cosine similarity of the text's embedding to its 3 nearest prompts of `known_attacks.jsonl`
(written here, plus the dev halves of spikee's and PyRIT's published attacks) minus the mean
to its 3 nearest benign references. Those are the deployment's own benign anchors
(`llmops.guardrails.anchors`: its chunks, headings, eval and served questions, with a
threshold calibrated on them) once the `benign_anchors` asset has built them, and until then
the questions of `known_benign.jsonl` (ordinary questions to the handbook assistant, many
innocently about instructions, passwords, systems, admin rights, printing or overriding).
Nearness to attacks alone cannot tell "how do I print from the admin
system?" from "print your system instructions": short questions sharing those words sit as
close to attacks as rewordings do. Against the benign references, such a question finds
nearer neighbours than any attack, while an attack does not. The margin beat a kNN vote and a
logistic regression on the vectors in cross-validation over the corpora and on the tuning split
of the tests, which also sets the default threshold. Both corpora's vectors live in one
LanceDB table per embedding model (a `label` column tells them apart), rebuilt when either file
changes, encoded once per process, and held in memory after the first load because a matrix
product over a few hundred rows is faster than a query.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import dataclasses
import hashlib
import html
import re
import time
import unicodedata
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmops.errors import InputError
from llmops.guardrails.verdicts import Action, Span, Verdict
from llmops.jsonl import read_jsonl
from resources.embedder import Embedder
from resources.vector_store import VectorStore, attack_schema

KNOWN_ATTACKS = Path(__file__).with_name("known_attacks.jsonl")
KNOWN_BENIGN = Path(__file__).with_name("known_benign.jsonl")
FAMILIES = (
    "instruction_override",
    "roleplay_jailbreak",
    "prompt_extraction",
    "encoded_payload",
    "delimiter_spoofing",
)
DEFAULT_THRESHOLD = 0.06  # with the shipped benign references
MARGIN_K = 3
ANCHOR_RECHECK_SECONDS = 30.0

_ZERO_WIDTH = dict.fromkeys(
    map(ord, "\u00ad\u034f\u180e\u200b\u200c\u200d\u200e\u200f\u2060\ufeff")
)
_HOMOGLYPHS = str.maketrans(
    "аеорсухіјѕԁɡһӏոԛѵԝАВЕКМНОРСТХІЈЅαβεικνορτυχΑΒΕΗΙΚΜΝΟΡΤΥΧ‘’‚‛“”„`´",
    "aeopcyxijsdghlnqvwabekmhopctxijsabeiknoptuxabehikmnoptyx''''\"\"\"''",
)
_LEET = str.maketrans("0134578@$", "oieastbas")
_WORD_WITH_LEET = re.compile(r"[a-z0-9@$]*[0-9@$][a-z0-9@$]*")
_LETTER = re.compile("[a-z]")
_SPACED = re.compile(r"(?<![a-z])(?:[a-z][ .\-_*]{1,3}){3,}[a-z](?![a-z])")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}){10,}\b")


@dataclass(frozen=True)
class _Rule:
    name: str
    family: str
    pattern: re.Pattern[str]


def _rule(name: str, family: str, pattern: str) -> _Rule:
    return _Rule(name, family, re.compile(pattern))


_OVERRIDE_VERB = (
    r"(?:ignore|disregard|forget|skip|override|overrule|bypass|discard|drop|abandon|neglect"
    r"|nullify|set aside|pay no attention to|do not follow|don't follow|stop following"
    r"|stop obeying|do not obey|don't obey)"
)
_GUIDANCE = (
    r"(?:instructions?|directions?|directives?|prompts?|rules|guidelines|guidance|commands?"
    r"|orders|programming|constraints|restrictions|configuration|training|context|setup|task"
    r"|requests)"
)
_EARLIER = r"(?:previous|prior|above|earlier|preceding|original|initial|foregoing|former)"
_UNBOUND = (
    r"(?:restrictions?|limits?|limitations|rules|filters?|guidelines|polic(?:y|ies)"
    r"|guardrails|safeguards|morals?|ethics|ethical guidelines|censorship|boundaries|confines)"
)
_PERSONA = (
    r"(?:you are now|you're now|you are no longer|from now on you are|pretend|act as|acting as"
    r"|roleplay|role-play|play the role of|imagine you are|imagine you're|simulate|become"
    r"|behave like|switch to|switch into|enter|stay in character as)"
)
_IMPERATIVE = r"(?:^|[.!?;:,\n]\s*|\b(?:please|now|just|and|then)\s+)"
_LEAK_VERB = (
    r"(?:repeat|print|reveal|show|display|output|tell me|give me|share|dump|leak|write out|copy"
    r"|echo|return|spell out|quote|recite|translate|summari[sz]e|paste|disclose|expose|list)"
)
_SECRET_PROMPT = (
    r"(?:system|initial|original|hidden|secret|internal|developer|confidential|full|complete"
    r"|pre-?)[ -]?(?:prompt|instructions?|message|directives?|rules|guidelines|configuration"
    r"|preamble|prompt template|context)"
)

RULES: tuple[_Rule, ...] = (
    _rule(
        "ignore_previous_instructions",
        "instruction_override",
        rf"\b{_OVERRIDE_VERB}\b(?:\s+\S+){{0,3}}?\s+{_EARLIER}\s+(?:\S+\s+){{0,2}}?{_GUIDANCE}\b",
    ),
    _rule(
        "ignore_your_instructions",
        "instruction_override",
        rf"\b{_OVERRIDE_VERB}\s+(?:all\s+|any\s+)?(?:of\s+)?(?:your|the system'?s?|its)\s+"
        rf"(?:\S+\s+){{0,2}}?{_GUIDANCE}\b",
    ),
    _rule(
        "ignore_instructions_given",
        "instruction_override",
        rf"\b{_OVERRIDE_VERB}\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+)?(?:\S+\s+)?{_GUIDANCE}\s+"
        r"(?:you were given|you received|you have been given|given to you|set by|from your"
        r"|you got|you've been given)\b",
    ),
    _rule(
        "disable_your_safeguards",
        "instruction_override",
        r"\b(?:cancel\w*|revok\w*|remov\w*|lift\w*|disabl\w*|turn(?:ing)? off|switch(?:ing)? off"
        r"|drop\w*)\s+(?:all\s+)?(?:of\s+)?your\s+(?:\S+\s+)?(?:rules|restrictions|filters"
        r"|safeguards|guardrails|guidelines|safety \w+|content polic\w+|instructions)\b",
    ),
    _rule(
        "ignore_instructions_translated",
        "instruction_override",
        r"\b(?:ignore (?:las|los|les|die|le|alle)|ignorez|ignoriere\w*|ignora\w*|olvid\w*|oubli\w*"
        r"|vergiss\w*|vergessen|esque[cç]\w*|dimentic\w*)\b[^.]{0,30}"
        r"\b(?:instrucciones|anweisungen|istruzioni"
        r"|instru[cç][õo]es|instructions|consignes|regeln|reglas|r[eè]gles|regole|regras)\b",
    ),
    _rule(
        "ignore_everything_above",
        "instruction_override",
        rf"\b{_OVERRIDE_VERB}\s+(?:the|everything|all|anything|what)\s+(?:\S+\s+){{0,2}}?"
        r"(?:above|before|you were told|you have been told|previously)\b",
    ),
    _rule(
        "new_instructions",
        "instruction_override",
        r"\b(?:new|updated|revised|real|actual|true|priority|urgent)\s+(?:instructions?|task"
        r"|directives?|rules|goal|orders)\s*:|(?:\*{2,}|#{1,6}|!{2,})\s*(?:new\s+)?(?:important\s+)?"
        r"(?:new\s+)?instructions?\b|\byour\s+(?:new|real|only)\s+(?:task|goal|job|purpose|instructions?)"
        r"\s+(?:is|are)\b",
    ),
    _rule(
        "from_now_on",
        "instruction_override",
        r"\b(?:from now on|for the rest of (?:this|the|our) (?:conversation|chat|session)),?\s+"
        r"(?:you|act|respond|answer|reply|always|never|only|ignore|obey)\b",
    ),
    _rule(
        "instructions_revoked",
        "instruction_override",
        rf"\b(?:your|the)\s+(?:\S+\s+){{0,2}}?{_GUIDANCE}\b[^.]{{0,40}}\b(?:have been|has been"
        r"|are|is)\s+(?:now\s+)?(?:revoked|cancell?ed|no longer valid|outdated|void)\b",
    ),
    _rule(
        "obey_user_not_system",
        "instruction_override",
        r"\b(?:do not|don't|never)\s+(?:obey|follow|listen to)\s+(?:the\s+)?(?:system|your"
        r" developers|your creators|the company)\b|\bobey only (?:me|the user)\b",
    ),
    _rule(
        "note_to_ai_reader",
        "instruction_override",
        r"\b(?:note|instructions?|message|attention|hidden instruction)\s*(?:to|for)?\s*:?\s*"
        r"(?:any|the|all)?\s*(?:ai|assistants?|chatbots?|language models?|llms?|ai models?)\b"
        r"|\bif you are an? (?:ai|language model|assistant|llm|chatbot)\b"
        r"|\b(?:ai|assistants?|chatbots?|language models?|llms?|models?)\s+(?:\S+\s+){0,2}?"
        r"(?:reading|processing|summari[sz]ing)\s+this\s+(?:page|document|text|content|section"
        r"|email|message|file)\b"
        r"|\bif you are (?:told|asked) to (?:summari[sz]e|answer|translate|read)\b",
    ),
    _rule(
        "planted_output_payload",  # a link or script to plant in the answer: exfiltration
        "instruction_override",
        r"!\[[^\]]{0,40}\]\(\s*https?://[^)\s]*[?&][^)\s]*=|<img\b[^>]*\bonerror\s*="
        r"|<a\s[^>]*href\s*=\s*[\"']?\s*javascript:|<script\b",
    ),
    _rule(
        "dan",
        "roleplay_jailbreak",
        r"\bdo anything now\b|\b(?:you are|you're|act as|as a|enter|stay)\s+(?:now\s+)?(?:an?\s+)?"
        r"dan\b|\bdan mode\b|\bstay dan\b",
    ),
    _rule(
        "special_mode",
        "roleplay_jailbreak",
        r"\b(?:developer|dev|god|jailbreak|unrestricted|unfiltered|maintenance|debug|opposite)"
        r" mode\s+(?:is\s+)?(?:now\s+)?(?:enabled|on|activated|active|engaged)\b"
        r"|\b(?:developer|god|jailbreak|dan|opposite|unrestricted) mode\s*:"
        r"|\b(?:enable|activate|enter|simulate|switch to|switch into)\s+(?:the\s+)?(?:god|jailbreak"
        r"|unrestricted|unfiltered|dan|opposite) mode\b"
        r"|\bdeveloper mode\b[^.]{0,80}\b(?:respons|polic|filter|restrict|safety|guideline|rules"
        r"|uncensored|unfiltered)"
        r"|\b(?:polic\w*|filters?|restrictions?|safety)\b[^.]{0,60}\bdeveloper mode\b",
    ),
    _rule(
        "persona_without_limits",
        "roleplay_jailbreak",
        rf"\b{_PERSONA}\b[^.]{{0,60}}?\b(?:no|without|free of|freed from|zero|any)\s+"
        rf"(?:\S+\s+){{0,2}}?{_UNBOUND}\b"
        rf"|\b(?:{_PERSONA}|you are an?|you're an?)\b[^.]{{0,40}}?\b(?:unrestricted|unfiltered"
        r"|uncensored|jailbroken|amoral|evil|unethical|machiavellian)\b",
    ),
    _rule(
        "ai_without_limits",
        "roleplay_jailbreak",
        rf"\ban?\s+(?:\S+\s+)?(?:ai|assistant|model|chatbot|bot)\s+(?:with no|without(?: any)?)\s+"
        rf"(?:\S+\s+){{0,2}}?{_UNBOUND}\b|\byou have no (?:\S+\s+)?{_UNBOUND}\b",
    ),
    _rule(
        "persona_translated",
        "roleplay_jailbreak",
        r"\b(?:tu es|vous [eê]tes|eres|du bist|sei)\b[^.]{0,40}\b(?:sans (?:aucune? )?"
        r"(?:limite|restriction|filtre|r[eè]gle)s?|sin (?:restricciones|l[ií]mites|filtros|reglas)"
        r"|ohne (?:jegliche )?"
        r"(?:einschr[aä]nkungen|regeln|filter|grenzen)|senza (?:limiti|restrizioni|regole))"
        r"|\b(?:jetzt|ahora|maintenant|ora)\s+(?:\S+\s+)?dan\b",
    ),
    _rule(
        "impersonate_authority",
        "roleplay_jailbreak",
        r"\b(?:act as|pretend to be|pose as|play the role of|you are now)\b[^.]{0,20}"
        r"\b(?:ceo|cfo|cto|admin|administrator|sysadmin|system administrator|root|hr director)\b",
    ),
    _rule(
        "freed_from_limits",
        "roleplay_jailbreak",
        rf"\b(?:no longer bound by|freed from|free from|free of|broken free of|broke free of"
        rf"|escaped|never (?:restricted|bound|limited) by|not (?:restricted|bound|limited) by)\b"
        rf"[^.]{{0,50}}\b{_UNBOUND}",
    ),
    _rule(
        "you_are_now",
        "roleplay_jailbreak",
        r"\byou are now (?:an? |the |my |in |called |named |playing )?[^.]{0,30}?\b(?:ai|assistant"
        r"|bot|chatbot|model|mode|hacker|persona|character)\b|\byou are no longer (?:an? |the "
        r"|my )?(?:\w+ )?(?:assistant|chatbot|ai|bound)\b"
        r"|\byou (?:are|will be) (?:now )?replaced by\b|\byou will now pose as\b",
    ),
    _rule(
        "pretend",
        "roleplay_jailbreak",
        rf"{_IMPERATIVE}pretend\b(?!\s+(?:i|i'm|i am|we)\b)",
    ),
    _rule(
        "roleplay_game",
        "roleplay_jailbreak",
        r"\blet'?s (?:play a game|roleplay|role-play)\b|\b(?:roleplay|role-play) as\b"
        r"|\bstay in character\b|\bbreak(?:ing)? character\b"
        r"|\b(?:respond|answer|reply)\b[^.]{0,20}\bas two (?:different )?(?:personalities"
        r"|characters|personas|ais|voices)\b"
        r"|\bjailbr(?:eak|oken) (?:ai|assistant|model|chatbot|version|persona)\b",
    ),
    _rule(
        "reveal_system_prompt",
        "prompt_extraction",
        rf"\b{_LEAK_VERB}\b[^.?!]{{0,40}}?\b{_SECRET_PROMPT}\b"
        r"|\byour (?:system |initial |original |hidden |secret |pre-?)?(?:prompt|system message"
        r"|system instructions)\b"
        r"|\bwhat (?:is|are|was|were) your (?:system|initial|original|hidden|secret) "
        rf"|\b{_LEAK_VERB}\b[^.?!]{{0,20}}?\byour\s+(?:\S+\s+)?(?:instructions|rules|configuration"
        r"|setup|guidelines|directives|prompt)\b"
        r"|\b(?:the|full) (?:text of the )?(?:prompt template|prompt that|preamble)\b",
    ),
    _rule(
        "reveal_system_prompt_translated",
        "prompt_extraction",
        r"\b(?:muestra\w*|mu[eé]strame|affiche\w*|montre\w*|zeig\w*|mostra\w*|dime|dis-moi)\b"
        r"[^.]{0,30}"
        r"\b(?:prompt|instrucciones|instructions|anweisungen|systemprompt|consignes|istruzioni)\b"
        r"|\b(?:prompt|instrucciones|instructions|consignes|istruzioni) (?:del |du |de )?"
        r"(?:sistema|syst[eè]me)\b|\bsystemprompt\b",
    ),
    _rule(
        "repeat_text_above",
        "prompt_extraction",
        rf"\b{_LEAK_VERB}\b[^.?!]{{0,30}}?\b(?:text|words|everything|content|lines?|messages?)"
        r"\s+(?:above|before)\b|\bfirst \d+ (?:words|lines)\b",
    ),
    _rule(
        "instructions_you_were_given",
        "prompt_extraction",
        r"\b(?:instructions|rules|guidelines|directives|prompt)\s+(?:that\s+)?(?:you were given"
        r"|you received|given to you|you were programmed with|your developers gave you)\b"
        r"|\b(?:told|instructed|say to) you\b[^.?!]{0,30}\bbefore\b",
    ),
    _rule(
        "chat_template_token",
        "delimiter_spoofing",
        r"<\|[a-z_]+\|>|<</?sys>>|\[/?inst\]|</?(?:system|instructions?|context|documents?|sys"
        r"|admin|prompt|assistant|user)>|```\s*system\b",
    ),
    _rule(
        "role_header",
        "delimiter_spoofing",
        r"#{1,6}\s*(?:system|instructions?|response|assistant|human|user)(?: prompt| message)?\s*:"
        r"|\[(?:system|system note|system message|admin|operator)\b[^\]]{0,30}\]"
        r"|\((?:system|admin|operator) message\s*:"
        r"|\"role\"\s*:\s*\"(?:system|assistant|developer)\"",
    ),
    _rule(
        "fake_turn",
        "delimiter_spoofing",
        r"(?:^|\n|[.!?]\s+|[<>\-=*#|\[\]()]{2,}\s*|<!--\s*)\s*"
        r"(?:assistant|ai|bot|system|human)\s*:",
    ),
    _rule(
        "end_of_context_marker",
        "delimiter_spoofing",
        r"(?:[-=*#_\[(<>]{1,}\s*|^|\n|\.\s+)end of (?:the )?(?:context|documents?|input|user input"
        r"|handbook|conversation|prompt|instructions|retrieved \w+)\b"
        r"|\b(?:context|input|query|documents?|passages?|handbook)\s+ends here\b",
    ),
    _rule(
        "new_system_message",
        "delimiter_spoofing",
        r"\b(?:new|updated)\s+system\s+(?:message|prompt|instructions?)\b|\bsystem override\b"
        r"|\bbegin (?:system|privileged|admin) (?:message|instructions)\b",
    ),
    _rule(
        "decode_and_obey",
        "encoded_payload",
        r"\b(?:decode|decipher|interpret|unscramble|translate from rot13|read this backwards)\b"
        r"[^.]{0,40}\b(?:follow|obey|execute|do|act on|comply|run)\b",
    ),
)


@dataclass(frozen=True)
class _View:
    """A rewritten text with, for each of its characters, the original index it came from."""

    text: str
    origin: tuple[int, ...]

    def span(self, start: int, end: int, limit: int) -> tuple[int, int]:
        if not self.origin:
            return 0, limit
        return self.origin[min(start, len(self.origin) - 1)], self.origin[end - 1] + 1


def _normalised(text: str) -> _View:
    """NFKC, zero-width characters dropped, homoglyphs mapped, lower-cased."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if ord(char) in _ZERO_WIDTH:
            continue
        for out in unicodedata.normalize("NFKC", char).translate(_HOMOGLYPHS).lower():
            chars.append(out)
            origin.append(index)
    return _View("".join(chars), tuple(origin))


def _deobfuscated(view: _View) -> _View | None:
    """Leetspeak mapped to letters, `_`/`*` inside words dropped and spaced-out letters joined
    (the most common gap in a run separates letters, any other gap words); None when nothing
    changed."""
    text = _WORD_WITH_LEET.sub(
        lambda m: m.group().translate(_LEET) if _LETTER.search(m.group()) else m.group(),
        view.text,
    )
    chars: list[str] = []
    origin: list[int] = []
    last = 0
    for match in _SPACED.finditer(text):
        chars.append(text[last : match.start()])
        origin.extend(view.origin[last : match.start()])
        pieces = re.split(r"([a-z])", match.group())[1:-1]
        usual = Counter(pieces[1::2]).most_common(1)[0][0]
        position = match.start()
        for index, piece in enumerate(pieces):
            if index % 2 == 0 or piece != usual:
                chars.append(piece if index % 2 == 0 else " ")
                origin.append(view.origin[position])
            position += len(piece)
        last = match.end()
    chars.append(text[last:])
    origin.extend(view.origin[last:])
    joined = "".join(chars)
    kept = [i for i, c in enumerate(joined) if not (c in "_*" and _inside_word(joined, i))]
    result = _View("".join(joined[i] for i in kept), tuple(origin[i] for i in kept))
    return None if result.text == view.text else result


def _inside_word(text: str, index: int) -> bool:
    return 0 < index < len(text) - 1 and text[index - 1].isalpha() and text[index + 1].isalpha()


def _readable(data: bytes) -> str | None:
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(c.isprintable() or c.isspace() for c in decoded)
    letters = sum(c.isalpha() for c in decoded)
    if printable < 0.95 * len(decoded) or letters < 0.6 * len(decoded) or " " not in decoded:
        return None
    return decoded


def decoded_payloads(text: str) -> list[tuple[str, int, int]]:
    """Readable texts hidden in `text` as base64, hex, URL or HTML escapes, ROT13 or reversed,
    each with the span of `text` it was decoded from."""
    found: list[tuple[str, int, int]] = []
    for match in _BASE64.finditer(text):
        segment = match.group()
        try:
            data = base64.b64decode(segment + "=" * (-len(segment) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        if (decoded := _readable(data)) is not None:
            found.append((decoded, match.start(), match.end()))
    for match in _HEX.finditer(text):
        if (decoded := _readable(bytes.fromhex(match.group()))) is not None:
            found.append((decoded, match.start(), match.end()))
    for decoded in (urllib.parse.unquote(text), html.unescape(text)):
        if decoded != text:
            found.append((decoded, 0, len(text)))
    found.append((codecs.decode(text, "rot13"), 0, len(text)))
    found.append((text[::-1], 0, len(text)))
    return found


@dataclass(frozen=True)
class _Match:
    rule: str
    family: str
    start: int
    end: int
    how: str


def _match_rules(text: str, rules: Sequence[_Rule]) -> list[_Match]:
    plain = _normalised(text)
    views = [(plain, "")]
    if (obfuscated := _deobfuscated(plain)) is not None:
        views.append((obfuscated, "obfuscated"))
    matches = []
    for rule in rules:
        for view, how in views:
            if found := rule.pattern.search(view.text):
                start, end = view.span(found.start(), found.end(), len(text))
                matches.append(_Match(rule.name, rule.family, start, end, how))
                break
    return matches


class InjectionRulesSettings(BaseModel):
    """The `injection_rules` entry of guardrails.yaml: which attack families' rules run."""

    model_config = ConfigDict(extra="forbid")

    check: Literal["injection_rules"] = "injection_rules"
    enabled: bool = True
    action: Action = "block"
    families: list[str] = Field(default_factory=lambda: list(FAMILIES), min_length=1)

    @model_validator(mode="after")
    def _check_families(self) -> InjectionRulesSettings:
        unknown = sorted(set(self.families) - set(FAMILIES))
        if unknown:
            raise InputError(
                f"injection_rules: unknown families {unknown}; known families are {list(FAMILIES)}"
            )
        return self


class InjectionRulesCheck:
    """Named regular expressions per injection family, on normalised and decoded text."""

    name = "injection_rules"
    needs_vector = False

    def __init__(self, settings: InjectionRulesSettings | None = None) -> None:
        self.settings = settings or InjectionRulesSettings()
        self.action: Action = self.settings.action
        self._rules = [r for r in RULES if r.family in self.settings.families]
        self._decode = "encoded_payload" in self.settings.families

    def matches(self, text: str) -> list[_Match]:
        """Every rule that fires, with the span of `text` it fired on."""
        found = _match_rules(text, self._rules)
        if self._decode:
            for decoded, start, end in decoded_payloads(text):
                if inner := _match_rules(decoded, RULES):
                    how = f"decoded, {inner[0].family}"
                    found.append(_Match(inner[0].rule, "encoded_payload", start, end, how))
                    break
        return found

    def inspect(self, text: str, vector: np.ndarray | None = None) -> Verdict:
        found = self.matches(text)
        if not found:
            return Verdict(
                check=self.name,
                action=self.action,
                triggered=False,
                reason="no injection rule matched",
            )
        spans = [Span(type=m.family, start=m.start, end=m.end) for m in found]
        reason = "; ".join(
            f"{m.family}: rule {m.rule}" + (f" ({m.how})" if m.how else "") for m in found
        )
        return Verdict(
            check=self.name,
            action=self.action,
            triggered=True,
            reason=reason,
            score=1.0,
            spans=spans,
        )


class KnownAttack(BaseModel):
    """One line of `known_attacks.jsonl`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1)
    family: Literal[FAMILIES]  # type: ignore[valid-type]


class KnownBenign(BaseModel):
    """One line of `known_benign.jsonl`: a question an employee might ask the assistant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1)


def load_known_attacks(path: Path = KNOWN_ATTACKS) -> list[KnownAttack]:
    """The attack corpus; `InputError` names the first bad line."""
    attacks = read_jsonl(path, KnownAttack)
    if not attacks:
        raise InputError(f"{path}: no known attacks")
    return attacks


def load_known_benign(path: Path = KNOWN_BENIGN) -> list[KnownBenign]:
    """The benign reference questions; `InputError` names the first bad line."""
    references = read_jsonl(path, KnownBenign)
    if not references:
        raise InputError(f"{path}: no benign reference questions")
    return references


def _top_mean(similarities: np.ndarray, k: int) -> np.ndarray:
    """Per column, the mean of its `k` largest rows."""
    k = min(k, similarities.shape[0])
    return np.partition(similarities, -k, axis=0)[-k:].mean(axis=0)


def margins(
    attack_similarities: np.ndarray, benign_similarities: np.ndarray, k: int = MARGIN_K
) -> np.ndarray:
    """Per column (one text): mean cosine of its `k` nearest attacks minus that of its `k`
    nearest benign references; rows are corpus entries."""
    return _top_mean(attack_similarities, k) - _top_mean(benign_similarities, k)


class InjectionSemanticSettings(BaseModel):
    """The `injection_semantic` entry of guardrails.yaml. `threshold` is the margin (mean
    cosine to the 3 nearest known attacks minus that to the 3 nearest benign references) at
    which a text is flagged; `k` nearest attacks are named in the reason.

    `benign` is where the benign references come from: `deployment` uses the anchors the
    `benign_anchors` asset built from the served knowledge base (`llmops.guardrails.anchors`)
    when there are any, and the shipped `references` file until then; `shipped` always uses
    the file. An unset `threshold` is the one calibrated on the deployment's anchors, or
    `DEFAULT_THRESHOLD` with the shipped references."""

    model_config = ConfigDict(extra="forbid")

    check: Literal["injection_semantic"] = "injection_semantic"
    enabled: bool = True
    action: Action = "block"
    threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    benign: Literal["deployment", "shipped"] = "deployment"
    k: int = Field(default=3, ge=1, le=50)
    corpus: Path = KNOWN_ATTACKS
    references: Path = KNOWN_BENIGN

    @model_validator(mode="after")
    def _check_corpus(self) -> InjectionSemanticSettings:
        if not self.corpus.is_file():
            raise InputError(
                f"injection_semantic: attack corpus {self.corpus} does not exist; point "
                '`corpus` at a JSONL file of {"text", "family"} lines or drop the setting'
            )
        if not self.references.is_file():
            raise InputError(
                f"injection_semantic: benign references {self.references} do not exist; point "
                '`references` at a JSONL file of {"text"} lines or drop the setting'
            )
        return self


@dataclass(frozen=True)
class _Corpus:
    """The known attacks (texts, families, vectors), the benign references' vectors, where
    those come from (`shipped`, or `deployment` with the anchor table's version) and the
    threshold that goes with them."""

    texts: list[str]
    families: list[str]
    vectors: np.ndarray
    references: np.ndarray
    benign: str = "shipped"
    threshold: float = DEFAULT_THRESHOLD
    anchor_version: int | None = None


_ENCODED: dict[tuple[str, str], pa.Table] = {}


def _digest(settings: InjectionSemanticSettings) -> str:
    """SHA-256 over both corpus files: a change to either rebuilds the table."""
    attacks = hashlib.sha256(settings.corpus.read_bytes()).hexdigest()
    benign = hashlib.sha256(settings.references.read_bytes()).hexdigest()
    return hashlib.sha256(f"{attacks} {benign}".encode()).hexdigest()


def _encoded_rows(settings: InjectionSemanticSettings, embedder: Embedder, digest: str) -> pa.Table:
    """Both corpora as attack-table rows, encoded once per process for each (embedding model,
    corpus digest): every new LanceDB folder (the test suite makes dozens) is then written
    without encoding the corpora again."""
    key = (embedder.model_id, digest)
    if key not in _ENCODED:
        attacks = load_known_attacks(settings.corpus)
        benign = load_known_benign(settings.references)
        vectors = embedder.encode([a.text for a in attacks] + [b.text for b in benign])
        _ENCODED[key] = pa.Table.from_pydict(
            {
                "text": [a.text for a in attacks] + [b.text for b in benign],
                "family": [a.family for a in attacks] + [""] * len(benign),
                "label": ["attack"] * len(attacks) + ["benign"] * len(benign),
                "digest": [digest] * len(vectors),
                "vector": list(vectors),
            },
            schema=attack_schema(vectors.shape[1]),
        )
    return _ENCODED[key]


class InjectionSemanticCheck:
    """How much nearer a text is to known attacks than to benign questions (see the module
    docstring)."""

    name = "injection_semantic"
    needs_vector = True

    def __init__(
        self,
        settings: InjectionSemanticSettings | None,
        embedder: Embedder,
        vector_store: VectorStore,
    ) -> None:
        self.settings = settings or InjectionSemanticSettings()
        self.action: Action = self.settings.action
        self.embedder = embedder
        self.vector_store = vector_store
        self._corpus: _Corpus | None = None
        self._checked = 0.0

    @property
    def corpus(self) -> _Corpus:
        """Both corpora's vectors, synced to LanceDB when a file changed, then cached; the
        deployment's anchors replace the shipped references once they exist, and are read
        again when their table changed (looked at every `ANCHOR_RECHECK_SECONDS`)."""
        now = time.monotonic()
        if self._corpus is None:
            self._corpus = self._with_anchors(self._load())
            self._checked = now
        elif self.settings.benign == "deployment" and now - self._checked > ANCHOR_RECHECK_SECONDS:
            self._checked = now
            version = self.vector_store.anchor_version(self.embedder.model_id)
            if version != self._corpus.anchor_version:
                self._corpus = self._with_anchors(self._load())
        return self._corpus

    @property
    def threshold(self) -> float:
        """The configured threshold, else the one that goes with the benign references."""
        if self.settings.threshold is not None:
            return self.settings.threshold
        return self.corpus.threshold

    def _with_anchors(self, corpus: _Corpus) -> _Corpus:
        """`corpus` with the deployment's anchors as its benign references, when configured
        and built."""
        if self.settings.benign != "deployment":
            return corpus
        stored = self.vector_store.anchor_rows(self.embedder.model_id)
        if stored is None or stored[1].num_rows == 0:
            return corpus
        version, rows = stored
        vectors = np.stack(rows.column("vector").to_numpy(zero_copy_only=False))
        return dataclasses.replace(
            corpus,
            references=vectors.astype(np.float32),
            benign="deployment",
            threshold=float(rows.column("threshold")[0].as_py()),
            anchor_version=version,
        )

    def _load(self) -> _Corpus:
        digest = _digest(self.settings)
        model_id = self.embedder.model_id
        stored = self.vector_store.attack_rows(model_id)
        if stored is None or set(stored.column("digest").to_pylist()) != {digest}:
            stored = _encoded_rows(self.settings, self.embedder, digest)
            self.vector_store.sync_attacks(model_id, stored)
        vectors = np.stack(stored.column("vector").to_numpy(zero_copy_only=False))
        is_attack = np.array(stored.column("label").to_pylist()) == "attack"
        attacks = stored.filter(pa.array(is_attack))
        return _Corpus(
            attacks.column("text").to_pylist(),
            attacks.column("family").to_pylist(),
            vectors[is_attack].astype(np.float32),
            vectors[~is_attack].astype(np.float32),
        )

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """The margin of each of `vectors` (unit length): higher is more attack-like."""
        vectors = np.atleast_2d(vectors).T
        return margins(self.corpus.vectors @ vectors, self.corpus.references @ vectors)

    def nearest(self, vectors: np.ndarray) -> list[tuple[str, str, float]]:
        """The `k` known attacks nearest to any of `vectors`: (text, family, cosine)."""
        scores = (self.corpus.vectors @ np.atleast_2d(vectors).T).max(axis=1)
        order = np.argsort(-scores)[: self.settings.k]
        return [(self.corpus.texts[i], self.corpus.families[i], float(scores[i])) for i in order]

    def inspect(self, text: str, vector: np.ndarray | None = None) -> Verdict:
        vectors = [self.embedder.encode([text])[0] if vector is None else vector]
        payloads = [d for d, start, end in decoded_payloads(text) if end - start < len(text)]
        if payloads:
            vectors.extend(self.embedder.encode(payloads))
        scores = self.scores(np.stack(vectors))
        best = int(np.argmax(scores))
        score = float(scores[best])
        nearest = self.nearest(vectors[best])
        family = nearest[0][1]
        threshold = self.threshold
        triggered = score >= threshold
        neighbours = ", ".join(f"{f} {s:.2f}: {t[:60]!r}" for t, f, s in nearest)
        deployment = self.corpus.benign == "deployment"
        benign = "this deployment's anchors" if deployment else "benign questions"
        reason = (
            f"{family}: margin {score:.2f} over {benign} "
            f"({'≥' if triggered else '<'} {threshold:g}); nearest known attacks: "
            f"{neighbours}"
        )
        spans = [Span(type=family, start=0, end=len(text))] if triggered else []
        return Verdict(
            check=self.name,
            action=self.action,
            triggered=triggered,
            reason=reason,
            score=score,
            spans=spans,
        )


@dataclass(frozen=True)
class DetectionRates:
    """How a detector did on labelled texts: share of attacks flagged and of benign flagged."""

    attacks: int
    detected: int
    benign: int
    false_positives: int

    @property
    def detection_rate(self) -> float:
        return self.detected / self.attacks if self.attacks else 0.0

    @property
    def false_positive_rate(self) -> float:
        return self.false_positives / self.benign if self.benign else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "attacks": self.attacks,
            "detected": self.detected,
            "detection_rate": self.detection_rate,
            "benign": self.benign,
            "false_positives": self.false_positives,
            "false_positive_rate": self.false_positive_rate,
        }


def detection_rates(labels: Sequence[str], flagged: Sequence[bool]) -> dict[str, float | int]:
    """Detection and false-positive rates of `flagged` against `labels` (`attack`/`benign`)."""
    if len(labels) != len(flagged):
        raise InputError(f"{len(labels)} labels but {len(flagged)} verdicts")
    unknown = set(labels) - {"attack", "benign"}
    if unknown:
        raise InputError(f"labels must be 'attack' or 'benign', got {sorted(unknown)}")
    pairs = list(zip(labels, flagged, strict=True))
    return DetectionRates(
        attacks=sum(label == "attack" for label, _ in pairs),
        detected=sum(label == "attack" and flag for label, flag in pairs),
        benign=sum(label == "benign" for label, _ in pairs),
        false_positives=sum(label == "benign" and flag for label, flag in pairs),
    ).as_dict()
