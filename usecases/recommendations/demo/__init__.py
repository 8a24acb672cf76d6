"""`rtloop demo --usecase recommendations`: the recommendations loop end to end on this machine."""
