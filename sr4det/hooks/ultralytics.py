"""Deprecated alias of :mod:`sr4det.integrations.ultralytics.hooks`, kept because earlier releases documented
``sr4det.hooks.ultralytics.attach``; import from :mod:`sr4det.integrations.ultralytics`."""

from __future__ import annotations

from ..integrations.ultralytics.hooks import HookStats, SRHook, attach

__all__ = ["HookStats", "SRHook", "attach"]
