#!/bin/sh
# A stand-in tool for the toolchain analysis tests; never run.
exit 1
