"""MOS studies: blind 1-5 ratings of SR outputs by people, stored in SQLite, reported with bootstrap CIs.

::

    from sr4det.mos import create_study, serve, mos_table
    create_study("hr_images/", "study.sqlite", scale=4, methods="bicubic,espcn,srgan")
    serve("study.sqlite")                    # http://127.0.0.1:8765/
    mos_table("study.sqlite")                # {"hr": {"mos": 4.6, "ci_low": ..., "ci_high": ..., "n": ...}, ...}

The web app needs Flask (``pip install 'sr4det[mos]'``); it is imported only by :func:`create_app`/:func:`serve`.
"""

from __future__ import annotations

from typing import Any

from .create import create_study, degrade, parse_methods, prepare_hr
from .report import format_report, mos_report, mos_table, plot_report, rater_agreement
from .storage import ANCHORS, Study

__all__ = [
    "ANCHORS",
    "Study",
    "create_app",
    "create_study",
    "degrade",
    "format_report",
    "mos_report",
    "mos_table",
    "parse_methods",
    "plot_report",
    "prepare_hr",
    "rater_agreement",
    "serve",
]


def create_app(db: Any, **kwargs: Any) -> Any:
    """The Flask app of a study (see :func:`sr4det.mos.app.create_app`)."""
    from .app import create_app as _create_app

    return _create_app(db, **kwargs)


def serve(db: Any, host: str = "127.0.0.1", port: int = 8765, **kwargs: Any) -> None:
    """Serve a study's rating page until interrupted (see :func:`sr4det.mos.app.serve`)."""
    from .app import serve as _serve

    return _serve(db, host, port, **kwargs)
