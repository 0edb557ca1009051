"""The metadata store: one SQL database (SQLite by default, or PostgreSQL) behind
`client.MetadataClient`, a facade with one repository per domain.

`engine` opens the database and migrates it (Alembic scripts in `migrations/`), `rows` holds
the tables, `records` the frozen values and errors that cross the boundary, and each other
module one repository. Every repository method opens and closes its own transaction and
returns frozen records, so callers never hold a session.
"""
