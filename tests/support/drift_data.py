"""Labelled query data for the drift tests and benchmark: handbook topics, paraphrases, new topics.

Each topic is a list of subjects; every subject has a reference wording and a paraphrase wording
(the same meaning in other words). Queries are templates × subjects × slots, so a topic yields
hundreds of distinct questions and windows of 300 can be sampled without repeats.

- Reference windows: the 8 handbook topics asked in two registers (formal templates with the
  handbook's wording of each subject, casual templates with everyday wording).
- No-drift windows: a fresh sample from the same pool (disjoint from the reference window).
- Paraphrase-only windows: the same topics, subjects and question forms, but every subject in
  the wording the reference did not use for that form (other lengths, other vocabulary per
  query). Meaning unchanged, so not drift.
- New-topic windows: a share (5 %, 10 %, 30 %) of the current window replaced by questions about
  a topic the reference does not have (company car fleet, company shares, work visa
  sponsorship), asked with the reference's question forms (both registers) and subjects of the
  same length, so length and word count look the same.
  Their words all occur in the reference too, in other meanings ("car hire", "file shares",
  "a visa for a business trip"), so the out-of-vocabulary share does not give them away.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

# topic -> [(reference wording, paraphrase wording)]
REFERENCE_TOPICS: dict[str, list[tuple[str, str]]] = {
    "leave": [
        ("annual leave", "vacation days"),
        ("sick leave", "time off when I am ill"),
        ("carrying over unused leave", "rolling holiday into next year"),
        ("booking a day off", "taking a Friday off"),
        ("compassionate leave", "time away after a bereavement"),
        ("unpaid leave", "a break without pay"),
        ("public holidays", "bank holiday dates"),
        ("a sabbatical", "an extended career break"),
    ],
    "expenses": [
        ("expense claims", "getting reimbursed for costs"),
        ("meal allowances", "what I can spend on food"),
        ("mileage claims", "claiming for driving my own car"),
        ("lost receipts", "a missing receipt"),
        ("the corporate card", "the company credit card"),
        ("client entertainment", "taking customers out to dinner"),
        ("home office equipment", "buying a chair for working at home"),
        ("fuel receipts", "paying for petrol on business"),
    ],
    "it-security": [
        ("password rules", "how strong my login has to be"),
        ("multi-factor authentication", "the second sign-in step on my phone"),
        ("phishing emails", "a suspicious message asking for my login"),
        ("a lost laptop", "my work computer going missing"),
        ("USB drives", "plugging in a memory stick"),
        ("the VPN", "connecting securely from outside the office"),
        ("installing software", "putting a new app on my work machine"),
        ("access to file shares", "opening a folder on the network drive"),
    ],
    "payroll": [
        ("payslips", "my monthly pay statement"),
        ("the pay date", "when salary lands in my account"),
        ("tax codes", "the code the tax office gave me"),
        ("overtime pay", "getting paid for extra hours"),
        ("salary advances", "getting some wages early"),
        ("bank details for salary", "changing the account my pay goes to"),
        ("payroll errors", "being paid the wrong amount"),
        ("bonus payments", "when the yearly bonus is paid"),
    ],
    "onboarding": [
        ("the first week", "my first few days at the company"),
        ("the buddy programme", "being paired with a colleague when I start"),
        ("probation reviews", "the check-in at the end of my trial period"),
        ("equipment setup", "getting my laptop and badge on day one"),
        ("mandatory training", "the courses every starter must complete"),
        ("induction sessions", "the welcome meetings for new people"),
        ("the starter checklist", "the list of things to do when I join"),
        ("right to work checks", "showing my passport before I start"),
    ],
    "travel": [
        ("flight bookings", "reserving a plane ticket"),
        ("hotel stays", "where I can sleep on a work trip"),
        ("rail travel", "taking the train for business"),
        ("travel insurance", "cover if something goes wrong abroad"),
        ("car hire", "renting a car on a trip"),
        ("per diems", "the daily money for a trip"),
        ("a visa for a business trip", "entry papers for a work trip abroad"),
        ("travel approval", "getting a trip signed off"),
    ],
    "benefits": [
        ("the pension scheme", "saving for retirement through work"),
        ("private health insurance", "medical cover from the company"),
        ("the cycle to work scheme", "getting a bike through the company"),
        ("the wellbeing allowance", "money for looking after my health"),
        ("life assurance", "the payout for my family if I die"),
        ("gym membership", "a discount on the gym"),
        ("the employee assistance programme", "free counselling for staff"),
        ("dental cover", "paying for the dentist"),
    ],
    "hybrid-work": [
        ("working from home", "doing my job from my kitchen table"),
        ("office attendance", "how many days I must be in the building"),
        ("desk booking", "reserving a place to sit in the office"),
        ("working abroad temporarily", "doing my job from another country for a month"),
        ("core hours", "the times I must be online"),
        ("a home working allowance", "money towards my heating and internet"),
        ("flexible working requests", "asking to change my hours"),
        ("compressed hours", "fitting my week into four days"),
    ],
}

# New topics absent from the reference, built only from words the reference uses.
NEW_TOPICS: dict[str, list[str]] = {
    "company-car-fleet": [
        "a company car",
        "private use of a company car",
        "a company car for my job",
        "a new company car",
        "the company car I keep at home",
        "insurance for a company car",
        "the company car when I leave",
        "fuel for a company car",
    ],
    "company-shares": [
        "company shares",
        "shares in the company",
        "my yearly company shares",
        "tax on company shares",
        "the company shares scheme",
        "getting company shares with my bonus",
        "company shares when I leave",
        "buying shares through payroll",
    ],
    "visa-sponsorship": [
        "a work visa",
        "a work visa for my family",
        "a visa to work here",
        "the company paying for my visa",
        "a visa when I join from abroad",
        "changing my work visa",
        "a visa for a new starter",
        "paying for a work visa",
    ],
}

REFERENCE_TEMPLATES = [
    "What is the policy on {s}?",
    "How do I request {s}?",
    "Who approves {s} for {role}?",
    "Where can I find the rules for {s}?",
    "Is there a limit on {s} for {role}?",
    "What do {role} need to know about {s}?",
    "How long does it take to sort out {s}?",
    "Can {role} get help with {s} {timing}?",
    "Which form do I use for {s}?",
    "What happens with {s} if {condition}?",
]

PARAPHRASE_TEMPLATES = [
    "{s}?",
    "quick one: {s}, how does that work",
    "I'm one of the {role} here and I keep wondering what the deal is with {s}, "
    "can anyone explain it to me properly?",
    "who signs off {s}",
    "could you walk me through {s} {timing}, please?",
    "any guidance about {s} for someone like me",
    "help with {s}",
    "I need to know more about {s} before I do anything else",
    "is {s} something {role} can ask for",
    "what are the rules around {s} when {condition}",
]

SLOTS = {
    "role": [
        "employees",
        "contractors",
        "line managers",
        "new starters",
        "part-time staff",
        "interns",
        "remote workers",
        "team leads",
    ],
    "timing": [
        "this month",
        "before the end of the year",
        "at short notice",
        "next week",
        "during my notice period",
        "while on probation",
    ],
    "condition": [
        "I work part time",
        "my manager is away",
        "it is urgent",
        "I am based in another office",
        "I have just joined",
        "the amount is large",
    ],
}


@dataclass(frozen=True)
class Query:
    """One labelled query: its text, its topic and how it was worded."""

    text: str
    topic: str
    kind: str  # "reference", "paraphrase" or "new"


def _expand(templates: list[str], subjects: list[str], topic: str, kind: str) -> list[Query]:
    """Every template × subject, with the slots of each drawn once (deterministically)."""
    rng = random.Random(f"{topic}/{kind}")
    out: list[Query] = []
    for template, subject in itertools.product(templates, subjects):
        fills = list(itertools.product(SLOTS["role"], SLOTS["timing"], SLOTS["condition"]))
        rng.shuffle(fills)
        seen: set[str] = set()
        for role, timing, condition in fills[:8]:
            text = template.format(s=subject, role=role, timing=timing, condition=condition)
            text = text[0].upper() + text[1:]
            if text not in seen:
                seen.add(text)
                out.append(Query(text, topic, kind))
    return out


def _crossed(swap: bool) -> list[Query]:
    """Both template families; each family with one wording of every subject.

    `swap=False` (reference): reference templates × reference wordings and paraphrase templates
    × paraphrase wordings. `swap=True` (paraphrase): the same templates with the *other* wording
    of each subject, so every meaning of the reference is asked in words it did not use.
    """
    kind = "paraphrase" if swap else "reference"
    out: list[Query] = []
    for topic, pairs in REFERENCE_TOPICS.items():
        first = [para if swap else ref for ref, para in pairs]
        second = [ref if swap else para for ref, para in pairs]
        out += _expand(REFERENCE_TEMPLATES, first, topic, kind)
        out += _expand(PARAPHRASE_TEMPLATES, second, topic, kind + "-b")
    return [Query(q.text, q.topic, kind) for q in out]


def reference_pool() -> list[Query]:
    """All reference queries of the 8 handbook topics."""
    return _crossed(swap=False)


def paraphrase_pool() -> list[Query]:
    """The same topics, subjects and question forms, each subject in its other wording."""
    return _crossed(swap=True)


def new_topic_pool(topic: str) -> list[Query]:
    """Queries about a topic the reference lacks, asked in the reference's two registers."""
    subjects = NEW_TOPICS[topic]
    out = _expand(REFERENCE_TEMPLATES, subjects, topic, "new")
    out += _expand(PARAPHRASE_TEMPLATES, subjects, topic, "new-b")
    return [Query(q.text, q.topic, "new") for q in out]


def all_texts() -> list[str]:
    """Every distinct text of every pool, for encoding once."""
    texts = [q.text for q in reference_pool() + paraphrase_pool()]
    for topic in NEW_TOPICS:
        texts += [q.text for q in new_topic_pool(topic)]
    return list(dict.fromkeys(texts))


@dataclass(frozen=True)
class Trial:
    """A reference window and a current window, with the share of injected new-topic queries."""

    reference: list[Query]
    current: list[Query]
    kind: str
    new_topic: str | None
    share: float


def sample_trial(
    kind: str,
    seed: int,
    size: int = 300,
    share: float = 0.0,
    new_topic: str | None = None,
) -> Trial:
    """Seeded windows of `size` queries; `kind` is "none", "paraphrase" or "new".

    The reference and current windows never share a query. For "new", `round(share * size)`
    current queries come from `new_topic` (default: chosen by the seed) and the rest from the
    reference pool.
    """
    rng = random.Random(seed)
    ref_pool = reference_pool()
    rng.shuffle(ref_pool)
    reference, rest = ref_pool[:size], ref_pool[size:]
    if kind == "none":
        current = rest[:size]
    elif kind == "paraphrase":
        current = rng.sample(paraphrase_pool(), size)
    elif kind == "new":
        new_topic = new_topic or rng.choice(sorted(NEW_TOPICS))
        n_new = round(share * size)
        current = rest[: size - n_new] + rng.sample(new_topic_pool(new_topic), n_new)
        rng.shuffle(current)
    else:
        raise ValueError(f"unknown trial kind {kind!r}")
    return Trial(reference, current, kind, new_topic if kind == "new" else None, share)
