# Configuration: what nginx -t refuses, and how the directives inherit.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

run_cases([
    { name => 'regex location',
      conf => 'location ~ ^/api/ { session_result_pass 127.0.0.1:6379; }',
      error => qr/needs a prefix location ending in "\/"/ },
    { name => 'exact location',
      conf => 'location = /api/x/ { session_result_pass 127.0.0.1:6379; }',
      error => qr/needs a prefix location/ },
    { name => 'prefix without the trailing slash',
      conf => 'location /api/session/result { session_result_pass 127.0.0.1:6379; }',
      error => qr/needs a prefix location/ },
    { name => 'named location',
      conf => 'location @s { session_result_pass 127.0.0.1:6379; }',
      error => qr/needs a prefix location/ },
    { name => 'duplicate',
      conf => 'location /a/ { session_result_pass 127.0.0.1:6379; session_result_pass 127.0.0.1:6380; }',
      error => qr/"session_result_pass" directive is duplicate/ },
    { name => 'server context',
      conf => 'session_result_pass 127.0.0.1:6379;',
      error => qr/"session_result_pass" directive is not allowed here/ },
    { name => 'no address',
      conf => 'location /a/ { session_result_pass; }',
      error => qr/invalid number of arguments/ },
    { name => 'bad timeout',
      conf => 'location /a/ { session_result_pass 127.0.0.1:6379; session_result_read_timeout soon; }',
      error => qr/"session_result_read_timeout" directive invalid value/ },
    { name => 'bad size',
      conf => 'location /a/ { session_result_pass 127.0.0.1:6379; session_result_buffer_size big; }',
      error => qr/"session_result_buffer_size" directive invalid value/ },
    { name => 'bad flag',
      conf => 'location /a/ { session_result_pass 127.0.0.1:6379; session_result_pretty yes; }',
      error => qr/invalid value "yes" in "session_result_pretty"/ },
    { name => 'unknown upstream port',
      conf => 'location /a/ { session_result_pass 127.0.0.1:99999; }',
      error => qr/invalid port/ },
], sub {
    my ($c) = @_;
    my ($rc, $out) = nginx_t($c->{conf});
    isnt $rc, 0, 'nginx -t fails';
    like $out, $c->{error}, 'with a clear message';
});

subtest 'a valid configuration passes nginx -t' => sub {
    my ($rc, $out) = nginx_t(<<'EOF');
        location /api/session/result/ {
            session_result_pass 127.0.0.1:6379;
            session_result_key_prefix "vx:";
            session_result_connect_timeout 200ms;
            session_result_send_timeout 2s;
            session_result_read_timeout 3s;
            session_result_buffer_size 128k;
            session_result_pretty on;
        }
EOF
    is $rc, 0, 'nginx -t passes' or diag $out;
};

subtest 'inheritance' => sub {
    my $redis = start_redis();
    redis_cmd($redis->port, HSET => 'outer:{abc}', fn => 'outer');
    redis_cmd($redis->port, HSET => 'inner:{abc}', fn => 'inner');
    redis_cmd($redis->port, HSET => 'session:{abc}', fn => 'default');

    my $ngx = start_nginx(<<'EOF', redis => $redis, http => 'session_result_pretty on;');
        session_result_key_prefix outer:;

        location /outer/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /inner/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
            session_result_key_prefix inner:;
            session_result_pretty off;
        }
EOF
    my $r = http_get($ngx->port, '/outer/abc');
    like $r->{body}, qr/"fn": "outer"/, 'prefix from server, pretty from http';
    $r = http_get($ngx->port, '/inner/abc');
    like $r->{body}, qr/^\{"fn":"inner",/, 'location overrides both';
    $ngx->stop;
    error_log_clean($ngx);
};

subtest 'a location nested in the endpoint does not inherit it' => sub {
    my $redis = start_redis();
    my $ngx = start_nginx(<<'EOF', redis => $redis);
        location /api/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
            location /api/static/ {
                return 200 "static\n";
            }
        }
EOF
    my $r = http_request($ngx->port, 'POST', '/api/static/x', {}, body => 'x');
    is $r->{status}, 200, 'nested location serves itself, POST allowed';
    is $r->{body}, "static\n", 'its own content';
    $ngx->stop;
    error_log_clean($ngx);
};

done_testing;
