"""Readers and writers per format: rosters (CSV, XLSX, JSON lines), header matching, safe cells, the Excel result, diagnostics as JSON/SARIF."""
