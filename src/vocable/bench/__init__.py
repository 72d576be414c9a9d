"""Benchmarks behind `vocable bench`, and the spoken corpora they generate."""
