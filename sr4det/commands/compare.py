"""``sr4det compare``: how much does SR before the detector change COCO mAP, and at what cost."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..evaluation import CompareConfig, render_summary

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="COCO mAP of hr / lr / bicubic / SR models through one detector, with bootstrap CIs and cost",
        description=(
            "HR images are mod-cropped to the scale; LR = MATLAB-bicubic x1/s (optionally blur, noise, JPEG). "
            "Conditions: hr, lr (given to the detector as is), bicubic, and each --sr model; an --sr entry "
            "SR@LABEL=DETECTOR (SR: a model, hr or lr) scores that input with its own detector as condition SR@LABEL. "
            "Detections are mapped to "
            "the HR frame and scored with pycocotools; deltas vs bicubic and vs lr carry paired bootstrap 95% CIs. "
            "Writes OUT/results.json, OUT/report.md and PNG plots. SR outputs and detections are cached by content. "
            "Under torchrun (torchrun --nproc_per_node N --no-python sr4det compare ...) the images are sharded over "
            "the processes and rank 0 evaluates and writes."
        ),
    )
    CompareConfig.add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.distributed import env_world_size
    from ._common import check_writable_dir

    config = CompareConfig.from_args(args)  # the shared options were checked while parsing
    check_writable_dir(config.out, "--out")
    results = config.run()
    if env_world_size() == 1 or os.environ.get("RANK", "0") == "0":
        print(render_summary(results))
        print(f"wrote {Path(config.out) / 'results.json'}, report.md and plots")
    return 0
