"""MLAgentBench-style suite: ML pipelines on real tabular data, offline (issue 11, in progress)."""
