"""Who may call what: per-client tools and patients, OAuth, named clients over HTTP."""
