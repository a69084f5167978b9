"""Provisioning: the state machine that turns a Pending store into a Ready one, and deletes stores."""
