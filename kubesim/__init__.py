"""A Kubernetes API server emulator for tests, benchmarks and the no-cluster demo."""
