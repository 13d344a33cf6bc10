/*
 * frontend.c: PLACEHOLDER, being written.
 */
int main(void) { return 1; }
