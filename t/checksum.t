#!/bin/sh
# checksum.t: the C unit tests of the checksums (src/checksum.c).
exec "$(dirname "$0")/lib/run-unit" checksum_test
