/*
 * s3muxd.c: PLACEHOLDER, being written.
 */
#include "sup.h"
int main(void) { return sup_placeholder(); }
