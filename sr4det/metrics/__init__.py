"""Image-quality metrics as the SR literature measures them (Y channel, BT.601, border shaved)."""

from ..resize import imresize, imresize_uint8
from .quality import psnr, psnr_y, ssim, ssim_y, to_y_255

__all__ = ["imresize", "imresize_uint8", "psnr", "psnr_y", "ssim", "ssim_y", "to_y_255"]
