"""The blind-rating web app (Flask) and the server that runs it (waitress, else werkzeug's threaded server).

HTTP API (every error is JSON ``{"error": message, "status": code}`` and changes nothing)::

    GET  /                              the rating page
    POST /api/raters     {"name"}       register or resume a rater -> progress + first unrated image
    GET  /api/next?rater=NAME           progress + next unrated image (null when done)
    POST /api/ratings    {"rater", "image", "score"}   store one rating (committed before the reply)
                                        -> 201 with progress + next image
    GET  /image/<id>.png                an image of this study, by integer id only

Status codes: 400 malformed request or score (not an integer 1-5), 403 image not assigned to that rater,
404 unknown rater / image / URL, 409 already rated, 413 body too large.
The method of an image is never sent to the browser.
"""

from __future__ import annotations

import ipaddress
import re
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError
from .storage import Study

_RATER_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
#: Unicode categories refused in rater names: controls (C1 too), format (bidi overrides/isolates, zero-width joiners,
#: BOM), surrogates, private use, unassigned, line/paragraph separators
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
SCORE_LABELS = {1: "Bad", 2: "Poor", 3: "Fair", 4: "Good", 5: "Excellent"}
"""The ITU-R BT.500 absolute category rating scale, as in the SRGAN MOS test."""


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _flask():
    try:
        import flask
    except ImportError:  # pragma: no cover - flask is in the 'mos' extra
        raise MissingDependencyError("the MOS web app needs Flask: pip install 'sr4det[mos]'") from None
    return flask


def _rater_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ApiError(400, "rater name must be a string")
    name = unicodedata.normalize("NFC", value.strip())  # "é" typed composed or decomposed is one rater
    if not _RATER_RE.match(name):
        raise ApiError(400, "rater name must be 1-64 printable characters")
    hidden = [c for c in name if unicodedata.category(c) in _INVISIBLE]
    if hidden:  # bidi overrides, zero-width and other format/control characters: names that look like another
        raise ApiError(
            400,
            f"rater name must be 1-64 printable characters; it holds invisible or direction-changing characters "
            f"({', '.join(f'U+{ord(c):04X}' for c in hidden[:3])}): type the name without them",
        )
    return name


def _progress(study: Study, rater_id: int) -> dict[str, Any]:
    order = study.assignment(rater_id)
    rated = study.rated(rater_id)
    pending = [i for i in order if i not in rated]
    nxt = None
    if pending:
        img = study.image(pending[0])
        assert img is not None  # the assignment only lists images of this study
        nxt = {"id": img.id, "url": f"/image/{img.id}.png", "width": img.width, "height": img.height}
    return {"total": len(order), "done": len(order) - len(pending), "next": nxt}


LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"]


def _host_name(host_header: str) -> str:
    """The host of a ``Host`` header without its port, lower-case; IPv6 literals keep their brackets."""
    h = host_header.strip().lower()
    if h.startswith("["):
        end = h.find("]")
        return h[: end + 1] if end > 0 else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def _trusted_names(hosts: list[str]) -> set[str]:
    out = set()
    for h in hosts:
        h = h.strip().lower()
        try:
            if ipaddress.ip_address(h.strip("[]")).version == 6:
                h = f"[{h.strip('[]')}]"  # a Host header carries an IPv6 address in brackets
        except ValueError:
            pass
        out.add(h)
    return out


def create_app(db: str | Path, *, trusted_hosts: list[str] | None = None) -> Any:
    """The Flask application for the study in ``db`` (raises DataError if it is not a study).

    ``trusted_hosts``: accepted ``Host`` header names (any port); other hosts get 400. :func:`serve` passes
    the loopback names when bound to loopback, so a web page elsewhere cannot reach the study through
    DNS rebinding.
    """
    flask = _flask()
    here = Path(__file__).parent
    app = flask.Flask("sr4det.mos", template_folder=str(here / "templates"), static_folder=str(here / "static"))
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024  # a rating is a few bytes; refuse anything big
    app.json.sort_keys = False
    study = Study(db)
    app.config["SR4DET_STUDY"] = study
    # checked here, not with Flask's TRUSTED_HOSTS: werkzeug cannot match IPv6 literals ("[::1]:8765"), so a server
    # bound to ::1 refused its own requests
    _add_guards(app, flask, None if not trusted_hosts else _trusted_names(trusted_hosts))
    _add_routes(app, flask, study)
    return app


def _add_guards(app: Any, flask: Any, trusted: set[str] | None) -> None:
    """Errors as JSON ``{"error", "status"}``, the ``Host`` check (``trusted``: None accepts any host) and the
    security headers of every response."""
    from werkzeug.exceptions import HTTPException

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return flask.jsonify(error=exc.message, status=exc.status), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        message = exc.description or exc.name
        if exc.code == 404:  # werkzeug's default text talks about spelling; say what exists instead
            message = (
                f"not found: {flask.request.path} (this server has /, /api/raters, /api/next, /api/ratings and /image/<id>.png)"
            )
        return flask.jsonify(error=message, status=exc.code), exc.code

    @app.before_request
    def _check_host():
        if trusted is None:
            return None
        host = _host_name(flask.request.headers.get("Host", ""))
        if host not in trusted:
            raise ApiError(400, f"host {host!r} is not served here (this server answers to {', '.join(sorted(trusted))})")
        return None

    @app.after_request
    def _headers(resp):
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp


def _json_body(flask: Any) -> dict[str, Any]:
    """The request's JSON object; anything else is a 400."""
    try:
        data = flask.request.get_json(silent=True)
    except RecursionError:  # json.loads of deeply nested arrays/objects; not a ValueError, so not "silent"
        raise ApiError(400, "request body is nested too deeply; send a flat JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object (Content-Type: application/json)")
    return data


def _known_rater(study: Study, value: Any) -> int:
    """The id of a registered rater; 400 for a bad name, 404 for an unknown one."""
    name = _rater_name(value)
    rater_id = study.get_rater(name)
    if rater_id is None:
        raise ApiError(404, f"unknown rater {name!r}: register with POST /api/raters first")
    return rater_id


def _store_rating(study: Study, data: dict[str, Any]) -> tuple[int, int, int]:
    """Check a rating request (every field before anything is looked up or written) and store it; returns
    (rater id, image id, score)."""
    name, image, score = data.get("rater"), data.get("image"), data.get("score")
    _rater_name(name)
    if isinstance(image, bool) or not isinstance(image, int):
        raise ApiError(400, "image must be an integer image id")
    if isinstance(score, bool) or not isinstance(score, int):
        raise ApiError(400, f"score must be an integer from 1 to 5, got {score!r}")
    if not 1 <= score <= 5:
        raise ApiError(400, f"score must be an integer from 1 to 5, got {score}")
    rater_id = _known_rater(study, name)
    if not 0 < image < 2**63 or study.image(image) is None:  # SQLite integers are 64-bit
        raise ApiError(404, f"unknown image {image}")
    if image not in study.assignment(rater_id):
        raise ApiError(403, f"image {image} is not assigned to this rater")
    if not study.add_rating(rater_id, image, score):
        raise ApiError(409, f"image {image} is already rated by this rater; ratings cannot be changed")
    return rater_id, image, score


def _add_routes(app: Any, flask: Any, study: Study) -> None:
    """The page and the HTTP API of the module docstring."""

    @app.get("/")
    def index():
        meta = study.meta()
        return flask.render_template("index.html", labels=SCORE_LABELS, scale=meta.get("scale"))

    @app.post("/api/raters")
    def register():
        name = _rater_name(_json_body(flask).get("name"))
        rater_id, created = study.add_rater(name)
        return flask.jsonify(rater=name, created=created, **_progress(study, rater_id)), 201 if created else 200

    @app.get("/api/next")
    def next_image():
        return flask.jsonify(_progress(study, _known_rater(study, flask.request.args.get("rater"))))

    @app.post("/api/ratings")
    def rate():
        rater_id, image, score = _store_rating(study, _json_body(flask))
        return flask.jsonify(saved=True, image=image, score=score, **_progress(study, rater_id)), 201

    @app.get("/image/<int:image_id>.png")
    def image_png(image_id: int):
        png = study.image_png(image_id) if image_id < 2**63 else None  # SQLite integers are 64-bit
        if png is None:
            raise ApiError(404, f"unknown image {image_id}")
        resp = flask.Response(png, mimetype="image/png")
        resp.headers["Cache-Control"] = "private, max-age=3600"
        return resp


def _url_host(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    db: str | Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    threads: int = 8,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the study until interrupted. ``port=0`` picks a free port; ``on_ready(url)`` is called once listening.

    Uses waitress (a production WSGI server) when installed, else werkzeug's threaded server.
    Binds to loopback by default; any other host is reachable by other machines (a warning is printed).
    """
    app = create_app(db, trusted_hosts=LOOPBACK_HOSTS if _is_loopback(host) else None)
    if not _is_loopback(host):
        print(f"warning: serving on {host}: the study is reachable from other machines", file=sys.stderr)
    try:
        from waitress.server import create_server
    except ImportError:
        create_server = None
    if create_server is not None:
        server = create_server(app, host=host, port=port, threads=threads)
        url = f"http://{_url_host(host)}:{server.effective_port}/"
        run, close = server.run, server.close
    else:
        from werkzeug.serving import make_server

        server = make_server(host, port, app, threaded=True)
        url = f"http://{_url_host(host)}:{server.server_port}/"
        run, close = server.serve_forever, server.server_close
    if on_ready is not None:
        on_ready(url)
    try:
        run()
    except KeyboardInterrupt:
        pass
    finally:
        close()
