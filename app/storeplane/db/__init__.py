"""The database: Tortoise configuration, migrations applied on start, and connection lifecycle."""
