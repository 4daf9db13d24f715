# Configuration: what nginx -t refuses, and how the directives inherit.
# The table holds every directive of both modules and every kind of bad
# value: zero, negative, out of range, empty, duplicate, wrong context,
# conflicting pairs.  Each refusal names the directive and the reason.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Crypt::JWT qw(encode_jwt);
use MIME::Base64 qw(encode_base64url);
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my $SECRET = 'config-test-secret-config-test-secret-0123';
my $JWKS = write_file('cfg.jwks', '{"keys":[{"kty":"oct","alg":"HS256","k":"'
                                 . encode_base64url($SECRET) . '"}]}');

# a location with the endpoint, and one with a token check, around a snippet
sub pass { "location /a/ { session_result_pass 127.0.0.1:6379; $_[0] }" }
sub jwt { "location /j/ { session_jwt j; session_jwt_key_file %%JWKS%%; $_[0] }" }

run_cases([
    # session_result_pass
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
      error => qr/invalid number of arguments in "session_result_pass"/ },
    { name => 'empty address',
      conf => 'location /a/ { session_result_pass ""; }',
      error => qr/"session_result_pass" needs an address: host:port, unix:path or an upstream name/ },
    { name => 'port out of range',
      conf => 'location /a/ { session_result_pass 127.0.0.1:99999; }',
      error => qr/"session_result_pass" has an invalid address "127.0.0.1:99999": invalid port/ },
    { name => 'port 0',
      conf => 'location /a/ { session_result_pass 127.0.0.1:0; }',
      error => qr/"session_result_pass" has an invalid address "127.0.0.1:0": invalid port/ },
    { name => 'a URL',
      conf => 'location /a/ { session_result_pass redis://127.0.0.1:6379; }',
      error => qr/"session_result_pass" has an invalid address "redis:\/\/127.0.0.1:6379"/ },
    { name => 'a path after the address',
      conf => 'location /a/ { session_result_pass 127.0.0.1:6379/0; }',
      error => qr/"session_result_pass" has an invalid address "127.0.0.1:6379\/0": invalid host/ },
    { name => 'empty unix path',
      conf => 'location /a/ { session_result_pass unix:; }',
      error => qr/"session_result_pass" has an invalid address "unix:"/ },
    { name => 'pass, then metrics, in one location',
      conf => 'location /a/ { session_result_pass 127.0.0.1:6379; session_result_metrics; }',
      error => qr/"session_result_metrics" and "session_result_pass" cannot be in the same location/ },
    { name => 'metrics, then pass, in one location',
      conf => 'location /a/ { session_result_metrics; session_result_pass 127.0.0.1:6379; }',
      error => qr/"session_result_metrics" and "session_result_pass" cannot be in the same location/ },

    # session_result_metrics
    { name => 'metrics: duplicate',
      conf => 'location /m { session_result_metrics; session_result_metrics; }',
      error => qr/"session_result_metrics" directive is duplicate/ },
    { name => 'metrics: an argument',
      conf => 'location /m { session_result_metrics on; }',
      error => qr/invalid number of arguments in "session_result_metrics"/ },
    { name => 'metrics: server context',
      conf => 'session_result_metrics;',
      error => qr/"session_result_metrics" directive is not allowed here/ },

    # session_result_key_prefix
    { name => 'key_prefix: empty',
      conf => pass('session_result_key_prefix "";'),
      error => qr/"session_result_key_prefix" directive takes a non-empty prefix/ },
    { name => 'key_prefix: a brace',
      conf => pass('session_result_key_prefix "s{x}:";'),
      error => qr/"session_result_key_prefix" directive takes a prefix without "\{" or "\}"/ },
    { name => 'key_prefix: a space',
      conf => pass('session_result_key_prefix "s x:";'),
      error => qr/"session_result_key_prefix" directive takes a prefix without spaces/ },
    { name => 'key_prefix: too long',
      conf => pass('session_result_key_prefix ' . ('p' x 257) . ';'),
      error => qr/"session_result_key_prefix" directive takes a prefix of at most 256 bytes/ },
    { name => 'key_prefix: duplicate',
      conf => pass('session_result_key_prefix a:; session_result_key_prefix b:;'),
      error => qr/"session_result_key_prefix" directive is duplicate/ },

    # session_result_{connect,send,read}_timeout
    (map {
        my $d = "session_result_${_}_timeout";
        ({ name => "$d: zero",
           conf => pass("$d 0;"),
           error => qr/"$d" directive must be between 1ms and 10m/ },
         { name => "$d: too long",
           conf => pass("$d 11m;"),
           error => qr/"$d" directive must be between 1ms and 10m/ },
         { name => "$d: negative",
           conf => pass("$d -1s;"),
           error => qr/"$d" directive invalid value/ },
         { name => "$d: not a time",
           conf => pass("$d soon;"),
           error => qr/"$d" directive invalid value/ },
         { name => "$d: duplicate",
           conf => pass("$d 1s; $d 2s;"),
           error => qr/"$d" directive is duplicate/ },
         { name => "$d: if context",
           conf => 'location /a/ { if ($uri) { ' . "$d 1s; } }",
           error => qr/"$d" directive is not allowed here/ })
    } qw(connect send read)),

    # session_result_buffer_size
    { name => 'buffer_size: zero',
      conf => pass('session_result_buffer_size 0;'),
      error => qr/"session_result_buffer_size" directive must be between 1k and 16m/ },
    { name => 'buffer_size: too small',
      conf => pass('session_result_buffer_size 512;'),
      error => qr/"session_result_buffer_size" directive must be between 1k and 16m/ },
    { name => 'buffer_size: too large',
      conf => pass('session_result_buffer_size 17m;'),
      error => qr/"session_result_buffer_size" directive must be between 1k and 16m/ },
    { name => 'buffer_size: negative',
      conf => pass('session_result_buffer_size -1k;'),
      error => qr/"session_result_buffer_size" directive invalid value/ },
    { name => 'buffer_size: not a size',
      conf => pass('session_result_buffer_size big;'),
      error => qr/"session_result_buffer_size" directive invalid value/ },
    { name => 'buffer_size: duplicate',
      conf => pass('session_result_buffer_size 8k; session_result_buffer_size 16k;'),
      error => qr/"session_result_buffer_size" directive is duplicate/ },

    # session_result_pretty, session_result_owner_claim, session_result_cache
    { name => 'pretty: not a flag',
      conf => pass('session_result_pretty yes;'),
      error => qr/invalid value "yes" in "session_result_pretty"/ },
    { name => 'pretty: duplicate',
      conf => pass('session_result_pretty on; session_result_pretty off;'),
      error => qr/"session_result_pretty" directive is duplicate/ },
    { name => 'owner_claim: empty',
      conf => pass('session_result_owner_claim "";'),
      error => qr/"session_result_owner_claim" directive takes a non-empty value or "off"/ },
    { name => 'owner_claim: duplicate',
      conf => pass('session_result_owner_claim sub; session_result_owner_claim tid;'),
      error => qr/"session_result_owner_claim" directive is duplicate/ },
    { name => 'owner_claim without session_jwt',
      conf => pass('session_result_owner_claim sub;'),
      error => qr/"session_result_owner_claim" needs "session_jwt" in the same location/ },
    { name => 'cache: too small',
      conf => pass(''), http => 'session_result_cache 1k;',
      error => qr/"session_result_cache" directive takes a size of 64k or more, "shared:NAME:SIZE" or "off"/ },
    { name => 'cache: shared, too small',
      conf => pass(''), http => 'session_result_cache shared:b:16k;',
      error => qr/invalid zone size "16k": 64k or more/ },
    { name => 'cache: shared, no size',
      conf => pass(''), http => 'session_result_cache shared:b;',
      error => qr/invalid zone "shared:b": use "shared:NAME:SIZE"/ },
    { name => 'cache: shared, no name',
      conf => pass(''), http => 'session_result_cache shared::1m;',
      error => qr/invalid zone "shared::1m": use "shared:NAME:SIZE"/ },
    { name => 'cache: one zone for both caches',
      conf => jwt(''), http => 'session_result_cache shared:z:1m; session_jwt_cache shared:z:1m;',
      error => qr/zone "z" is already (?:used by another cache|declared for a different use)/ },
    { name => 'cache: zero',
      conf => pass(''), http => 'session_result_cache 0;',
      error => qr/"session_result_cache" directive takes a size of 64k or more/ },
    { name => 'cache: empty',
      conf => pass(''), http => 'session_result_cache "";',
      error => qr/"session_result_cache" directive takes a size of 64k or more/ },
    { name => 'cache: duplicate',
      conf => pass(''), http => 'session_result_cache 1m; session_result_cache off;',
      error => qr/"session_result_cache" directive is duplicate/ },
    { name => 'cache: location context',
      conf => pass('session_result_cache 1m;'),
      error => qr/"session_result_cache" directive is not allowed here/ },

    # session_jwt, session_jwt_key_file
    { name => 'jwt: empty realm',
      conf => 'location /j/ { session_jwt ""; session_jwt_key_file %%JWKS%%; }',
      error => qr/"session_jwt" directive takes no empty value/ },
    { name => 'jwt: realm with a quote',
      conf => q{location /j/ { session_jwt 'a"b'; session_jwt_key_file %%JWKS%%; }},
      error => qr/"session_jwt" directive has a realm with a quote/ },
    { name => 'jwt: duplicate',
      conf => jwt('session_jwt k;'),
      error => qr/"session_jwt" directive is duplicate/ },
    { name => 'jwt: no key file',
      conf => 'location /j/ { session_jwt j; }',
      error => qr/"session_jwt" needs "session_jwt_key_file"/ },
    { name => 'jwt: with satisfy any',
      conf => jwt('satisfy any;'),
      error => qr/"session_jwt" cannot be used with "satisfy any"/ },
    { name => 'key_file: empty',
      conf => 'location /j/ { session_jwt j; session_jwt_key_file ""; }',
      error => qr/"session_jwt_key_file" directive takes no empty value/ },
    { name => 'key_file: missing',
      conf => 'location /j/ { session_jwt j; session_jwt_key_file /nonexistent.jwks; }',
      error => qr/invalid key file "\/nonexistent.jwks"/ },

    # session_jwt_algorithms, _issuer, _audience, _leeway, _token, _cache
    { name => 'algorithms: none',
      conf => jwt('session_jwt_algorithms none;'),
      error => qr/algorithm "none" cannot be allowed/ },
    { name => 'algorithms: empty',
      conf => jwt('session_jwt_algorithms "";'),
      error => qr/"session_jwt_algorithms" directive takes no empty value/ },
    { name => 'algorithms: one named twice',
      conf => jwt('session_jwt_algorithms HS256 RS256 HS256;'),
      error => qr/"session_jwt_algorithms" directive names "HS256" twice/ },
    { name => 'algorithms: duplicate',
      conf => jwt('session_jwt_algorithms HS256; session_jwt_algorithms RS256;'),
      error => qr/"session_jwt_algorithms" directive is duplicate/ },
    { name => 'issuer: empty',
      conf => jwt('session_jwt_issuer "";'),
      error => qr/"session_jwt_issuer" directive takes a non-empty value or "off"/ },
    { name => 'issuer: duplicate',
      conf => jwt('session_jwt_issuer a; session_jwt_issuer b;'),
      error => qr/"session_jwt_issuer" directive is duplicate/ },
    { name => 'audience: empty',
      conf => jwt('session_jwt_audience a "";'),
      error => qr/"session_jwt_audience" directive takes no empty value/ },
    { name => 'audience: one named twice',
      conf => jwt('session_jwt_audience a b a;'),
      error => qr/"session_jwt_audience" directive names "a" twice/ },
    { name => 'audience: off among names',
      conf => jwt('session_jwt_audience a off;'),
      error => qr/"session_jwt_audience" directive takes "off" alone/ },
    { name => 'audience: duplicate',
      conf => jwt('session_jwt_audience a; session_jwt_audience b;'),
      error => qr/"session_jwt_audience" directive is duplicate/ },
    { name => 'leeway: negative',
      conf => jwt('session_jwt_leeway -1s;'),
      error => qr/"session_jwt_leeway" directive invalid value/ },
    { name => 'leeway: too long',
      conf => jwt('session_jwt_leeway 2h;'),
      error => qr/"session_jwt_leeway" directive must be between 0s and 1h/ },
    { name => 'leeway: duplicate',
      conf => jwt('session_jwt_leeway 1s; session_jwt_leeway 2s;'),
      error => qr/"session_jwt_leeway" directive is duplicate/ },
    { name => 'token: empty',
      conf => jwt('session_jwt_token "";'),
      error => qr/"session_jwt_token" directive takes a non-empty value or "off"/ },
    { name => 'token: duplicate',
      conf => jwt('session_jwt_token $cookie_a; session_jwt_token off;'),
      error => qr/"session_jwt_token" directive is duplicate/ },
    { name => 'token: unknown variable',
      conf => jwt('session_jwt_token $no_such_variable;'),
      error => qr/unknown "no_such_variable" variable/ },
    { name => 'jwt cache: too small',
      conf => jwt(''), http => 'session_jwt_cache 3;',
      error => qr/"session_jwt_cache" directive takes a number of entries \(4 or more\), "shared:NAME:SIZE" or "off"/ },
    { name => 'jwt cache: shared, bad size',
      conf => jwt(''), http => 'session_jwt_cache shared:t:lots;',
      error => qr/invalid zone size "lots": 64k or more/ },
    { name => 'jwt cache: negative',
      conf => jwt(''), http => 'session_jwt_cache -1;',
      error => qr/"session_jwt_cache" directive takes a number of entries/ },
    { name => 'jwt cache: duplicate',
      conf => jwt(''), http => 'session_jwt_cache 8; session_jwt_cache off;',
      error => qr/"session_jwt_cache" directive is duplicate/ },
    { name => 'jwt cache: server context',
      conf => 'session_jwt_cache 8;',
      error => qr/"session_jwt_cache" directive is not allowed here/ },
], sub {
    my ($c) = @_;
    my ($rc, $out) = nginx_t($c->{conf}, http => $c->{http},
                             vars => { JWKS => $JWKS });
    isnt $rc, 0, 'nginx -t fails';
    like $out, qr/\[emerg\]/, 'an [emerg]';
    like $out, $c->{error}, 'naming the directive and the reason';
});

subtest 'a valid configuration passes nginx -t' => sub {
    my ($rc, $out) = nginx_t(<<'EOF', vars => { JWKS => $JWKS });
        location /api/session/result/ {
            session_result_pass 127.0.0.1:6379;
            session_result_key_prefix "vx:";
            session_result_connect_timeout 200ms;
            session_result_send_timeout 2s;
            session_result_read_timeout 3s;
            session_result_buffer_size 128k;
            session_result_pretty on;
        }
        location /j/ {
            session_jwt j;
            session_jwt_key_file %%JWKS%%;
            session_jwt_algorithms HS256 RS256;
            session_jwt_audience a b;
            session_jwt_leeway 1h;
            session_jwt_token $cookie_t;
            session_result_owner_claim sub;
            session_result_pass unix:/tmp/redis.sock;
            session_result_buffer_size 1k;
            session_result_read_timeout 10m;
        }
        location = /metrics {
            session_result_metrics;
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

subtest 'session_jwt_token off: the Authorization header again' => sub {
    my $ngx = start_nginx(<<'EOF', vars => { JWKS => $JWKS });
        session_jwt j;
        session_jwt_key_file %%JWKS%%;
        session_jwt_token $cookie_t;
        # content-phase handlers, after the access phase ("return" is not)
        location /outer/ {
            session_result_metrics;
        }
        location /inner/ {
            session_jwt_token off;
            session_result_metrics;
        }
EOF
    my $tok = encode_jwt(payload => { sub => 'x', exp => time + 600 },
                         alg => 'HS256', key => $SECRET);
    my $get = sub { http_get($ngx->port, @_)->{status} };
    is $get->('/outer/', Cookie => "t=$tok"), 200, 'outer: the cookie';
    is $get->('/outer/', Authorization => "Bearer $tok"), 401, 'outer: not the header';
    is $get->('/inner/', Authorization => "Bearer $tok"), 200, 'inner: the header';
    is $get->('/inner/', Cookie => "t=$tok"), 401, 'inner: not the cookie';
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
