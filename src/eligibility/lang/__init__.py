"""The rule language: expression syntax and parser, static types, runtime values and the only calendar kernels."""
