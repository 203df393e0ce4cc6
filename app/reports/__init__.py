"""Renderers of a CheckResult: HTML report, SARIF, GitHub annotations (terminal: app.render)."""
