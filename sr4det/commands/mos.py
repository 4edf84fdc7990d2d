"""``sr4det mos create|serve|report``: run a blind MOS study."""

from __future__ import annotations

import argparse
import json
import sys

from .._options import OPTIONS
from ._common import add_degradation_args, add_hidden_alias, add_option, add_options, add_switch


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("mos", help="blind MOS studies: create, serve the rating page, report", description=__doc__)
    msub = parser.add_subparsers(dest="mos_command", required=True, metavar="ACTION")

    c = msub.add_parser(
        "create",
        help="build a study database from HR images and SR methods",
        description="Degrade the HR images, run every SR method on them and store the images of a blind "
        "study (hr and bicubic always included) in a new SQLite database.",
    )
    c.add_argument("--images", required=True, nargs="+", help="HR image folder(s) or files")
    c.add_argument("--db", required=True, help="SQLite file to create")
    add_option(c, "scale")
    c.add_argument(
        "--methods",
        default="bicubic",
        help="comma-separated zoo names, weight files, output folders, or NAME=... (hr and bicubic are always added)",
    )
    c.add_argument("--limit", type=int, default=None, help="use only the first N images")
    c.add_argument("--max-size", type=int, default=None, help="centre-crop HR images to at most this many pixels per side")
    c.add_argument(
        "--images-per-rater",
        type=int,
        default=None,
        help="each rater sees this many images (balanced: the least-assigned ones first)",
    )
    c.add_argument(
        "--order-seed",
        type=int,
        default=None,
        help="seed of the image ids and the raters' orders (default: random; stored in the study)",
    )
    add_degradation_args(c, seed=True)  # --seed: the LR noise's, as in compare (it was --noise-seed)
    add_hidden_alias(c, "--noise-seed", "seed", replaced_by="--seed", type=OPTIONS["seed"].kwargs["type"])
    add_options(c, "device", "overwrite", "quiet")  # --overwrite replaces an existing database
    add_hidden_alias(c, "--force", "overwrite", replaced_by="--overwrite", const=True)
    add_hidden_alias(c, "--no-progress", "quiet", replaced_by="--quiet", const=True)
    c.set_defaults(func=_create)

    s = msub.add_parser(
        "serve",
        help="serve the rating page",
        description="Serve the blind rating page of a study database over HTTP; ratings are stored in it.",
    )
    s.add_argument("--db", required=True, help="study database (sr4det mos create)")
    s.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback only)")
    s.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    s.add_argument("--request-threads", type=int, default=8, help="threads that handle HTTP requests")
    add_hidden_alias(s, "--threads", "request_threads", replaced_by="--request-threads", type=int)
    s.set_defaults(func=_serve)

    r = msub.add_parser(
        "report",
        help="MOS per method with bootstrap CIs and rater agreement",
        description="MOS (1-5) per method with bootstrap confidence intervals over raters and images, and "
        "the raters' agreement, from a study database.",
    )
    r.add_argument("--db", required=True, help="study database (sr4det mos create)")
    add_switch(r, "--json", "print JSON instead of a table")
    r.add_argument("--plot", default=None, help="save a bar chart (PNG/PDF/SVG)")
    r.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples")
    add_option(r, "seed")  # of the bootstrap
    r.add_argument("--level", type=float, default=0.95, help="confidence level of the intervals")
    r.set_defaults(func=_report)

    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _create(args: argparse.Namespace) -> int:
    from ..mos import Study, create_study
    from ._common import default_device, degradation_from_args

    degradation = degradation_from_args(args, args.scale)  # noise seeded by --seed

    path = create_study(
        args.images,
        args.db,
        scale=args.scale,
        methods=args.methods,
        limit=args.limit,
        max_size=args.max_size,
        images_per_rater=args.images_per_rater,
        seed=args.order_seed,
        device=default_device(args.device),
        overwrite=args.overwrite,
        progress=not args.quiet,
        degradation=degradation,
    )
    c = Study(path).counts()
    print(f"created {path}: {c['sources']} scenes x {c['methods']} methods = {c['images']} images")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from ..mos import serve

    def ready(url: str) -> None:
        print(f"serving MOS study {args.db} at {url} (Ctrl+C to stop)", flush=True)

    serve(args.db, args.host, args.port, threads=args.request_threads, on_ready=ready)
    return 0


def _report(args: argparse.Namespace) -> int:
    from ..mos import format_report, mos_report, plot_report

    report = mos_report(args.db, n_boot=args.n_boot, seed=args.seed, level=args.level)
    if args.plot:
        plot_report(report, args.plot)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print(format_report(report))
        if args.plot:
            print(f"\nplot: {args.plot}")
    return 0
