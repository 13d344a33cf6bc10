/*
 * tap.h: a few macros for C unit tests that print TAP for prove.
 */
#ifndef S3MUX_TAP_H
#define S3MUX_TAP_H

#include <stdio.h>
#include <string.h>

struct tap {
	int n;
	int failed;
};

#define TAP_OK(t, cond, ...) do {					\
	(t)->n++;							\
	int tap_good_ = (cond) ? 1 : 0;					\
	if (!tap_good_)							\
		(t)->failed++;						\
	printf("%sok %d - ", tap_good_ ? "" : "not ", (t)->n);		\
	printf(__VA_ARGS__);						\
	printf("\n");							\
	if (!tap_good_)							\
		printf("#   failed at %s:%d\n", __FILE__, __LINE__);	\
} while (0)

#define TAP_STR_EQ(t, got, expected, ...) do {				\
	const char *tap_g_ = (got), *tap_e_ = (expected);		\
	int tap_eq_ = tap_g_ && tap_e_ ? strcmp(tap_g_, tap_e_) == 0 : tap_g_ == tap_e_; \
	TAP_OK(t, tap_eq_, __VA_ARGS__);				\
	if (!tap_eq_)							\
		printf("#      got: '%s'\n# expected: '%s'\n",		\
		    tap_g_ ? tap_g_ : "(null)", tap_e_ ? tap_e_ : "(null)"); \
} while (0)

#define TAP_DONE(t) (printf("1..%d\n", (t)->n), (t)->failed ? 1 : 0)

#endif
