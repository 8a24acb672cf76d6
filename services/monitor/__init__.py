"""monitor: label-joined live quality, drift of inputs and score against a precomputed reference, alerts."""
