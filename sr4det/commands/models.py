"""``sr4det models``: the zoo as a table."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ._common import add_switch

if TYPE_CHECKING:
    from ..models.card import ModelCard


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list the SR model zoo", description="List the SR model zoo: scales, parameters, weights.")
    add_switch(p, "--json", "machine-readable output")
    p.set_defaults(func=run)


def _built_card(name: str, scale: int) -> ModelCard:
    """The card of the network ``create_model(name, scale, pretrained=True)`` builds: with the width/depth options of
    the shipped weight file where there is one (they may differ from the architecture's defaults), else the defaults
    (published weights, fetched on first use, are the architecture's published configuration)."""
    from ..models import build_network, get_card
    from ..models.factory import read_weights_for
    from ..models.weights import shipped_weights

    path = shipped_weights(get_card(name), scale)
    kwargs = read_weights_for(path, name, scale).kwargs if path is not None else {}
    return build_network(name, scale, **kwargs)[1]


def _rows() -> list[dict]:
    from ..models import get_card, list_models
    from ..models.weights import shipped_weights

    rows = []
    for name in list_models():
        card = get_card(name)
        scale = 4 if 4 in card.scales else card.scales[0]
        built = _built_card(name, scale)
        shipped = [s for s in card.scales if shipped_weights(card, s)]
        if card.upsampling == "none":
            weights = "not needed"
        else:
            parts = ([f"shipped x{','.join(map(str, shipped))}"] if shipped else []) + (
                [f"download x{','.join(map(str, sorted(card.published)))}"] if card.published else []
            )
            weights = "; ".join(parts) or "none (train or pass weights=)"
        rows.append(
            {
                "name": name,
                "scales": list(card.scales),
                "input": card.input_space,
                "upsampling": card.upsampling,
                f"params_x{scale}": built.params,
                "receptive_field": built.receptive_field,
                "non_local": card.non_local,
                "objective": card.objective + (f" ({card.trained_with})" if card.trained_with else ""),
                "degradations": card.degradations if card.upsampling != "none" else "n/a",
                "weights": weights,
                "weights_params": {f"x{s}": built.params if s == scale else _built_card(name, s).params for s in shipped},
            }
        )
    return rows


def run(args: argparse.Namespace) -> int:
    rows = _rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = (
        f"{'name':<10} {'scales':<10} {'input':<5} {'upsample':<8} {'params':>10} {'RF':>4}  {'objective':<19} {'LR':<7} weights"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        params = next(v for k, v in r.items() if k.startswith("params"))
        print(
            f"{r['name']:<10} {','.join(map(str, r['scales'])):<10} {r['input']:<5} {r['upsampling']:<8} "
            f"{params:>10,} {str(r['receptive_field']) + ('*' if r['non_local'] else ''):>4}  {r['objective']:<19} {r['degradations'].split(' ')[0]:<7} {r['weights']}"
        )
    print(
        "\nparams and RF of the network pretrained=True loads (the shipped weights' configuration), at x4 (or the\n"
        "smallest scale); RF = receptive-field radius in LR pixels (exact-tiling overlap);\n"
        "* = not local (image-wide attention or pooling): tiles are blended, not exact; objective = what the\n"
        "pretrained weights were optimised for (pixel = PSNR; detection = through the named detector); LR = the\n"
        "low-resolution inputs they were trained on (clean = MATLAB bicubic; random = sr4det.degradation.RandomDegradation)"
    )
    return 0
