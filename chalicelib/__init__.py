"""Holdfast: keeps a caller's place in line without keeping them on hold."""
