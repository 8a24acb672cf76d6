"""Prometheus metrics of the scorer, in the runner's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ScorerMetrics"]

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class ScorerMetrics:
    """Predictions, lookup and inference time, missing inputs, duplicates, model reloads and refusals."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Register every scorer metric in the runner's registry."""
        r = registry
        self.predictions = Counter("rtloop_scorer_predictions", "Predictions made", ["stage"], registry=r)
        self.duplicates = Counter(
            "rtloop_scorer_duplicates", "Inputs skipped: event id already scored", registry=r
        )
        self.dedupe_ids = Gauge(
            "rtloop_scorer_dedupe_ids", "Answered event ids remembered (owned partitions)", registry=r
        )
        self.dedupe_window = Gauge(
            "rtloop_scorer_dedupe_window_seconds",
            "How far back the answered ids reach: SCORER_DEDUPE_WINDOW_S, or less where the bound cut it",
            registry=r,
        )
        self.missing_inputs = Counter(
            "rtloop_scorer_missing_inputs",
            "Lookups of an event that found an online input missing (each retry counts)",
            registry=r,
        )
        self.replaced = Counter(
            "rtloop_scorer_replaced_rows",
            "Lookups that found a later transaction's row online; the event's own values were used",
            registry=r,
        )
        self.lookup_seconds = Histogram(
            "rtloop_scorer_lookup_seconds", "Online lookup per micro-batch", buckets=_FAST, registry=r
        )
        self.inference_seconds = Histogram(
            "rtloop_scorer_inference_seconds", "ONNX Runtime per micro-batch", buckets=_FAST, registry=r
        )
        self.reloads = Counter(
            "rtloop_scorer_model_reloads", "Model versions swapped in", ["stage"], registry=r
        )
        self.refused = Counter(
            "rtloop_scorer_models_refused", "Model versions refused", ["reason"], registry=r
        )
        self.model = Gauge(
            "rtloop_scorer_model_info",
            "The serving model",
            ["stage", "name", "version", "provider"],
            registry=r,
        )
