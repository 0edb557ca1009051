"""The scheduled drift check: windows of logged questions, the drift report asset with its check,
and the sensor that turns a failed check into an alert and an evaluation of production.

Questions are logged into a real SQLite metadata store on past days; the assets run through
Dagster with the real embedder and LanceDB, and the sensor reads the check's outcome back from a
real (temporary) Dagster instance.
"""

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import pytest

from assets.drift import embedding_drift_report, query_embeddings, query_log
from llmops.errors import InputError
from llmops.monitoring.query_log import logged_queries
from llmops.monitoring.windows import DayRange, DriftSettings
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import QueryRecord
from pipelines.definitions import defs
from pipelines.sensors import drift_detected
from resources.metadata_store import MetadataStore
from resources.vector_store import VectorStore
from tests.support import drift_data
from tests.support.cli import llmops
from tests.support.records import VALID, register_prompts

DAY = date(2026, 11, 20)  # the last day of the current window
WINDOW = 7


# --- windows ---------------------------------------------------------------------------------


def test_previous_window_is_the_same_length_just_before():
    windows = DriftSettings(window_days=7).windows(DAY)
    assert windows.current == DayRange(date(2026, 11, 14), DAY)
    assert windows.reference == DayRange(date(2026, 11, 7), date(2026, 11, 13))
    assert windows.reference_kind == "previous"


def test_baseline_period_and_evalset_references():
    baseline = DriftSettings(reference="2026-10-01..2026-10-31", window_days=1).windows(DAY)
    assert baseline.reference == DayRange(date(2026, 10, 1), date(2026, 10, 31))
    assert baseline.current == DayRange(DAY, DAY)
    evalset = DriftSettings(reference="evalset").windows(DAY)
    assert evalset.reference is None
    assert "eval set" in evalset.describe_reference()


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("last-week", "expected `previous`, `evalset` or a period"),
        ("2026-11-30..2026-11-01", "ends (2026-11-01) before it starts"),
    ],
)
def test_bad_reference_settings_name_the_problem(reference, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DriftSettings(reference=reference)


def test_baseline_overlapping_the_current_window_is_refused():
    with pytest.raises(InputError, match="overlaps the current window"):
        DriftSettings(reference="2026-11-01..2026-11-15").windows(DAY)


def test_window_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("LLMOPS_DRIFT_WINDOW_DAYS", "three")
    with pytest.raises(InputError, match="LLMOPS_DRIFT_WINDOW_DAYS"):
        DriftSettings.from_env()
    monkeypatch.setenv("LLMOPS_DRIFT_WINDOW_DAYS", "3")
    monkeypatch.setenv("LLMOPS_DRIFT_REFERENCE", "evalset")
    assert DriftSettings.from_env() == DriftSettings(reference="evalset", window_days=3)


# --- the assets, the check and the sensor ----------------------------------------------------


@pytest.fixture
def meta(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MetadataClient:
    url = f"sqlite:///{tmp_path / 'llmops.db'}"
    monkeypatch.setenv("LLMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LLMOPS_DATABASE_URL", url)
    monkeypatch.setenv("LLMOPS_DRIFT_WINDOW_DAYS", str(WINDOW))
    return MetadataClient(url=url)


def _log(store: MetadataClient, texts: list[str], days: DayRange) -> None:
    """Spread `texts` over the days of `days`, as served answers."""
    n_days = (days.end - days.start).days + 1
    for i, text in enumerate(texts):
        day = days.start + timedelta(days=i % n_days)
        store.queries.log(
            QueryRecord(
                question=text,
                answer="…",
                prompt_name="answer",
                prompt_version="v1",
                table_name="chunks_test",
                table_version=1,
                embedding_model="test",
                chat_model="test",
                latency_ms=float(10 + i % 7),
                created_at=datetime.combine(day, time(9), UTC) + timedelta(seconds=i),
            )
        )


def _log_trial(store: MetadataClient, trial: drift_data.Trial) -> None:
    windows = DriftSettings(window_days=WINDOW).windows(DAY)
    _log(store, [q.text for q in trial.reference], windows.reference)
    _log(store, [q.text for q in trial.current], windows.current)


def _materialize(instance, embedder, meta: MetadataClient, lancedb: VectorStore):
    return dg.materialize(
        [query_log, query_embeddings, embedding_drift_report],
        partition_key=DAY.isoformat(),
        instance=instance,
        resources={
            "embedder": embedder,
            "vector_store": lancedb,
            "metadata_store": MetadataStore(url=meta.url),
        },
        raise_on_error=False,
    )


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def _tick(instance: dg.DagsterInstance, cursor: str | None = None):
    context = dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), cursor=cursor, definitions=defs
    )
    return drift_detected.evaluate_tick(context)


def test_new_topic_fails_the_check_and_the_sensor_alerts_and_evaluates(
    tmp_path, meta, embedder, store
):
    trial = drift_data.sample_trial("new", 3, size=200, share=0.3, new_topic="company-shares")
    _log_trial(meta, trial)
    production = register_prompts(tmp_path / "prompts", meta, {"answer.yaml": VALID})
    with dg.instance_for_test() as instance:
        result = _materialize(instance, embedder, meta, store)
        evaluation = _check(result)
        tick = _tick(instance)
        again = _tick(instance, tick.cursor)

    # the day's log and embeddings: one seventh of the current window
    day_count = len(logged_queries(meta, DayRange(DAY, DAY)))
    log_meta = result.asset_materializations_for_node("query_log")[0].metadata
    assert log_meta["queries"].value == day_count > 0
    emb_meta = result.asset_materializations_for_node("query_embeddings")[0].metadata
    assert emb_meta["embedded"].value == day_count
    # the report embedded the rest of both windows before comparing them
    report = result.asset_materializations_for_node("embedding_drift_report")[0].metadata
    assert report["current_queries"].value == report["reference_queries"].value == 200
    assert store.query_vectors(embedder.model_id, date(2026, 1, 1), DAY).num_rows == 400

    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["status"].value == "drift"
    assert report["drift"].value is True
    assert report["emerging_topics"].value >= 1
    assert "company shares" in report["topics"].value
    html = Path(report["html_report"].value)
    assert html.parent == tmp_path / "reports" / "drift" / DAY.isoformat()
    assert html.read_text(encoding="utf-8").count("Drift in embeddings 'query'") == 1
    saved = json.loads(Path(report["json_report"].value).read_text(encoding="utf-8"))
    assert saved["drift"] is True
    assert saved["current_window"] == "2026-11-14..2026-11-20"
    assert any(
        "company shares" in e for e in saved["explanation"]["emerging_topics"][0]["examples"]
    )

    # the sensor: one alert, one evaluation of production, and nothing twice
    key = f"answer@{production['answer']}"
    assert [r.partition_key for r in tick.run_requests] == [key]
    assert tick.run_requests[0].job_name in (None, "evaluate")
    (alert,) = meta.alerts.find("semantic_drift")
    assert alert.details["day"] == DAY.isoformat()
    assert alert.details["evaluations_requested"] == [key]
    assert "company shares" in alert.message
    assert again.run_requests == []
    assert len(meta.alerts.find()) == 1
    shown = llmops("alerts", "--kind", "semantic_drift", "--json", home=tmp_path)
    assert shown.returncode == 0, shown.stderr
    [listed] = json.loads(shown.stdout)["alerts"]
    assert listed["message"] == alert.message
    assert listed["details"]["evaluations_requested"] == [key]


def test_same_topics_pass_and_too_few_questions_warn_without_alert(meta, embedder, store):
    trial = drift_data.sample_trial("none", 4, size=120)
    _log_trial(meta, trial)
    with dg.instance_for_test() as instance:
        quiet = _check(_materialize(instance, embedder, meta, store))
        assert quiet.passed
        assert quiet.metadata["status"].value == "no drift"

        # a day whose window holds only three questions
        sparse = DAY + timedelta(days=8)
        _log(meta, ["How do I reset my password?"] * 3, DayRange(sparse, sparse))
        result = dg.materialize(
            [embedding_drift_report],
            partition_key=sparse.isoformat(),
            instance=instance,
            resources={
                "embedder": embedder,
                "vector_store": store,
                "metadata_store": MetadataStore(url=meta.url),
            },
        )
        warned = _check(result)
        tick = _tick(instance)

    assert not warned.passed
    assert warned.severity == dg.AssetCheckSeverity.WARN
    assert warned.metadata["status"].value == "insufficient data"
    assert "not enough questions to test: 3 in the current window" in warned.description
    assert tick.run_requests == []
    assert meta.alerts.find() == []
