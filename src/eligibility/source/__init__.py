"""Reading rule files: safe YAML with positions, the validated rule-file model, the source register (citations), value forms, loading a rule set."""
