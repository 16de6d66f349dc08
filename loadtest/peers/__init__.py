"""Peer servers measured in the same runs as `live`, so that reports give a ratio."""
