/*
 * spawn.c: PLACEHOLDER, being written.
 */
#include "sup.h"
int sup_placeholder(void) { return 1; }
