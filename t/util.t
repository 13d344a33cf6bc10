#!/bin/sh
# util.t: the C unit tests of the shared helpers (src/util.c).
exec "$(dirname "$0")/lib/run-unit" util_test
