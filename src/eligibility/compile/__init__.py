"""From the validated rule model to the compiled form the evaluators run, with load-time checks."""
