#!/usr/bin/env python
"""Tiled vs untiled output of the published IMDN, RFDN, PAN and CARN-M x4 files on one BSD100 image (eval/RESULTS.md §6).

    SR4DET_OFFLINE=1 python eval/tiling_lightweight.py

LR = MATLAB-bicubic x1/4 of BSD100 ``img_010`` (80x120); ``sr4det.upscale(model, lr, tile=T, overlap=card overlap)`` for
two tile sizes; prints the max / mean difference in uint8 levels and the PSNR of the tiled against the untiled output.
"""

from __future__ import annotations

import numpy as np
import torch
from _shared import shared_path

import sr4det
from sr4det.data.io import read_image, to_tensor
from sr4det.resize import imresize
from sr4det.tiling import upscale

FILES = {"imdn": "IMDN_x4.pth", "rfdn": "RFDN_AIM.pth", "pan": "PANx4_DF2K.pth", "carn_m": "carn_m.pth"}


def main() -> None:
    torch.set_num_threads(1)
    hr, _ = read_image(shared_path("data", "sr_benchmark", "BSD100", "img_010_SRF_4_HR.png"))
    lr = imresize(to_tensor(hr), scale=0.25).clamp(0, 1)
    print(f"LR {tuple(lr.shape)}")
    for name, f in FILES.items():
        m = sr4det.load_model(shared_path("weights", "sr", "state_dict", f), scale=4)
        with torch.inference_mode():
            ref = m(lr[None])[0]
        ov = m.card.default_overlap
        for tile in (48 if ov < 24 else 2 * ov + 16, 2 * ov + 32):
            y = upscale(m, lr, tile=tile, overlap=ov)
            d = (y - ref).abs()
            mse = float(((y * 255).round() - (ref * 255).round()).pow(2).mean())
            psnr = 10 * np.log10(255**2 / mse) if mse > 0 else float("inf")
            print(
                f"{name} non_local={m.card.non_local} overlap={ov} tile={tile}: max {float(d.max()) * 255:.2f} levels, "
                f"mean {float(d.mean()) * 255:.3f}, PSNR vs untiled {psnr:.1f} dB"
            )


if __name__ == "__main__":
    main()
