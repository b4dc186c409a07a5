"""Benchmarks of smpp-engine: each compares contenders in one run and prints ratios."""
