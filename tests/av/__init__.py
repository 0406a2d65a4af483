"""Tests of the av package (audio sources)."""
