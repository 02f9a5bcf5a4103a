"""Evaluating compiled rules: per record with its explanation, column-wise for tables, and the optional durable-rules backend."""
