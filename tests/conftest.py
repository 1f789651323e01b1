"""Shared fixtures. The embedded-core fixture is added here by the core."""
