"""echo: the reference service — consumes transactions.raw and republishes valid ones unchanged."""
