"""Data: image I/O (8/16-bit, gray, RGBA) and datasets (COCO json, YOLO yaml) read into ground truth."""

from .io import IMAGE_EXTENSIONS, ImageInfo, from_tensor, list_images, read_image, to_tensor, write_image

__all__ = ["IMAGE_EXTENSIONS", "ImageInfo", "from_tensor", "list_images", "read_image", "to_tensor", "write_image"]
