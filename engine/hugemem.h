/*
 * hugemem.h - zeroed tables of n bytes, backed by 2 MiB pages when n is at least that
 * (hugemem.c). Free with the same n.
 */
#ifndef LS_HUGEMEM_H
#define LS_HUGEMEM_H

#include <stddef.h>

void *huge_calloc(size_t n);
void huge_free(void *p, size_t n);

#endif
