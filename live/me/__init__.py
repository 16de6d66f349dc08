"""The signed-in user's own data: usage time, moderation that concerns them, export and erasure."""
