"""Adapt a YOLO detector to degraded input: fine-tune it with ultralytics on images that went through Degrade (+ SR).

The lever a practitioner pulls instead of (or besides) SR: the detector learns the statistics of the images it will
see. :func:`adapt_detector` runs the whole chain

1. ``detector`` -> a trainable ``ultralytics.YOLO`` (:func:`sr4det.integrations.ultralytics.trainable.trainable_yolo`: an OpenVINO
   export is rebuilt with dequantised weights and re-inserted BatchNorms, re-estimated on the *training* images);
2. ``data`` (a COCO json such as ``coco_train160`` or an ultralytics yaml) -> a writable ultralytics dataset under
   ``out/data`` (:func:`sr4det.integrations.ultralytics.yolo_data.yolo_dataset`; images are linked, never copied or modified);
3. the ultralytics hook (:func:`sr4det.integrations.ultralytics.hooks.attach`) makes every training (and the final validation) image
   ``Degrade(scale)`` then ``sr`` at its original resolution, before ultralytics' own resize and augmentation:
   ``sr="bicubic"`` (default) or any SR model = the input of that ``compare`` condition; ``"lr"`` trains on the
   LR images themselves; ``"hr"`` fine-tunes on the original images (a control: same schedule, no degradation);
4. ``YOLO.train`` for ``epochs`` (ultralytics defaults otherwise: optimizer ``auto``, mosaic, warm-up), without
   per-epoch validation by default (the training split is also the validation split; coco128 stays untouched for
   evaluation);
5. ``out/adapted.pt`` (ultralytics' ``last.pt``: EMA weights, what ``UltralyticsDetector`` loads) and
   ``out/adapted.json`` (command, settings, epochs, wall time, seconds per epoch, digests, final metrics).
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ..._files import atomic_write, sha256_file
from ..._run_folder import plain, run_folder
from ..._yaml_file import read_yaml
from ...errors import InputError, ScaleError

RESULT = "adapted.json"
WEIGHTS = "adapted.pt"
CONDITIONS = ("hr", "lr")  # --sr values that are no SR model


def _check(scale: int, epochs: int, imgsz: int, batch: int, threads: int | None) -> None:
    if not isinstance(scale, int) or scale < 1:
        raise ScaleError(f"scale must be a positive integer such as 2 or 4, got {scale!r}")
    if epochs < 1:
        raise InputError(f"epochs must be >= 1, got {epochs}")
    if imgsz < 32 or imgsz % 32:
        raise InputError(f"imgsz must be a multiple of 32 (the YOLO stride) and >= 32, got {imgsz}")
    if batch < 1:
        raise InputError(f"batch must be >= 1, got {batch}")
    if threads is not None and threads < 1:
        raise InputError(f"threads must be >= 1, got {threads}")


def _refuse_evaluation_set(data: Path) -> None:
    """coco128 is the evaluation set: data inside any folder named ``coco128`` is refused."""
    if "coco128" in data.expanduser().resolve().parts:
        raise InputError(
            f"{data} is coco128, the evaluation set; adapt the detector on a training split such as "
            "../shared/data/coco_train160/annotations/instances_train2017.json"
        )


def _training_images(data_yaml: Path) -> Path:
    """The training image folder of the dataset yaml that :func:`yolo_dataset` wrote."""
    cfg = read_yaml(data_yaml, "dataset yaml")
    return Path(cfg["path"]) / cfg["train"]


def _pin_threads(model: Any, threads: int) -> None:
    """Keep torch at ``threads`` threads: ultralytics' select_device resets it to min(8, cpus - 1)."""
    import torch

    try:
        import ultralytics.utils.torch_utils as tu

        tu.NUM_THREADS = threads
    except (ImportError, AttributeError):  # pragma: no cover - other ultralytics layouts
        pass
    torch.set_num_threads(threads)

    def pin(_trainer: Any) -> None:
        torch.set_num_threads(threads)

    for event in ("on_pretrain_routine_start", "on_pretrain_routine_end", "on_train_epoch_start"):
        model.add_callback(event, pin)


def adapt_detector(
    detector: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    scale: int = 4,
    sr: str | None = "bicubic",
    epochs: int = 10,
    imgsz: int = 640,
    batch: int = 8,
    threads: int | None = None,
    device: str | None = None,
    limit: int | None = None,
    calibration_images: int = 64,
    seed: int = 0,
    val: bool = False,
    amp: bool = False,
    tile: Any = "auto",
    command: str | None = None,
    verbose: bool = True,
    overwrite: bool = False,
    **train_args: Any,
) -> dict[str, Any]:
    """Fine-tune ``detector`` on ``Degrade(scale)`` (+ ``sr``) versions of ``data``; see the module docstring.

    Args:
        detector: ultralytics OpenVINO export folder or YOLO detection ``.pt``.
        data: COCO instances json (images found beside it) or ultralytics dataset yaml; never the evaluation set.
        out: output folder (``adapted.pt``, ``adapted.json``, ``base.pt``, ``data/``, ``train/``).
        scale: degradation factor; ``sr``: ``"bicubic"``, an SR zoo name / weight file, ``"lr"`` or ``"hr"``
            (``None`` = ``"lr"``: the hook's ``sr=None``).
        epochs, imgsz, batch, seed: ultralytics training settings.
        threads: torch CPU threads (default: ultralytics' choice, ``min(8, cpus - 1)``).
        device: ``None`` (ultralytics' choice), ``"cpu"``, ``"0"``...
        limit: use only the first ``limit`` images (quick checks).
        calibration_images: training images for the BatchNorm re-estimation of an export (ignored for a ``.pt``).
        val: validate after every epoch (the final validation always runs, on the degraded training split).
        amp: mixed precision on CUDA; ultralytics' AMP self-check would download a model, so it is skipped here.
        tile: SR tile size (``SRTransform``), ``"auto"`` by default.
        command: the command line to record (default: ``sys.argv``).
        overwrite: replace the outputs of another adaptation (other detector, data, ``sr`` or settings) in ``out``
            (default: refuse; the same adaptation again trains again into the folder).
        train_args: more ``YOLO.train`` arguments (``lr0``, ``mosaic``, ``freeze``...).

    Returns:
        The record written to ``out/adapted.json``.

    Raises:
        WeightsNotAvailableError / WeightsError: the detector does not load (before any training);
        DataError: unreadable data; InputError / ScaleError: bad settings. OutputExistsError: ``out`` holds
        another adaptation (or another run is writing there right now: RunFolderBusyError).
    """
    from .trainable import trainable_class_names

    sr = "lr" if sr is None or str(sr).lower() in ("none", "lr") else str(sr)
    _check(scale, int(epochs), int(imgsz), int(batch), threads)
    data = Path(data).expanduser()
    _refuse_evaluation_set(data)
    out = Path(out).expanduser().resolve()
    # 1. the detector (typed errors before anything is written, even the run folder's lock)
    source = Path(detector).expanduser()
    names = trainable_class_names(source)
    identity = {
        "detector": str(source.resolve()),
        "data": str(data.resolve()),
        "scale": scale,
        "sr": sr,
        "epochs": int(epochs),
        "imgsz": int(imgsz),
        "batch": int(batch),
        "limit": limit,
        "calibration_images": calibration_images,
        "seed": int(seed),
        "val": bool(val),
        "amp": bool(amp),
        "train_args": plain(train_args),
    }
    with run_folder(out, "adapt-detector", identity, overwrite=overwrite, option="--out", what="another adaptation") as folder:
        if threads is not None:
            import torch

            torch.set_num_threads(int(threads))
        clock = {"started": time.time()}
        folder.record(out / "data", out / "train", out / "base.pt", out / WEIGHTS, out / RESULT)
        data_yaml, model = _prepare(source, data, out, names, limit=limit, imgsz=imgsz, calibration_images=calibration_images)
        clock["prepared"] = time.time()
        hook = _attach_hook(model, sr, scale, tile=tile, device=device)
        if threads is not None:
            _pin_threads(model, int(threads))
        if amp:
            _skip_amp_check()
        args = _yolo_train_args(data_yaml, out, epochs, imgsz, batch, device, amp, val, seed, verbose, train_args)
        epoch_times = _train(model, args)
        clock["finished"] = time.time()
        record = _record(model, out, source, data, data_yaml, sr, scale, hook, args, epoch_times, clock, threads, command)
        atomic_write(out / RESULT, json.dumps(record, indent=2) + "\n")
        return record


def _yolo_train_args(
    data_yaml: Path,
    out: Path,
    epochs: int,
    imgsz: int,
    batch: int,
    device: str | None,
    amp: bool,
    val: bool,
    seed: int,
    verbose: bool,
    train_args: dict[str, Any],
) -> dict[str, Any]:
    """The ``YOLO.train`` arguments: ultralytics' defaults but no workers, plots or cache, results under ``out/train``;
    ``train_args`` last (they win)."""
    args = dict(
        data=str(data_yaml),
        epochs=int(epochs),
        imgsz=int(imgsz),
        batch=int(batch),
        workers=0,
        device=device,
        project=str(out),
        name="train",
        exist_ok=True,
        plots=False,
        amp=bool(amp),
        val=bool(val),
        seed=int(seed),
        cache=False,
        verbose=verbose,
        pretrained=True,
    )
    args.update(train_args)
    return args


def _prepare(
    source: Path, data: Path, out: Path, names: dict[int, str] | None, *, limit: int | None, imgsz: int, calibration_images: int
) -> tuple[Path, Any]:
    """Steps 1-2: the writable dataset under ``out/data``, then the trainable ``YOLO`` (an export's BatchNorms
    calibrated on its training images; ``out/base.pt``)."""
    from .trainable import trainable_yolo
    from .yolo_data import yolo_dataset

    data_yaml = yolo_dataset(data, out / "data", names=names, limit=limit)
    model = trainable_yolo(
        source,
        calibration=_training_images(data_yaml),
        out=out / "base.pt" if source.suffix != ".pt" else None,
        imgsz=imgsz,
        max_images=calibration_images,
    )
    return data_yaml, model


def _attach_hook(model: Any, sr: str, scale: int, *, tile: Any, device: str | None) -> Any:
    """Step 3: the hook that makes every training and validation image ``Degrade(scale)`` (+ ``sr``); None for
    ``sr="hr"`` (no degradation)."""
    if sr == "hr":
        return None
    from ...transforms import Degrade, SRTransform
    from .hooks import attach

    sr_device = f"cuda:{device}" if device is not None and str(device).isdigit() else device  # ultralytics' "0"
    transform = None if sr == "lr" else SRTransform(sr, scale=scale, tile=tile, device=sr_device)
    return attach(model, degrade=Degrade(scale), sr=transform, train=True, val=True)


def _skip_amp_check() -> None:
    """ultralytics' AMP self-check downloads a model (yolo26n.pt): treated as passed."""
    import ultralytics.engine.trainer as trainer_module

    trainer_module.check_amp = lambda *_a, **_k: True


def _train(model: Any, args: dict[str, Any]) -> list[float]:
    """Step 4: ``model.train(**args)``; returns the wall seconds of each epoch."""
    epoch_times: list[float] = []
    clock: dict[str, float] = {}
    model.add_callback("on_train_epoch_start", lambda _t: clock.__setitem__("start", time.time()))
    model.add_callback("on_train_epoch_end", lambda _t: epoch_times.append(time.time() - clock.get("start", time.time())))
    model.train(**args)
    return epoch_times


def _record(
    model: Any,
    out: Path,
    source: Path,
    data: Path,
    data_yaml: Path,
    sr: str,
    scale: int,
    hook: Any,
    args: dict[str, Any],
    epoch_times: list[float],
    clock: dict[str, float],
    threads: int | None,
    command: str | None,
) -> dict[str, Any]:
    """Step 5: ultralytics' ``last.pt`` copied to ``out/adapted.pt``, and the record of the adaptation (``args``: the
    ``YOLO.train`` arguments, whose epochs / imgsz / batch / seed are the function's own)."""
    import torch
    import ultralytics

    trainer = model.trainer
    last = Path(trainer.last)
    if not last.is_file():
        raise RuntimeError(f"ultralytics finished without writing {last}")
    weights = out / WEIGHTS
    shutil.copyfile(last, weights)
    metrics = {k: float(v) for k, v in (getattr(trainer, "metrics", None) or {}).items() if isinstance(v, (int, float))}
    started, prepared, finished = clock["started"], clock["prepared"], clock["finished"]
    return {
        "command": command if command is not None else shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "weights": str(weights),
        "weights_sha256": sha256_file(weights),
        "detector": str(source),
        "base_weights": str(model.ckpt_path) if getattr(model, "ckpt_path", None) else None,
        "data": str(data),
        "images": _count_images(data_yaml),
        "condition": "hr" if sr == "hr" else ("lr" if sr == "lr" else sr),
        "scale": int(scale),
        "sr": sr,
        "epochs": args["epochs"],
        "imgsz": args["imgsz"],
        "batch": args["batch"],
        "threads": int(threads) if threads is not None else torch.get_num_threads(),
        "device": str(trainer.device),
        "seed": args["seed"],
        "train_args": {k: v for k, v in args.items() if isinstance(v, (str, int, float, bool, type(None)))},
        "wall_time_s": round(finished - started, 2),
        "prepare_s": round(prepared - started, 2),
        "train_s": round(finished - prepared, 2),
        "epoch_s": [round(t, 2) for t in epoch_times],
        "final_val_on_training_split": metrics,
        "hook_images": len(hook.stats.images) if hook is not None else 0,
        "ultralytics": ultralytics.__version__,
        "torch": torch.__version__,
    }


def _count_images(data_yaml: Path) -> int:
    from ...data.io import IMAGE_EXTENSIONS

    return sum(1 for p in _training_images(data_yaml).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
