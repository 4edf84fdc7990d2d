#!/usr/bin/env python
"""Write an sr4det weight file at a new scale from a file trained at another (pixel-shuffle head averaged).

    python pipelines/rescale_weights.py ../shared/weights/sr/state_dict/RFDN_AIM.pth --to 2 -o runs/rfdn_x2_init.pt

The result is a starting point for ``pipelines/train_sr.py --init``, not a finished model.
"""

from __future__ import annotations

import argparse
import sys

_HEADS = {"rfdn": "upsampler.0", "imdn": "upsampler.0"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", help="a weight file sr4det.load_model reads (published state dict or sr4det file)")
    ap.add_argument("--to", type=int, required=True, help="target scale (must divide the file's scale)")
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args(argv)

    from sr4det.errors import SR4DetError
    from sr4det.models import build_network, load_model, save_weights
    from sr4det.training.rescale import rescale_head

    try:
        src = load_model(args.weights)
        arch = src.card.name
        if arch not in _HEADS:
            raise SR4DetError(f"{arch}: rescaling supports {sorted(_HEADS)}")
        kwargs = {"nf": src.net.fea_conv.out_channels, "num_modules": src.net.num_modules}
        sd = rescale_head(src.net.state_dict(), _HEADS[arch], 3, src.scale, args.to)
        net, _ = build_network(arch, args.to, **kwargs)
        net.load_state_dict(sd)
        save_weights(
            args.out, net, arch=arch, scale=args.to, kwargs=kwargs, meta={"rescaled_from": f"{args.weights} (x{src.scale})"}
        )
    except SR4DetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {arch} x{args.to} from x{src.scale}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
