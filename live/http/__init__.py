"""The HTTP side: the app factory, the route registry with validation and OpenAPI, errors."""
