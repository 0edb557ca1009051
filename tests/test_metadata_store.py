"""Metadata store on real SQLite and PostgreSQL: migrations, prompt registry, query log, ledger.

PostgreSQL comes from `LLMOPS_TEST_PG_URL`; each test gets a fresh schema, dropped afterwards.
Without a server the PostgreSQL cases are skipped, except under `CI=true`, where they fail.
"""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, text

from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.engine import VERSION_TABLE, alembic_config
from llmops.storage.metadata.records import (
    MetadataStoreError,
    PromptVersion,
    PromptVersionNotFoundError,
    QueryRecord,
    RetrievedChunk,
    UnknownQueryError,
    UsageRecord,
)
from llmops.storage.metadata.rows import Base, PromptVersionRow
from tests.support.files import PROJECT_ROOT
from tests.support.pg import PG_URL
from tests.support.store import at_unknown_revision, legacy_install

TABLES = {
    "prompt_versions",
    "prompt_labels",
    "label_history",
    "evaluations",
    "alerts",
    "guardrail_events",
    "query_log",
    "feedback",
    "usage_ledger",
    "api_keys",
    "context_versions",
    "context_labels",
    "context_label_history",
    "spend_reservations",
    "rate_limit_hits",
}
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Iterator[MetadataClient]:
    if request.param == "sqlite":
        store = MetadataClient(url=f"sqlite:///{tmp_path / 'home' / 'llmops.db'}")
        yield store
        store.engine.dispose()
        return
    admin = request.getfixturevalue("pg_admin")
    schema = f"schema_{uuid4().hex[:16]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = MetadataClient(url=PG_URL, db_schema=schema)
    try:
        yield store
    finally:
        store.engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def prompt(version: str, created_at: str, content: str | None = None) -> PromptVersion:
    return PromptVersion(
        name="answer",
        version=version,
        content=content or f"name: answer\n# {version}\n",
        template=f"system: be brief ({version})",
        settings={"temperature": 0.0, "max_output_tokens": 256},
        description="Answer from the handbook.",
        author="ada",
        diff=None if version == "v1" else f"--- v1\n+++ {version}\n",
        created_at=at(created_at),
    )


def query_record(**changes) -> QueryRecord:
    values = {
        "question": "How many days of annual leave do I get?",
        "answer": "27 days [1].",
        "prompt_name": "answer",
        "prompt_version": "v1",
        "table_name": "chunks_all_minilm_l6_v2",
        "table_version": 7,
        "embedding_model": "all-MiniLM-L6-v2",
        "chat_model": "SmolLM2-135M-Instruct",
        "chunks": (
            RetrievedChunk("c1", "leave.md", 0.8125),
            RetrievedChunk("c2", "benefits.txt", 0.5),
        ),
        "input_tokens": 412,
        "output_tokens": 9,
        "cost_usd": 0.000125,
        "latency_ms": 1834.5,
        "trimmed": True,
        "guardrails": ({"name": "pii", "verdict": "pass", "spans": [[0, 3]]},),
        "status": "answered",
        "created_at": at("2025-03-14T09:30:15.123456+02:00"),
    }
    return QueryRecord(**{**values, **changes})


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_first_use_migrates_to_head(store):
    assert store.prompts.versions() == []
    inspector = inspect(store.engine)
    if store.db_schema:
        assert inspector.default_schema_name == store.db_schema
    assert set(inspector.get_table_names()) == TABLES | {VERSION_TABLE}
    with store.engine.connect() as connection:
        assert connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all() == [
            (HEAD,)
        ]
        # The hand-written migration creates exactly what the ORM models describe.
        opts = {"compare_type": True, "version_table": VERSION_TABLE}
        context = MigrationContext.configure(connection, opts=opts)
        assert compare_metadata(context, Base.metadata) == []


def test_migrate_again_is_a_no_op(store):
    store.migrate()
    assert store.prompts.add(prompt("v1", "2025-03-01T10:00:00+00:00"))
    statements: list[str] = []
    event.listen(
        store.engine, "before_cursor_execute", lambda *args: statements.append(args[2].upper())
    )
    store.migrate()
    MetadataClient(url=store.url, db_schema=store.db_schema).migrate()
    writes = [s for s in statements if s.split()[0] in {"CREATE", "ALTER", "DROP", "INSERT"}]
    assert writes == []
    assert any("ALEMBIC_VERSION" in s for s in statements)  # it did look
    assert store.prompts.get("answer", "v1") is not None


def test_downgrade_to_base_and_back(store):
    store.migrate()
    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(store.engine).get_table_names()) <= {VERSION_TABLE}
    store.migrate()
    assert set(inspect(store.engine).get_table_names()) == TABLES | {VERSION_TABLE}


def test_prompt_versions_are_immutable(store):
    first = prompt("v1", "2025-03-01T10:00:00+00:00", content="name: answer\nv: 1\n")
    assert store.prompts.add(first) is True
    rewrite = prompt("v1", "2025-03-02T10:00:00+00:00", content="name: answer\nv: changed\n")
    assert store.prompts.add(rewrite) is False
    assert store.prompts.get("answer", "v1") == first

    second = prompt("v2", "2025-03-03T10:00:00+00:00")
    other = PromptVersion(
        "concise", "c1", "name: concise\n", "t", created_at=at("2025-03-02T00:00Z")
    )
    assert store.prompts.add(second)
    assert store.prompts.add(other)
    assert store.prompts.versions("answer") == [second, first]
    assert [v.version for v in store.prompts.versions()] == ["v2", "c1", "v1"]
    assert store.prompts.latest("answer") == second
    assert store.prompts.latest("unknown") is None
    assert store.prompts.get("answer", "c1") is None
    assert store.prompts.get("answer", "v2").settings == {
        "temperature": 0.0,
        "max_output_tokens": 256,
    }


def test_labels_move_and_history_records_each_move(store):
    for version, created in [("v1", "2025-03-01T10:00Z"), ("v2", "2025-03-02T10:00Z")]:
        store.prompts.add(prompt(version, created))
    assert store.prompts.label("answer", "production") is None
    assert store.prompts.labels("answer") == {}

    store.prompts.move_label("answer", "production", "v1", "first version")
    store.prompts.move_label("answer", "candidate", "v2", "new prompt file")
    store.prompts.move_label("answer", "production", "v2", "eval passed")
    store.prompts.move_label("answer", "production", "v2", "same version again: nothing to record")
    store.prompts.move_label("answer", "production", "v1", "rollback: complaints")

    assert store.prompts.label("answer", "production") == "v1"
    assert store.prompts.labels("answer") == {"production": "v1", "candidate": "v2"}
    history = store.prompts.label_history("answer")
    assert [(m.label, m.from_version, m.to_version, m.reason) for m in history] == [
        ("production", None, "v1", "first version"),
        ("candidate", None, "v2", "new prompt file"),
        ("production", "v1", "v2", "eval passed"),
        ("production", "v2", "v1", "rollback: complaints"),
    ]
    moments = [m.moved_at for m in history]
    assert all(m.tzinfo == UTC for m in moments)
    assert moments == sorted(moments)
    assert abs(datetime.now(UTC) - moments[-1]) < timedelta(minutes=5)
    assert store.prompts.label_history("concise") == []


def test_move_label_to_unknown_version_raises(store):
    store.prompts.add(prompt("v1", "2025-03-01T10:00Z"))
    store.prompts.add(
        PromptVersion("concise", "c1", "name: concise\n", "t", created_at=at("2025-03-02T00:00Z"))
    )
    store.prompts.move_label("answer", "production", "v1", "first version")

    with pytest.raises(PromptVersionNotFoundError, match="'answer' has no version 'nope'"):
        store.prompts.move_label("answer", "production", "nope", "typo")
    with pytest.raises(PromptVersionNotFoundError, match="has no version 'c1'"):
        store.prompts.move_label("answer", "production", "c1", "another prompt's version")
    with pytest.raises(LookupError):
        store.prompts.move_label("answer", "candidate", "nope", "typo")

    assert store.prompts.labels("answer") == {"production": "v1"}
    assert len(store.prompts.label_history("answer")) == 1


def test_query_log_round_trip(store):
    record = query_record()
    store.queries.log(record)
    stored = store.queries.get(record.query_id)

    assert stored == record
    assert stored.created_at == at("2025-03-14T07:30:15.123456+00:00")
    assert stored.created_at.tzinfo == UTC
    assert stored.chunks[0] == RetrievedChunk("c1", "leave.md", 0.8125)
    assert stored.guardrails == ({"name": "pii", "verdict": "pass", "spans": [[0, 3]]},)
    assert isinstance(stored.table_version, int)
    assert stored.trimmed is True
    assert store.queries.get(str(uuid4())) is None

    bare = query_record(
        guardrails=(), chunks=(), status="refused", created_at=at("2025-03-15T00:00Z")
    )
    store.queries.log(bare)
    assert store.queries.get(bare.query_id).guardrails == ()
    assert store.queries.get(bare.query_id).status == "refused"
    assert [q.query_id for q in store.queries.find()] == [record.query_id, bare.query_id]
    assert [q.query_id for q in store.queries.find(since=at("2025-03-14T12:00Z"))] == [
        bare.query_id
    ]


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        query_record(created_at=datetime(2025, 3, 14, 9, 30))
    with pytest.raises(ValueError, match="timezone-aware"):
        UsageRecord("m", "answer", 1, 1, 0.1, created_at=datetime(2025, 3, 14))


def test_feedback_on_unknown_query_raises(store):
    record = query_record()
    store.queries.log(record)
    missing = str(uuid4())

    with pytest.raises(UnknownQueryError, match=f"no logged query has the id '{missing}'"):
        store.feedback.add(missing, "down", "wrong answer")
    with pytest.raises(ValueError, match="rating must be one of"):
        store.feedback.add(record.query_id, "meh")
    assert store.feedback.find() == []

    given = store.feedback.add(record.query_id, "down", "cites the wrong policy")
    assert (given.query_id, given.rating, given.comment) == (
        record.query_id,
        "down",
        "cites the wrong policy",
    )
    assert given.created_at.tzinfo == UTC
    assert store.feedback.find() == [given]


def test_spend_on_sums_only_charged_rows_of_that_utc_day(store):
    day = date(2025, 3, 14)
    rows = [
        ("2025-03-14T00:00:00+00:00", 0.25, "charged"),
        ("2025-03-14T23:59:59.999999+00:00", 0.5, "charged"),
        ("2025-03-14T12:00:00+05:00", 0.125, "charged"),  # 07:00 UTC
        ("2025-03-15T01:00:00+02:00", 4.0, "charged"),  # 23:00 UTC on the 14th
        ("2025-03-14T10:00:00+00:00", 10.0, "refused"),
        ("2025-03-13T23:59:59.999999+00:00", 1.0, "charged"),  # yesterday
        ("2025-03-15T00:00:00+00:00", 2.0, "charged"),  # tomorrow
    ]
    for created, cost, status in rows:
        store.usage.record(
            UsageRecord("gpt-x", "answer", 100, 10, cost, status=status, created_at=at(created))
        )

    assert store.usage.spent_on(day) == pytest.approx(4.875)
    assert store.usage.spent_on(day - timedelta(days=1)) == pytest.approx(1.0)
    assert store.usage.spent_on(day + timedelta(days=1)) == pytest.approx(2.0)
    assert store.usage.spent_on(date(2025, 1, 1)) == 0.0
    assert isinstance(store.usage.spent_on(date(2025, 1, 1)), float)

    ledger = store.usage.find()
    assert len(ledger) == len(rows)
    assert [r.created_at for r in ledger] == sorted(r.created_at for r in ledger)
    assert all(r.id is not None and r.created_at.tzinfo == UTC for r in ledger)
    assert {r.cost_usd for r in store.usage.find(since=at("2025-03-15T00:00Z"))} == {2.0}


def test_usage_record_round_trip(store):
    record = UsageRecord(
        model="judge-model",
        purpose="judge",
        input_tokens=1200,
        output_tokens=40,
        cost_usd=0.0031,
        status="refused",
        prompt_version="v2",
        query_id=str(uuid4()),
        detail="daily budget of $1.00 reached",
        created_at=at("2025-03-14T08:00:00+01:00"),
    )
    stored = store.usage.record(record)
    assert stored.id is not None
    assert store.usage.find() == [stored]
    assert {**stored.__dict__, "id": None} == record.__dict__
    with pytest.raises(ValueError, match="usage status"):
        UsageRecord("m", "answer", 1, 1, 0.1, status="pending")


def test_session_rolls_back_on_error(store):
    version = prompt("v1", "2025-03-01T10:00Z")

    def fail_midway() -> None:
        with store.session() as session:
            session.add(PromptVersionRow(**version.__dict__))
            session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_midway()
    assert store.prompts.get("answer", "v1") is None
    with store.session() as session:
        session.add(PromptVersionRow(**version.__dict__))
    assert store.prompts.get("answer", "v1") == version


def test_data_persists_for_a_new_process(store):
    store.prompts.add(prompt("v1", "2025-03-01T10:00Z"))
    store.prompts.move_label("answer", "production", "v1", "first version")
    record = query_record()
    store.queries.log(record)
    store.engine.dispose()

    output = run_python(
        "import json\n"
        "from llmops.storage.metadata.client import MetadataClient\n"
        f"store = MetadataClient(url={store.url!r}, db_schema={store.db_schema!r})\n"
        f"query = store.queries.get({record.query_id!r})\n"
        "print(json.dumps({'labels': store.prompts.labels('answer'), 'answer': query.answer,\n"
        "    'created_at': query.created_at.isoformat(), 'chunks': len(query.chunks)}))\n"
    )
    assert json.loads(output) == {
        "labels": {"production": "v1"},
        "answer": record.answer,
        "created_at": "2025-03-14T07:30:15.123456+00:00",
        "chunks": 2,
    }


@pytest.mark.slow
def test_concurrent_first_starts_migrate_once(store):
    """Processes starting together on a fresh database take turns instead of racing."""
    start = time.time() + 8  # after every process has imported its modules
    code = (
        "import time\n"
        "from llmops.storage.metadata.client import MetadataClient\n"
        f"store = MetadataClient(url={store.url!r}, db_schema={store.db_schema!r})\n"
        f"time.sleep(max(0.0, {start} - time.time()))\n"
        "store.migrate()\n"
        "print(len(store.prompts.versions()))\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, [err for _, err in results]
    assert [out.strip() for out, _ in results] == ["0"] * 4
    with store.engine.connect() as connection:
        assert connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all() == [
            (HEAD,)
        ]


def test_db_schema_is_for_postgresql_only(tmp_path):
    store = MetadataClient(url=f"sqlite:///{tmp_path / 'x.db'}", db_schema="other")
    with pytest.raises(RuntimeError, match="PostgreSQL only"):
        store.migrate()


def test_missing_postgresql_schema_is_created(pg_admin):
    schema = f"schema_{uuid4().hex[:16]}"
    store = MetadataClient(url=PG_URL, db_schema=schema)
    try:
        assert store.prompts.labels("answer") == {}
        tables = inspect(pg_admin).get_table_names(schema=schema)
        assert set(tables) == TABLES | {VERSION_TABLE}
    finally:
        store.engine.dispose()
        with pg_admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def test_unreachable_database_is_named_in_the_error():
    store = MetadataClient(url="postgresql://llmops:secret@127.0.0.1:1/llmops")
    with pytest.raises(MetadataStoreError, match=r"cannot reach .*127\.0\.0\.1:1/llmops") as error:
        store.prompts.labels("answer")
    assert "secret" not in str(error.value)


def test_rate_slots_slide_per_key_and_refusals_do_not_count(store):
    start = at("2025-03-14T10:00:00+00:00")

    def take(key: str, seconds: float) -> float | None:
        return store.rate_limits.take_slot(key, 3, now=start + timedelta(seconds=seconds))

    assert [take("ann", s) for s in (0, 10, 20)] == [None, None, None]
    assert take("ann", 30) == pytest.approx(30.0)  # 0, 10 and 20 are in the window
    assert take("bob", 30) is None  # one window per key
    assert take("ann", 50) == pytest.approx(10.0)  # the refusal at 30 did not count
    assert take("ann", 60) is None  # 0 has left the window
    assert take("ann", 61) == pytest.approx(9.0)


def test_rate_slots_hold_under_concurrent_writers(store):
    def hammer(_: int) -> list[bool]:
        return [store.rate_limits.take_slot("ann", 25) is None for _ in range(10)]

    with ThreadPoolExecutor(max_workers=5) as pool:
        allowed = [ok for batch in pool.map(hammer, range(5)) for ok in batch]
    assert allowed.count(True) == 25


def test_a_reservation_counts_until_settled_or_released(store):
    seen = []
    held = store.usage.reserve(
        "gpt-4o-mini", "answer", 0.5, seen.append, timedelta(minutes=5), True
    )
    other = store.usage.reserve(
        "gpt-4o-mini", "judge", 0.25, seen.append, timedelta(minutes=5), True
    )
    assert seen[-1].total_usd == pytest.approx(0.5)
    charged = UsageRecord(
        model="gpt-4o-mini", purpose="answer", input_tokens=9, output_tokens=3, cost_usd=0.125
    )
    assert store.usage.settle(held, charged).id is not None
    store.usage.release(other)
    store.usage.reserve("gpt-4o-mini", "answer", 0.0, seen.append, timedelta(minutes=5), True)
    assert seen[-1].total_usd == pytest.approx(0.125)  # the real cost, nothing held
    assert [r.purpose for r in store.usage.reservations()] == ["answer"]
    assert store.usage.spent_on(datetime.now(UTC).date()) == pytest.approx(0.125)


def test_a_refused_reservation_holds_nothing(store):
    def refuse(_spend) -> None:
        raise LookupError("over budget")

    with pytest.raises(LookupError):
        store.usage.reserve("gpt-4o-mini", "answer", 1.0, refuse, timedelta(minutes=5), True)
    assert store.usage.reservations() == []


@pytest.mark.parametrize("foreign", [(), ("29b539ebc72a",)], ids=["alone", "next-to-dagster"])
def test_an_install_with_the_revision_in_alembic_version_moves_it(store, foreign):
    legacy_install(store, *foreign)
    store.migrate()
    tables = set(inspect(store.engine).get_table_names())
    assert TABLES | {VERSION_TABLE} <= tables
    with store.engine.connect() as connection:
        ours = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
        assert ours == [(HEAD,)]
        if foreign:
            theirs = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            assert theirs == [foreign]  # Dagster's history is left as it was
    if not foreign:
        assert "alembic_version" not in tables  # it held only ours


def test_a_migration_failure_is_one_line_naming_the_database(store):
    at_unknown_revision(store)
    with pytest.raises(MetadataStoreError) as raised:
        store.prompts.versions()
    message = str(raised.value)
    assert message.startswith("cannot migrate the metadata database ")
    assert "Can't locate revision identified by 'ffff'" in message
    assert "\n" not in message
