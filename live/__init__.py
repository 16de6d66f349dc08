"""live: a self-hostable real-time live-streaming community backend."""

__version__ = "0.1.0"
