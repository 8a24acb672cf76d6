"""The monitor's I/O: references from the registry, Evidently reports, the state changelog."""
