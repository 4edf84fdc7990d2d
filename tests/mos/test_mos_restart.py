"""A real server process: ratings survive SIGKILL, the rater resumes without repeats; raw HTTP traversal attempts."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from sr4det.mos import Study

from .serverproc import ServerProcess

pytest.importorskip("flask")


def _rows(db):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT r.name, t.image_id, t.score FROM ratings t JOIN raters r ON r.id = t.rater_id ORDER BY t.id"
        ).fetchall()
    finally:
        conn.close()


def test_kill_and_restart_loses_no_rating(study):
    order = None
    with ServerProcess(study) as server:
        status, state = server.request("POST", "/api/raters", {"name": "kim"})
        assert status == 201
        rated = []
        for k in range(5):
            image = state["next"]["id"]
            status, state = server.request("POST", "/api/ratings", {"rater": "kim", "image": image, "score": 1 + k % 5})
            assert status == 201, state
            rated.append((image, 1 + k % 5))
        shown_next = state["next"]["id"]
        server.kill()  # SIGKILL right after the 5th reply: no clean shutdown, no checkpoint
    assert [(i, s) for _, i, s in _rows(study)] == rated  # every answered rating is on disk
    s = Study(study)
    order = s.assignment(s.get_rater("kim"))
    assert [i for i, _ in rated] == order[:5]

    with ServerProcess(study) as server:
        status, state = server.request("POST", "/api/raters", {"name": "kim"})
        assert status == 200
        assert state["done"] == 5
        assert state["next"]["id"] == shown_next == order[5]
        # a rating already stored before the crash cannot be entered again
        status, err = server.request("POST", "/api/ratings", {"rater": "kim", "image": rated[0][0], "score": 5})
        assert status == 409
        seen = [i for i, _ in rated]
        while state["next"] is not None:
            seen.append(state["next"]["id"])
            status, state = server.request("POST", "/api/ratings", {"rater": "kim", "image": seen[-1], "score": 3})
            assert status == 201
        assert seen == order
        assert len(set(seen)) == len(seen) == 12
    assert len(_rows(study)) == 12


def test_two_raters_at_once_over_http_then_kill(study):
    with ServerProcess(study) as server:
        results: dict[str, list[int]] = {}

        def rater(name: str) -> None:
            status, state = server.request("POST", "/api/raters", {"name": name})
            seen = []
            while state["next"] is not None and len(seen) < 8:
                seen.append(state["next"]["id"])
                status, state = server.request("POST", "/api/ratings", {"rater": name, "image": seen[-1], "score": 2})
                assert status == 201
            results[name] = seen

        threads = [threading.Thread(target=rater, args=(n,)) for n in ("u1", "u2", "u3")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    rows = _rows(study)
    assert len(rows) == 24
    for name, seen in results.items():
        assert [i for n, i, _ in rows if n == name] == seen


RAW_PATHS = [
    "/image/../study.sqlite",
    "/image/..%2f..%2fstudy.sqlite",
    "/image/%2e%2e/%2e%2e/etc/passwd",
    "/static/../storage.py",
    "/static/..%2f..%2fmos%2fapp.py",
    "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/../../../../etc/passwd",
    "/image/1.png%00.sqlite",
    "/image/1.png/..",
]


def test_raw_traversal_requests_over_http(study):
    with ServerProcess(study) as server:
        for path in RAW_PATHS:
            status, body = server.request("GET", path)
            assert 400 <= status < 500, (path, status)
            raw = body if isinstance(body, bytes) else str(body).encode()
            assert b"SQLite format" not in raw, path
            assert b"root:" not in raw, path
            assert b"def " not in raw, path
        status, body = server.request("GET", "/image/1.png")
        assert status == 200
        assert body[:4] == b"\x89PNG"


def test_foreign_host_header_is_refused(study):
    """Bound to loopback, the server answers only to loopback host names (no DNS-rebinding access)."""
    before = _rows(study)
    with ServerProcess(study) as server:
        for host in ("evil.example", "evil.example:80", "192.168.1.5"):
            status, body = server.request("POST", "/api/raters", {"name": "x"}, headers={"Host": host})
            assert status == 400, (host, body)
            assert "host" in body["error"].lower(), (host, body)
            status, body = server.request("GET", "/image/1.png", headers={"Host": host})
            assert status == 400
        for host in ("localhost", f"127.0.0.1:{server.port}"):
            status, _ = server.request("GET", "/image/1.png", headers={"Host": host})
            assert status == 200
    assert _rows(study) == before
    assert Study(study).counts()["raters"] == 0
