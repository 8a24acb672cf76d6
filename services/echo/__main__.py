"""`python -m services.echo`: run the echo service; a configuration problem exits with one line."""

import sys

from services.common.errors import ConfigError, TransientError
from services.echo.main import main

try:
    main()
except (ConfigError, TransientError) as exc:
    sys.exit(f"echo: {exc}")
