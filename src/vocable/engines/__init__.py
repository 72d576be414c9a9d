"""Swappable back-ends, one small interface per kind."""
