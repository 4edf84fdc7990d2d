#!/usr/bin/env python
"""Fine-tune a YOLO detector on degraded (+ super-resolved) COCO training images: the alternative lever to SR.

    # YOLO11n (shared OpenVINO export, rebuilt trainable) on bicubic x4 inputs of coco_train160:
    python pipelines/adapt_detector.py --detector ../shared/weights/yolo11n_int8_openvino_model \\
        --scale 4 --sr bicubic --epochs 30 --imgsz 640 --batch 8 --out runs/adapt/yolo11n_bicubic_x4
    # the same detector adapted to an SR model's output:
    python pipelines/adapt_detector.py --detector ../shared/weights/yolo11n_int8_openvino_model --sr espcn ...

Runs ``sr4det adapt-detector`` (the same options; see sr4det/training/adapt_detector.py for what happens). Writes
``OUT/adapted.pt`` (``UltralyticsDetector("OUT/adapted.pt")`` loads it) and ``OUT/adapted.json`` (command, epochs,
wall time, seconds per epoch, digests). The data default is ``../shared/data/coco_train160`` (never coco128, the
evaluation set).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from sr4det.cli import main as sr4det_main

    argv = sys.argv[1:] if argv is None else argv
    return sr4det_main(["adapt-detector", *argv])


if __name__ == "__main__":
    sys.exit(main())
