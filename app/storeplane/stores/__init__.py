"""Stores: one WooCommerce (or other engine) shop per Kubernetes namespace."""
