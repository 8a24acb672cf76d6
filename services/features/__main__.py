"""`python -m services.features`: run the features service; a configuration problem exits with one line."""

import sys

from services.common.errors import ConfigError, TransientError
from services.features.main import main

try:
    main()
except (ConfigError, TransientError) as exc:
    sys.exit(f"features: {exc}")
