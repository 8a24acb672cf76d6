"""Unit tests of the monitor's pure parts."""
