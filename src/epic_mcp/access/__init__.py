"""Who may call what: the MCP client behind a request (principal), named client credentials, the OAuth resource
server, the tool profiles, the per-client policy on tools and patients, the allowlist applied to what the FHIR
server sends back, and the audit trail.

May import: fhir, auth, the foundation modules and the MCP SDK's auth types. Never render, answers or serve.
"""
