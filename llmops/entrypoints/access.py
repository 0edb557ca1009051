"""API keys of the HTTP service: minting, hashing and scopes (each key's rate limit and daily
budget are enforced through the metadata store, so every replica shares them).

A key's secret is shown once, at creation; the store keeps only its SHA-256. The secret is 32
random bytes, so brute force is out of reach and a slow password hash (scrypt, PBKDF2) would
only add latency to every request; a fast hash also lets the service look a key up by its hash.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from llmops.errors import InputError
from llmops.storage.metadata.records import ApiKey, QueryRecord

QUERY = "query"
ADMIN = "admin"
SECRET_PREFIX = "llmops_"
DEFAULT_RATE_LIMIT = 60


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def mint(
    name: str,
    admin: bool = False,
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT,
    daily_budget_usd: float | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its secret (which is not stored anywhere)."""
    if not name.strip():
        raise InputError("NAME is empty: name the key after who or what uses it")
    if rate_limit_per_minute < 1:
        raise InputError(
            f"--rate-limit must be ≥ 1 request per minute, got {rate_limit_per_minute}"
        )
    if daily_budget_usd is not None and not daily_budget_usd >= 0:
        raise InputError(f"--daily-budget must be an amount of USD ≥ 0, got {daily_budget_usd}")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=secrets.token_hex(8),
        name=name.strip(),
        prefix=secret[: len(SECRET_PREFIX) + 6],
        hash=digest(secret),
        scopes=[QUERY, ADMIN] if admin else [QUERY],
        rate_limit_per_minute=rate_limit_per_minute,
        daily_budget_usd=daily_budget_usd,
    )
    return key, secret


CREATE_KEY_HINT = (
    "create one with `llmops keys create NAME` (`--admin` for the admin routes) and send it as "
    "`Authorization: Bearer <key>` or `X-API-Key: <key>`"
)


@dataclass(frozen=True)
class Caller:
    """Who makes a request: an API key, or an anonymous caller (`key` None), which only
    `llmops serve --insecure-open` lets in and which is never an admin."""

    key: ApiKey | None

    @property
    def key_id(self) -> str | None:
        return self.key.id if self.key else None

    @property
    def admin(self) -> bool:
        return self.key is not None and ADMIN in self.key.scopes

    def can_see(self, record: QueryRecord) -> bool:
        """Admins see every query, a key only the queries it asked (anonymous callers: the
        anonymous queries)."""
        return self.admin or record.api_key_id == self.key_id
