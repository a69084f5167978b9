"""The audit log: who did what to which store, from where, and how it ended."""
