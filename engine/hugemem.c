/*
 * hugemem.c - large zeroed tables backed by transparent huge pages where the kernel
 * allows it (hugemem.h).
 *
 * The tables that are probed at random, one cache line per lookup (recovery's per-key
 * map, the record cache's slots), cost a TLB miss per probe once they pass a few MiB:
 * under virtualisation a miss walks two page tables. With 2 MiB pages the walk mostly
 * hits. Debian's default THP mode is "madvise", so the region has to ask for them.
 * Anything smaller than a huge page comes from calloc.
 */
#include "hugemem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE (2u << 20)

void *huge_calloc(size_t n)
{
    if (n < HUGE_PAGE)
        return calloc(1, n ? n : 1);
    size_t len = (n + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
    /* a huge page must be aligned: map one more, then trim both ends to the boundary */
    uint8_t *m =
        mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (p > m)
        munmap(m, (size_t)(p - m));
    if (m + len + HUGE_PAGE > p + len)
        munmap(p + len, (size_t)(m + len + HUGE_PAGE - (p + len)));
    (void)madvise(p, len, MADV_HUGEPAGE); /* advice: without THP the pages stay small */
    return p;
}

void huge_free(void *p, size_t n)
{
    if (!p)
        return;
    if (n < HUGE_PAGE) {
        free(p);
        return;
    }
    munmap(p, (n + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1));
}
