"""ONNX export of a fitted candidate and the check that ONNX Runtime agrees with the native model."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.common.errors import PermanentError

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "ParityError", "onnx_scores", "to_onnx_bytes", "verify_parity"]

INPUT_NAME, OUTPUT_NAME = "features", "probabilities"
_registered = False


class ParityError(PermanentError):
    """ONNX and native predictions differ by more than the tolerance."""


def _register_lightgbm() -> None:
    global _registered  # noqa: PLW0603 - converter registration is process-wide in skl2onnx
    if _registered:
        return
    from lightgbm import LGBMClassifier
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    update_registered_converter(
        LGBMClassifier,
        "LightGbmLGBMClassifier",
        calculate_linear_classifier_output_shapes,
        convert_lightgbm,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )
    _registered = True


def to_onnx_bytes(model: Any, n_features: int) -> bytes:
    """One float32 input `features` [N, n_features]; outputs `label` and `probabilities` [N, 2].
    Opset 15 for the main domain: the LightGBM converter supports no later one."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    _register_lightgbm()
    onnx_model = convert_sklearn(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        options={"zipmap": False},
        target_opset={"": 15, "ai.onnx.ml": 3},
    )
    data: bytes = onnx_model.SerializeToString()
    return data


def onnx_scores(onnx_bytes: bytes, x: NDArray[np.float32]) -> NDArray[np.float64]:
    """Fraud probabilities from ONNX Runtime on CPU."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    out = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    return np.asarray(out, dtype=np.float64)[:, 1]


def verify_parity(
    onnx_bytes: bytes, native: NDArray[np.float64], x: NDArray[np.float32], tolerance: float = 1e-5
) -> float:
    """The max abs difference between ONNX and native scores on `x`; ParityError above `tolerance`."""
    diff = float(np.max(np.abs(onnx_scores(onnx_bytes, x) - native))) if len(x) else 0.0
    if not diff <= tolerance:
        raise ParityError(f"ONNX and native predictions differ by {diff:.2e} (> {tolerance:.0e})")
    return diff
