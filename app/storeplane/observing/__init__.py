"""Observing: watch events become StoreEvents, readiness, progress and drift, without polling the API."""
