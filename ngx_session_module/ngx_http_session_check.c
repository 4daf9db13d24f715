
/*
 * Checks of directive values (SPEC 5, issue 10 part 3): a value nginx would
 * take but every request would then fail on, or that does something other
 * than what it says, stops nginx -t with the directive's name and why.
 */


#include "ngx_http_session_check.h"


static char *ngx_http_session_check_size(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_session_check_msec(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_session_check_sec(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_session_check_prefix(ngx_conf_t *cf, void *post,
    void *data);


ngx_http_session_check_range_t  ngx_http_session_check_timeout = {
    ngx_http_session_check_msec, 1, 10 * 60 * 1000,
    "must be between 1ms and 10m"
};

ngx_http_session_check_range_t  ngx_http_session_check_buffer_size = {
    ngx_http_session_check_size, 1024, 16 * 1024 * 1024,
    "must be between 1k and 16m"
};

/* 0 switches waiting off; an hour holds a connection long enough */
ngx_http_session_check_range_t  ngx_http_session_check_wait_max = {
    ngx_http_session_check_msec, 0, 60 * 60 * 1000,
    "must be between 0 and 1h"
};

/* a larger leeway would take tokens that expired long ago */
ngx_http_session_check_range_t  ngx_http_session_check_leeway = {
    ngx_http_session_check_sec, 0, 60 * 60,
    "must be between 0s and 1h"
};

ngx_conf_post_t  ngx_http_session_check_key_prefix = {
    ngx_http_session_check_prefix
};


static char *
ngx_http_session_check_size(ngx_conf_t *cf, void *post, void *data)
{
    ngx_http_session_check_range_t *range = post;
    size_t *sp = data;

    if (*sp < range->low || *sp > range->high) {
        return range->reason;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_session_check_msec(ngx_conf_t *cf, void *post, void *data)
{
    ngx_http_session_check_range_t *range = post;
    ngx_msec_t *mp = data;

    if (*mp < range->low || *mp > range->high) {
        return range->reason;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_session_check_sec(ngx_conf_t *cf, void *post, void *data)
{
    ngx_http_session_check_range_t *range = post;
    time_t *tp = data;

    if (*tp < (time_t) range->low || *tp > (time_t) range->high) {
        return range->reason;
    }

    return NGX_CONF_OK;
}


/*
 * The key is P{ID} (SPEC 4): a brace in P would move the key's Redis
 * Cluster hash tag, a control character would end up in the log lines
 * that name the key.
 */

static char *
ngx_http_session_check_prefix(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t *prefix = data;

    u_char  *p, *last;

    if (prefix->len == 0) {
        return "takes a non-empty prefix";
    }

    if (prefix->len > 256) {
        return "takes a prefix of at most 256 bytes";
    }

    last = prefix->data + prefix->len;

    for (p = prefix->data; p < last; p++) {
        if (*p == '{' || *p == '}') {
            return "takes a prefix without \"{\" or \"}\": the braces "
                   "around the request_id are the key's hash tag";
        }

        if (*p <= 0x20 || *p == 0x7f) {
            return "takes a prefix without spaces or control characters";
        }
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_session_check_args(ngx_conf_t *cf)
{
    ngx_str_t   *value;
    ngx_uint_t   i, j;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" directive takes no empty value",
                               &value[0]);
            return NGX_ERROR;
        }

        for (j = 1; j < i; j++) {
            if (value[j].len == value[i].len
                && ngx_strncmp(value[j].data, value[i].data, value[i].len)
                   == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\" directive names \"%V\" twice",
                                   &value[0], &value[i]);
                return NGX_ERROR;
            }
        }

        if (cf->args->nelts > 2 && ngx_strcmp(value[i].data, "off") == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" directive takes \"off\" alone",
                               &value[0]);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Parsed as ngx_http_upstream_add() will, first: its own messages ("no
 * host in upstream") do not say which directive is wrong.
 */

ngx_int_t
ngx_http_session_check_address(ngx_conf_t *cf, ngx_str_t *url)
{
    ngx_url_t  u;

    if (url->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_result_pass\" needs an address: "
                           "host:port, unix:path or an upstream name");
        return NGX_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *url;
    u.default_port = 6379;
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_result_pass\" has an invalid address "
                           "\"%V\": %s", url, u.err ? u.err : "unusable");
        return NGX_ERROR;
    }

    return NGX_OK;
}


char *
ngx_http_session_check_complex_or_off(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_str_t                  *value;
    ngx_http_complex_value_t  **cv;

    cv = (ngx_http_complex_value_t **) (p + cmd->offset);

    if (*cv != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        *cv = NULL;
        return NGX_CONF_OK;
    }

    if (value[1].len == 0) {
        return "takes a non-empty value or \"off\"";
    }

    return ngx_http_set_complex_value_slot(cf, cmd, conf);
}
