#!/bin/sh
# sigv4.t: the C unit tests of SigV4 signing, verification and aws-chunked decoding (src/sigv4.c).
exec "$(dirname "$0")/lib/run-unit" sigv4_test
