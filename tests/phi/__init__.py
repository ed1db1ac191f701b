"""The PHI-minimising mode: pseudonyms, date shifting, scrubbing, leakage and accuracy evaluations."""
