"""The MCP face of epic-mcp: the server (tools built from the catalog, the whole-question helper tools, the
population tools, resources, prompts), its middleware (answer budget, redaction, deadline, granted scopes,
argument checks), the published tool listing, and the stdio and streamable HTTP transports with their probes.

May import every lower layer (access, phi, answers, render, fhir, auth, population, bulk, sandbox, foundation);
only cli and doctor import it.
"""
