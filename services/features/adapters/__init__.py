"""Adapters of features: Feast repository, online writes, Delta rows, partitions, changelogs, lake writer."""
