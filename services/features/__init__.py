"""features service: event-time windows on the shared runner into the Feast online store and Delta."""
