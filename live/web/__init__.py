"""The web client: static ES modules and CSS served at `/` by `live serve` (no build step)."""
