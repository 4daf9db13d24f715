
/*
 * Plain C types shared by the pure parts of the module (RESP decoding,
 * response building, JWT keys).  No nginx types here: these files are unit
 * tested and fuzzed without nginx.
 */

#ifndef _NGX_SESSION_DATA_H_INCLUDED_
#define _NGX_SESSION_DATA_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_SESSION_OK        0
#define NGX_SESSION_ERROR    -1
#define NGX_SESSION_AGAIN    -2


/* memory for results; the module passes ngx_palloc() on r->pool */
typedef void *(*ngx_session_alloc_pt)(void *pool, size_t size);


typedef struct {
    const unsigned char  *data;       /* NULL: absent */
    size_t                len;
} ngx_session_str_t;


/* hash fields the module reads; every other field is never emitted */
typedef enum {
    NGX_SESSION_FN = 0,
    NGX_SESSION_LN,
    NGX_SESSION_ADDR,
    NGX_SESSION_CITY,
    NGX_SESSION_STATE,
    NGX_SESSION_ZIP,
    NGX_SESSION_DOB,
    NGX_SESSION_EMAIL,
    NGX_SESSION_PHONE,
    NGX_SESSION_REFERENCE,
    NGX_SESSION_STATUS,
    NGX_SESSION_REQUEST_ID,
    NGX_SESSION_ADDITIONAL_DATA,
    NGX_SESSION_DCAMS_PLUS,
    NGX_SESSION_STORAGE,
    NGX_SESSION_DOCUMENTS,
    NGX_SESSION_OWNER,
    NGX_SESSION_NFIELDS
} ngx_session_field_e;


typedef struct {
    ngx_session_str_t     fields[NGX_SESSION_NFIELDS];
    size_t                hash_len;   /* field/value pairs stored; 0: none */
    ngx_session_str_t    *stops;      /* LIST elements, in order */
    size_t                nstops;
} ngx_session_data_t;


/* the field's name, for logs; "" for an out-of-range value */
const char *ngx_session_field_name(ngx_session_field_e field);
size_t ngx_session_field_name_len(ngx_session_field_e field);

/* classifies a hash field name; NGX_SESSION_NFIELDS for "not ours" */
ngx_session_field_e ngx_session_field_lookup(const unsigned char *name,
    size_t len);


#endif /* _NGX_SESSION_DATA_H_INCLUDED_ */
