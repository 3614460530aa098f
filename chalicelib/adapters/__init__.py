"""Adapters: the only modules that import AWS or provider SDKs."""
