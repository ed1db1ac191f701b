"""The FHIR client, results, the patient guard, validation and Epic's search rules, faults."""
