"""`python -m services.scorer`: run the scorer; a configuration problem exits with one line."""

import sys

from services.common.errors import ConfigError, TransientError
from services.scorer.main import main

try:
    main()
except (ConfigError, TransientError) as exc:
    sys.exit(f"scorer: {exc}")
