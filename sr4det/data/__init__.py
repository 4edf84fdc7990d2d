"""Data: image I/O (8/16-bit, gray, RGBA) and datasets (COCO json, YOLO yaml, VisDrone-DET) read into ground truth.

SR copies of a dataset for detector training: :func:`sr4det.data.materialize.materialize` (imported on use: it
needs the transforms and models)."""

from .datasets import ClassMap, GroundTruth, ImageGT, load_coco, load_dataset, load_visdrone, load_yolo
from .io import IMAGE_EXTENSIONS, ImageInfo, from_tensor, list_images, read_image, to_rgb8, to_tensor, write_image

__all__ = [
    "IMAGE_EXTENSIONS",
    "ClassMap",
    "GroundTruth",
    "ImageGT",
    "ImageInfo",
    "from_tensor",
    "list_images",
    "load_coco",
    "load_dataset",
    "load_visdrone",
    "load_yolo",
    "read_image",
    "to_rgb8",
    "to_tensor",
    "write_image",
]
