"""Storeplane: the control plane that provisions isolated WooCommerce stores on Kubernetes."""
