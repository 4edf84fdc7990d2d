"""Image-quality metrics as the SR literature measures them (Y channel, BT.601, border shaved)."""

from ..resize import imresize, imresize_uint8
from .noref import NIQEModel, fit_niqe_model, gradient_sharpness, laplacian_variance, niqe
from .quality import psnr, psnr_y, ssim, ssim_y, to_y_255

__all__ = [
    "NIQEModel",
    "fit_niqe_model",
    "gradient_sharpness",
    "imresize",
    "imresize_uint8",
    "laplacian_variance",
    "niqe",
    "psnr",
    "psnr_y",
    "ssim",
    "ssim_y",
    "to_y_255",
]
