"""BIG-Bench Extra Hard (BBEH) as a test suite: its scoring rules, tasks and programs."""
