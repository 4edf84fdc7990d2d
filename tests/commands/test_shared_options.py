"""One option set for every command: each shared option (sr4det/_options.py) has one help text and one validator, so
the same word means the same thing, and a bad value fails the same way, in every subcommand."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from sr4det._options import OPTIONS, OptionType, Switch
from sr4det.cli import build_parser, main
from sr4det.errors import InputError, ScaleError


def _parsers(parser=None, path=()):
    parser = parser or build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if not any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
                    yield (*path, name), sub
                yield from _parsers(sub, (*path, name))


PARSERS = dict(_parsers())

#: the required arguments of each command (the values are never used: a bad shared option fails while parsing)
REQUIRED = {
    ("upscale",): ["in.png", "-o", "out", "-m", "bicubic"],
    ("detect",): ["in.png", "--detector", "x.pt"],
    ("compare",): ["--data", "d.json", "--detector", "x.pt", "--out", "o"],
    ("materialize",): ["--data", "d.yaml", "-o", "o"],
    ("evaluate-sr",): ["-m", "bicubic", "--data", "d"],
    ("adapt-detector",): ["--detector", "x.pt", "--data", "d.json", "--out", "o"],
    ("export",): ["-m", "bicubic", "-o", "o"],
    ("models",): [],
    ("mos", "create"): ["--images", "i", "--db", "d.sqlite"],
    ("mos", "serve"): ["--db", "d.sqlite"],
    ("mos", "report"): ["--db", "d.sqlite"],
}

#: bad values of each validated shared option, with the typed error they raise
BAD = {
    "scale": [("3.5", ScaleError), ("0", ScaleError), ("-2", ScaleError), ("four", ScaleError)],
    "tile": [("0", InputError), ("abc", InputError), ("12.5", InputError)],
    "overlap": [("-1", InputError), ("x", InputError)],
    "max_memory": [("abc", InputError), ("0", InputError)],
    "threads": [("0", InputError), ("1.5", InputError)],
    "seed": [("x", InputError), ("1.5", InputError)],
    "device": [("banana", InputError)],
}


def _shared(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.dest in OPTIONS and a.help != argparse.SUPPRESS}


def test_every_command_has_its_required_arguments_listed():
    assert set(PARSERS) == set(REQUIRED), "add the new command's required arguments to REQUIRED"


@pytest.mark.parametrize("path", sorted(PARSERS), ids=" ".join)
def test_help_parses_and_shared_options_have_one_help_text(path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exc:
        build_parser().parse_args([*path, "--help"])
    assert exc.value.code == 0
    assert out.getvalue().startswith(f"usage: sr4det {' '.join(path)}")
    for dest, action in _shared(PARSERS[path]).items():
        assert action.help == OPTIONS[dest].help, (path, dest)
        assert tuple(action.option_strings[: len(OPTIONS[dest].flags)]) == OPTIONS[dest].flags, (path, dest)
        assert action.type is OPTIONS[dest].kwargs.get("type"), (path, dest)


def test_commands_share_the_options_the_issue_names():
    def has(path, dest):
        return dest in _shared(PARSERS[path])

    for path in [("upscale",), ("detect",), ("compare",), ("materialize",), ("evaluate-sr",), ("adapt-detector",)]:
        assert has(path, "scale") and has(path, "tile") and has(path, "device"), path
    for path in [("upscale",), ("detect",), ("compare",), ("materialize",), ("adapt-detector",), ("mos", "create")]:
        assert has(path, "overwrite") and has(path, "quiet"), path
    for path in [("compare",), ("materialize",), ("evaluate-sr",), ("adapt-detector",), ("mos", "create"), ("mos", "report")]:
        assert has(path, "seed"), path
    for path in [("upscale",), ("detect",), ("compare",), ("materialize",), ("evaluate-sr",)]:  # the SR runtime
        assert has(path, "backend") and has(path, "precision"), path
    assert has(("export",), "scale") and has(("mos", "create"), "scale")
    assert has(("materialize",), "threads") and has(("compare",), "threads") and has(("adapt-detector",), "threads")
    assert PARSERS[("materialize",)]._option_string_actions["-s"].dest == "scale"


def _cases():
    for path, parser in sorted(PARSERS.items()):
        for dest, action in sorted(_shared(parser).items()):
            if isinstance(action.type, OptionType):
                for value, error in BAD[dest]:
                    yield pytest.param(path, dest, value, error, id=f"{' '.join(path)} {dest}={value}")


@pytest.mark.parametrize(("path", "dest", "value", "error"), list(_cases()))
def test_a_bad_value_is_the_same_typed_error_in_every_command(path, dest, value, error, capsys):
    flag = OPTIONS[dest].flags[-1]
    with pytest.raises(error) as exc:
        OPTIONS[dest].kwargs["type"](value)  # the option's one validator
    message = str(exc.value)
    assert flag in message or dest == "tile"
    argv = [*path, *REQUIRED[path], f"{flag}={value}"]
    with pytest.raises(error, match="^" + __import__("re").escape(message) + "$"):
        build_parser().parse_args(argv)  # the parser lets the typed error through
    assert main(argv) == 2  # and the CLI prints it on one line, before any work
    assert capsys.readouterr().err == f"sr4det {' '.join(path)}: error: {message}\n"


def test_good_values_are_converted_once_while_parsing():
    args = build_parser().parse_args(["upscale", *REQUIRED[("upscale",)], "-s", "2", "--tile", "NONE", "--overlap", "3"])
    assert (args.scale, args.tile, args.overlap, args.max_memory) == (2, None, 3, None)
    args = build_parser().parse_args(["compare", *REQUIRED[("compare",)], "--tile", "64", "--seed", "7", "--threads", "2"])
    assert (args.tile, args.seed, args.threads) == (64, 7, 2)
    assert build_parser().parse_args(["evaluate-sr", *REQUIRED[("evaluate-sr",)]]).tile is None  # its default: none


@pytest.mark.parametrize("path", sorted(PARSERS), ids=" ".join)
def test_booleans_read_x_slash_no_x_with_the_flag_in_effect(path):
    parser = PARSERS[path]
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or action.nargs != 0 or isinstance(action, argparse._HelpAction):
            continue
        if path == ("compare",) and action.dest == "no_cache":  # the negative of --cache DIR
            continue
        assert isinstance(action, Switch), (path, action.option_strings)
        positive = action.option_strings[0]
        shown = positive if action.default else "--no-" + positive[2:]
        assert f"{positive}/--no-{positive[2:]}" in text, (path, positive)
        assert f"(default: {shown})" in text, (path, positive)
    assert "(default: True)" not in text and "(default: False)" not in text


def test_seed_shows_its_default():
    for path in [("compare",), ("materialize",), ("evaluate-sr",), ("mos", "create"), ("mos", "report")]:
        text = " ".join(PARSERS[path].format_help().split())
        assert "training (default: 0)" in text, path


def test_hidden_aliases_keep_the_old_spellings_working(capsys):
    parse = build_parser().parse_args

    def warned(old, new):
        err = capsys.readouterr().err
        assert f"warning: option '{old}' is deprecated; use {new}" in err, err

    args = parse(["materialize", *REQUIRED[("materialize",)], "--degrade", "2"])
    assert (args.scale, args.already_lr) == (2, False)
    warned("--degrade", "-s/--scale N (--degrade 0: --already-lr)")
    args = parse(["materialize", *REQUIRED[("materialize",)], "--degrade", "0", "--scale", "2"])
    assert (args.scale, args.already_lr) == (2, True)  # the images are already LR, SR x2 (as before)
    with pytest.raises(ScaleError, match="--degrade must be a positive integer"):
        parse(["materialize", *REQUIRED[("materialize",)], "--degrade", "-1"])
    create = ["mos", "create", *REQUIRED[("mos", "create")]]
    assert parse([*create, "--force"]).overwrite is True
    warned("--force", "--overwrite")
    assert parse([*create, "--noise-seed", "3"]).seed == 3
    warned("--noise-seed", "--seed")
    assert parse([*create, "--no-progress"]).quiet is True
    warned("--no-progress", "--quiet")
    assert parse(["mos", "serve", "--db", "d", "--threads", "3"]).request_threads == 3
    warned("--threads", "--request-threads")
    args = parse(create)
    assert (args.overwrite, args.seed, args.order_seed, args.quiet) == (False, 0, None, False)
    assert parse([*create, "--order-seed", "5", "--seed", "2"]).order_seed == 5
    assert "deprecated" not in capsys.readouterr().err
    for path, hidden in [(("materialize",), "--degrade"), (("mos", "create"), "--force"), (("mos", "create"), "--noise-seed")]:
        assert hidden not in PARSERS[path].format_help(), (path, hidden)
