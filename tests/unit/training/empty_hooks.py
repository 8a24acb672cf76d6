"""A use case's evaluation module that adds nothing."""
