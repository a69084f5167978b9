"""GraphQL object types, one per module, each built from its model or value with `from_model()`."""
