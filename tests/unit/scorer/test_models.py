"""Model checks before serving: providers with CPU fallback, sha256, input list, loadability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.common.registry import ModelRejected, verify_model
from services.scorer.adapters.onnx_runtime import load_model, resolve_providers
from tests.scorer_helpers import register_model
from usecases.fraud import FRAUD_V1


def test_providers_fall_back_to_cpu() -> None:
    assert resolve_providers(["CUDAExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"]) == [
        "CPUExecutionProvider"
    ]
    assert resolve_providers(
        ["CUDAExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"]
    ) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]


def test_a_session_asking_for_cuda_reports_the_provider_it_really_uses(tmp_path: Path) -> None:
    import onnxruntime as ort

    version = register_model(tmp_path, "fraud", "v1")
    model = load_model(version, verify_model(version, FRAUD_V1.feature_names), ["CUDAExecutionProvider"])
    assert model.provider in ort.get_available_providers()
    assert model.provider == model.session.get_providers()[0]
    scores = model.predict(np.zeros((3, 15), dtype=np.float32))
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))


def test_the_cards_threshold_reaches_the_decision(tmp_path: Path) -> None:
    """A card's threshold (training's best F1, not 0.5) travels with the registered version to the
    loaded model, and a score between it and 0.5 is flagged."""
    from services.common.registry import Registry
    from services.scorer.core import score
    from services.scorer.transforms import FeatureBatch, ScoreRequest, request_fields
    from usecases.fraud import FRAUD

    registered = register_model(tmp_path, "fraud", "v1", threshold=0.2)
    version = Registry.version_of(Registry(tmp_path).card("fraud", "v1"))
    model = load_model(version, verify_model(version, FRAUD_V1.feature_names), ["CPUExecutionProvider"])
    assert version.threshold == registered.threshold == model.info.threshold == 0.2
    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, 30.0, size=(2000, 15)).astype(np.float32)
    requests = [
        ScoreRequest(f"tx{i}", (f"c{i}", f"t{i}"), "2018-08-08T10:00:00+00:00") for i in range(len(x))
    ]
    batch = FeatureBatch(requests, x, np.zeros(len(x), dtype=bool), list(FRAUD_V1.feature_names))
    scored = score(batch, model, fields=request_fields(FRAUD)).primary
    between = [d for d in scored if 0.2 <= d["score"] < 0.5]
    assert between, "some scores fall between the card's threshold and 0.5"
    assert all(d["decision"] == (d["score"] >= 0.2) and d["threshold"] == 0.2 for d in scored)


def test_checksum_inputs_and_readability_are_checked(tmp_path: Path) -> None:
    version = register_model(tmp_path, "fraud", "v1")
    names = FRAUD_V1.feature_names
    assert verify_model(version, names) == Path(version.uri).read_bytes()
    with pytest.raises(ModelRejected) as err:
        verify_model(version, list(reversed(names)))
    assert err.value.reason == "feature_mismatch"
    with pytest.raises(ModelRejected) as err:
        verify_model(version.model_copy(update={"uri": str(tmp_path / "nope.onnx")}), names)
    assert err.value.reason == "unreadable"
    Path(version.uri).write_bytes(Path(version.uri).read_bytes() + b"\0")
    with pytest.raises(ModelRejected) as err:
        verify_model(version, names)
    assert err.value.reason == "checksum"


def test_bytes_that_are_not_a_model_are_refused(tmp_path: Path) -> None:
    version = register_model(tmp_path, "fraud", "v1")
    with pytest.raises(ModelRejected) as err:
        load_model(version, b"not an onnx graph", ["CPUExecutionProvider"])
    assert err.value.reason == "invalid_model"
