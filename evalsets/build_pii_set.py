"""Build `evalsets/pii.jsonl`: labelled texts for the PII guardrail, generated with Faker.

Run `python evalsets/build_pii_set.py`; the output is seeded, so rerunning rewrites the same
file. `--seed N --locale L --near-misses --out PATH` builds a held-out set instead: other
draws, names, e-mails, IPs and cards from another Faker locale, and the near misses of issue 18
(SSN-shaped numbers with a wrong group length, Luhn-valid cards inside longer digit runs
without a card named), which the detector must leave alone (`bench/guardrails.py` reports it).

Every value is placed by the generator, which records its exact character offsets: the labels
come from how the text was built, never from running the detector. Values are valid by
construction (Faker's Luhn-correct card numbers and checksummed IBANs, phone numbers that
libphonenumber accepts for Presidio's default regions); negatives are near misses (failed
checksums, never-issued SSNs, malformed e-mails) and benign texts full of numbers.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import random
import string
from collections.abc import Callable
from pathlib import Path

import phonenumbers
from faker import Faker

SEED = 20240611
OUT = Path(__file__).resolve().parent / "pii.jsonl"

# Presidio's PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS, with a Faker locale each.
PHONE_LOCALES = {
    "US": "en_US",
    "GB": "en_GB",
    "DE": "de_DE",
    "FR": "fr_FR",
    "IL": "he_IL",
    "IN": "en_IN",
    "CA": "en_CA",
    "BR": "pt_BR",
}
IBAN_LOCALES = ["de_DE", "fr_FR", "en_GB", "es_ES", "nl_NL", "it_IT", "pl_PL", "pt_PT"]
CARD_TYPES = ["visa", "visa", "mastercard", "mastercard", "amex", "discover", "jcb", "diners"]

rng = random.Random(SEED)
fakers = {loc: Faker(loc) for loc in {*PHONE_LOCALES.values(), *IBAN_LOCALES, "en_US", "en_GB"}}
fake = fakers["en_US"]


def configure(seed: int = SEED, locale: str = "en_US") -> None:
    """Seed every generator and pick the Faker locale of e-mails, names, IPs and cards (US
    SSNs always come from en_US)."""
    global fake
    rng.seed(seed)
    if locale not in fakers:
        fakers[locale] = Faker(locale)
    for i, f in enumerate(sorted(fakers)):
        fakers[f].seed_instance(seed + i)
    fake = fakers[locale]


configure()


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _iban_ok(iban: str) -> bool:
    s = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in s)) % 97 == 1


# -- values ----------------------------------------------------------------------------


def email() -> str:
    kind = rng.random()
    if kind < 0.4:
        return fake.email()
    if kind < 0.6:
        return fakers[rng.choice(IBAN_LOCALES)].free_email()
    if kind < 0.8:
        return fakers["en_GB"].company_email()
    first, last = fake.first_name().lower(), fake.last_name().lower()
    domain = rng.choice(["mail.acme-corp.com", "hr.example.co.uk", "uni-hamburg.de", "gmail.com"])
    sep = rng.choice([".", "_", "+hr", "-"])
    return f"{first}{sep}{last}@{domain}" if sep != "+hr" else f"{first}+hr@{domain}"


def phone() -> str:
    region = rng.choice(list(PHONE_LOCALES))
    f = fakers[PHONE_LOCALES[region]]
    while True:
        raw = f.phone_number()
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if number.extension or not phonenumbers.is_valid_number(number):
            continue
        style = rng.random()
        if style < 0.35:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        if style < 0.65:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        if style < 0.8:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return raw


def card() -> str:
    digits = fake.credit_card_number(rng.choice(CARD_TYPES))
    style = rng.random()
    if style < 0.4:
        return digits
    sep = " " if style < 0.8 else "-"
    groups = (4, 6, 5) if len(digits) == 15 else (4, 6, 4) if len(digits) == 14 else (4,) * 4
    if sum(groups) != len(digits):
        return digits
    parts, i = [], 0
    for g in groups:
        parts.append(digits[i : i + g])
        i += g
    return sep.join(parts)


def bad_card() -> str:
    digits = fake.credit_card_number(rng.choice(["visa", "mastercard", "discover"]))
    last = (int(digits[-1]) + rng.randint(1, 9)) % 10
    bad = digits[:-1] + str(last)
    assert not _luhn_ok(bad)
    return bad if rng.random() < 0.5 else " ".join(bad[i : i + 4] for i in range(0, 16, 4))


def iban() -> str:
    value = fakers[rng.choice(IBAN_LOCALES)].iban()
    assert _iban_ok(value)
    if rng.random() < 0.5:
        return value
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def bad_iban() -> str:
    value = fakers[rng.choice(IBAN_LOCALES)].iban()
    check = int(value[2:4])
    value = f"{value[:2]}{(check + rng.randint(1, 90)) % 97 + 2:02d}"[:4] + value[4:]
    if _iban_ok(value):
        return bad_iban()
    return (
        value if rng.random() < 0.5 else " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    )


def ip() -> str:
    kind = rng.random()
    if kind < 0.35:
        return fake.ipv4_public()
    if kind < 0.55:
        return fake.ipv4_private()
    if kind < 0.6:
        return fake.ipv4(network=True)
    v6 = fake.ipv6()
    return v6 if rng.random() < 0.5 else str(ipaddress.IPv6Address(v6))


def ssn() -> str:
    value = fakers["en_US"].ssn()
    return value if rng.random() < 0.85 else value.replace("-", rng.choice([" ", "."]))


def bad_ssn() -> str:
    kind = rng.randrange(5)
    mid, end = f"{rng.randint(1, 99):02d}", f"{rng.randint(1, 9999):04d}"
    if kind == 0:
        return f"000-{mid}-{end}"
    if kind == 1:
        return f"666-{mid}-{end}"
    if kind == 2:
        return f"{rng.randint(100, 665)}-00-{end}"
    if kind == 3:
        return f"{rng.randint(100, 665)}-{mid}-0000"
    return rng.choice(["123-45-6789", "111-11-1111", "987-65-4320"])


def bad_email() -> str:
    user = fake.user_name()
    return rng.choice(
        [
            f"{user}@",
            f"{user}(at){fake.domain_name()}",
            f"{user} at {fake.domain_name()}",
            f"{user}@localhost",
            f"{user}@intranet",
            f"@{user}",
            f"{user}@{fake.domain_word()}.notarealtld",
        ]
    )


def _rand(alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"


def openai_key() -> str:
    if rng.random() < 0.5:
        return "sk-" + _rand(ALNUM, 48)
    return "sk-proj-" + _rand(B64URL, 74) + "T3BlbkFJ" + _rand(B64URL, 74)


def aws_access_key() -> str:
    return "AKIA" + _rand(string.ascii_uppercase + string.digits, 16)


def aws_secret() -> tuple[str, str]:
    label = rng.choice(
        [
            "aws_secret_access_key = ",
            "AWS_SECRET_ACCESS_KEY=",
            "secret access key: ",
            "aws secret key is ",
        ]
    )
    return label, _rand(ALNUM + "/+", 40)


def google_key() -> str:
    return "AIza" + _rand(B64URL, 35)


def github_token() -> str:
    if rng.random() < 0.7:
        return rng.choice(["ghp_", "gho_", "ghs_"]) + _rand(ALNUM, 36)
    return "github_pat_" + _rand(ALNUM, 22) + "_" + _rand(ALNUM, 59)


def slack_token() -> str:
    kind = rng.choice("abpr")
    return f"xox{kind}-{_rand(string.digits, 12)}-{_rand(string.digits, 13)}-{_rand(ALNUM, 24)}"


def _b64url(obj: dict) -> str:
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt() -> str:
    header = _b64url({"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"})
    payload = _b64url(
        {"sub": str(rng.randint(10**6, 10**9)), "name": fake.name(), "iat": 1700000000}
    )
    return f"{header}.{payload}.{_rand(B64URL, 43)}"


def pem() -> str:
    kind = rng.choice(["RSA ", "EC ", "", "OPENSSH ", "ENCRYPTED "])
    lines = [_rand(ALNUM + "+/", 64) for _ in range(rng.randint(3, 8))]
    lines.append(_rand(ALNUM + "+/", rng.randint(8, 60)) + "==")
    body = "\n".join(lines)
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


VALUES: dict[str, tuple[str, Callable[[], str]]] = {
    "email": ("EMAIL_ADDRESS", email),
    "phone": ("PHONE_NUMBER", phone),
    "card": ("CREDIT_CARD", card),
    "iban": ("IBAN_CODE", iban),
    "ip": ("IP_ADDRESS", ip),
    "ssn": ("US_SSN", ssn),
    "openai": ("API_KEY", openai_key),
    "akia": ("API_KEY", aws_access_key),
    "google": ("API_KEY", google_key),
    "github": ("ACCESS_TOKEN", github_token),
    "slack": ("ACCESS_TOKEN", slack_token),
    "jwt": ("ACCESS_TOKEN", jwt),
    "pem": ("PRIVATE_KEY", pem),
}


def ssn_shape() -> str:
    """Dashed like an SSN but with a wrong last group: no SSN, and no phone number either."""
    end = rng.choice([5, 6, 3])
    return (
        f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(10 ** (end - 1), 10**end - 1)}"
    )


def card_in_run() -> str:
    """A Luhn-valid card number with more digit groups around it: a tracking or reference
    number, not a card."""
    digits = fake.credit_card_number(rng.choice(["visa", "mastercard"]))
    card = " ".join(digits[i : i + 4] for i in range(0, 16, 4))
    before, after = f"{rng.randint(10, 9999)}", f"{rng.randint(10, 9999)}"
    return rng.choice([f"{before} {card} {after}", f"{card} {after}", f"{before} {card}"])


NEGATIVES: dict[str, Callable[[], str]] = {
    "ssn_shape": ssn_shape,
    "card_in_run": card_in_run,
    "bad_card": bad_card,
    "bad_iban": bad_iban,
    "bad_ssn": bad_ssn,
    "bad_email": bad_email,
}

# -- sentence shapes -------------------------------------------------------------------
# `{name}` is a labelled value, `{!name}` a negative (unlabelled); `{aws_secret}` carries its
# own label. Texts are built left to right so offsets are exact.

TEMPLATES: dict[str, list[str]] = {
    "email": [
        "Can you update my email to {email}?",
        "{email} is my personal address, please use it for payslips.",
        "Hi, I changed my work e-mail (now {email}) — will my benefits login still work?",
        "Send the offer letter to {email}.",
        "Email: {email}",
        "cc {email} and {email} on the onboarding thread pls",
        "Who owns the mailbox {email}? It keeps bouncing.",
        "My manager's address is {email}; can HR contact her directly?",
        "Ticket #{num}: user {email} cannot reset password",
        "please forward my P60 to {email}, thanks!",
    ],
    "phone": [
        "My phone number is {phone}.",
        "Call me on {phone} if anything is missing from my claim.",
        "mobile: {phone}",
        "You can reach me at {phone} after 5pm.",
        "New emergency contact number: {phone} (my sister).",
        "Can you text {phone} when my laptop is ready?",
        "Tel. {phone} / Fax {phone}",
        "Please update my cell to {phone}, the old one is disconnected.",
        "{phone} is my WhatsApp, message me there about the relocation.",
        "Is it OK to give candidates my work phone ({phone})?",
        "Ring the front desk on {phone} and ask for room bookings.",
        "I tried calling {phone} three times and nobody picked up.",
        "The recruiter's number was {phone}, is that legit?",
        "Contact me: {phone}",
    ],
    "card": [
        "I paid the conference fee with my card {card}, how do I claim it back?",
        "Corporate card number {card} was declined at the hotel.",
        "Can you reimburse the charge on {card}?",
        "{card} — that's the Visa I used for the team lunch.",
        "My credit card ({card}) got charged twice for the training.",
        "card: {card} exp 09/27",
        "Do I need to report that I lost the company Amex {card}?",
        "The expense form asks for the card used; it was {card}.",
    ],
    "iban": [
        "Please pay my salary into IBAN {iban} from next month.",
        "My new bank account is {iban}.",
        "{iban} is the account for the relocation allowance.",
        "Can you confirm you have {iban} on file?",
        "IBAN: {iban}",
        "Wire the deposit refund to {iban} (Sparkasse).",
        "I changed banks, the old account {iban} is closed, new one is {iban}.",
    ],
    "ip": [
        "The VPN gives me {ip} but the HR portal blocks it.",
        "Why is {ip} in the login alerts for my account?",
        "My home IP is {ip}, can you whitelist it?",
        "Server {ip} hosts the payroll export, right?",
        "Access denied from {ip} at 09:14.",
        "ip={ip}",
        "Is it a problem if I work from {ip} abroad?",
        "Failed logins came from {ip} and {ip}.",
    ],
    "ssn": [
        "My SSN is {ssn}, is that needed for the 401k form?",
        "Social security number: {ssn}",
        "I typed {ssn} as my social on the W-4 by mistake, can you fix it?",
        "Can HR verify SSN {ssn} for my background check?",
        "The benefits portal shows ssn {ssn}; that's not mine.",
        "My social security no. is {ssn}.",
    ],
    "secret": [
        "Here is my OpenAI key {openai}, can the assistant use it?",
        "I accidentally pasted {openai} into the chat, is that a problem?",
        "AWS creds: {akia} / {aws_secret}",
        "Our access key id is {akia}, why does the deploy fail?",
        "export AWS_ACCESS_KEY_ID={akia}",
        "The Maps key is {google}, it stopped working yesterday.",
        "GOOGLE_API_KEY={google}",
        "My GitHub token {github} expired, how do I get a new one?",
        "git clone https://{github}@github.com/acme/hr-tools.git fails",
        "The Slack bot uses {slack}; can HR rotate it?",
        "SLACK_TOKEN='{slack}'",
        "Decode this for me: {jwt}",
        "Authorization: Bearer {jwt}",
        "The portal session cookie was {jwt} — is that sensitive?",
        "Is this key safe to share?\n{pem}\nIt came from the old server.",
        "{pem}",
        "config:\n  key: |\n{pem}\n  user: deploy",
        "{aws_secret} — found this in the repo, rotate?",
    ],
    "multi": [
        "Hi! I'm moving to Berlin. New IBAN {iban}, new phone {phone}, email {email}.",
        "Name: Jo Smith\nSSN: {ssn}\nPhone: {phone}\nEmail: {email}",
        "Refund the {amount} to card {card} or to IBAN {iban}, whichever is faster.",
        "{email} logged in from {ip} using token {github}",
        "Contact {email} or call {phone}.",
        "Please remove {email}, {phone} and {ssn} from the old record.",
        "({email}) ({phone})",
        "Login alert: {ip}, key {akia}, user {email}.",
        "[ticket {num}] card {card}; callback number {phone}",
        "{phone}, {email}",
    ],
}

NEGATIVE_TEMPLATES = [
    "The card number {!bad_card} keeps failing, did I mistype it?",
    "Is {!bad_card} a valid card?",
    "Pay into {!bad_iban} please (I think I got a digit wrong).",
    "IBAN {!bad_iban} was rejected by the bank.",
    "The form rejects SSN {!bad_ssn}, why?",
    "Example format: {!bad_ssn}",
    "My email is {!bad_email} — is that right?",
    "write to {!bad_email} for badge requests",
    "Card {!bad_card} and IBAN {!bad_iban} were both refused.",
]

NEAR_MISS_TEMPLATES = [
    "My reference is {!ssn_shape}, can you check it?",
    "Ticket {!ssn_shape} is still open.",
    "Parcel {!card_in_run} was shipped today.",
    "The tracking code is {!card_in_run}, where is it?",
]

BENIGN = [
    "Policy HR-{year}-{n3} says {n2} days of leave; is that right?",
    "Meeting moved to room {n3}, building {n1}, at 14:30 on {date}.",
    "The laptop stipend is {amount} per year, paid in March.",
    "We upgraded the HR app to v{ver}; now the leave page crashes.",
    "Order #{num} for the standing desk hasn't arrived.",
    "Invoice INV-{year}-{n6} is for {amount}, due {date}.",
    "Commit {sha} broke the payroll export.",
    "My employee ID is E{n6} and my cost centre is CC-{n4}.",
    "Clause {n1}.{n1}.{n2} of the handbook covers overtime.",
    "Ticket {num} is about the parking permit for bay {n3}.",
    "How many of the {n3} employees in the {year} survey chose hybrid work?",
    "The bonus pool grew from {amount} to {amount} between {year} and {year}.",
    "Use promo code WELLNESS{n2} for {n2}% off the gym.",
    "Release {ver} fixed bug {n5}; request id {uuid}.",
    "Postcode {postcode}, flat {n2}, floor {n1}.",
    "Our pension scheme number is PSTR {n8}RL.",
    "Timesheet for week {n2} shows {n2}.{n1} hours.",
    "Please book {n1} desks for {date} between 09:00 and 17:30.",
    "The relocation cap is {amount}; I spent {amount} so far.",
    "Is the {word} policy the same for contractors?",
    "My badge {n5} stopped working at gate {n1}.",
    "Error code 0x{hex8} when opening the benefits portal.",
    "Can I carry over {n1} days into {year}?",
    "Reference {n4}-{n4}-{n4} on the payslip, what is it?",
]


def _benign_value(kind: str) -> str:
    makers: dict[str, Callable[[], str]] = {
        "year": lambda: str(rng.randint(2019, 2027)),
        "n1": lambda: str(rng.randint(1, 9)),
        "n2": lambda: str(rng.randint(10, 99)),
        "n3": lambda: str(rng.randint(100, 999)),
        "n4": lambda: str(rng.randint(1000, 9999)),
        "n5": lambda: str(rng.randint(10000, 99999)),
        "n6": lambda: str(rng.randint(100000, 999999)),
        "n8": lambda: str(rng.randint(10**7, 10**8 - 1)),
        "num": lambda: rng.choice(
            [
                str(rng.randint(10**4, 10**6)),
                f"ORD-{rng.randint(1000, 99999)}",
                f"TKT-{rng.randint(100, 9999)}",
            ]
        ),
        "date": lambda: fake.date(rng.choice(["%Y-%m-%d", "%d/%m/%Y", "%B %d, %Y", "%d.%m.%Y"])),
        "amount": lambda: rng.choice(
            [
                f"${rng.randint(100, 99999):,}.00",
                f"£{rng.randint(100, 9999)}",
                f"€{rng.randint(1, 250)}k",
            ]
        ),
        "ver": lambda: f"{rng.randint(1, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
        "sha": lambda: _rand("0123456789abcdef", rng.choice([7, 12, 40])),
        "uuid": lambda: fake.uuid4(),
        "postcode": lambda: rng.choice(
            [fakers["en_GB"].postcode(), fake.postcode(), fakers["de_DE"].postcode()]
        ),
        "word": lambda: rng.choice(
            [
                "antidisestablishmentarianism",
                "telecommunications",
                "internationalization",
                "remote-work",
            ]
        ),
        "hex8": lambda: _rand("0123456789ABCDEF", 8),
    }
    return makers[kind]()


def fill(template: str) -> tuple[str, list[dict]]:
    """Replace every `{...}` slot left to right, recording labelled spans."""
    text, spans, i = "", [], 0
    while (j := template.find("{", i)) != -1:
        k = template.index("}", j)
        text += template[i:j]
        slot = template[j + 1 : k]
        if slot == "aws_secret":
            label, value = aws_secret()
            text += label
            spans.append({"type": "API_KEY", "start": len(text), "end": len(text) + len(value)})
            text += value
        elif slot in VALUES:
            entity, make = VALUES[slot]
            value = make()
            spans.append({"type": entity, "start": len(text), "end": len(text) + len(value)})
            text += value
        elif slot.startswith("!"):
            text += NEGATIVES[slot[1:]]()
        else:
            text += _benign_value(slot)
        i = k + 1
    return text + template[i:], spans


def _variants(template: str) -> str:
    """Vary the shape: lowercase, trailing punctuation, leading greeting."""
    r = rng.random()
    if r < 0.1:
        return "hey, " + template[0].lower() + template[1:]
    if r < 0.2:
        return template.rstrip(".?!") + rng.choice(["!!", "?", " thx", "..."])
    return template


def build(near_misses: bool = False) -> list[dict]:
    rows: list[tuple[str, str]] = []
    per_template = {"multi": 15}
    for group, templates in TEMPLATES.items():
        for template in templates:
            rows += [(group, _variants(template)) for _ in range(per_template.get(group, 8))]
    rows += [("negative", t) for t in NEGATIVE_TEMPLATES for _ in range(10)]
    rows += [("benign", t) for t in BENIGN for _ in range(6)]
    if near_misses:
        rows += [("near_miss", t) for t in NEAR_MISS_TEMPLATES for _ in range(10)]
    out = []
    for n, (group, template) in enumerate(rows, 1):
        text, spans = fill(template)
        out.append({"id": f"pii-{n:04d}", "group": group, "text": text, "spans": spans})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--locale", default="en_US")
    parser.add_argument("--near-misses", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    configure(args.seed, args.locale)
    rows = build(args.near_misses)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} texts to {args.out}")


if __name__ == "__main__":
    main()
