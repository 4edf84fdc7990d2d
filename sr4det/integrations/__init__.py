"""Third-party detector frameworks, one subpackage each, holding every line of sr4det that knows that framework.

* :mod:`sr4det.integrations.ultralytics` - YOLO (extra ``sr4det[ultralytics]``): the detector adapter
  (``.pt``, OpenVINO, ONNX), the trainable / differentiable YOLO rebuilt from an OpenVINO export, the training
  hooks and writable datasets, detector adaptation, the losses through a frozen YOLO, dataset names ultralytics
  resolves, and the offline configuration;
* :mod:`sr4det.integrations.torchvision` - torchvision's detection models (Faster R-CNN, RetinaNet, SSD, FCOS).

The rest of sr4det talks to a detector through :mod:`sr4det.detectors` (the :class:`~sr4det.detectors.Detector`
contract in :mod:`sr4det.detectors.base`, and its lazy names ``UltralyticsDetector`` / ``TorchvisionDetector``).
An integration builds on the base modules, ``degradation``, ``models``, ``transforms``, ``data`` and
``detectors.base``; none of those imports an integration (``tests/test_layering.py``). Importing this package, or
either subpackage, imports no third-party framework: every module that needs one imports it when used.
"""
