"""Signing in: keys, assertions, the token manager, where the token may go."""
