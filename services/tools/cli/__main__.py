"""`python -m services.tools.cli`: the same as the `rtloop` command."""

from services.tools.cli import app

app(prog_name="rtloop")
