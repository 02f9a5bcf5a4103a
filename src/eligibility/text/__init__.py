"""Everything a person reads: rendering decisions as text and Markdown (de/en), verbalising rules, the jinja2 templates."""
