"""GraphQL object types, one per module: built from a read model with `from_record()`, else `from_model()`."""
