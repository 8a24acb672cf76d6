"""monitor service: arrives with its own issue; the shared runtime it will use is services/common."""
