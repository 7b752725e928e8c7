"""Benchmarks: throughput, latency and growth of relay, side by side with the naive approach.

Run them all with `.venv/bin/python -m bench` (`--quick` for a smoke run). Each part is also a
module of its own (`python -m bench.burst`, ...). Nothing here is imported by relay itself.
"""
