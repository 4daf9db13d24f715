
/*
 * An allocator for the decoders under test, standing in for a request's
 * pool: it counts what was taken (nalloc) and test_free_all() frees it
 * all, as the pool's destruction would.
 */

#ifndef _TEST_ALLOC_H_INCLUDED_
#define _TEST_ALLOC_H_INCLUDED_


#include <stdlib.h>


static unsigned  nalloc;
static void     *allocs[1024];
static unsigned  nallocs;


static void *
test_alloc(void *pool, size_t size)
{
    void  *p;

    (void) pool;

    nalloc++;

    if (nallocs == sizeof(allocs) / sizeof(allocs[0])) {
        return NULL;
    }

    p = malloc(size);
    allocs[nallocs++] = p;

    return p;
}


static void
test_free_all(void)
{
    while (nallocs) {
        free(allocs[--nallocs]);
    }
}


#endif /* _TEST_ALLOC_H_INCLUDED_ */
