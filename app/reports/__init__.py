"""Renderers of a CheckResult: HTML report, terminal, SARIF and GitHub annotations."""
