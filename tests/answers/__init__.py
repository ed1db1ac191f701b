"""Whole-question answers: the page walker, summary, medications, latest values, answer budget."""
