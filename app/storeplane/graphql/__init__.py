"""The GraphQL API (Strawberry): thin resolvers over the services."""
