"""Composition root of echo: settings → clients → runner. Nothing is created at import time."""

from __future__ import annotations

from services.common.config import load_settings
from services.common.contracts import contracts_for, decoder_for
from services.common.service import configure_logging, run_service
from services.echo.config import EchoSettings
from services.echo.handlers import make_handler
from services.echo.transforms import echo_key

__all__ = ["main"]


def main() -> None:
    """Run echo until SIGTERM/SIGINT."""
    settings = load_settings(EchoSettings)
    configure_logging(settings.log_level)
    run_service(
        "echo",
        settings,
        {settings.input_topic: decoder_for(contracts_for(settings.declaration).raw)},
        make_handler(settings.output_topic, echo_key(settings.declaration)),
    )
