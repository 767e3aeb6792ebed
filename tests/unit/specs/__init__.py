"""Spec loader test helpers and fixture files."""
