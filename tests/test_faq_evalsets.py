"""The held-out FAQ benchmarks (Django, SQLAlchemy) are well formed, split once, and their gold
pages are the corpus pages each answer links to.

Runs without the Debian documentation packages: the committed `evalsets/django.jsonl` and
`evalsets/sqlalchemy.jsonl` are checked against the schema and against the split rule and the
corpus definition of their build scripts, and the question and link extraction is checked on
small pages in each theme's layout written here.
"""

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from llmops.config import Settings
from llmops.evaluation.evalsets import load_evalset
from llmops.retrieval.experiments import HELD_OUT, default_benchmarks

EVALSETS = Path(__file__).resolve().parent.parent / "evalsets"
MIN_QUESTIONS = {"django": 25, "sqlalchemy": 50}


def _script(name: str) -> ModuleType:
    """`evalsets/<name>.py`, imported by path (evalsets/ is data, not a package)."""
    spec = importlib.util.spec_from_file_location(name, EVALSETS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


FAQ = _script("faq_benchmark")
SITES = {name: _script(f"build_{name}").SITE for name in MIN_QUESTIONS}


@pytest.mark.parametrize("name", sorted(SITES))
def test_questions_are_unique_with_gold_pages_in_the_corpus(name: str) -> None:
    site = SITES[name]
    cases = load_evalset(site.evalset)
    assert len(cases) >= MIN_QUESTIONS[name]
    assert len({c.id for c in cases}) == len(cases)
    assert len({c.question for c in cases}) == len(cases)
    assert all(c.id.startswith(f"{site.id_prefix}-") for c in cases)
    corpus = {FAQ.document_path(p) for p in (*site.corpus_pages, *site.stub_pages)}
    stubs = {FAQ.document_path(p) for p in site.stub_pages}
    for case in cases:
        assert case.gold_sources, case.id
        for source in case.gold_sources:
            assert source.endswith(".md"), f"{case.id}: {source}"
            in_corpus = source.split("/")[0] in site.corpus_sections or source in corpus
            assert in_corpus, f"{case.id}: {source}"
            assert source not in stubs, f"{case.id}: {source}"
            assert not source.startswith((f"{site.faq_section}/", "changelog/", "releases/"))


@pytest.mark.parametrize("name", sorted(SITES))
def test_every_question_is_in_exactly_one_split_of_the_seeded_halves(name: str) -> None:
    site = SITES[name]
    cases = load_evalset(site.evalset)
    tagged = {split: sorted(c.id for c in cases if split in c.tags) for split in FAQ.SPLITS}
    assert sum(len(ids) for ids in tagged.values()) == len(cases)
    assert tagged == FAQ.split_ids([c.id for c in cases], site.split_seed)
    assert abs(len(tagged["dev"]) - len(tagged["test"])) <= 1


def test_split_is_fixed_by_the_seed() -> None:
    ids = [f"q{n}" for n in range(40)]
    assert FAQ.split_ids(ids, 16) == FAQ.split_ids(list(reversed(ids)), 16)
    assert FAQ.split_ids(ids, 16) != FAQ.split_ids(ids, 17)


def test_document_paths() -> None:
    assert FAQ.document_path("ref/contrib/admin/index.html") == "ref/contrib/admin/index.md"


def _page(body: str) -> str:
    """A page of SQLAlchemy's Sphinx theme (HTML5 `<section>`s in `#docs-body`)."""
    return f"<html><body><div id='docs-body' role='main'>{body}</div></body></html>"


def _write(root: Path, pages: dict[str, str]) -> None:
    for path, html in pages.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(html, encoding="utf-8")


def test_sqlalchemy_build_takes_each_question_and_the_corpus_pages_its_own_answer_links_to(
    tmp_path: Path,
) -> None:
    source = tmp_path / "html"
    link = "<a class='reference internal' href='{}'>x</a>"
    _write(
        source,
        {
            "faq/index.html": _page("<section><h1>FAQ</h1></section>"),
            "faq/sessions.html": _page(
                "<section><h1>Sessions</h1>"
                "<section><h2>Why does flush() roll back?<a class='headerlink'>¶</a></h2>"
                f"<p>See {link.format('../orm/session_api.html#flush')}, "
                f"{link.format('#local')}, {link.format('connections.html')} and "
                f"{link.format('../changelog/changelog_14.html')}.</p>"
                "<section><h3>But why again?</h3>"
                f"<p>Read {link.format('../glossary.html#term-unit-of-work')}.</p>"
                "</section></section>"
                "<section><h2>How do I profile?</h2><p>Nothing linked.</p></section>"
                "</section>"
            ),
            "orm/session_api.html": _page("<section><h1>Session API</h1><p>flush</p></section>"),
            "orm/classical.html": _page("<p>Moved! <a href='x.html'>there</a></p>"),
            "tutorial/data.html": _page(
                "<div class='topic'><p>Previous | Next</p></div>"
                "<section><h1>Working with Data</h1><p>Rows.</p></section>"
                "<div class='topic'><p>Next section</p></div>"
            ),
            "glossary.html": _page("<section><h1>Glossary</h1><p>unit of work</p></section>"),
            "changelog/changelog_14.html": _page("<section><h1>1.4</h1></section>"),
        },
    )
    evalset = tmp_path / "sqlalchemy.jsonl"
    result = FAQ.build(SITES["sqlalchemy"], tmp_path / "out", source, evalset)

    rows = [json.loads(line) for line in evalset.read_text().splitlines()]
    assert [(r["question"], r["gold_sources"]) for r in rows] == [
        ("Why does flush() roll back?", ["orm/session_api.md"]),
        ("But why again?", ["glossary.md"]),
    ]
    assert result["faq_questions"] == 3
    assert sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.md")
    ) == [
        "glossary.md",
        "orm/session_api.md",
        "tutorial/data.md",
    ]
    assert (tmp_path / "out/tutorial/data.md").read_text() == "# Working with Data\n\nRows.\n"
    manifest = json.loads((tmp_path / "out/.manifest.json").read_text())
    assert manifest["split_seed"] == 16
    assert sorted(manifest["split"]["dev"] + manifest["split"]["test"]) == ["sa-001", "sa-002"]


def test_django_layout_keeps_nested_question_links_apart(tmp_path: Path) -> None:
    source = tmp_path / "html"
    link = "<a class='reference internal' href='{}'>x</a>"

    def page(body: str) -> str:
        return (
            "<html><body><div id='yui-main'><div class='yui-g'>"
            f"<div class='section'><h1>Admin</h1>{body}</div></div></div></body></html>"
        )

    _write(
        source,
        {
            "faq/index.html": page(""),
            "faq/admin.html": page(
                "<div class='section'><h2>I can't log in</h2>"
                f"<p>{link.format('../ref/settings.html')}</p>"
                "<div class='section'><h3>Still not?</h3>"
                f"<p>{link.format('../ref/auth.html')}</p></div></div>"
            ),
            "ref/settings.html": page("<p>SESSION_COOKIE_DOMAIN</p>"),
            "ref/auth.html": page("<p>is_staff</p>"),
        },
    )
    evalset = tmp_path / "django.jsonl"
    FAQ.build(SITES["django"], tmp_path / "out", source, evalset)
    rows = [json.loads(line) for line in evalset.read_text().splitlines()]
    assert [(r["id"], r["gold_sources"]) for r in rows] == [
        ("dj-001", ["ref/settings.md"]),
        ("dj-002", ["ref/auth.md"]),
    ]


def test_a_missing_package_names_the_command_to_run(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python-sqlalchemy-doc is not installed.*make"):
        FAQ.build(SITES["sqlalchemy"], tmp_path / "out", tmp_path / "nothing", tmp_path / "q.jsonl")


@pytest.mark.parametrize("name", sorted(SITES))
def test_experiments_ask_each_faq_as_its_dev_and_held_out_test_split(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LLMOPS_EVALSETS_DIR", str(EVALSETS))
    benchmarks = {b.name: b for b in default_benchmarks(Settings.from_env())}
    dev, test = benchmarks[f"{name}-dev"], benchmarks[f"{name}-{HELD_OUT}"]
    assert dev.docs_dir == test.docs_dir == tmp_path / "benchmarks" / name
    assert (dev.split, test.split) == ("dev", "test")
    asked = {s: sorted(c.id for c in b.cases()) for s, b in (("dev", dev), ("test", test))}
    cases = load_evalset(SITES[name].evalset)
    assert asked == FAQ.split_ids([c.id for c in cases], SITES[name].split_seed)
