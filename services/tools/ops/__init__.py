"""Operator tools over a running loop: dead letters, lake maintenance, consumer offsets."""
