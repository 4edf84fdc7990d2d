"""The SR runtimes sr4det offers on the CPU, named once: a base module, so that the shared ``--backend`` /
``--precision`` options (:mod:`sr4det._options`) and :mod:`sr4det.models.runtime` (which checks, converts and runs
them) read the same lists."""

from __future__ import annotations

#: what runs an SR network (``--backend``): eager torch (the reference), or compiled for the CPU
BACKENDS = ("torch", "openvino", "onnxruntime")
#: the precision of a compiled runtime (``--precision``); ``check_runtime`` refuses the pairs sr4det does not offer
PRECISIONS = ("fp32", "bf16", "fp16", "int8")
