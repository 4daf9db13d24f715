
/*
 * Checks of directive values, for both modules of the .so: every refusal
 * is an [emerg] that names the directive and the reason.  A leaf: nginx
 * only.
 */

#ifndef _NGX_HTTP_SESSION_CHECK_H_INCLUDED_
#define _NGX_HTTP_SESSION_CHECK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* a bounded value for ngx_conf_set_{size,msec,sec}_slot, as cmd->post */
typedef struct {
    ngx_conf_post_handler_pt   post_handler;
    ngx_uint_t                 low;
    ngx_uint_t                 high;
    char                      *reason;   /* "must be between 1k and 16m" */
} ngx_http_session_check_range_t;


/* session_result_*_timeout: 1ms .. 10m */
extern ngx_http_session_check_range_t  ngx_http_session_check_timeout;

/* session_result_buffer_size: 1k .. 16m, a reply held whole in memory */
extern ngx_http_session_check_range_t  ngx_http_session_check_buffer_size;

/* session_result_wait_max: 0 .. 1h */
extern ngx_http_session_check_range_t  ngx_http_session_check_wait_max;

/* session_jwt_leeway: 0 .. 1h */
extern ngx_http_session_check_range_t  ngx_http_session_check_leeway;

/* session_result_key_prefix, for ngx_conf_set_str_slot */
extern ngx_conf_post_t  ngx_http_session_check_key_prefix;


/*
 * The arguments of a directive with a handler of its own: none empty, none
 * named twice.  NGX_ERROR: refused and logged.
 */
ngx_int_t ngx_http_session_check_args(ngx_conf_t *cf);

/* session_result_pass: an address nginx can use, said in its words */
ngx_int_t ngx_http_session_check_address(ngx_conf_t *cf, ngx_str_t *url);

/*
 * A complex value, or "off": the default again in an inner level (the
 * field is NULL then).  For session_jwt_token.
 */
char *ngx_http_session_check_complex_or_off(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


#endif /* _NGX_HTTP_SESSION_CHECK_H_INCLUDED_ */
