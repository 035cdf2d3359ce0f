"""A py_binary for the failure tests; never run."""
