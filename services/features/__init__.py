"""features service: faust-streaming event-time windows into the Feast online store and Delta."""
