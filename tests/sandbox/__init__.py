"""The local sandbox: re-dating, lifecycle, a new user's first run."""
