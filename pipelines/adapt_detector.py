#!/usr/bin/env python
"""Fine-tune a YOLO detector on degraded (+ super-resolved) COCO training images: the alternative lever to SR.

    # YOLO11n (shared OpenVINO export, rebuilt trainable) on bicubic x4 inputs of coco_train160:
    python pipelines/adapt_detector.py --detector ../shared/weights/yolo11n_int8_openvino_model \\
        --scale 4 --sr bicubic --epochs 30 --imgsz 640 --batch 8 --out runs/adapt/yolo11n_bicubic_x4
    # the same detector adapted to an SR model's output:
    python pipelines/adapt_detector.py --detector ../shared/weights/yolo11n_int8_openvino_model --sr espcn ...

Runs ``sr4det adapt-detector`` (the same options; see sr4det/training/adapt_detector.py for what happens). Writes
``OUT/adapted.pt`` (``UltralyticsDetector("OUT/adapted.pt")`` loads it) and ``OUT/adapted.json`` (command, epochs,
wall time, seconds per epoch, digests). Beyond ``sr4det adapt-detector`` (which needs ``--data``), the data
default is ``coco_train160`` in the shared data folder (``$SR4DET_SHARED`` or ``../shared``; never coco128, the
evaluation set).
"""

from __future__ import annotations

import sys

DEFAULT_DATA = ("data", "coco_train160", "annotations", "instances_train2017.json")


def main(argv: list[str] | None = None) -> int:
    from sr4det.cli import main as sr4det_main

    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--data" or a.startswith("--data=") for a in argv) and not {"-h", "--help"} & set(argv):
        from _shared import shared_path  # pipelines/_shared.py

        data = shared_path(*DEFAULT_DATA)
        if data is None:
            print("adapt_detector.py: error: no --data given and ../shared/data/coco_train160 is not there", file=sys.stderr)
            return 2
        argv += ["--data", str(data)]
    return sr4det_main(["adapt-detector", *argv])


if __name__ == "__main__":
    sys.exit(main())
