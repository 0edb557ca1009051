"""Chunk vectors in LanceDB: one table per embedding model, every write a new table version."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Literal

import lancedb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from dagster import ConfigurableResource
from lancedb.index import FTS, IvfPq
from lancedb.rerankers import RRFReranker

METRIC = "cosine"
# optimize() prunes versions older than 7 days by default; audits check out the version that
# served an answer, so every version is kept.
_KEEP_VERSIONS = timedelta(days=365 * 100)


SearchMode = Literal["vector", "fts", "hybrid"]
_HIT_COLUMNS = ["chunk_id", "document", "heading", "text"]


@dataclass(frozen=True)
class SearchHit:
    chunk_id: str
    document: str
    heading: str
    text: str
    score: float


class TableNotFoundError(LookupError):
    """The embedding model has no table yet: nothing was indexed with it."""


@dataclass(frozen=True)
class SearchResults:
    version: int
    hits: list[list[SearchHit]]


def table_name(model_id: str) -> str:
    return "chunks_" + re.sub(r"[^a-z0-9]+", "_", model_id.lower()).strip("_")


def chunk_schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("chunk_id", pa.string(), nullable=False),
            pa.field("document", pa.string(), nullable=False),
            pa.field("document_hash", pa.string()),
            pa.field("position", pa.int32()),
            pa.field("heading", pa.string()),
            pa.field("text", pa.string()),
            pa.field("token_count", pa.int32()),
            pa.field("vector", pa.list_(pa.float32(), dimension)),
            pa.field("quarantined", pa.bool_(), nullable=False),
            pa.field("quarantine_reason", pa.string()),
        ]
    )


# Tables written before quarantine existed get these columns on their next sync.
_QUARANTINE_COLUMNS = {"quarantined": "false", "quarantine_reason": "CAST(NULL AS STRING)"}


def query_table_name(model_id: str) -> str:
    return "queries_" + re.sub(r"[^a-z0-9]+", "_", model_id.lower()).strip("_")


def query_schema(dimension: int) -> pa.Schema:
    """Logged questions' vectors; `day` is the UTC day the question was asked."""
    return pa.schema(
        [
            pa.field("query_id", pa.string(), nullable=False),
            pa.field("day", pa.date32(), nullable=False),
            pa.field("question", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dimension)),
        ]
    )


def staged_table_name(model_id: str, bucket: int, buckets: int) -> str:
    """The staging table of one hash bucket: written by that bucket's run alone."""
    return f"staged_{table_name(model_id)}_{bucket}_of_{buckets}"


def staged_schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("chunk_id", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimension)),
        ]
    )


def attack_table_name(model_id: str) -> str:
    return "attacks_" + re.sub(r"[^a-z0-9]+", "_", model_id.lower()).strip("_")


def attack_schema(dimension: int) -> pa.Schema:
    """Known prompt-injection attacks' and benign reference questions' vectors; `label` is
    `attack` or `benign` (whose `family` is empty), `digest` the SHA-256 of both corpus files."""
    return pa.schema(
        [
            pa.field("text", pa.string(), nullable=False),
            pa.field("family", pa.string(), nullable=False),
            pa.field("label", pa.string(), nullable=False),
            pa.field("digest", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimension)),
        ]
    )


def anchor_table_name(model_id: str) -> str:
    return "anchors_" + re.sub(r"[^a-z0-9]+", "_", model_id.lower()).strip("_")


def anchor_schema(dimension: int) -> pa.Schema:
    """The deployment's benign anchors (`llmops.guardrails.anchors`): `source` is `chunk`,
    `heading`, `evalset` or `served`, `document` the chunk's or heading's document (empty for
    questions), `threshold` the injection threshold calibrated on this anchor set (the same on
    every row)."""
    return pa.schema(
        [
            pa.field("text", pa.string(), nullable=False),
            pa.field("source", pa.string(), nullable=False),
            pa.field("document", pa.string(), nullable=False),
            pa.field("threshold", pa.float32(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimension)),
        ]
    )


def _sql_list(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


@cache
def _connect(uri: str) -> lancedb.DBConnection:
    return lancedb.connect(uri)


class VectorStore(ConfigurableResource):
    """LanceDB at `uri` (a folder, or `s3://…`); `ann_min_rows` rows get an IVF-PQ index.

    ANN queries probe `ann_nprobes` IVF lists and re-rank `ann_refine_factor` × k candidates
    with exact distances; lower values are faster and the recall check says what they cost.
    """

    uri: str
    ann_min_rows: int = 4096
    ann_nprobes: int = 20
    ann_refine_factor: int = 10

    @property
    def db(self) -> lancedb.DBConnection:
        return _connect(self.uri)

    def has_table(self, model_id: str) -> bool:
        try:
            self.table(model_id)
        except TableNotFoundError:
            return False
        return True

    def table(self, model_id: str, version: int | None = None):
        """The model's table at its latest version, or checked out (read-only) at `version`."""
        try:
            table = self.db.open_table(table_name(model_id))
        except ValueError as exc:  # lancedb's "Table '…' was not found"
            raise TableNotFoundError(
                f"no table for embedding model {model_id} in {self.uri}"
            ) from exc
        if version is not None:
            table.checkout(version)
        return table

    def headings(self, name: str, version: int, chunk_ids: Collection[str]) -> dict[str, str]:
        """The heading path of each chunk id found in table `name` at `version` (what a served
        answer cited, even after re-indexing removed it from the latest version)."""
        if not chunk_ids:
            return {}
        try:
            table = self.db.open_table(name)
        except ValueError:
            return {}
        table.checkout(version)
        quoted = ", ".join("'" + c.replace("'", "''") + "'" for c in chunk_ids)
        rows = (
            table.search()
            .where(f"chunk_id IN ({quoted})")
            .select(["chunk_id", "heading"])
            .limit(len(chunk_ids))
            .to_list()
        )
        return {row["chunk_id"]: row["heading"] or "" for row in rows}

    def stored_chunks(self, model_id: str) -> pa.Table:
        """`chunk_id` and `document` of every stored row (no vectors are read)."""
        if not self.has_table(model_id):
            return pa.table(
                {"chunk_id": pa.array([], pa.string()), "document": pa.array([], pa.string())}
            )
        return self.table(model_id).search().select(["chunk_id", "document"]).to_arrow()

    def sync(self, model_id: str, rows: pa.Table, stale_ids: Sequence[str]) -> int:
        """Upsert `rows` and delete `stale_ids` in one commit; returns the table version.

        One `merge_insert` does both, so a reader sees either the old index or the new one,
        never a half-updated table.
        """
        if not self.has_table(model_id):
            self.db.create_table(table_name(model_id), rows, schema=rows.schema)
            return self.table(model_id).version
        table = self.table(model_id)
        missing = {c: e for c, e in _QUARANTINE_COLUMNS.items() if c not in table.schema.names}
        if missing:
            table.add_columns(missing)
        if rows.num_rows == 0 and not stale_ids:
            return table.version
        merge = (
            table.merge_insert("chunk_id").when_matched_update_all().when_not_matched_insert_all()
        )
        if stale_ids:
            merge = merge.when_not_matched_by_source_delete(f"chunk_id IN ({_sql_list(stale_ids)})")
        merge.execute(rows.cast(table.schema))
        return table.version

    def quarantined_chunks(self, model_id: str) -> list[dict[str, str]]:
        """`chunk_id`, `document` and `quarantine_reason` of every quarantined chunk."""
        if not self.has_table(model_id):
            return []
        table = self.table(model_id)
        if "quarantined" not in table.schema.names:
            return []
        columns = ["chunk_id", "document", "quarantine_reason"]
        return table.search().where("quarantined").select(columns).to_arrow().to_pylist()

    def delete_documents(self, model_id: str, documents: Sequence[str]) -> int:
        """Remove every chunk of `documents`; returns the table version."""
        table = self.table(model_id)
        if documents:
            table.delete(f"document IN ({_sql_list(documents)})")
        return table.version

    def version(self, model_id: str) -> int:
        return self.table(model_id).version

    def search(
        self,
        model_id: str,
        vectors: np.ndarray,
        k: int = 5,
        version: int | None = None,
        exact: bool = False,
        texts: Sequence[str] | None = None,
        mode: SearchMode = "vector",
        candidates: int | None = None,
        rrf_k: int = 60,
    ) -> SearchResults:
        """The `k` best chunks of each query; `score` is the cosine similarity to the query.

        `mode` `vector` ranks by cosine; `fts` by BM25 over the chunk text of `texts`; `hybrid`
        fuses the top `candidates` of both rankings by reciprocal rank (LanceDB's
        `RRFReranker`, constant `rrf_k`). Both rankings are queried here rather than through
        LanceDB's hybrid query, which projects its score columns with a deprecation warning
        per query. All queries read one table version
        (the latest unless `version` is given). Quarantined chunks (flagged by the ingest
        guardrails) are never returned.
        """
        if mode != "vector" and (texts is None or len(texts) != len(np.atleast_2d(vectors))):
            raise ValueError(f"{mode} search needs one query text per vector")
        table = self.table(model_id, version)
        if mode != "vector" and not any(i.index_type == "FTS" for i in table.list_indices()):
            raise TableNotFoundError(
                f"table {table.name} has no full-text index: run `llmops ingest` to build it"
            )
        quarantine = "quarantined" in table.schema.names
        depth = k if mode == "vector" else max(k, candidates or k)
        hits = []
        for i, vector in enumerate(np.atleast_2d(vectors)):
            text = texts[i] if texts is not None else ""
            if mode == "hybrid":
                found = RRFReranker(K=rrf_k).rerank_hybrid(
                    text,
                    self._ranked(table, "vector", vector, text, depth, exact, quarantine),
                    self._ranked(table, "fts", vector, text, depth, exact, quarantine),
                )
            else:
                found = self._ranked(table, mode, vector, text, depth, exact, quarantine)
            hits.append(
                [
                    SearchHit(
                        **{c: r[c] for c in _HIT_COLUMNS},
                        score=float(np.dot(np.asarray(r["vector"], np.float32), vector)),
                    )
                    for r in found.slice(0, k).to_pylist()
                ]
            )
        return SearchResults(table.version, hits)

    def _ranked(
        self,
        table,
        kind: str,
        vector: np.ndarray,
        text: str,
        depth: int,
        exact: bool,
        quarantine: bool,
    ) -> pa.Table:
        """The top `depth` rows of one ranking (`vector` or `fts`), with row ids to fuse on."""
        if kind == "vector":
            query = table.search(vector).distance_type(METRIC)
            query = (
                query.bypass_vector_index()
                if exact
                else query.nprobes(self.ann_nprobes).refine_factor(self.ann_refine_factor)
            )
            score = "_distance"
        else:
            query = table.search(text, query_type="fts", fts_columns="text")
            score = "_score"
        query = query.select([*_HIT_COLUMNS, "vector", score]).limit(depth).with_row_id(True)
        if quarantine:
            query = query.where("NOT quarantined", prefilter=True)
        return query.to_arrow()

    def refresh_fts_index(self, model_id: str) -> str:
        """Build the full-text index of the chunk text, or rebuild it once a tenth of the rows
        are not in it (LanceDB searches unindexed rows too, only slower).

        Returns what was done: `created`, `rebuilt` or `unchanged`.
        """
        table = self.table(model_id)
        fts = [i for i in table.list_indices() if i.index_type == "FTS"]
        if fts:
            stats = table.index_stats(fts[0].name)
            if stats is None or stats.num_unindexed_rows * 10 <= table.count_rows():
                return "unchanged"
        table.create_index("text", config=FTS(), replace=True)
        return "rebuilt" if fts else "created"

    def has_ann_index(self, model_id: str) -> bool:
        return any(index.columns == ["vector"] for index in self.table(model_id).list_indices())

    def refresh_ann_index(self, model_id: str) -> str:
        """Build the ANN index once the table is large enough; fold new rows into it after.

        Returns what was done: `created`, `updated`, `unchanged` or `too small`.
        """
        table = self.table(model_id)
        if self.has_ann_index(model_id):
            stats = table.index_stats("vector_idx")
            if stats is None or stats.num_unindexed_rows == 0:
                return "unchanged"
            table.optimize(cleanup_older_than=_KEEP_VERSIONS)
            return "updated"
        rows = table.count_rows()
        if rows < self.ann_min_rows:
            return "too small"
        table.create_index("vector", config=IvfPq(distance_type=METRIC))
        return "created"

    def ann_recall(self, model_id: str, sample: int = 100, k: int = 10, seed: int = 0) -> float:
        """Mean recall@k of ANN search against exact search, queried with stored vectors."""
        table = self.table(model_id)
        rows = table.count_rows()
        offsets = np.random.default_rng(seed).choice(rows, size=min(sample, rows), replace=False)
        stored = table.take_offsets(sorted(offsets.tolist())).select(["vector"]).to_arrow()
        queries = np.stack(stored["vector"].to_numpy(zero_copy_only=False))
        ann = self.search(model_id, queries, k, version=table.version)
        exact = self.search(model_id, queries, k, version=table.version, exact=True)
        recalls = [
            len({h.chunk_id for h in a} & {h.chunk_id for h in e}) / max(len(e), 1)
            for a, e in zip(ann.hits, exact.hits, strict=True)
        ]
        return float(np.mean(recalls))

    def upsert_query_vectors(self, model_id: str, rows: pa.Table) -> int:
        """Add or replace logged questions' vectors by `query_id` (one commit); returns the
        table version. Re-running a day writes nothing twice."""
        return self._upsert(query_table_name(model_id), "query_id", rows)

    def _upsert(self, name: str, key: str, rows: pa.Table) -> int:
        """Create table `name` from `rows`, or add and replace its rows by `key` in one commit;
        returns the table version."""
        try:
            table = self.db.open_table(name)
        except ValueError:  # lancedb's "Table '…' was not found"
            return self.db.create_table(name, rows, schema=rows.schema).version
        if rows.num_rows:
            (
                table.merge_insert(key)
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute(rows.cast(table.schema))
            )
        return table.version

    def query_vectors(
        self,
        model_id: str,
        start: date,
        end: date,
        columns: Sequence[str] = ("query_id", "question", "vector"),
    ) -> pa.Table:
        """Stored question vectors asked from `start` to `end` (UTC days, both included)."""
        table = self._query_table(model_id)
        if table is None:
            return pa.schema([f for f in query_schema(1) if f.name in columns]).empty_table()
        where = f"day >= date '{start.isoformat()}' AND day <= date '{end.isoformat()}'"
        return table.search().where(where).select(list(columns)).to_arrow()

    def _query_table(self, model_id: str):
        try:
            return self.db.open_table(query_table_name(model_id))
        except ValueError:  # lancedb's "Table '…' was not found"
            return None

    def attack_rows(self, model_id: str) -> pa.Table | None:
        """Every stored known attack of the model's attack table, or None before the first sync."""
        table = self._attack_table(model_id)
        return None if table is None else table.to_arrow()

    def sync_attacks(self, model_id: str, rows: pa.Table) -> int:
        """Replace the attack table's contents with `rows` unless it already holds their corpus
        digest; returns the table version."""
        table = self._attack_table(model_id)
        digests = set(rows.column("digest").to_pylist())
        if table is not None:
            stored = table.search().select(["digest"]).to_arrow().column("digest").to_pylist()
            if set(stored) == digests:
                return table.version
        return self.db.create_table(
            attack_table_name(model_id), rows, schema=rows.schema, mode="overwrite"
        ).version

    def anchor_rows(self, model_id: str) -> tuple[int, pa.Table] | None:
        """The model's benign anchors with their table version, or None before the first
        `replace_anchors`."""
        table = self._anchor_table(model_id)
        return None if table is None else (table.version, table.to_arrow())

    def anchor_version(self, model_id: str) -> int | None:
        table = self._anchor_table(model_id)
        return None if table is None else table.version

    def replace_anchors(self, model_id: str, rows: pa.Table) -> int:
        """Replace the benign anchors with `rows` (`anchor_schema`) in one commit; returns the
        table version."""
        table = self._anchor_table(model_id)
        if table is None:
            name = anchor_table_name(model_id)
            return self.db.create_table(name, rows, schema=rows.schema).version
        table.add(rows.cast(table.schema), mode="overwrite")
        return table.version

    def _anchor_table(self, model_id: str):
        try:
            return self.db.open_table(anchor_table_name(model_id))
        except ValueError:  # lancedb's "Table '…' was not found"
            return None

    def nearest_attacks(
        self, model_id: str, vector: np.ndarray, k: int = 3
    ) -> list[tuple[str, str, float]]:
        """The `k` stored attacks (benign references left out) nearest to `vector`: (text,
        family, cosine similarity)."""
        table = self._attack_table(model_id)
        if table is None:
            raise TableNotFoundError(
                f"no attack table for embedding model {model_id} in {self.uri}"
            )
        rows = (
            table.search(vector)
            .distance_type(METRIC)
            .where("label = 'attack'", prefilter=True)
            .select(["text", "family", "_distance"])
            .limit(k)
            .to_arrow()
            .to_pylist()
        )
        return [(r["text"], r["family"], 1.0 - r["_distance"]) for r in rows]

    def stage_vectors(self, model_id: str, bucket: int, buckets: int, rows: pa.Table) -> int:
        """Add a bucket's encoded vectors (`staged_schema`) to its staging table by `chunk_id`;
        returns the staging table's version. The chunk table is not touched."""
        return self._upsert(staged_table_name(model_id, bucket, buckets), "chunk_id", rows)

    def staged_ids(self, model_id: str, bucket: int, buckets: int) -> set[str]:
        try:
            table = self.db.open_table(staged_table_name(model_id, bucket, buckets))
        except ValueError:
            return set()
        return set(table.search().select(["chunk_id"]).to_arrow().column("chunk_id").to_pylist())

    def staged_vectors(self, model_id: str, chunk_ids: Collection[str]) -> dict[str, np.ndarray]:
        """Vectors of `chunk_ids` found in any of the model's staging tables."""
        wanted = pa.array(list(set(chunk_ids)), pa.string())
        found: dict[str, np.ndarray] = {}
        for name in self._staged_tables(model_id):
            rows = self.db.open_table(name).to_arrow()
            rows = rows.filter(pc.is_in(rows.column("chunk_id"), value_set=wanted))
            if rows.num_rows:
                vectors = rows.column("vector").combine_chunks().flatten().to_numpy()
                vectors = vectors.reshape(rows.num_rows, -1)
                found.update(zip(rows.column("chunk_id").to_pylist(), vectors, strict=True))
        return found

    def drop_staged(self, model_id: str) -> list[str]:
        """Drop the model's staging tables (after their vectors were committed)."""
        names = self._staged_tables(model_id)
        for name in names:
            self.db.drop_table(name)
        return names

    def _staged_tables(self, model_id: str) -> list[str]:
        pattern = re.compile(rf"staged_{re.escape(table_name(model_id))}_\d+_of_\d+")
        names: list[str] = []
        page_token = None
        while True:
            page = self.db.list_tables(page_token=page_token)
            names.extend(n for n in page.tables if pattern.fullmatch(n))
            page_token = page.page_token
            if not page_token:
                return sorted(names)

    def _attack_table(self, model_id: str):
        try:
            return self.db.open_table(attack_table_name(model_id))
        except ValueError:  # lancedb's "Table '…' was not found"
            return None
