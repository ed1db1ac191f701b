"""Compact rendering: every type, real Epic bodies, unseen data, facts kept."""
