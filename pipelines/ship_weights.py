#!/usr/bin/env python
"""Copy a trained sr4det weight file into the package under a registered zoo name (e.g. a variant).

    python pipelines/ship_weights.py runs/rfdn_det_x4.pt --as rfdn_det

The file is rewritten with ``arch`` set to the zoo name (the state dict, scale, options and training metadata are
kept), to ``sr4det/models/weights/<name>_x<scale>.pt``. The architecture must build the same network (same
tensors), which is checked by loading it. ``create_model(name, scale, pretrained=True)`` finds the file once the
card declares it (``shipped={scale: "<name>_x<scale>.pt"}`` in the architecture's ``register_model``);
tests/models/test_registry_weights.py fails until it does.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights")
    ap.add_argument("--as", dest="name", required=True, help="registered zoo name to ship it under")
    args = ap.parse_args(argv)

    import torch

    from sr4det.errors import SR4DetError
    from sr4det.models import build_network, create_model, get_card, read_weights, save_weights
    from sr4det.models.weights import SHIPPED_DIR, load_state_into

    try:
        wf = read_weights(args.weights)
        if wf.scale is None:
            raise SR4DetError(f"{args.weights} is not an sr4det weight file with a scale; train it with pipelines/train_sr.py")
        net, _ = build_network(args.name, wf.scale, **wf.kwargs)
        load_state_into(net, wf.state_dict, name=args.name, source=args.weights)
        meta = {**wf.meta, "trained_as": wf.arch}
        stored = torch.load(args.weights, map_location="cpu", weights_only=True)["state_dict"]
        half = all(v.dtype == torch.float16 for v in stored.values() if v.is_floating_point())  # keep fp16 storage
        out = save_weights(
            SHIPPED_DIR / f"{args.name}_x{wf.scale}.pt",
            net,
            arch=args.name,
            scale=wf.scale,
            kwargs=wf.kwargs,
            meta=meta,
            half=half,
        )
        if get_card(args.name).shipped.get(wf.scale) != out.name:
            print(
                f"note: declare it on the card: shipped={{{wf.scale}: {out.name!r}}} in {args.name}'s register_model",
                file=sys.stderr,
            )
        else:
            create_model(args.name, wf.scale, pretrained=True)
    except SR4DetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
