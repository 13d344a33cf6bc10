#!/bin/sh
# checksum.t: run the C unit tests of the checksum module (src/checksum.c), which print TAP.
# The build tree is $S3MUX_BUILDDIR, else the first of build-check, build and . under the
# source tree that holds a built s3muxd (as _find_builddir in t/lib/s3mux.py).
srcdir=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$S3MUX_BUILDDIR" ]; then
	S3MUX_BUILDDIR=$srcdir/build-check
	for cand in build-check build .; do
		if [ -x "$srcdir/$cand/supervisor/s3muxd" ]; then
			S3MUX_BUILDDIR=$srcdir/$cand
			break
		fi
	done
fi
prog=$S3MUX_BUILDDIR/t/unit/checksum_test
if [ ! -x "$prog" ]; then
	echo "Bail out! $prog is not built: run make t/unit/checksum_test in the build tree"
	exit 1
fi
: "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=0:exitcode=86}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1:exitcode=87}"
export ASAN_OPTIONS UBSAN_OPTIONS
exec "$prog"
