"""woollama as an MCP server, over stdio (`woollama mcp`) and Streamable HTTP (`/mcp`)."""
