"""`python -m services.monitor`: run the monitor; a configuration problem exits with one line."""

import sys

from services.common.errors import ConfigError, TransientError
from services.monitor.main import main

try:
    main()
except (ConfigError, TransientError) as exc:
    sys.exit(f"monitor: {exc}")
