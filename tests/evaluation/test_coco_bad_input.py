"""evaluate() refuses results that pycocotools scores silently wrong: unknown category ids (ignored: AP 0), NaN boxes
(matched to every object: AP 1), negative sizes, non-finite scores; and names the fix."""

from __future__ import annotations

import pytest

from sr4det.errors import InputError
from sr4det.evaluation.coco import evaluate

GT = {
    "images": [{"id": 1, "height": 100, "width": 100, "file_name": "a.png"}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30], "area": 900, "iscrowd": 0}],
    "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}],
}
GOOD = {"image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30], "score": 0.9}


def test_good_results_and_integral_float_ids_score():
    assert evaluate(GT, [GOOD]).metrics["AP"] == pytest.approx(1.0)
    assert evaluate(GT, [{**GOOD, "category_id": 1.0, "image_id": 1.0}]).metrics["AP"] == pytest.approx(1.0)
    assert evaluate(GT, []).metrics["AP"] == 0.0


def test_detector_class_indices_instead_of_category_ids_name_the_class_map():
    # YOLO index 0 for "person" against COCO id 1: pycocotools ignored it and reported AP 0.0
    with pytest.raises(InputError, match="ClassMap"):
        evaluate(GT, [{**GOOD, "category_id": 0}])


@pytest.mark.parametrize(
    "bad",
    [
        {"bbox": [float("nan"), 10, 30, 30]},  # pycocotools matched it at every IoU: AP 1.0
        {"score": float("nan")},
        {"bbox": [40, 10, -30, 30]},  # x1, y1, x2, y2 read as x, y, w, h with x2 < x1
        {"bbox": [10, 10, 30, 30, 1]},
    ],
)
def test_non_finite_or_negative_boxes_are_refused(bad):
    with pytest.raises(InputError, match="width, height >= 0"):
        evaluate(GT, [{**GOOD, **bad}])


def test_unknown_image_id_and_missing_field_are_input_errors():
    with pytest.raises(InputError, match="image ids the ground truth does not have"):
        evaluate(GT, [{**GOOD, "image_id": 2}])  # was pycocotools' bare AssertionError
    with pytest.raises(InputError, match="'score'"):
        evaluate(GT, [{k: v for k, v in GOOD.items() if k != "score"}])  # was a KeyError
