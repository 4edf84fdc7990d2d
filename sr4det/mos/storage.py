"""SQLite storage of a MOS study: one file holds the images (PNG blobs), the raters and the ratings.

Keeping the images inside the database makes a study one portable file and means the web app never
touches the file system on a request: an image URL is an integer id looked up in this table, so no
path can reach anything else. Ratings are one row each, committed in their own transaction (WAL
journal, ``synchronous=FULL``) before the server answers, with ``UNIQUE(rater_id, image_id)`` so a
double submit cannot create a second row.

Schema (``study_meta.schema_version`` = 1)::

    study_meta(key TEXT PRIMARY KEY, value TEXT)             -- JSON values: scale, seed, created, ...
    methods(id, name UNIQUE, source, anchor)                 -- "hr" and "bicubic" are anchors
    sources(id, name UNIQUE, width, height)                  -- the HR scenes
    images(id, source_id, method_id, png BLOB, sha256, width, height, UNIQUE(source_id, method_id))
    raters(id, name UNIQUE COLLATE NOCASE, created)
    assignments(rater_id, position, image_id)                -- each rater's images in display order
    ratings(id, rater_id, image_id, score INTEGER CHECK(score BETWEEN 1 AND 5), created,
            UNIQUE(rater_id, image_id))

Image ids are assigned in a random order at creation, so an id says nothing about the method.
A rater's image order is drawn when they register (seeded by study seed and rater id) and stored.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import DataError

SCHEMA_VERSION = 1
ANCHORS = ("hr", "bicubic")
"""Methods every study contains: the original (upper anchor) and MATLAB bicubic (lower anchor)."""

_SCHEMA = """
CREATE TABLE study_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE methods (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    anchor INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id),
    method_id INTEGER NOT NULL REFERENCES methods(id),
    png BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    UNIQUE(source_id, method_id)
);
CREATE TABLE raters (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created TEXT NOT NULL
);
CREATE TABLE assignments (
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    position INTEGER NOT NULL,
    image_id INTEGER NOT NULL REFERENCES images(id),
    PRIMARY KEY (rater_id, position),
    UNIQUE (rater_id, image_id)
);
CREATE TABLE ratings (
    id INTEGER PRIMARY KEY,
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    image_id INTEGER NOT NULL REFERENCES images(id),
    score INTEGER NOT NULL CHECK (typeof(score) = 'integer' AND score BETWEEN 1 AND 5),
    created TEXT NOT NULL,
    UNIQUE(rater_id, image_id),
    -- a rating can only exist for an image assigned to that rater
    FOREIGN KEY (rater_id, image_id) REFERENCES assignments(rater_id, image_id)
);
"""


def _fold(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold()


def _find_rater(conn: sqlite3.Connection, name: str) -> int | None:
    """Rater id by caseless name. SQLite's NOCASE folds ASCII only, so the comparison is made here (raters are few)."""
    row = conn.execute("SELECT id FROM raters WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return int(row["id"])
    key = _fold(name)
    for r in conn.execute("SELECT id, name FROM raters ORDER BY id"):
        if _fold(r["name"]) == key:
            return int(r["id"])
    return None


def _rater_seed(study_seed: int, rater_id: int) -> int:
    """A rater's own seed: from the study seed and the rater id, so orders are reproducible per study."""
    return int.from_bytes(hashlib.sha256(f"{study_seed}:{rater_id}".encode()).digest()[:8], "little")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def connect(db: str | Path, *, must_exist: bool = True) -> sqlite3.Connection:
    """Open a study database with the settings every writer must use (WAL, FULL sync, FKs, busy wait).

    Raises:
        DataError: ``must_exist`` and the file is missing or is not an sr4det study.
    """
    db = Path(db)
    if must_exist and not db.is_file():
        raise DataError(f"MOS study not found: {db} (create one with `sr4det mos create`)")
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly what we write
    conn = sqlite3.connect(str(db), timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        if must_exist:  # before switching to WAL, so a foreign SQLite file is left exactly as it was
            _check_schema(conn, db)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed rating survives a power cut too, not only a killed process; ratings are rare writes
        conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise DataError(f"{db} is not an sr4det MOS study ({exc})") from None
    return conn


def _check_schema(conn: sqlite3.Connection, db: Path) -> None:
    row = conn.execute("SELECT value FROM study_meta WHERE key = 'schema_version'").fetchone()
    if row is None or json.loads(row["value"]) != SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"{db}: unsupported MOS study schema {row['value'] if row else None} (expected {SCHEMA_VERSION})"
        )


@contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on any exception)."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def init_schema(conn: sqlite3.Connection, meta: dict[str, Any]) -> None:
    """Create the tables of an empty database and store ``meta`` (JSON-serialisable values)."""
    with transaction(conn):
        for stmt in _SCHEMA.strip().split(";"):
            if stmt.strip():
                conn.execute(stmt)
        rows = {"schema_version": SCHEMA_VERSION, "created": _now(), **meta}
        conn.executemany("INSERT INTO study_meta(key, value) VALUES (?, ?)", [(k, json.dumps(v)) for k, v in rows.items()])


@dataclass(frozen=True)
class StudyImage:
    """One image of the study as the web app may see it: no method, no source name."""

    id: int
    width: int
    height: int


class Study:
    """Read and write access to one study database; safe to use from several threads and processes.

    Each call opens its own short-lived connection, so a Flask worker thread never shares one and a
    killed server leaves nothing half-written (every write is one transaction).
    """

    def __init__(self, db: str | Path):
        self.db = Path(db)
        connect(self.db).close()  # fail early on a missing or foreign file

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = connect(self.db, must_exist=False)
        try:
            yield conn
        finally:
            conn.close()

    # --- study content -------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        with self._conn() as conn:
            return {r["key"]: json.loads(r["value"]) for r in conn.execute("SELECT key, value FROM study_meta")}

    def image_ids(self) -> list[int]:
        """Every image id of the study, ascending."""
        with self._conn() as conn:
            return [r[0] for r in conn.execute("SELECT id FROM images ORDER BY id")]

    def image_png(self, image_id: int) -> bytes | None:
        """The PNG bytes of ``image_id``, or None if the study has no such image."""
        with self._conn() as conn:
            row = conn.execute("SELECT png FROM images WHERE id = ?", (image_id,)).fetchone()
        return None if row is None else bytes(row["png"])

    def image(self, image_id: int) -> StudyImage | None:
        with self._conn() as conn:
            row = conn.execute("SELECT id, width, height FROM images WHERE id = ?", (image_id,)).fetchone()
        return None if row is None else StudyImage(row["id"], row["width"], row["height"])

    # --- raters ----------------------------------------------------------------------------------
    def get_rater(self, name: str) -> int | None:
        """The id of rater ``name``, matched caselessly (Unicode: NFKC + casefold, so "ÉMILE" is "émile")."""
        with self._conn() as conn:
            return _find_rater(conn, name)

    def add_rater(self, name: str) -> tuple[int, bool]:
        """Register ``name`` (case-insensitive) if new, with their image order. Returns ``(rater_id, created)``.

        The order is drawn once and stored (table ``assignments``) in the same transaction as the rater, so
        it survives restarts. With ``images_per_rater`` set, each new rater gets the N images assigned least
        often so far (ties broken by the rater's seed), so subsets cover the study evenly.
        """
        meta = self.meta()
        per_rater = meta.get("images_per_rater")
        with self._conn() as conn, transaction(conn):
            found = _find_rater(conn, name)
            if found is not None:
                return found, False
            cur = conn.execute("INSERT INTO raters(name, created) VALUES (?, ?)", (name, _now()))
            assert cur.lastrowid is not None  # set by every successful INSERT
            rater_id = int(cur.lastrowid)
            rng = random.Random(_rater_seed(int(meta.get("seed", 0)), rater_id))
            ids = [r[0] for r in conn.execute("SELECT id FROM images ORDER BY id")]
            rng.shuffle(ids)
            if per_rater:
                counts = dict(conn.execute("SELECT image_id, COUNT(*) FROM assignments GROUP BY image_id").fetchall())
                ids = sorted(ids, key=lambda i: counts.get(i, 0))[: int(per_rater)]  # stable: ties keep the shuffle
                rng.shuffle(ids)
            conn.executemany(
                "INSERT INTO assignments(rater_id, position, image_id) VALUES (?, ?, ?)",
                [(rater_id, k, i) for k, i in enumerate(ids)],
            )
            return rater_id, True

    def assignment(self, rater_id: int) -> list[int]:
        """The image ids assigned to this rater, in the order they are shown."""
        with self._conn() as conn:
            return [
                r[0] for r in conn.execute("SELECT image_id FROM assignments WHERE rater_id = ? ORDER BY position", (rater_id,))
            ]

    def rated(self, rater_id: int) -> set[int]:
        with self._conn() as conn:
            return {r[0] for r in conn.execute("SELECT image_id FROM ratings WHERE rater_id = ?", (rater_id,))}

    def add_rating(self, rater_id: int, image_id: int, score: int) -> bool:
        """Insert one rating in its own committed transaction. Returns False if that pair is already rated.

        The caller validates ``score`` and the assignment; the table's CHECK and UNIQUE constraints are the
        last line of defence, so nothing invalid or duplicated can be stored even by a buggy caller.
        """
        with self._conn() as conn:
            try:
                with transaction(conn):
                    conn.execute(
                        "INSERT INTO ratings(rater_id, image_id, score, created) VALUES (?, ?, ?, ?)",
                        (rater_id, image_id, score, _now()),
                    )
            except sqlite3.IntegrityError as exc:
                if "UNIQUE" in str(exc):
                    return False
                raise
        return True

    def ratings(self) -> list[dict[str, Any]]:
        """Every rating with its rater, scene and method: ``{rater, source, method, score, image_id, created}``."""
        with self._conn() as conn:
            rows = conn.execute(
                """SELECT r.name AS rater, s.name AS source, m.name AS method, t.score, t.image_id, t.created
                   FROM ratings t JOIN raters r ON r.id = t.rater_id JOIN images i ON i.id = t.image_id
                   JOIN sources s ON s.id = i.source_id JOIN methods m ON m.id = i.method_id ORDER BY t.id"""
            ).fetchall()
        return [dict(r) for r in rows]

    def methods(self) -> list[dict[str, Any]]:
        with self._conn() as conn:
            return [dict(r) for r in conn.execute("SELECT name, source, anchor FROM methods ORDER BY id")]

    def counts(self) -> dict[str, int]:
        with self._conn() as conn:
            return {
                t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("methods", "sources", "images", "raters", "ratings")
            }
