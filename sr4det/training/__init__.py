"""SR training: aligned random crops with the evaluator's degradation, pixel/perceptual/adversarial losses,
a resumable loop with CSV logging, and the benchmark protocol used for validation.

    from sr4det.training import TrainConfig, train
    train(TrainConfig(model="espcn", scale=4, data=["T91", "BSD200"], out="runs/espcn_x4", steps=3000))
"""

from .data import PairedPatches, mod_crop, network_io
from .evaluate import evaluate_pairs, load_benchmark, super_resolve_uint8
from .losses import AdversarialLoss, FeatureLoss, PixelLoss, build_feature_extractor
from .trainer import TrainConfig, TrainResult, train

__all__ = [
    "AdversarialLoss",
    "FeatureLoss",
    "PairedPatches",
    "PixelLoss",
    "TrainConfig",
    "TrainResult",
    "build_feature_extractor",
    "evaluate_pairs",
    "load_benchmark",
    "mod_crop",
    "network_io",
    "super_resolve_uint8",
    "train",
]
