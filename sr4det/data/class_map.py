"""Detector class index <-> dataset category id: :class:`ClassMap`, checked when built (by class names, by index or
by sorted category id)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .ground_truth import GroundTruth


def _norm(name: str) -> str:
    return " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())


@dataclass(frozen=True)
class ClassMap:
    """Detector class index <-> dataset category id, checked when built.

    Attributes:
        index_to_category: ``{detector index: category id}``; detector classes without a dataset category
            are absent (their detections are not evaluated and are counted as ``unmapped``).
    """

    index_to_category: Mapping[int, int]

    @property
    def category_to_index(self) -> dict[int, int]:
        return {c: i for i, c in self.index_to_category.items()}

    def map_labels(self, labels: np.ndarray) -> np.ndarray:
        """Category ids of detector labels (int64 (N,)); -1 where a label has no category."""
        lut = self.index_to_category
        return np.array([lut.get(int(v), -1) for v in np.asarray(labels).reshape(-1)], dtype=np.int64)

    @classmethod
    def build(cls, detector_names: Mapping[int, str], gt: GroundTruth, how: str = "names") -> ClassMap:
        """Build and check the mapping.

        Args:
            detector_names: ``{index: name}`` of the detector (``detector.names``).
            gt: the ground truth whose ``categories`` are mapped to.
            how: ``"names"`` (match class names, case/space-insensitive), ``"index"`` (index i -> category id i,
                YOLO data) or ``"sorted"`` (index i -> i-th smallest category id, the classic COCO-80 mapping).

        Raises:
            DataError: a category that occurs in the ground truth has no detector class, or names match ambiguously.
        """
        names = {int(k): str(v) for k, v in dict(detector_names).items()}
        cats = dict(gt.categories)
        if how == "names":
            by_name: dict[str, int] = {}
            for cid, cname in cats.items():
                if _norm(cname) in by_name:
                    raise DataError(f"category name {cname!r} occurs twice in {gt.source}; use class_map='sorted' or 'index'")
                by_name[_norm(cname)] = cid
            mapping = {i: by_name[_norm(n)] for i, n in names.items() if _norm(n) in by_name}
        elif how == "index":
            mapping = {i: i for i in names if i in cats}
        elif how == "sorted":
            ordered = sorted(cats)
            mapping = {i: ordered[i] for i in names if 0 <= i < len(ordered)}
        else:
            raise DataError(f"unknown class mapping {how!r}; use 'names', 'index' or 'sorted'")
        used = {int(c) for im in gt.images for c in im.category_ids}
        missing = sorted(used - set(mapping.values()))
        if missing:
            labels = ", ".join(f"{c} ({cats.get(c, '?')})" for c in missing[:10])
            raise DataError(
                f"{len(missing)} ground-truth categories have no detector class under class_map={how!r}: {labels}; "
                "the detector cannot find them, so the comparison would be meaningless. Check that the detector and "
                "dataset share classes, or choose another class_map"
            )
        if len(set(mapping.values())) != len(mapping):
            raise DataError(f"class_map={how!r} maps several detector classes to one category")
        return cls(dict(sorted(mapping.items())))
