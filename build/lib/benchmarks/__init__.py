"""Load tests and benchmarks: scripts that report figures, never timed tests."""
