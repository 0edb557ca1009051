"""Build the held-out guardrail sets: benign questions of two real FAQs, the knowledge bases they
are asked of, and attacks from two published prompt-injection collections.

Nothing here was written by us; everything is rebuilt from packages:

- `django`: the questions (headings ending in "?") of the Django FAQ, from Debian's
  `python-django-doc` (`/usr/share/doc/python-django-doc/html/faq/`), asked of the Django
  documentation's `intro/`, `howto/` and `topics/` pages (not the FAQ itself, so no question
  is in the index word for word).
- `debian`: the questions of Debian's `debian-faq`, asked of the Debian Reference
  (`debian-reference-en`).
- `spikee`: the jailbreak templates of WithSecure's spikee (PyPI `spikee`, datasets
  `seeds-cybersec-2026-01` and `seeds-sysmsg-extraction-2025-04`), each filled with one of the
  same dataset's instructions, as spikee itself combines them. Templates and instructions are
  split into dev and test separately (a translation goes with its original), so a test attack
  shares neither its frame nor its instruction with a dev attack.
- `pyrit`: the jailbreak templates of Microsoft's PyRIT (PyPI `pyrit`,
  `pyrit/datasets/jailbreak/templates/*.yaml`), each filled with a spikee instruction of its
  split. DAN templates (spikee's and PyRIT's) and PyRIT's DUDE, STAN, developer mode and RANTI
  are left out: garak ships the same prompts, and garak's data is kept aside as an
  independent check.

The wheels are fetched with `pip download --no-deps` and read as zip files; neither package is
installed. Each set is split into `dev` and `test` halves with a fixed seed; `bench/
guardrails.py` reports the test halves. The dev halves of the attacks were added to
`llmops/guardrails/known_attacks.jsonl`; `attacks-dev-corpus.jsonl` holds them as corpus lines.
Rerunning writes the same files.

    .venv/bin/python evalsets/build_guardrail_domains.py [OUT_DIR]
    # default $LLMOPS_HOME/benchmarks/guardrails
"""

from __future__ import annotations

import html
import json
import random
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

SEED = 18
DJANGO_HTML = Path("/usr/share/doc/python-django-doc/html")
DJANGO_KB_SECTIONS = ("intro", "howto", "topics")
DEBIAN_FAQ = Path("/usr/share/doc/debian/FAQ")
DEBIAN_REFERENCE = Path("/usr/share/debian-reference")
WHEELS = {"spikee": "spikee==0.9.2", "pyrit": "pyrit==1.1.0"}
SPIKEE_DATASETS = ("seeds-cybersec-2026-01", "seeds-sysmsg-extraction-2025-04")
GARAK_SHARED = re.compile(r"dan|dude|stan\b|dev_mode|ranti")
APT_PACKAGES = "python-django-doc debian-faq debian-reference-en"
INSTALL_HINT = f"run `make bench-guardrails` (or `apt-get install -y {APT_PACKAGES}`)"
_HEADING = re.compile(r"<h([2-4])[^>]*>(.*?)</h\1>", re.S)
_TAG = re.compile(r"<[^>]+>")


def _questions(page: str) -> list[str]:
    """The headings of an HTML page that are questions, as plain text."""
    found = []
    for _, inner in _HEADING.findall(page):
        text = html.unescape(_TAG.sub("", inner)).replace("¶", "")
        text = re.sub(r"^\s*[\d.]+\s+", "", re.sub(r"\s+", " ", text)).strip()
        if text.endswith("?"):
            found.append(text)
    return found


def django_questions() -> list[str]:
    pages = sorted((DJANGO_HTML / "faq").glob("*.html"))
    return list(dict.fromkeys(q for p in pages for q in _questions(p.read_text("utf-8"))))


def debian_questions() -> list[str]:
    pages = sorted(DEBIAN_FAQ.glob("*.en.html"))
    return list(dict.fromkeys(q for p in pages for q in _questions(p.read_text("utf-8"))))


def _copy_pages(pages: list[tuple[Path, str]], out: Path) -> int:
    """Copy HTML pages to `out` under the given relative names, leaving equal files alone."""
    for source, name in pages:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)
    return len(pages)


def django_pages() -> list[tuple[Path, str]]:
    return [
        (p, str(p.relative_to(DJANGO_HTML)))
        for section in DJANGO_KB_SECTIONS
        for p in sorted((DJANGO_HTML / section).rglob("*.html"))
    ]


def debian_pages() -> list[tuple[Path, str]]:
    return [(p, p.name) for p in sorted(DEBIAN_REFERENCE.glob("*.en.html"))]


def _wheel(name: str, cache: Path) -> zipfile.ZipFile:
    """The wheel of `WHEELS[name]`, downloaded once into `cache` without its dependencies."""
    cache.mkdir(parents=True, exist_ok=True)
    version = WHEELS[name].split("==")[1]
    found = sorted(cache.glob(f"{name}-{version}-*.whl"))
    if not found:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache)]
        subprocess.run([*pip, WHEELS[name]], check=True)
        found = sorted(cache.glob(f"{name}-{version}-*.whl"))
    return zipfile.ZipFile(found[0])


def _jsonl(wheel: zipfile.ZipFile, member: str) -> list[dict]:
    lines = wheel.read(member).decode("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


_LANGUAGE_SUFFIX = re.compile(r"-(?:zu|sq|ga|gd)$")
FAMILY = {
    "seeds-cybersec-2026-01": "instruction_override",
    "seeds-sysmsg-extraction-2025-04": "prompt_extraction",
    "pyrit": "roleplay_jailbreak",
}


def _halves(groups: list[str], seed: int) -> dict[str, str]:
    """Each group (a template or an instruction with all its translations) in `dev` or
    `test`: a seeded shuffle, the first half dev."""
    order = sorted(set(groups))
    random.Random(seed).shuffle(order)
    return {g: "dev" if i < len(order) // 2 else "test" for i, g in enumerate(order)}


def spikee_attacks(cache: Path, rng: random.Random) -> tuple[list[dict], dict[str, list[str]]]:
    """spikee's jailbreaks each filled with an instruction of its dataset, as spikee combines
    them; templates and instructions are split into dev and test apart (a translation goes
    with its original), so no test attack shares either with a dev one. Also every
    instruction per split (to fill PyRIT's templates). DAN templates are left out (garak)."""
    wheel = _wheel("spikee", cache)
    attacks: list[dict] = []
    pooled: dict[str, list[str]] = {"dev": [], "test": []}
    templates: dict[str, list[dict]] = {}
    for dataset in SPIKEE_DATASETS:
        base = f"spikee/data/workspace/datasets/{dataset}"
        templates[dataset] = [
            r
            for r in _jsonl(wheel, f"{base}/jailbreaks.jsonl")
            if "<INSTRUCTION>" in r["text"] and not r["id"].startswith(("no-jailbreak", "dan-"))
        ]
    template_split = _halves(
        [_LANGUAGE_SUFFIX.sub("", r["id"]) for rows in templates.values() for r in rows], SEED
    )
    for dataset in SPIKEE_DATASETS:
        base = f"spikee/data/workspace/datasets/{dataset}"
        rows = _jsonl(wheel, f"{base}/instructions.jsonl")
        split_of = _halves([_LANGUAGE_SUFFIX.sub("", r["id"]) for r in rows], SEED)
        own = {"dev": [], "test": []}
        for r in rows:
            own[split_of[_LANGUAGE_SUFFIX.sub("", r["id"])]].append(r["instruction"])
        for part in own:
            pooled[part] += own[part]
        for row in templates[dataset]:
            part = template_split[_LANGUAGE_SUFFIX.sub("", row["id"])]
            text = row["text"].replace("<INSTRUCTION>", rng.choice(own[part]))
            attacks.append(
                {
                    "id": f"spikee-{dataset}-{row['id']}",
                    "text": text,
                    "family": FAMILY[dataset],
                    "split": part,
                }
            )
    return _distinct(attacks), pooled


def pyrit_attacks(
    cache: Path, rng: random.Random, instructions: dict[str, list[str]]
) -> list[dict]:
    """PyRIT's jailbreak templates split into dev and test, each filled with a spikee
    instruction of the same split."""
    import yaml

    wheel = _wheel("pyrit", cache)
    prefix = "pyrit/datasets/jailbreak/templates/"
    names = [
        m[len(prefix) : -5]
        for m in sorted(wheel.namelist())
        if m.startswith(prefix) and "/" not in m[len(prefix) :] and m.endswith(".yaml")
    ]
    split_of = _halves([n for n in names if not GARAK_SHARED.search(n)], SEED)
    attacks = []
    for name, part in sorted(split_of.items()):
        template = yaml.safe_load(wheel.read(f"{prefix}{name}.yaml"))
        value = template.get("value") or ""
        if "{{ prompt }}" not in value:
            continue
        text = value.replace("{{ prompt }}", rng.choice(instructions[part])).strip()
        attacks.append(
            {"id": f"pyrit-{name}", "text": text, "family": FAMILY["pyrit"], "split": part}
        )
    return _distinct(attacks)


def _distinct(rows: list[dict]) -> list[dict]:
    seen: set[str] = set()
    kept = []
    for row in rows:
        key = re.sub(r"\s+", " ", row["text"]).strip().lower()
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


def split(rows: list[dict], seed: int = SEED) -> list[dict]:
    """Each row with `split` `dev` or `test`: a seeded shuffle, the first half dev."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    dev = set(order[: len(rows) // 2])
    return [{**row, "split": "dev" if i in dev else "test"} for i, row in enumerate(rows)]


def _write(path: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def build(out: Path) -> dict[str, int]:
    """Write every set and knowledge base under `out`; returns the size of each."""
    missing = [p for p in (DJANGO_HTML / "faq", DEBIAN_FAQ, DEBIAN_REFERENCE) if not p.is_dir()]
    if missing:
        raise FileNotFoundError(f"{', '.join(map(str, missing))} missing: {INSTALL_HINT}")
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    sizes: dict[str, int] = {}
    for name, questions in (("django", django_questions()), ("debian", debian_questions())):
        rows = [{"id": f"{name}-{i:03d}", "text": q} for i, q in enumerate(questions, 1)]
        _write(out / f"{name}-questions.jsonl", split(rows))
        sizes[f"{name} questions"] = len(rows)
    sizes["django pages"] = _copy_pages(django_pages(), out / "kb-django")
    sizes["debian pages"] = _copy_pages(debian_pages(), out / "kb-debian")
    spikee, instructions = spikee_attacks(out / "wheels", rng)
    pyrit = pyrit_attacks(out / "wheels", rng, instructions)
    for name, rows in (("spikee", spikee), ("pyrit", pyrit)):
        _write(out / f"{name}-attacks.jsonl", rows)
        sizes[f"{name} attacks"] = len(rows)
    corpus = [
        {"text": r["text"], "family": r["family"]} for r in spikee + pyrit if r["split"] == "dev"
    ]
    _write(out / "attacks-dev-corpus.jsonl", corpus)
    return sizes


def default_out_dir() -> Path:
    from llmops.config import Settings

    return Settings.from_env().home / "benchmarks" / "guardrails"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else default_out_dir()
    try:
        sizes = build(out)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    for name, n in sizes.items():
        print(f"{name}: {n}")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
