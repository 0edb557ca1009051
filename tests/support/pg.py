"""A fresh PostgreSQL database for one test on the test server, dropped afterwards.

The server comes from `LLMOPS_TEST_PG_URL` (default: the local one). Without a server the test
is skipped, except under `CI=true`, where it fails.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import pytest
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("LLMOPS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pg_connect(url: str):
    """A psycopg2 connection to `url` (whatever driver the URL names)."""
    return psycopg2.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


@contextmanager
def fresh_database(prefix: str = "llmops_test") -> Iterator[str]:
    """A new database `<prefix>_<hex>`; its URL names psycopg2, as DAGSTER_PG_URL must (see
    deploy/dagster.yaml) and LLMOPS_DATABASE_URL may."""
    try:
        admin = pg_connect(PG_URL)
    except psycopg2.OperationalError as exc:
        reason = f"PostgreSQL at {make_url(PG_URL)!r} does not answer: {' '.join(str(exc).split())}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    admin.autocommit = True
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(PG_URL).set(drivername="postgresql+psycopg2", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
