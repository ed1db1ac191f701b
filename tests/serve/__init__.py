"""The MCP server: catalog tools, middleware, the tool listing, transports, hostile servers."""
