"""Test harness for the registry-side tools: local registries, a token server, a
fault-injection proxy, OCI layout builders and the release binaries."""
