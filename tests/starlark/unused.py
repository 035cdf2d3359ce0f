"""A py_library the worker does not depend on."""
