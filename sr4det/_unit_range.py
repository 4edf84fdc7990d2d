"""Float pixels are intensities in [0, 1]: the one tolerance every entry point applies to that contract."""

from __future__ import annotations

#: float pixels may overshoot [0, 1] by this much (resampling ringing, float rounding) and still count as in range
UNIT_RANGE_TOLERANCE = 1e-3
