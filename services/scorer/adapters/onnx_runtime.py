"""ONNX Runtime sessions: providers from config, the provider actually used, warm-up, the probability
(or, for a ranking model, the best items)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from services.common.contracts import ModelVersionV1
from services.common.ranking import CANDIDATE_COUNT, ITEM_SCORES, ITEMS, padded
from services.common.registry import ModelRejected
from services.scorer.transforms import ModelInfo

__all__ = ["LoadedModel", "RankingModel", "Served", "load_model", "load_ranking_model", "resolve_providers"]

log = logging.getLogger(__name__)


class _Runs(Protocol):
    provider: str


M = TypeVar("M", bound=_Runs)


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

    def make(session: Any) -> LoadedModel:
        inputs = session.get_inputs()
        if len(inputs) != 1 or inputs[0].shape[-1] not in (len(version.features), None, "N"):
            raise ModelRejected("bad_inputs", f"expected one input of width {len(version.features)}")
        return LoadedModel(
            ModelInfo(version.name, version.version, version.threshold),
            list(version.features),
            session,
            session.get_providers()[0],
            inputs[0].name,
            _output_index(session),
            version.sha256,
        )

    def warm(model: LoadedModel) -> None:
        for n in (1, 1024):
            model.predict(np.zeros((n, len(version.features)), dtype=np.float32))

    return _load(version, data, providers, intra_op_threads, make, warm)


def _load(
    version: ModelVersionV1,
    data: bytes,
    providers: list[str],
    intra_op_threads: int,
    make: Callable[[Any], M],
    warm: Callable[[M], None],
) -> M:
    """`make` a model of a session of `data`, `warm` it up and log where it runs; ModelRejected when
    ONNX Runtime cannot load or run it."""
    try:
        model = make(_session(data, providers, intra_op_threads))
        started = time.perf_counter()
        warm(model)
    except ModelRejected:
        raise
    except Exception as exc:  # onnxruntime raises its own exception types for invalid graphs
        raise ModelRejected(
            "invalid_model", f"ONNX Runtime cannot load {version.name} {version.version}: {exc}"
        ) from None
    _loaded(version, model.provider, providers, started)
    return model


def _session(data: bytes, providers: list[str], intra_op_threads: int) -> Any:
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # a missing CUDA is expected on CPU hosts: the provider is logged
    options = ort.SessionOptions()
    if intra_op_threads:
        options.intra_op_num_threads = intra_op_threads
    options.log_severity_level = 3
    return ort.InferenceSession(
        data, sess_options=options, providers=resolve_providers(providers, ort.get_available_providers())
    )


def _loaded(version: ModelVersionV1, provider: str, providers: list[str], started: float) -> None:
    import onnxruntime as ort

    if provider not in providers[:1]:
        log.warning(
            "model %s %s runs on %s (wanted %s; available here: %s)",
            version.name,
            version.version,
            provider,
            providers[0] if providers else "-",
            ", ".join(ort.get_available_providers()),
        )
    log.info(
        "model %s %s loaded on %s, warm-up %.0f ms",
        version.name,
        version.version,
        provider,
        (time.perf_counter() - started) * 1000,
    )


@dataclass
class RankingModel:
    """A warmed-up ranking session: lists of item ids in (its inputs, by name), the best items out."""

    info: ModelInfo
    features: list[str]  # its inputs: lists of the first view, in the version's order
    session: Any
    provider: str
    sha256: str

    def recommend(
        self, lists: dict[str, list[list[str]]]
    ) -> tuple[list[list[str]], list[list[float]], list[int]]:
        """Per request: its items best first, their scores, how many candidates it ranked."""
        feed = {name: padded(lists[name]) for name in self.features}
        items, scores, count = self.session.run([ITEMS, ITEM_SCORES, CANDIDATE_COUNT], feed)
        counts = [int(c) for c in count]
        return (
            [list(row[: min(c, len(row))]) for row, c in zip(items.tolist(), counts, strict=True)],
            [row[: min(c, len(row))] for row, c in zip(scores.tolist(), counts, strict=True)],
            counts,
        )


Served = LoadedModel | RankingModel  # a probability model, or a ranking model


def load_ranking_model(
    version: ModelVersionV1, data: bytes, providers: list[str], intra_op_threads: int = 0
) -> RankingModel:
    """A ranking session (string inputs named as the version's features; ITEMS, ITEM_SCORES and
    CANDIDATE_COUNT out), warmed up; ModelRejected if ONNX Runtime cannot load or run it."""

    def make(session: Any) -> RankingModel:
        names = [i.name for i in session.get_inputs()]
        if sorted(names) != sorted(version.features):
            raise ModelRejected("bad_inputs", f"inputs {names}, the version says {version.features}")
        outputs = {o.name for o in session.get_outputs()}
        if not {ITEMS, ITEM_SCORES, CANDIDATE_COUNT} <= outputs:
            raise ModelRejected(
                "bad_outputs", f"a ranking model gives {ITEMS}, {ITEM_SCORES}, {CANDIDATE_COUNT}"
            )
        info = ModelInfo(version.name, version.version, version.threshold)
        return RankingModel(info, list(version.features), session, session.get_providers()[0], version.sha256)

    def warm(model: RankingModel) -> None:
        for n in (1, 256):
            model.recommend({name: [[]] * n for name in version.features})

    return _load(version, data, providers, intra_op_threads, make, warm)
