"""Adapters of the features service: Faust app, Feast repository and online writes, Delta rows."""
