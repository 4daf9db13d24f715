# Keys fetched from the identity provider (SPEC 7): session_jwt_key_request
# and session_jwt_key_cache against the harness's JWKS server, which
# serves, rotates, fails and counts its fetches.  Each scenario starts its
# own nginx, so that its one worker begins with no fetched set.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP qw(decode_json);
use Time::HiRes qw(sleep time);
use SessionTest;
use SessionTest::Jwks;
use SessionTest::Keys;

BAIL_OUT('module not built: run make') unless have_module();

my $TMP = tmpdir();
mkdir "$TMP/www";
mkdir "$TMP/www/p";
write_file('www/p/index.html', "ok\n");

my $k1 = provider_key('RS256', kid => 'k1');
my $k2 = provider_key('ES256', kid => 'k2');
my $file = provider_key('EdDSA', kid => 'file-1');
write_file('file.jwks', jwks_json($file));

# one nginx whose /p/ takes keys from $idp (and, with files => 1, a file)
sub fetching_nginx {
    my ($idp, %o) = @_;
    my $cache = $o{cache} // '5m';
    my $files = $o{files} ? "session_jwt_key_file %%TMP%%/file.jwks;" : '';
    my $abort = $o{ignore_abort} ? "proxy_ignore_client_abort on;" : '';
    return start_nginx(<<"EOF", vars => { IDP => $idp->url }, %{ $o{nginx} || {} });
        location /p/ {
            session_jwt api;
            session_jwt_key_request /_jwks;
            session_jwt_key_cache $cache;
            $files
            root %%TMP%%/www;
            add_header X-Sub \$session_jwt_claim_sub always;
        }
        location = /_jwks {
            internal;
            proxy_pass %%IDP%%;
            proxy_connect_timeout 1s;
            proxy_read_timeout 2s;
            subrequest_output_buffer_size 64k;
            $abort
        }
        location = /open {
            return 200 "open";
        }
EOF
}

sub bearer { (Authorization => "Bearer $_[0]") }
sub get { my ($ngx, $t, @h) = @_; http_get($ngx->port, '/p/', defined $t ? bearer($t) : (), @h) }

# a request sent now, its answer read later
sub send_get {
    my ($ngx, $t) = @_;
    my $c = http_conn($ngx->port);
    $c->send_raw("GET /p/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 . "Authorization: Bearer $t\r\n\r\n");
    return $c;
}

sub is_503 {
    my ($r, $name) = @_;
    subtest $name => sub {
        is $r->{status}, 503, 'status 503' or diag $r->{raw};
        is $r->{headers}{'content-type'}, 'application/json', 'JSON';
        is $r->{headers}{'cache-control'}, 'no-store', 'no-store';
        my $b = eval { decode_json($r->{body}) } || {};
        is $b->{error}, 'temporarily_unavailable', 'error code';
        ok length($b->{error_description} // ''), 'a description';
    };
}

sub allow_fetch_errors { (allow => [qr/upstream timed out|Connection refused|key request/]) }

######################################################################
# the first fetch, and every later one from the same worker

subtest 'first use fetches the set once, later tokens use it' => sub {
    my $idp = start_jwks(keys => jwks_json($k1));
    my $ngx = fetching_nginx($idp);
    is $idp->fetches, 0, 'nothing fetched before a token arrives';
    is get($ngx)->{status}, 401, 'no token: 401';
    is $idp->fetches, 0, 'no token fetches nothing';
    my $r = get($ngx, $k1->token);
    is $r->{status}, 200, 'a token of the fetched set: 200' or diag $r->{raw};
    is $r->{headers}{'x-sub'}, 'client-a', 'claims of it';
    is get($ngx, $k1->token(sub => 'client-b'))->{status}, 200, 'another token';
    is $idp->fetches, 1, 'one fetch';
    my $req = ($idp->requests)[0];
    is $req->{method}, 'GET', 'fetched with GET';
    like $ngx->error_log, qr/key request "\/_jwks": 1 keys, used for 300 s/,
        'the swap is logged at info';
    $ngx->stop;
    error_log_clean($ngx);
};

subtest '20 simultaneous first requests make one fetch' => sub {
    my $idp = start_jwks(keys => jwks_json($k1), delay => 400);
    my $ngx = fetching_nginx($idp);
    my @c = map { send_get($ngx, $k1->token) } 1 .. 20;
    my @st = map { $_->read_response->{status} // 0 } @c;
    is scalar(grep { $_ == 200 } @st), 20, 'all twenty: 200' or diag "@st";
    is $idp->fetches, 1, 'one fetch';
    $ngx->stop;
    error_log_clean($ngx);
};

subtest 'rotation: a new kid is accepted on first use, no reload' => sub {
    my $idp = start_jwks(keys => jwks_json($k1));
    my $ngx = fetching_nginx($idp);
    is get($ngx, $k1->token)->{status}, 200, 'old key: 200';
    $idp->serve(jwks_json($k1, $k2));
    my $r = get($ngx, $k2->token);
    is $r->{status}, 200, 'the rotated-in key: 200 at once' or diag $r->{raw};
    is $idp->fetches, 2, 'one refetch for it';
    is get($ngx, $k2->token)->{status}, 200, 'and after';
    is get($ngx, $k1->token)->{status}, 200, 'the old key still in the set';
    is $idp->fetches, 2, 'no more fetches';
    $idp->serve(jwks_json($k2));
    # k1 left the provider's set, but the set in use is 5 minutes good
    is get($ngx, $k1->token(sub => 'client-c'))->{status}, 200,
        'a removed key serves until the set is refetched';
    $ngx->stop;
    error_log_clean($ngx);
};

subtest 'a flood of unknown kids makes one refetch per 30 s' => sub {
    my $idp = start_jwks(keys => jwks_json($k1));
    my $ngx = fetching_nginx($idp);
    is get($ngx, $k1->token)->{status}, 200, 'the set is fetched';
    my @st;
    for my $i (1 .. 25) {
        my $forged = provider_key('HS256', kid => "forged-$i");
        my $t0 = time;
        my $r = get($ngx, $forged->token);
        push @st, $r->{status};
        like $r->{headers}{'www-authenticate'} // '', qr/error_description="unknown kid"/,
            "forged kid $i: unknown kid" if $i <= 2;
    }
    is scalar(grep { $_ == 401 } @st), 25, 'all 401' or diag "@st";
    is $idp->fetches, 2, 'the first unknown kid refetched, the others did not';
    # a real rotation within the 30 s is not seen until they are over
    $idp->serve(jwks_json($k1, $k2));
    is get($ngx, $k2->token)->{status}, 401, 'within 30 s: 401 at once';
    is $idp->fetches, 2, 'and no fetch';
    $ngx->stop;
    error_log_clean($ngx);
};

######################################################################
# the provider fails

subtest 'provider down before the first fetch: 503, retried after 10 s' => sub {
    my $idp = start_jwks(keys => jwks_json($k1));
    $idp->fail(500);
    my $ngx = fetching_nginx($idp);
    is_503(get($ngx, $k1->token), 'first request');
    like $ngx->error_log, qr/\[error\].*key request "\/_jwks" failed \(status 500\): the status is not 200; no key set yet/,
        'logged at error with the status';
    is_503(get($ngx, $k1->token), 'again at once');
    is $idp->fetches, 1, 'within 10 s no second fetch';
    $idp->serve;
    is get($ngx, $k1->token)->{status}, 503, 'provider back, still within 10 s';
    sleep 10.2;
    is get($ngx, $k1->token)->{status}, 200, 'after 10 s: fetched, 200';
    is $idp->fetches, 2, 'the second fetch';
    is get($ngx)->{status}, 401, 'no token is 401, not 503';
    $ngx->stop;
    error_log_clean($ngx, allow_fetch_errors());
};

# how each failure looks in the log; the set is never had
run_cases([
    { name => 'status 500', setup => sub { $_[0]->fail(500) }, status => 500 },
    { name => 'status 404', setup => sub { $_[0]->fail(404) }, status => 404 },
    { name => 'garbage', setup => sub { $_[0]->garbage }, status => 200,
      why => qr/invalid JSON|neither a JWK/ },
    { name => 'a set with no usable key', setup => sub { $_[0]->serve('{"keys":[]}') },
      status => 200, why => qr/no usable key/ },
    { name => 'a broken key', status => 200,
      setup => sub { $_[0]->serve(jwks_json({ kty => 'RSA', kid => 'x', n => 'AQAB' })) },
      why => qr/missing "e"|"e"/ },
    { name => 'timeout', setup => sub { $_[0]->hang }, status => 504 },
    { name => 'closed port', setup => sub { $_[0]->close }, status => 502 },
    # nginx ends the request whose subrequest overflowed (a body filter
    # fails its connection); the next request gets the 503
    { name => 'larger than subrequest_output_buffer_size', second => 1,
      setup => sub { $_[0]->serve(jwks_json($k1, map { { kty => 'oct', kid => "e$_",
                       use => 'enc', k => 'A' x 200 } } 1 .. 400)) },
      why => qr/could not be read whole/ },
], sub {
    my ($c) = @_;
    my $idp = start_jwks(keys => jwks_json($k1));
    $c->{setup}->($idp);
    my $ngx = fetching_nginx($idp);
    my $t0 = time;
    my $r = get($ngx, $k1->token);
    $r = get($ngx, $k1->token) if $c->{second};
    is_503($r, '503 temporarily_unavailable');
    cmp_ok time - $t0, '<', 3, 'answered within the proxy timeouts';
    my $log = $ngx->error_log;
    like $log, qr/\[error\].*key request "\/_jwks" failed \(status $c->{status}\)/,
        "logged with status $c->{status}" if defined $c->{status};
    like $log, $c->{why}, 'and the reason' if $c->{why};
    unlike $log, qr/AQAB|"kty"/, 'no key material in the log';
    $ngx->stop;
    error_log_clean($ngx, allow => [qr/upstream timed out|Connection refused|key request|too big subrequest/]);
});

subtest 'provider down after the first fetch: the last good set serves' => sub {
    my $idp = start_jwks(keys => jwks_json($k1));
    my $ngx = fetching_nginx($idp, cache => '1s');
    is get($ngx, $k1->token)->{status}, 200, 'fetched';
    for my $case ([fail => 500], [garbage => 200], [close => 502]) {
        my ($how, $status) = @$case;
        $idp->$how($how eq 'fail' ? 500 : ());
        sleep 1.1;
        my $mark = $ngx->mark;
        my $r = get($ngx, $k1->token);
        is $r->{status}, 200, "$how: the stale set keeps serving" or diag $r->{raw};
        sleep 0.3;      # the refetch is in the background
        like $ngx->error_log($mark),
            qr/\[error\].*failed \(status $status\).*the last good key set stays in use/,
            "$how: logged with status $status";
        my $n = $idp->fetches;
        is get($ngx, $k1->token(sub => 'x'))->{status}, 200, "$how: again";
        is $idp->fetches, $n, "$how: no refetch within 10 s";
        $idp->serve;
        sleep 10.1 unless $how eq 'close';
    }
    $ngx->stop;
    error_log_clean($ngx, allow_fetch_errors());
};

######################################################################
# staleness

subtest 'key_cache: a set is refetched when it expires' => sub {
    my $idp = start_jwks(keys => jwks_json($k1));
    my $ngx = fetching_nginx($idp, cache => '2s');
    is get($ngx, $k1->token)->{status}, 200, 'fetched';
    is get($ngx, $k1->token)->{status}, 200, 'used';
    is $idp->fetches, 1, 'one fetch within 2 s';
    sleep 2.2;
    is get($ngx, $k1->token)->{status}, 200, 'expired: served with the stale set';
    ok $idp->wait_fetches(2, 3), 'and refetched in the background';
    sleep 0.3;
    is $idp->fetches, 2, 'the second fetch';
    # a key that left the set is gone with the refetch, and its cached
    # verification with it (the generation changed)
    my $t = $k1->token;
    is get($ngx, $t)->{status}, 200, 'a token verified and cached';
    $idp->serve(jwks_json($k2));
    sleep 2.2;
    is get($ngx, $t)->{status}, 200, 'stale: the old set still serves';
    ok $idp->wait_fetches(3, 3), 'while the new one is fetched';
    sleep 0.3;
    my $r = get($ngx, $t);
    is $r->{status}, 401, 'the same token after its key left the set: 401'
        or diag $r->{raw};
    $ngx->stop;
    error_log_clean($ngx);
};

subtest 'a stale set serves while it is refetched' => sub {
    my $idp = start_jwks(keys => jwks_json($k1));
    my $ngx = fetching_nginx($idp, cache => '1s');
    is get($ngx, $k1->token)->{status}, 200, 'fetched';
    $idp->delay(1500);
    sleep 1.1;
    # SPEC 7: only a policy that has never had keys makes requests wait
    my $t0 = time;
    my $r = get($ngx, $k1->token);              # notices, refetches
    is $r->{status}, 200, 'the request that notices: 200';
    cmp_ok time - $t0, '<', 0.8, '... at once, with the stale set';
    ok $idp->wait_fetches(2, 3), 'the refetch is under way';
    $t0 = time;
    $r = get($ngx, $k1->token(sub => 'client-b'));
    is $r->{status}, 200, 'another request meanwhile: 200';
    cmp_ok time - $t0, '<', 0.8, '... at once';
    sleep 1.6;
    is get($ngx, $k1->token)->{status}, 200, 'after it: 200';
    is $idp->fetches, 2, 'one refetch';
    $ngx->stop;
    error_log_clean($ngx);
};

######################################################################
# files and fetched keys together; reloads

subtest 'key files and the fetched set together' => sub {
    my $idp = start_jwks(keys => jwks_json($k1));
    my $ngx = fetching_nginx($idp, files => 1);
    is get($ngx, $file->token)->{status}, 200, 'a key of the file';
    is get($ngx, $k1->token)->{status}, 200, 'a key of the fetched set';
    $ngx->stop;
    error_log_clean($ngx);

    $idp->fail(500);
    $ngx = fetching_nginx($idp, files => 1);
    is get($ngx, $file->token)->{status}, 200, 'provider down: the file still serves';
    is get($ngx, $k1->token)->{status}, 503, 'a kid only the provider has: 503';
    $ngx->stop;
    error_log_clean($ngx, allow_fetch_errors());
};

subtest 'a reload during a fetch' => sub {
    my $idp = start_jwks(keys => jwks_json($k1), delay => 1200);
    my $ngx = fetching_nginx($idp);
    my @c = map { send_get($ngx, $k1->token) } 1 .. 3;
    ok $idp->wait_fetches(1, 3), 'a fetch is under way';
    ok $ngx->reload(10), 'reloaded';
    is scalar(grep { ($_->read_response->{status} // 0) == 200 } @c), 3,
        'the old worker finished its requests';
    $idp->delay(0);
    is get($ngx, $k1->token)->{status}, 200, 'the new worker fetches its own';
    $ngx->stop;
    error_log_clean($ngx);
};

subtest 'a waiting client that goes away' => sub {
    my $idp = start_jwks(keys => jwks_json($k1), delay => 800);
    my $ngx = fetching_nginx($idp);
    my $first = send_get($ngx, $k1->token);
    ok $idp->wait_fetches(1, 3), 'a fetch is under way';
    my $gone = send_get($ngx, $k1->token);
    sleep 0.2;
    $gone->close;
    is $first->read_response->{status}, 200, 'the fetching request: 200';
    is get($ngx, $k1->token)->{status}, 200, 'and the next';
    $ngx->stop;
    error_log_clean($ngx);
};

subtest 'the client whose request fetches goes away' => sub {
    my $idp = start_jwks(keys => jwks_json($k1), delay => 800);
    my $ngx = fetching_nginx($idp);
    my $fetcher = send_get($ngx, $k1->token);
    ok $idp->wait_fetches(1, 3), 'a fetch is under way';
    my $waiter = send_get($ngx, $k1->token);
    sleep 0.2;
    $fetcher->close;
    my $r = $waiter->read_response;
    is $r->{status}, 200, 'the parked request: 200' or diag $r->{raw};
    unlike $ngx->error_log, qr/key request "\/_jwks" failed/,
        'a client gone is no failure of the provider';
    is get($ngx, $k1->token)->{status}, 200, 'and the next';
    $ngx->stop;
    error_log_clean($ngx);
};

subtest 'an HTTP/2 client gone during the first fetch is no failure' => sub {
    my $idp = start_jwks(keys => jwks_json($k1), delay => 800);
    my $ngx = fetching_nginx($idp, ignore_abort => 1, nginx => { http2 => 1 });
    my $t = $k1->token;
    my $url = 'http://127.0.0.1:' . $ngx->port . '/p/';
    system("curl -s -o /dev/null --http2-prior-knowledge -m 0.3 "
           . "-H 'Authorization: Bearer $t' $url");
    sleep 1.0;
    my $out = `curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge -H 'Authorization: Bearer $t' $url`;
    is $out, '200', 'the next request: 200, not 503 for 10 s';
    is $idp->fetches, 1, 'the complete reply was used';
    unlike $ngx->error_log, qr/failed \(status 200\)/, 'no failure logged';
    $ngx->stop;
    error_log_clean($ngx);
};

subtest 'clients going away cannot make fetches unbounded' => sub {
    my $idp = start_jwks(keys => jwks_json($k1), delay => 800);
    my $ngx = fetching_nginx($idp);
    for (1 .. 10) {
        my $c = send_get($ngx, $k1->token);
        sleep 0.05;
        $c->close;
    }
    sleep 0.2;
    my $n = $idp->fetches;
    cmp_ok $n, '<=', 1, 'ten carriers gone within a second: one fetch start';
    my $r = get($ngx, $k1->token);
    is $r->{status}, 200, 'the next request waits out the gap and fetches'
        or diag $r->{raw};
    is $idp->fetches, $n + 1, 'one more fetch';
    $ngx->stop;
    error_log_clean($ngx);
};

subtest 'an abandoned kid refetch leaves the refetch to be had' => sub {
    my $idp = start_jwks(keys => jwks_json($k1));
    my $ngx = fetching_nginx($idp);
    is get($ngx, $k1->token)->{status}, 200, 'fetched';
    $idp->serve(jwks_json($k1, $k2));
    $idp->delay(800);
    my $c = send_get($ngx, $k2->token);
    ok $idp->wait_fetches(2, 3), 'the kid refetch is under way';
    $c->close;
    sleep 0.3;
    my $r = get($ngx, $k2->token);
    is $r->{status}, 200, 'the next request with the new kid: 200, not 401 for 30 s'
        or diag $r->{raw};
    $ngx->stop;
    error_log_clean($ngx);
};

# SPEC 3: what needs no key is refused with 401, before any fetch
run_cases([
    { name => 'two parts', token => 'abc.def' },
    { name => 'not base64url', token => 'a*c.def.ghi' },
    { name => 'header not JSON', token => 'eyJhbGci.eyJzdWIiOiJ4In0.c2ln' },
    { name => 'alg none', token => 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln' },
    { name => 'unknown typ',
      token => 'eyJhbGciOiJSUzI1NiIsInR5cCI6ImZvbyJ9.eyJzdWIiOiJ4In0.c2ln' },
    { name => 'kid not a string',
      token => 'eyJhbGciOiJSUzI1NiIsImtpZCI6MX0.eyJzdWIiOiJ4In0.c2ln' },
], sub {
    my ($c) = @_;
    my $idp = start_jwks(keys => jwks_json($k1));
    my $ngx = fetching_nginx($idp);
    my $r = get($ngx, $c->{token});
    is $r->{status}, 401, '401 while no set exists, not 503' or diag $r->{raw};
    like $r->{headers}{'www-authenticate'} // '', qr/error="invalid_token"/,
        'invalid_token';
    is $idp->fetches, 0, 'no fetch';
    $ngx->stop;
    error_log_clean($ngx);
});

subtest '503 says when to retry' => sub {
    my $idp = start_jwks(keys => jwks_json($k1));
    $idp->fail(500);
    my $ngx = fetching_nginx($idp);
    is get($ngx, $k1->token)->{headers}{'retry-after'}, '10', 'Retry-After: 10';
    $ngx->stop;
    error_log_clean($ngx, allow_fetch_errors());
};

subtest 'the fetch through a location that inherits session_jwt' => sub {
    my $idp = start_jwks(keys => jwks_json($k1));
    my $ngx = start_nginx(<<'EOF', vars => { IDP => $idp->url });
        session_jwt api;
        session_jwt_key_request /_jwks;
        location /p/ { root %%TMP%%/www; }
        location = /_jwks { internal; proxy_pass %%IDP%%; }
EOF
    is get($ngx, $k1->token)->{status}, 200, 'the own fetch is not refused';
    $ngx->stop;
    error_log_clean($ngx);
};

subtest 'configuration' => sub {
    my ($rc, $out) = nginx_t(<<'EOF');
        location / { session_jwt api; }
EOF
    isnt $rc, 0, 'session_jwt without keys fails nginx -t';
    like $out, qr/needs "session_jwt_key_file" or "session_jwt_key_request"/, 'and says so';
    ($rc, $out) = nginx_t(<<'EOF');
        location / { session_jwt api; session_jwt_key_request /k; session_jwt_key_cache 0s; }
EOF
    isnt $rc, 0, 'key_cache 0s fails';
    ($rc, $out) = nginx_t(<<'EOF');
        location / { session_jwt api; session_jwt_key_request _jwks; }
EOF
    isnt $rc, 0, 'a key request without a leading / fails';
    like $out, qr/takes a URI starting with "\/"/, 'and says so';
    ($rc, $out) = nginx_t(<<'EOF');
        session_jwt_key_request /k;
        location / { session_jwt api; }
        location /off/ { session_jwt api; session_jwt_key_request off;
                         session_jwt_key_file %%TMP%%/file.jwks; }
EOF
    is $rc, 0, 'inherited from the server, off in a location' or diag $out;
};

done_testing;
