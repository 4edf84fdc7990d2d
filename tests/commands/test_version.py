"""``sr4det --version``."""

from __future__ import annotations

from importlib.metadata import version

import pytest

import sr4det
from sr4det.cli import main


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"sr4det {version('sr4det')}\n"
    assert sr4det.__version__ == version("sr4det")
