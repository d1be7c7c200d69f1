"""Realistic synthetic shop data (GA360, GA4 and flat shapes) for the demo, tests and benchmarks."""
