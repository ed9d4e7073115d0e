"""Benchmarks of the ci_tools.docker collection: `benchmarks/run` writes BENCHMARKS.md.

See BENCHMARKS.md (method and how to reproduce) and benchmarks/__main__.py (options).
"""
