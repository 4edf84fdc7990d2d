"""The ΔmAP evaluator: conditions (hr / lr / bicubic / SR models), COCO metrics, paired bootstrap, report.

from sr4det.data import load_dataset
from sr4det.detectors import UltralyticsDetector
from sr4det.evaluation import compare

results = compare(load_dataset("coco128/annotations/instances_train2017.json"),
                  UltralyticsDetector("yolo11n.pt"), sr=["bicubic", "espcn"], scale=4, out_dir="out")
"""

from .api import compare
from .cache import CompareCache
from .coco import (
    STAT_KEYS,
    CocoResult,
    DeltaResolution,
    ImageMatches,
    bootstrap_ap,
    bootstrap_weights,
    delta_resolution,
    evaluate,
    paired_delta_ci,
)
from .conditions import (
    Condition,
    Degradation,
    HRCondition,
    LRCondition,
    SRCondition,
    SRSpec,
    model_digest,
    run_sr,
    standard_conditions,
)
from .config import CompareConfig
from .multiplicity import bonferroni_level, bootstrap_p_value, holm
from .report import render_markdown, render_summary, write_report
from .result import CompareResult
from .runner import Comparison, default_cache_dir

__all__ = [
    "bonferroni_level",
    "bootstrap_p_value",
    "holm",
    "STAT_KEYS",
    "CocoResult",
    "CompareCache",
    "CompareConfig",
    "CompareResult",
    "Comparison",
    "Condition",
    "HRCondition",
    "LRCondition",
    "SRCondition",
    "Degradation",
    "ImageMatches",
    "SRSpec",
    "bootstrap_ap",
    "bootstrap_weights",
    "compare",
    "default_cache_dir",
    "evaluate",
    "model_digest",
    "paired_delta_ci",
    "delta_resolution",
    "DeltaResolution",
    "render_markdown",
    "render_summary",
    "run_sr",
    "standard_conditions",
    "write_report",
]
