"""The build pipeline: steps, ordering, the builder, the cache."""
