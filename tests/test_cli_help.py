"""Every subcommand's parser: descriptions, help and shown defaults for every option, the same names for the
same things."""

from __future__ import annotations

import argparse

import pytest

from sr4det.cli import build_parser


def _parsers(parser=None, path=()):
    parser = parser or build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _parsers(sub, (*path, name))


PARSERS = dict(_parsers())


def _options(parser):
    return [
        a
        for a in parser._actions
        if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) and a.help != argparse.SUPPRESS
    ]


def test_the_walk_finds_every_command():
    assert {("compare",), ("detect",), ("upscale",), ("mos", "create"), ("mos", "serve"), ("mos", "report")} <= set(PARSERS)


@pytest.mark.parametrize("path", sorted(PARSERS), ids=" ".join)
def test_every_option_has_help_and_every_command_a_description(path):
    parser = PARSERS[path]
    assert parser.description, f"sr4det {' '.join(path)} has no description"
    assert parser.description.strip(), f"sr4det {' '.join(path)} has no description"
    for action in _options(parser):
        assert action.help, f"sr4det {' '.join(path)} {action.option_strings or action.dest}: no help"
        assert action.help.strip(), f"sr4det {' '.join(path)} {action.option_strings or action.dest}: no help"


@pytest.mark.parametrize("path", sorted(PARSERS), ids=" ".join)
def test_help_shows_every_default(path):
    parser = PARSERS[path]
    text = " ".join(parser.format_help().split())
    for action in _options(parser):
        if action.default is None or action.default is False or not action.option_strings or action.required:
            continue
        helptext = parser._get_formatter()._expand_help(action) if action.help else ""
        full = parser.formatter_class(parser.prog)._get_help_string(action) % {**vars(action), "default": action.default}
        assert "default" in full.lower(), (
            f"sr4det {' '.join(path)} {action.option_strings[0]}: default {action.default!r} not shown"
        )
        assert " ".join(helptext.split())[:20] in text


def test_the_same_things_have_the_same_names():
    for path, parser in PARSERS.items():
        flags = {s for a in parser._actions for s in a.option_strings}
        dests = {a.dest: a for a in parser._actions}
        if "scale" in dests:
            assert {"--scale", "-s"} <= flags, path
        if "device" in dests:
            assert "--device" in flags, path
        for name in ("blur_sigma", "noise_std", "jpeg_quality"):
            if name in dests:
                assert f"--{name.replace('_', '-')}" in flags, (path, name)
        for out in ("out", "output"):
            if out in dests and dests[out].option_strings:
                assert {"-o", "--output"} <= flags, path
    for path in [("compare",), ("detect",), ("upscale",), ("evaluate-sr",), ("materialize",), ("mos", "create")]:
        assert "--quiet" in {s for a in PARSERS[path]._actions for s in a.option_strings}, path
