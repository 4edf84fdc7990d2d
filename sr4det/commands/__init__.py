"""CLI subcommands: each module here defines ``add_parser(subparsers)`` and is discovered by ``sr4det.cli``."""
