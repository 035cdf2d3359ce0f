"""Launch script of //tests/stamp:pipeline: only its images are pushed by the tests."""
