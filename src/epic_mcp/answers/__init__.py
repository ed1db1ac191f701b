"""Answers to whole clinical questions, built from many FHIR reads: the page walker, the latest values with
trends, the patient summary, which medications are current, the latest notes, and the codes a record holds.

May import: render, fhir, auth and the foundation modules. Knows nothing of MCP: each function takes a FhirClient
and returns typed results that the serve layer turns into tools.
"""
