
/*
 * What the fuzz targets share: an allocator that frees everything a run
 * allocated, the way the request pool does.
 */

#ifndef _FUZZ_H_INCLUDED_
#define _FUZZ_H_INCLUDED_


#include <stdint.h>
#include <stdlib.h>


typedef struct {
    void    **blocks;
    size_t    n;
    size_t    cap;
} fuzz_pool_t;


static void *
fuzz_alloc(void *pool, size_t size)
{
    void         *p, **b;
    fuzz_pool_t  *fp = pool;

    if (fp->n == fp->cap) {
        fp->cap = fp->cap ? fp->cap * 2 : 16;
        b = realloc(fp->blocks, fp->cap * sizeof(void *));
        if (b == NULL) {
            abort();
        }
        fp->blocks = b;
    }

    p = malloc(size ? size : 1);
    if (p == NULL) {
        abort();
    }

    fp->blocks[fp->n++] = p;

    return p;
}


static void
fuzz_pool_free(fuzz_pool_t *fp)
{
    size_t  i;

    for (i = 0; i < fp->n; i++) {
        free(fp->blocks[i]);
    }

    free(fp->blocks);
    fp->blocks = NULL;
    fp->n = fp->cap = 0;
}


#endif /* _FUZZ_H_INCLUDED_ */
