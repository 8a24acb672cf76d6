"""The model side of a use-case declaration: what the model outputs and reads (a ranking's lists), how
the scorer decides, how `rtloop train` evaluates and gates, what the monitor watches."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from services.common.usecase.events import Spec

__all__ = ["MODULE", "DecisionSpec", "ModelSpec", "MonitorSpec", "RankingSpec", "TrainingSpec"]

MODULE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"  # a Python module path


class RankingSpec(Spec):
    """What a ranking model ranks and reads: the event field of the items, and two lists of the first
    view (they travel with the event): the entity's recent items (newest last) and the items it has
    seen (never recommended)."""

    items: str = Field(description="the event field that names an item (an id)")
    recent: str = Field(description="a list (`last`) of the first view: the recent items")
    seen: str = Field(description="a list (`last`) of the first view: the items seen")
    candidates: int = Field(default=100, ge=1, le=10_000, description="how many items the model ranks")
    catalog: str | None = Field(
        default=None,
        pattern=MODULE[:-1] + r":[A-Za-z_][A-Za-z0-9_]*$",
        description="module:function giving training the item catalog (ids, attributes, numbers), "
        "or None when it has none; without it, the items of the training interactions",
    )


class ModelSpec(Spec):
    """The model: its registry name, its output kind and its inputs (the feature service); a ranking
    model says what it ranks (`ranking`)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    output: Literal["probability", "ranking"]
    inputs: str = Field(description="the feature service it reads")
    ranking: RankingSpec | None = None

    @model_validator(mode="after")
    def _ranking_says_what(self) -> Self:
        if (self.output == "ranking") != (self.ranking is not None):
            raise ValueError("a ranking model (and only one) says what it ranks: model.ranking")
        return self


class TrainingSpec(Spec):
    """How `rtloop train` evaluates its candidates and when it promotes one.

    `delayed`: on the window as long as the training one, `feedback.delay_days` after it (the handbook's
    test week: it needs that window replayed, labels included). `holdout`: on the last `holdout` share of
    the training window, by event time, the rest trains. `last_per_key`: each key's last request (its
    next event the truth) is the test, every other event trains (the sequential-recommendation protocol,
    for ranking models). `none`: no evaluation; a candidate is promoted only when there is no production
    model (else `rtloop models publish` does it by hand)."""

    protocol: Literal["delayed", "holdout", "last_per_key", "none"] = "holdout"
    holdout: float = Field(default=0.2, gt=0, lt=1, description="holdout: the share held out, the newest")
    gate_metric: str = Field(default="average_precision", description="the metric the gate compares")
    gate_margin: float = Field(
        default=0.005, ge=0, description="a candidate must beat production by more than this to be promoted"
    )


class DecisionSpec(Spec):
    """What the scorer decides from a score: `threshold` (the one training chose by best F1, or `value`)
    or `top_k` (the k best candidates)."""

    rule: Literal["threshold", "top_k"]
    value: float | None = Field(default=None, gt=0, lt=1, description="threshold: a fixed one")
    k: int | None = Field(default=None, ge=1, description="top_k: how many")

    @model_validator(mode="after")
    def _arguments(self) -> Self:
        if self.rule == "top_k" and self.k is None:
            raise ValueError("top_k needs k")
        if self.rule == "threshold" and self.k is not None:
            raise ValueError("k is for top_k")
        return self


class MonitorSpec(Spec):
    """Live quality (metric → the least acceptable value) and drift of the model's inputs."""

    quality: dict[str, float] = Field(
        default_factory=dict,
        description="metric → its least acceptable value in a window: auc_roc, average_precision, or one "
        "of the evaluation module's METRICS",
    )
    drift_threshold: float = Field(default=0.1, gt=0)
    min_drifted_features: int = Field(default=1, ge=1)
    drift_ignore: tuple[str, ...] = Field(default=(), description="inputs shown but never alerted on")
    feedback_ttl_days: float = Field(
        default=10.0, gt=0, description="how long a prediction waits for feedback"
    )
