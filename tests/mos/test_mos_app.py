"""The rating API through Flask's test client: the happy path, blindness, and every bad request (4xx, nothing changes)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from sr4det.mos import Study, create_app, create_study

pytest.importorskip("flask")


def snapshot(db: Path) -> tuple:
    """Everything a request could change."""
    conn = sqlite3.connect(db)
    try:
        return (
            conn.execute("SELECT id, name FROM raters ORDER BY id").fetchall(),
            conn.execute("SELECT id, rater_id, image_id, score, created FROM ratings ORDER BY id").fetchall(),
            conn.execute("SELECT id, sha256 FROM images ORDER BY id").fetchall(),
        )
    finally:
        conn.close()


def _png_chunks(data: bytes) -> set[bytes]:
    kinds, pos = set(), 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kinds.add(data[pos + 4 : pos + 8])
        pos += 12 + length
    return kinds


@pytest.fixture
def client(study):
    app = create_app(study)
    app.testing = True
    return app.test_client()


def register(client, name):
    r = client.post("/api/raters", json={"name": name})
    assert r.status_code in (200, 201), r.json
    return r.json


def rate_all(client, name, score=lambda i: 3):
    state = register(client, name)
    seen = []
    while state["next"] is not None:
        image = state["next"]["id"]
        seen.append(image)
        r = client.post("/api/ratings", json={"rater": name, "image": image, "score": score(image)})
        assert r.status_code == 201, r.json
        assert r.json["saved"] is True
        assert r.json["done"] == len(seen)
        state = r.json
    return seen, state


def test_page_and_static_files(client):
    r = client.get("/")
    assert r.status_code == 200
    assert b'id="image"' in r.data
    assert b"app.js" in r.data
    assert client.get("/static/app.js").status_code == 200
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_register_resume_and_rate_everything_once(client, study):
    first = register(client, "Ann")
    assert first["created"] is True
    assert first["total"] == 12
    assert first["done"] == 0
    again = client.post("/api/raters", json={"name": "  ann "})  # case and spaces do not make a new rater
    assert again.status_code == 200
    assert again.json["created"] is False
    assert again.json["rater"] == "ann"
    assert Study(study).counts()["raters"] == 1
    seen, last = rate_all(client, "Ann", score=lambda i: 1 + i % 5)
    assert sorted(seen) == sorted(Study(study).image_ids())  # every image exactly once
    assert last["next"] is None
    assert last["done"] == last["total"] == 12
    rows = snapshot(study)[1]
    assert len(rows) == 12
    assert {(r[2], r[3]) for r in rows} == {(i, 1 + i % 5) for i in seen}
    assert client.get("/api/next", query_string={"rater": "Ann"}).json == {"total": 12, "done": 12, "next": None}


def test_order_is_seeded_per_rater_and_resumes_without_repeats(client, study):
    s = Study(study)
    orders = {}
    for name in ("r1", "r2", "r3"):
        rid, _ = s.add_rater(name)
        orders[name] = s.assignment(rid)
        assert s.assignment(rid) == orders[name]  # stable
    assert len({tuple(o) for o in orders.values()}) == 3  # different raters, different orders
    state = register(client, "r1")
    shown = []
    for _ in range(5):
        shown.append(state["next"]["id"])
        state = client.post("/api/ratings", json={"rater": "r1", "image": shown[-1], "score": 4}).json
    assert shown == orders["r1"][:5]
    # leave and come back (a new client, as after closing the browser): continues at the 6th image
    app2 = create_app(study)
    resumed = app2.test_client().post("/api/raters", json={"name": "R1"}).json
    assert resumed["done"] == 5
    assert resumed["next"]["id"] == orders["r1"][5]


def test_method_is_never_revealed(client, study):
    page = client.get("/").get_data(as_text=True)
    state = register(client, "blind")
    texts = [page, str(state)]
    while state["next"]:
        img = client.get(state["next"]["url"])
        assert img.status_code == 200
        assert img.mimetype == "image/png"
        assert img.data[:8] == b"\x89PNG\r\n\x1a\n"
        assert _png_chunks(img.data) <= {b"IHDR", b"IDAT", b"IEND"}  # no text/metadata chunk that could name the method
        state = client.post("/api/ratings", json={"rater": "blind", "image": state["next"]["id"], "score": 2}).json
        texts.append(str(state))
    for text in texts:
        for method in ("bilinear", "tiny", "bicubic"):
            assert method not in text


def test_double_submit_keeps_one_row(client, study):
    state = register(client, "dbl")
    payload = {"rater": "dbl", "image": state["next"]["id"], "score": 5}
    assert client.post("/api/ratings", json=payload).status_code == 201
    before = snapshot(study)
    r = client.post("/api/ratings", json={**payload, "score": 1})
    assert r.status_code == 409
    assert "already rated" in r.json["error"]
    assert snapshot(study) == before
    assert len(before[1]) == 1
    assert before[1][0][3] == 5


BAD_RATINGS = [
    ({"score": 0}, 400, "score must be an integer from 1 to 5"),
    ({"score": 6}, 400, "score must be an integer from 1 to 5"),
    ({"score": -3}, 400, "score must be an integer from 1 to 5"),
    ({"score": 3.5}, 400, "score must be an integer"),
    ({"score": 3.0}, 400, "score must be an integer"),
    ({"score": "3"}, 400, "score must be an integer"),
    ({"score": True}, 400, "score must be an integer"),
    ({"score": None}, 400, "score must be an integer"),
    ({"score": [3]}, 400, "score must be an integer"),
    ({"score": "DROP"}, 400, "score must be an integer"),
    ({"image": 99999}, 404, "unknown image"),
    ({"image": 0}, 404, "unknown image"),
    ({"image": -1}, 404, "unknown image"),
    ({"image": 10**30}, 404, "unknown image"),
    ({"score": 10**30}, 400, "score must be an integer from 1 to 5"),
    ({"image": "1"}, 400, "image must be an integer"),
    ({"image": "../study.sqlite"}, 400, "image must be an integer"),
    ({"image": None}, 400, "image must be an integer"),
    ({"image": True}, 400, "image must be an integer"),
    ({"image": 1.0}, 400, "image must be an integer"),
    ({"rater": "nobody"}, 404, "unknown rater"),
    ({"rater": ""}, 400, "rater name"),
    ({"rater": 12}, 400, "rater name"),
    ({"rater": None}, 400, "rater name"),
    ({"rater": "x" * 65}, 400, "rater name"),
    ({"rater": "ann\nbob"}, 400, "rater name"),
    ({"rater": "ann\u202ebob"}, 400, "U+202E"),  # right-to-left override: displays as another name
    ({"rater": "ann\u200bbob"}, 400, "U+200B"),  # zero-width space
    ({"rater": "ann\x85bob"}, 400, "U+0085"),  # C1 control (NEL)
]


@pytest.mark.parametrize(
    "change, status, message", BAD_RATINGS, ids=[f"{list(c)[0]}={c[list(c)[0]]!r}"[:40] for c, _, _ in BAD_RATINGS]
)
def test_bad_rating_is_refused_and_changes_nothing(client, study, change, status, message):
    state = register(client, "ok")
    payload = {"rater": "ok", "image": state["next"]["id"], "score": 3, **change}
    before = snapshot(study)
    r = client.post("/api/ratings", json=payload)
    assert r.status_code == status, r.json
    assert message in r.json["error"]
    assert r.json["status"] == status
    assert snapshot(study) == before


@pytest.mark.parametrize("drop", ["rater", "image", "score"])
def test_missing_field(client, study, drop):
    state = register(client, "ok")
    payload = {"rater": "ok", "image": state["next"]["id"], "score": 3}
    del payload[drop]
    before = snapshot(study)
    r = client.post("/api/ratings", json=payload)
    assert r.status_code == 400
    assert drop in r.json["error"]
    assert snapshot(study) == before


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": "score=3&image=1&rater=ok", "content_type": "application/x-www-form-urlencoded"},
        {"data": "{not json", "content_type": "application/json"},
        {"data": "[1, 2, 3]", "content_type": "application/json"},
        {"data": '"text"', "content_type": "application/json"},
        {"data": "", "content_type": "application/json"},
    ],
    ids=["form", "broken-json", "list", "string", "empty"],
)
def test_malformed_bodies(client, study, kwargs):
    register(client, "ok")
    before = snapshot(study)
    for url in ("/api/ratings", "/api/raters"):
        r = client.post(url, **kwargs)
        assert r.status_code == 400
        assert "JSON object" in r.json["error"]
    assert snapshot(study) == before


def test_oversized_body(client, study):
    before = snapshot(study)
    r = client.post("/api/raters", json={"name": "a", "pad": "x" * 100_000})
    assert r.status_code == 413
    assert r.is_json
    assert snapshot(study) == before


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "a\tb", None, 5, ["a"]])
def test_bad_rater_names(client, study, name):
    before = snapshot(study)
    r = client.post("/api/raters", json={"name": name})
    assert r.status_code == 400
    assert "rater name" in r.json["error"]
    assert snapshot(study) == before


def test_next_needs_a_known_rater(client, study):
    before = snapshot(study)
    assert client.get("/api/next").status_code == 400
    r = client.get("/api/next", query_string={"rater": "ghost"})
    assert r.status_code == 404
    assert "unknown rater" in r.json["error"]
    assert snapshot(study) == before


def test_image_not_assigned_to_rater(tmp_path, mos_inputs):
    db = create_study(mos_inputs["hr"], tmp_path / "s.sqlite", methods="bilinear", images_per_rater=2, seed=1, progress=False)
    client = create_app(db).test_client()
    state = register(client, "sub")
    assert state["total"] == 2
    mine = set(Study(db).assignment(Study(db).get_rater("sub")))
    other = next(i for i in Study(db).image_ids() if i not in mine)
    before = snapshot(db)
    r = client.post("/api/ratings", json={"rater": "sub", "image": other, "score": 3})
    assert r.status_code == 403
    assert "not assigned" in r.json["error"]
    assert snapshot(db) == before


TRAVERSALS = [
    "/image/../study.sqlite",
    "/image/..%2fstudy.sqlite",
    "/image/%2e%2e%2fstudy.sqlite",
    "/image/1.png/../../study.sqlite",
    "/image/-1.png",
    "/image/1.jpg",
    "/image/1",
    "/image/0x1.png",
    "/image/99999.png",
    "/image/99999999999999999999999999.png",
    "/image/%2Fetc%2Fpasswd",
    "/static/../app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e/storage.py",
    "/static/..%5capp.py",
    "/static//etc/passwd",
    "/templates/index.html",
    "/study.sqlite",
    "/etc/passwd",
]


@pytest.mark.parametrize("url", TRAVERSALS)
def test_urls_reach_only_the_studys_images(client, study, url):
    r = client.get(url, follow_redirects=True)  # werkzeug merges "//" by a redirect; where it lands counts
    assert r.status_code == 404
    assert r.is_json
    assert r.json["error"]
    assert b"SQLite format" not in r.data
    assert b"import " not in r.data
    assert b"root:" not in r.data


def test_wrong_methods_are_refused(client):
    assert client.get("/api/ratings").status_code == 405
    assert client.delete("/image/1.png").status_code == 405
    assert client.put("/api/raters", json={"name": "x"}).status_code == 405


def test_concurrent_raters_and_racing_double_submits(study):
    """Four raters at once, plus two threads submitting the same (rater, image) pairs: one row each, no loss."""
    app = create_app(study)
    errors: list[str] = []
    total = len(Study(study).image_ids())

    def rater(name: str) -> None:
        try:
            rate_all(app.test_client(), name, score=lambda i: 1 + (i * 7) % 5)
        except AssertionError as exc:  # pragma: no cover - reported below
            errors.append(f"{name}: {exc}")

    threads = [threading.Thread(target=rater, args=(f"p{k}",)) for k in range(4)]
    # the racers: both submit every image of one rater; exactly one of each pair may win
    s = Study(study)
    rid, _ = s.add_rater("racer")
    order = s.assignment(rid)
    outcomes: list[int] = []
    lock = threading.Lock()

    def racer() -> None:
        c = app.test_client()
        for image in order:
            code = c.post("/api/ratings", json={"rater": "racer", "image": image, "score": 4}).status_code
            with lock:
                outcomes.append(code)

    threads += [threading.Thread(target=racer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(outcomes) == [201] * total + [409] * total
    conn = sqlite3.connect(study)
    per_rater = dict(
        conn.execute("SELECT r.name, COUNT(*) FROM ratings t JOIN raters r ON r.id = t.rater_id GROUP BY r.name").fetchall()
    )
    dupes = conn.execute(
        "SELECT COUNT(*) FROM (SELECT rater_id, image_id FROM ratings GROUP BY 1, 2 HAVING COUNT(*) > 1)"
    ).fetchone()[0]
    conn.close()
    assert per_rater == {**{f"p{k}": total for k in range(4)}, "racer": total}
    assert dupes == 0


def test_database_rejects_invalid_rows_itself(study):
    """The CHECK/UNIQUE constraints stand even if a future caller forgets to validate."""
    s = Study(study)
    rid, _ = s.add_rater("direct")
    image = s.image_ids()[0]
    for bad in (0, 6, 2.5, "x", None):
        with pytest.raises(sqlite3.IntegrityError):
            s.add_rating(rid, image, bad)
    assert s.add_rating(rid, image, 3) is True
    assert s.add_rating(rid, image, 4) is False
    with pytest.raises(sqlite3.IntegrityError):
        s.add_rating(rid, 99999, 3)  # foreign key
    other, _ = s.add_rater("other")
    conn = sqlite3.connect(study)
    conn.execute("DELETE FROM assignments WHERE rater_id = ? AND image_id = ?", (other, image))
    conn.commit()
    conn.close()
    with pytest.raises(sqlite3.IntegrityError):
        s.add_rating(other, image, 3)  # not assigned to that rater
    assert s.counts()["ratings"] == 1


# ------------------------------------------------------------------------------------------------ issue 12 leftovers


def test_rater_names_are_caseless_beyond_ascii(client, study):
    first = client.post("/api/raters", json={"name": "ÉMILE"})
    assert first.status_code == 201
    again = client.post("/api/raters", json={"name": "émile"})
    assert again.status_code == 200
    assert again.json["created"] is False
    assert client.post("/api/raters", json={"name": "Straße"}).status_code == 201
    assert client.post("/api/raters", json={"name": "STRASSE"}).status_code == 200  # casefold, not lower()
    assert client.get("/api/next", query_string={"rater": "émile"}).status_code == 200
    assert Study(study).get_rater("émile") == Study(study).get_rater("ÉMILE") is not None
    assert client.post("/api/raters", json={"name": "Emile"}).status_code == 201  # accents still tell names apart


@pytest.mark.parametrize("payload", ["[" * 3000 + "]" * 3000, '{"name": ' + "[" * 3000 + "]" * 3000 + "}"])
def test_deeply_nested_json_is_a_400_json_error(client, study, payload):
    for url in ("/api/raters", "/api/ratings"):
        r = client.post(url, data=payload, content_type="application/json")
        assert r.status_code == 400
        assert r.is_json
        assert "nested too deeply" in r.json["error"]
    assert Study(study).counts()["ratings"] == 0


def test_ipv6_loopback_server_answers_its_own_requests(study):
    from sr4det.mos.app import LOOPBACK_HOSTS, _url_host

    app = create_app(study, trusted_hosts=LOOPBACK_HOSTS)
    app.testing = True
    c = app.test_client()
    for host in ("[::1]:8765", "[::1]", "127.0.0.1:8765", "localhost", "LOCALHOST:1"):
        assert c.get("/", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "[::2]:8765", "evil.example:80", "::1"):
        r = c.post("/api/raters", json={"name": "x"}, headers={"Host": host})
        assert r.status_code == 400, host
        assert r.is_json, host
    assert _url_host("::1") == "[::1]"
    assert _url_host("127.0.0.1") == "127.0.0.1"
