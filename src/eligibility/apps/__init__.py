"""The jobs built on the engine, each owning its output: evaluate, report, allocation, impact, upcoming, timeline, validate, cases, docs, synth."""
