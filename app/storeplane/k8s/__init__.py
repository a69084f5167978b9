"""The Kubernetes side: helm and the API server. Knows nothing of GraphQL or the database."""
