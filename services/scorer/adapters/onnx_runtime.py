"""ONNX Runtime sessions: providers from config, the provider actually used, warm-up, the probability."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.common.contracts import ModelVersionV1
from services.common.registry import ModelRejected
from services.scorer.transforms import ModelInfo

__all__ = ["LoadedModel", "load_model", "resolve_providers"]

log = logging.getLogger(__name__)


def resolve_providers(wanted: list[str], available: list[str]) -> list[str]:
    """The wanted providers this build of ONNX Runtime has, in order; CPU is always last resort."""
    chosen = [p for p in wanted if p in available]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


@dataclass
class LoadedModel:
    """A warmed-up session and what its predictions carry."""

    info: ModelInfo
    features: list[str]
    session: Any
    provider: str
    input_name: str
    output_index: int
    sha256: str

    def predict(self, x: NDArray[np.float32]) -> NDArray[np.float64]:
        """The positive class's probability per row."""
        if len(x) == 0:
            return np.zeros(0)
        out = self.session.run(None, {self.input_name: x})[self.output_index]
        return np.asarray(out, dtype=np.float64)[:, 1]


def _output_index(session: Any) -> int:
    names = [o.name for o in session.get_outputs()]
    if "probabilities" in names:
        return names.index("probabilities")
    for i, out in enumerate(session.get_outputs()):  # any [N, 2] float output
        if "float" in out.type and len(out.shape) == 2:
            return i
    raise ModelRejected("bad_outputs", f"no [N, 2] probability output among {names}")


def load_model(
    version: ModelVersionV1, data: bytes, providers: list[str], intra_op_threads: int = 0
) -> LoadedModel:
    """A session on the best available provider, warmed up on batches of 1 and 1024; ModelRejected if
    ONNX Runtime cannot load or run it."""
    import onnxruntime as ort

    ort.set_default_logger_severity(
        3
    )  # a missing CUDA is expected on CPU hosts: the provider is logged below
    options = ort.SessionOptions()
    if intra_op_threads:
        options.intra_op_num_threads = intra_op_threads
    options.log_severity_level = 3  # CUDA missing on this host is expected: we report the provider below
    chosen = resolve_providers(providers, ort.get_available_providers())
    try:
        session = ort.InferenceSession(data, sess_options=options, providers=chosen)
        inputs = session.get_inputs()
        if len(inputs) != 1 or inputs[0].shape[-1] not in (len(version.features), None, "N"):
            raise ModelRejected("bad_inputs", f"expected one input of width {len(version.features)}")
        model = LoadedModel(
            ModelInfo(version.name, version.version, version.threshold),
            list(version.features),
            session,
            session.get_providers()[0],
            inputs[0].name,
            _output_index(session),
            version.sha256,
        )
        started = time.perf_counter()
        for n in (1, 1024):
            model.predict(np.zeros((n, len(version.features)), dtype=np.float32))
    except ModelRejected:
        raise
    except Exception as exc:  # onnxruntime raises its own exception types for invalid graphs
        raise ModelRejected(
            "invalid_model", f"ONNX Runtime cannot load {version.name} {version.version}: {exc}"
        ) from None
    if model.provider not in providers[:1]:
        log.warning(
            "model %s %s runs on %s (wanted %s; available here: %s)",
            version.name,
            version.version,
            model.provider,
            providers[0] if providers else "-",
            ", ".join(ort.get_available_providers()),
        )
    log.info(
        "model %s %s loaded on %s, warm-up %.0f ms",
        version.name,
        version.version,
        model.provider,
        (time.perf_counter() - started) * 1000,
    )
    return model
