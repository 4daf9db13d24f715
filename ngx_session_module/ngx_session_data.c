
/*
 * The hash fields the module knows.  Pure C.
 */


#include <string.h>

#include "ngx_session_data.h"


typedef struct {
    const char  *name;
    size_t       len;
} ngx_session_field_name_t;


#define ngx_session_field(s)  { s, sizeof(s) - 1 }

/* indexed by ngx_session_field_e */
static const ngx_session_field_name_t  ngx_session_fields[] = {
    ngx_session_field("fn"),
    ngx_session_field("ln"),
    ngx_session_field("addr"),
    ngx_session_field("city"),
    ngx_session_field("state"),
    ngx_session_field("zip"),
    ngx_session_field("dob"),
    ngx_session_field("email"),
    ngx_session_field("phone"),
    ngx_session_field("reference"),
    ngx_session_field("status"),
    ngx_session_field("request_id"),
    ngx_session_field("additionalData"),
    ngx_session_field("dcams_plus"),
    ngx_session_field("storage"),
    ngx_session_field("documents"),
    ngx_session_field("owner")
};


const char *
ngx_session_field_name(ngx_session_field_e field)
{
    if ((unsigned) field >= NGX_SESSION_NFIELDS) {
        return "";
    }

    return ngx_session_fields[field].name;
}


size_t
ngx_session_field_name_len(ngx_session_field_e field)
{
    if ((unsigned) field >= NGX_SESSION_NFIELDS) {
        return 0;
    }

    return ngx_session_fields[field].len;
}


ngx_session_field_e
ngx_session_field_lookup(const unsigned char *name, size_t len)
{
    unsigned  i;

    for (i = 0; i < NGX_SESSION_NFIELDS; i++) {
        if (ngx_session_fields[i].len == len
            && memcmp(ngx_session_fields[i].name, name, len) == 0)
        {
            return (ngx_session_field_e) i;
        }
    }

    return NGX_SESSION_NFIELDS;
}
