"""The MCP server (``memos mcp``): memory tools for agents, scoped to the caller's tenant."""
