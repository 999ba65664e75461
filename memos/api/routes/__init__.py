"""The API's routers, one module per area (system, admin, cubes, memories, chat)."""
