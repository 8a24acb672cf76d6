"""`python -m services.ingest`: run the ingest service; a configuration problem exits with one line."""

import sys

from services.common.errors import ConfigError, TransientError
from services.ingest.main import main

try:
    main()
except (ConfigError, TransientError) as exc:
    sys.exit(f"ingest: {exc}")
