"""The accuracy evaluation: bank, graders, oracle, PHI mode, model runner, report."""
