# loadgen.mk: builds bench/loadgen with the project's own compiler and flags.
#
# Read after a configured build directory's Makefile, whose variables it uses (CC, CFLAGS,
# WARN_CFLAGS, the pkg-config flags, S3MUX_LIBS with src/libs3mux.a), so loadgen is compiled
# exactly as the project's programs are.  bench/run does:
#
#   make -C build-bench -f Makefile -f ../bench/loadgen.mk bench-loadgen
#
# The benchmark is not part of the project's build or test suite: Makefile.am knows nothing
# of it.

BENCH_SRC = $(top_srcdir)/bench/loadgen.c

bench/loadgen: $(BENCH_SRC) src/libs3mux.a
	@mkdir -p bench
	$(AM_V_CC)$(CC) $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CFLAGS) \
		$(CFLAGS) -o $@ $(BENCH_SRC) $(AM_LDFLAGS) $(LDFLAGS) $(S3MUX_LIBS) $(LIBS)

bench-loadgen: bench/loadgen

.PHONY: bench-loadgen
