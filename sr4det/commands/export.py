"""``sr4det export``: write an SR model as ONNX and OpenVINO IR (dynamic H, W) for deployment."""

from __future__ import annotations

import argparse
import json

from ._common import add_option, check_writable_dir


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write an SR model as ONNX and OpenVINO IR",
        description=(
            "Write an SR model's network as ONNX (torch.onnx.export) and/or OpenVINO IR (openvino.convert_model), fp32, "
            "with dynamic batch, height and width, plus sr4det_export.json: the input contract (float32 NCHW in [0, 1]; "
            "RGB, or BT.601 Y for Y-channel models; bicubic-enlarged first for pre-upsampling models; size multiple) "
            "and the model card. sr4det.load_model(FOLDER) loads it back. Needs the 'export' extra."
        ),
    )
    p.add_argument("--model", "-m", required=True, help="zoo name (see `sr4det models`) or weight file")
    add_option(p, "scale")
    p.add_argument("-o", "--output", required=True, help="output folder (model.onnx, model.xml/.bin, sr4det_export.json)")
    p.add_argument(
        "--format", dest="formats", nargs="+", choices=("onnx", "openvino"), default=["onnx", "openvino"], help="what to write"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models import resolve_model
    from ..models.exported import export_model

    folder = check_writable_dir(args.output, "-o/--output")
    model = resolve_model(args.model, args.scale, pretrained=True, device="cpu")
    contract = export_model(model, folder, tuple(dict.fromkeys(args.formats)))
    files = json.loads(contract.read_text())["files"]
    print(f"wrote {', '.join(files.values())} and {contract.name} to {folder}")
    return 0
