# The cache of rendered bodies: never stale, never another session's or
# another tenant's body, and off when switched off; with one worker and
# with two, per worker (each has its own) and shared by the workers (one
# render per machine).
#
# The same assertions pass whether the cache hits or not, so each run also
# observes the cache: cache_events() counts the module's hits and misses per
# worker.  It reads the debug log lines
#     session result: body cache hit
#     session result: body cache miss
# (nginx's pid#tid prefix tells the worker); once metrics counters exist
# (SPEC 8) cache_events() reads them instead and nothing else changes.  The
# render is saved, not the store read, so the store cannot tell a hit.

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

# {pid => {hit => n, miss => n}} for the lines logged after $from
sub cache_events {
    my ($ngx, $from) = @_;
    my $log = $ngx->error_log($from);
    my %e;
    $e{$1}{$2}++ while $log
        =~ /\[debug\] (\d+)#\d+: \*\d+ session result: body cache (hit|miss)/g;
    return \%e;
}

sub total { my ($e, $what) = @_; my $n = 0; $n += $_->{$what} // 0 for values %$e; $n }

run_cases([ map { my $w = $_; map { +{ %$_, workers => $w,
                                        name => "$_->{name}, $w worker(s)" } }
    { name => 'cache on (default)', http => '', cache => 1 },
    { name => 'cache off', http => 'session_result_cache off;', cache => 0 },
    { name => 'a small cache', http => 'session_result_cache 64k;', cache => 1 },
    { name => 'shared', http => 'session_result_cache shared:bodies:1m;',
      cache => 1, shared => 1 },
  } 1, 2 ], sub {
    my ($c) = @_;
    my %opt = (redis => $redis, http => $c->{http}, vars => { JWKS => $JWKS },
               workers => $c->{workers}, log_level => 'debug');
    my $ngx = start_nginx(<<'EOF', %opt);
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

    # the same unchanged session, read 12 times: with a cache, the first
    # read in each worker renders, the others are hits
    store('s1', fn => 'First', status => 'PENDING');
    my $mark = $ngx->mark;
    like $get->('/api/session/result/s1')->{body}, qr/"status":"PENDING"/, 'first read';
    like $get->('/api/session/result/s1')->{body}, qr/"status":"PENDING"/, 'again'
        for 1 .. 10;
    my $etag = $get->('/api/session/result/s1')->{headers}{etag};
    my $ev = cache_events($ngx, $mark);
    {
        if ($c->{cache}) {
            is total($ev, 'hit') + total($ev, 'miss'), 12, 'every read looked in the cache';
            if ($c->{shared}) {
                is total($ev, 'miss'), 1, 'one miss in all workers'
                    or diag explain $ev;
                is total($ev, 'hit'), 11, 'the other reads were hits';
            } else {
                ok total($ev, 'miss') <= $c->{workers}, 'one miss per worker at most'
                    or diag explain $ev;
                cmp_ok total($ev, 'hit'), '>=', 12 - $c->{workers}, 'the other reads were hits';
            }
        } else {
            is total($ev, 'hit') + total($ev, 'miss'), 0, 'no cache, no lookup';
        }
    }

    # shared: reads served by both workers still render once
    if ($c->{shared} && $c->{workers} > 1) {
        store('both', fn => 'Both');
        $mark = $ngx->mark;
        my $e;
        for (1 .. 300) {
            $get->('/api/session/result/both');
            $e = cache_events($ngx, $mark);
            last if keys %$e >= 2;
        }
        is scalar(keys %$e), 2, 'reads were served by both workers';
        is total($e, 'miss'), 1, 'one render for both' or diag explain $e;
    }

    store('s1', fn => 'First', status => 'PASS');
    $mark = $ngx->mark;
    my $r = $get->('/api/session/result/s1');
    is total(cache_events($ngx, $mark), 'hit'), 0, 'a changed session is no hit'
        if $c->{cache};
    like $r->{body}, qr/"status":"PASS"/, 'a change in the store shows at once';
    isnt $r->{headers}{etag}, $etag, 'with a new ETag';
    is $get->('/api/session/result/s1', 'If-None-Match' => $etag)->{status}, 200,
       'the old ETag no longer matches';

    # the same stored bytes under two ids: each body names its own id
    store('twin-a', fn => 'Twin');
    store('twin-b', fn => 'Twin');
    like $get->('/api/session/result/twin-a')->{body}, qr/"request_id":"twin-a"/, 'twin a';
    $mark = $ngx->mark;
    like $get->('/api/session/result/twin-b')->{body}, qr/"request_id":"twin-b"/, 'twin b';
    is total(cache_events($ngx, $mark), 'hit'), 0, "another id's entry is no hit"
        if $c->{cache};

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
