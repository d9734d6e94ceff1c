"""The servers the benchmark compares against this service. Each reads the same
model: the pipeline built by `build_pipeline.py` from this service's artifact."""
