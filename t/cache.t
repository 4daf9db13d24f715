# The worker's cache of rendered bodies: never stale, never another
# session's or another tenant's body, and off when switched off.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Crypt::JWT qw(encode_jwt);
use MIME::Base64 qw(encode_base64url);
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my $SECRET = 'cache-test-secret-cache-test-secret-0123';
my $JWKS = write_file('c.jwks', '{"keys":[{"kty":"oct","alg":"HS256","k":"'
                               . encode_base64url($SECRET) . '"}]}');

sub bearer {
    'Bearer ' . encode_jwt(payload => { sub => $_[0], exp => time + 600 },
                           alg => 'HS256', key => $SECRET);
}

my $redis = start_redis();

sub store {
    my ($id, @fields) = @_;
    redis_cmd($redis->port, DEL => "session:{$id}");
    redis_cmd($redis->port, HSET => "session:{$id}", @fields);
}

run_cases([
    { name => 'cache on (default)', http => '' },
    { name => 'cache off', http => 'session_result_cache off;' },
    { name => 'a small cache', http => 'session_result_cache 64k;' },
], sub {
    my ($c) = @_;
    my $ngx = start_nginx(<<'EOF', redis => $redis, http => $c->{http}, vars => { JWKS => $JWKS });
        location /api/session/result/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /pretty/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
            session_result_pretty on;
        }
        location /owned/ {
            session_jwt "c";
            session_jwt_key_file %%JWKS%%;
            session_result_owner_claim sub;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
EOF
    my $get = sub { http_get($ngx->port, @_) };

    store('s1', fn => 'First', status => 'PENDING');
    like $get->('/api/session/result/s1')->{body}, qr/"status":"PENDING"/, 'first read';
    like $get->('/api/session/result/s1')->{body}, qr/"status":"PENDING"/, 'again';
    my $etag = $get->('/api/session/result/s1')->{headers}{etag};

    store('s1', fn => 'First', status => 'PASS');
    my $r = $get->('/api/session/result/s1');
    like $r->{body}, qr/"status":"PASS"/, 'a change in the store shows at once';
    isnt $r->{headers}{etag}, $etag, 'with a new ETag';
    is $get->('/api/session/result/s1', 'If-None-Match' => $etag)->{status}, 200,
       'the old ETag no longer matches';

    # the same stored bytes under two ids: each body names its own id
    store('twin-a', fn => 'Twin');
    store('twin-b', fn => 'Twin');
    like $get->('/api/session/result/twin-a')->{body}, qr/"request_id":"twin-a"/, 'twin a';
    like $get->('/api/session/result/twin-b')->{body}, qr/"request_id":"twin-b"/, 'twin b';

    like $get->('/pretty/twin-a')->{body}, qr/\n    "fn": "Twin"/, 'pretty after compact';
    like $get->('/api/session/result/twin-a')->{body}, qr/^\{"fn":"Twin"/, 'compact after pretty';

    # the owner is checked on every request, cached body or not
    store('owned', fn => 'Owned', owner => 'client-a');
    is $get->('/owned/owned', Authorization => bearer('client-a'))->{status}, 200, 'owner';
    is $get->('/owned/owned', Authorization => bearer('client-b'))->{status}, 404,
       'another tenant after the owner: 404';
    is $get->('/owned/owned', Authorization => bearer('client-a'))->{status}, 200, 'owner again';

    $ngx->stop;
    error_log_clean($ngx);
});

subtest 'bad sizes fail nginx -t' => sub {
    my ($rc, $out) = nginx_t('', http => 'session_result_cache 1k;');
    isnt $rc, 0, 'below 64k';
    like $out, qr/takes a size of 64k or more/, 'says why';
    ($rc, $out) = nginx_t('location /x/ { session_result_cache 1m; }');
    isnt $rc, 0, 'not in a location';
};

done_testing;
