"""Rooms: who is in which room on this node, and fan-out of room events across nodes."""
