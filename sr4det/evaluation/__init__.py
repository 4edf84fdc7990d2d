"""The ΔmAP evaluator behind ``sr4det compare``: conditions (hr / lr / bicubic / SR models) through a detector,
COCO metrics, paired bootstrap deltas, cost, report.

The one Python entry point is :func:`compare` (ground truth and detector objects in, the results dict out)::

    from sr4det.data import load_dataset
    from sr4det.detectors import UltralyticsDetector
    from sr4det.evaluation import compare

    results = compare(load_dataset("coco128/annotations/instances_train2017.json"),
                      UltralyticsDetector("yolo11n.pt"), sr=["bicubic", "espcn"], scale=4, out_dir="out")

The CLI and YAML configs build a :class:`CompareConfig` (every option of ``sr4det compare``, paths in) and call
``CompareConfig.from_mapping(yaml_dict).run()``. What lives here (data path in ``docs/ARCHITECTURE.md``):

* ``api.py`` (:func:`compare`), ``config.py`` (:class:`CompareConfig`), ``settings.py`` (the frozen ``Settings``
  that flows through a run), ``_renamed.py`` (old option spellings, routed with a warning);
* ``runner.py`` (``Comparison``: the steps), ``shard.py`` (one rank's SR and detection), ``conditions.py``,
  ``condition_detectors.py``, ``native.py`` (what is compared), ``cache.py`` (content-addressed cache), ``_cost.py``
  (time and memory of a step), ``distributed.py`` (torchrun sharding);
* ``coco.py`` / ``bootstrap.py`` (COCO metrics, paired bootstrap), ``scoring.py`` (deltas, per-class AP),
  ``multiplicity.py`` (family-wise levels, p-values);
* ``result.py`` (:class:`CompareResult`, results.json), ``_records.py`` (what results.json records about the run),
  ``report.py`` / ``_report_sections.py`` / ``_breakdown.py`` / ``verdict.py`` / ``plots.py`` / ``examples.py``
  (report.md and figures), ``_outputs.py`` (output-folder checks).
"""

from .api import compare
from .cache import CompareCache, default_cache_dir
from .conditions import Condition, Degradation, HRCondition, LRCondition, SRCondition, SRSpec, standard_conditions
from .config import CompareConfig
from .report import render_markdown, render_summary, write_report
from .result import CompareResult

__all__ = [
    "CompareCache",
    "CompareConfig",
    "CompareResult",
    "Condition",
    "Degradation",
    "HRCondition",
    "LRCondition",
    "SRCondition",
    "SRSpec",
    "compare",
    "default_cache_dir",
    "render_markdown",
    "render_summary",
    "standard_conditions",
    "write_report",
]
