"""The embedded default: Holdfast on one machine with no AWS or provider account.

Never deployed (Chalice packages only app.py and chalicelib/)."""
