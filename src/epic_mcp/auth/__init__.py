"""Signing in to Epic as a Backend Services app: keys and their JWKS, the signed client assertion, the one shared
token manager (an httpx.Auth flow that every FHIR request goes through), and the URL rules that keep the bearer
token on the configured FHIR server.

May import: the foundation modules (settings, errors, redaction) only. Knows nothing of FHIR resources or MCP.
"""
