"""Room chat: durable ordered storage with seq/epoch, recovery, and the rules a message must pass."""
