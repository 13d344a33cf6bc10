#!/bin/sh
# config-parser.t: the C unit tests of the configuration parser (src/config.c).
exec "$(dirname "$0")/lib/run-unit" config_test
