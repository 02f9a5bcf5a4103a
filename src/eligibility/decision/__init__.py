"""The decision: the public model, person records as input, and their validation."""
