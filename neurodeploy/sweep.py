"""Quantization sweeps (issue 27): placeholder until the sweep lands."""
