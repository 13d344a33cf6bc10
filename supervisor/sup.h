/*
 * sup.h: PLACEHOLDER
 */
int sup_placeholder(void);
