"""The WebSocket gateway: wire codec, the pure session core, and the Starlette adapter."""
