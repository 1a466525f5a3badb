"""The game day report: index.html (charts and tables), report.json, junit.xml and summary.md."""
