"""ONNX export agrees with the native model (≤ 1e-5), LightGBM included, whose float64 split thresholds
would otherwise flip values that sit next to a threshold in float32."""

from __future__ import annotations

import numpy as np
import pytest

from services.training.candidates import CANDIDATES, _lgbm, fit
from services.training.export import ParityError, to_onnx_bytes, verify_parity


def _adjacent_float32_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 4000
    y = (rng.random(n) < 0.3).astype(int)
    low = np.float32(123.45)
    x = rng.gamma(2.0, 30.0, size=(n, 15)).astype(np.float32)
    x[:, 0] = np.where(y == 1, np.nextafter(low, np.float32(np.inf)), low)  # one ulp apart
    return x, y


def test_lightgbm_thresholds_between_adjacent_float32_values_keep_parity() -> None:
    x, y = _adjacent_float32_data()
    raw = _lgbm(0).fit(x, y)
    with pytest.raises(ParityError):  # what the float32 rounding does to an unadjusted model
        verify_parity(to_onnx_bytes(raw, 15), raw.predict_proba(x)[:, 1], x)
    model = fit(CANDIDATES["lgbm"], x, y)
    native = model.predict_proba(x)[:, 1]
    assert np.allclose(native, raw.predict_proba(x)[:, 1], atol=1e-12), "the native model is unchanged"
    assert verify_parity(to_onnx_bytes(model, 15), native, x) <= 1e-5


@pytest.mark.parametrize("kind", ["logreg", "mlp"])
def test_other_candidates_export_with_parity(kind: str) -> None:
    x, y = _adjacent_float32_data()
    model = fit(CANDIDATES[kind], x, y)
    assert verify_parity(to_onnx_bytes(model, 15), model.predict_proba(x)[:, 1], x) <= 1e-5
