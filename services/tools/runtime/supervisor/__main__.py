"""`python -m services.tools.runtime.supervisor [service ...]`: what `rtloop up` starts in the background."""

from __future__ import annotations

import logging
import sys

from services.common.config import load_settings
from services.tools.config import ToolSettings
from services.tools.runtime.supervisor.daemon import Supervisor
from services.tools.runtime.supervisor.setup import SERVICES


def main(argv: list[str]) -> int:
    """Supervise the services named in `argv` (default: all four) until SIGTERM."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    services = tuple(argv) or SERVICES
    unknown = [s for s in services if s not in SERVICES]
    if unknown:
        print(f"unknown services {unknown}: choose from {', '.join(SERVICES)}", file=sys.stderr)
        return 2
    return Supervisor(load_settings(ToolSettings), services).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
