"""Store engines: which chart a store runs and what "ready" means for it (charts/engines.yaml)."""
