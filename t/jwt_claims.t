# Claims before the access phase (issue 8 item 6): the token is verified in
# the rewrite phase, so $session_jwt_claim_* serve limit_req, limit_conn,
# map, if and set, also when verification waits for a key fetch and after
# an internal redirect.  Also: session_jwt_type and session_jwt_scope (every
# row, with nginx inheritance), claim names matched exactly, and tokens of
# every algorithm shaped as providers issue them.

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
for my $d (qw(www www/p www/m)) { mkdir "$TMP/$d" }
write_file('www/p/index.html', "ok\n");
write_file('www/m/index.html', "m\n");

my $rs = provider_key('RS256', kid => 'file-rs');
write_file('keys.jwks', jwks_json($rs));

my @ALGS = qw(RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA);
my %PK = map { $_ => provider_key($_, kid => "idp-$_") } @ALGS;
my $idp = start_jwks(keys => jwks_json(map { $PK{$_} } @ALGS), delay => 300);
my $slow = start_jwks(keys => '{"slow":true}', delay => 700);

my $ngx = start_nginx(<<'EOF', vars => { IDP => $idp->url, SLOW => $slow->url }, http => <<'HTTP');
        session_jwt_key_file %%TMP%%/keys.jwks;
        root %%TMP%%/www;

        location /lr/ {
            session_jwt api;
            limit_req zone=per_sub;
            limit_req_status 429;
            alias %%TMP%%/www/p/;
        }
        location /lrf/ {
            session_jwt api;
            session_jwt_key_request /_jwks;
            limit_req zone=per_sub_fetched;
            limit_req_status 503;
            alias %%TMP%%/www/p/;
        }
        location /lc/ {
            session_jwt api;
            limit_conn conns 1;
            limit_conn_status 503;
            proxy_pass %%SLOW%%;
        }
        location /map/ {
            session_jwt api;
            set $who "$session_jwt_claim_sub";
            if ($session_jwt_claim_sub = blocked) {
                return 451;
            }
            add_header X-Tier $tier always;
            add_header X-Who $who always;
            add_header X-Tenant-Lower "$session_jwt_claim_tenantid" always;
            add_header X-Tenant "$tenant" always;
            add_header X-Sub "$session_jwt_claim_sub" always;
            alias %%TMP%%/www/p/;
        }
        location /r/ {
            session_jwt api;
            # an internal redirect without a regex (nginx 1.22 leaks a
            # pcre2 context per regex under valgrind)
            try_files /nonexistent /m/;
        }
        location /m/ {
            session_jwt api;
            add_header X-Sub "$session_jwt_claim_sub" always;
        }
        location /t/ {
            session_jwt api;
            alias %%TMP%%/www/p/;
            location /t/jwt/ { session_jwt_type jwt; alias %%TMP%%/www/p/; }
            location /t/at/ { session_jwt_type at+jwt; alias %%TMP%%/www/p/; }
            location /t/both/ { session_jwt_type at+jwt jwt; alias %%TMP%%/www/p/; }
        }
        location /s/ {
            session_jwt api;
            session_jwt_scope session:read;
            alias %%TMP%%/www/p/;
            location /s/two/ { session_jwt_scope session:read results:read;
                               alias %%TMP%%/www/p/; }
            location /s/off/ { session_jwt_scope off; alias %%TMP%%/www/p/; }
        }
        location /alg/ {
            session_jwt api;
            session_jwt_key_request /_jwks;
            session_jwt_type at+jwt;
            session_jwt_audience https://api.example.test/;
            session_jwt_issuer https://idp.example.test/;
            session_jwt_scope session:read;
            alias %%TMP%%/www/p/;
        }
        location = /_jwks {
            internal;
            proxy_pass %%IDP%%;
            subrequest_output_buffer_size 64k;
        }
        location /tok/ {
            session_jwt api;
            set $tok $http_x_tok;
            session_jwt_token $tok;
            add_header X-Sub "$session_jwt_claim_sub" always;
            alias %%TMP%%/www/p/;
        }
        location /ar/ {
            auth_request /check;
            alias %%TMP%%/www/p/;
        }
        location = /check {
            session_jwt api;
            return 204;
        }
EOF
    limit_req_zone $session_jwt_claim_sub zone=per_sub:1m rate=1r/m;
    limit_req_zone $session_jwt_claim_sub zone=per_sub_fetched:1m rate=1r/m;
    limit_conn_zone $session_jwt_claim_sub zone=conns:1m;
    map $session_jwt_claim_sub $tier {
        client-a gold;
        default  basic;
    }
    session_jwt_claim_set $tenant tenantId;
HTTP

# a file, not a directory: the index module's internal redirect would run
# the phases a second time, with the verdict of the first
sub file { my $p = shift; $p =~ m{/$} && $p !~ m{^/(lc|r)/$} ? "${p}index.html" : $p }
sub bearer { (Authorization => "Bearer $_[0]") }
sub get { my ($path, $t) = @_; http_get($ngx->port, file($path), defined $t ? bearer($t) : ()) }
sub send_get {
    my ($path, $t) = @_;
    $path = file($path);
    my $c = http_conn($ngx->port);
    $c->send_raw("GET $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 . "Authorization: Bearer $t\r\n\r\n");
    return $c;
}
sub tok { $rs->token(@_) }

######################################################################
# limit_req, limit_conn, map, if, set

subtest 'limit_req keyed by a claim limits a burst' => sub {
    my @st = map { get('/lr/', tok(sub => 'burst-a'))->{status} } 1 .. 6;
    is "@st", '200 429 429 429 429 429', 'one per minute for burst-a: 429 after'
        or diag "@st";
    is get('/lr/', tok(sub => 'burst-b'))->{status}, 200, 'another claim: its own count';
    my @none = map { get('/lr/')->{status} } 1 .. 3;
    is "@none", '401 401 401', 'no token: no key, not limited, 401';
    my @bad = map { get('/lr/', 'x.y.z')->{status} } 1 .. 3;
    is "@bad", '401 401 401', 'a refused token: no claims, 401';
};

subtest 'limit_req when verification waits for the key fetch' => sub {
    my $before = $idp->fetches;
    my @c = map { send_get('/lrf/', $PK{RS256}->token(sub => 'fetch-a')) } 1 .. 10;
    my @st = sort map { $_->read_response->{status} // 0 } @c;
    is scalar(grep { $_ == 200 } @st), 1, 'one 200' or diag "@st";
    is scalar(grep { $_ == 503 } @st), 9, 'nine 503 (limit_req_status 503)' or diag "@st";
    is $idp->fetches, $before + 1, 'one fetch for all ten';
};

subtest 'limit_conn keyed by a claim' => sub {
    my @c = map { send_get('/lc/', tok(sub => 'conn-a')) } 1 .. 2;
    my @st = sort map { $_->read_response->{status} // 0 } @c;
    is "@st", '200 503', 'two at once for conn-a: one 503' or diag "@st";
    @c = (send_get('/lc/', tok(sub => 'conn-b')), send_get('/lc/', tok(sub => 'conn-c')));
    @st = sort map { $_->read_response->{status} // 0 } @c;
    is "@st", '200 200', 'two claims at once: both 200' or diag "@st";
};

subtest 'map, if and set in the location see the claims' => sub {
    my $r = get('/map/', tok());
    is $r->{status}, 200, 'status 200';
    is $r->{headers}{'x-tier'}, 'gold', 'map on the claim';
    is $r->{headers}{'x-who'}, 'client-a', 'set in the rewrite phase';
    is get('/map/', tok(sub => 'other'))->{headers}{'x-tier'}, 'basic', 'map default';
    is get('/map/', tok(sub => 'blocked'))->{status}, 451, 'if on the claim';
    is get('/map/', $rs->token(sub => 'blocked', exp => time - 10))->{status}, 401,
        'an expired token has no claims for if';
};

subtest 'an internal redirect keeps the verdict' => sub {
    my $r = get('/r/', tok(sub => 'redirected'));
    is $r->{status}, 200, '200 after an internal redirect';
    is $r->{body}, "m\n", 'the new location answered';
    is $r->{headers}{'x-sub'}, 'redirected', 'claims after the redirect';
    is get('/r/')->{status}, 401, 'no token: 401 after the redirect';
};

######################################################################
# claim names are exact (issue 9 item 8)

subtest 'claim variables match a claim exactly' => sub {
    my $r = get('/map/', tok(tenantid => 'lower', tenantId => 'camel'));
    is $r->{headers}{'x-tenant-lower'}, 'lower', '$session_jwt_claim_tenantid is "tenantid"';
    is $r->{headers}{'x-tenant'}, 'camel', 'session_jwt_claim_set reaches "tenantId"';
    $r = get('/map/', tok(tenantId => 'camel'));
    is $r->{headers}{'x-tenant-lower'} // '', '', 'no case-insensitive fallback';
    is $r->{headers}{'x-tenant'}, 'camel', 'the set variable';
    $r = get('/map/', tok(sub => undef, Sub => 'capital'));
    is $r->{headers}{'x-sub'} // '', '', '"Sub" does not fill $session_jwt_claim_sub';
};

######################################################################
# control bytes, a token from a variable the location sets, subrequests

run_cases([
    { name => 'CR LF in sub', claims => { sub => "x\r\nX-Injected: yes" }, header => 'x-sub' },
    { name => 'LF in sub', claims => { sub => "x\nX-Injected: yes" }, header => 'x-sub' },
    { name => 'DEL in sub', claims => { sub => "x\x7fy" }, header => 'x-sub' },
    { name => 'tab in sub', claims => { sub => "x\ty" }, header => 'x-sub' },
    { name => 'CR LF in a claim_set claim', claims => { tenantId => "t\r\nX-Injected: yes" },
      header => 'x-tenant' },
], sub {
    my ($c) = @_;
    my $r = get('/map/', tok(%{ $c->{claims} }));
    is $r->{status}, 200, 'the token is valid: 200' or diag $r->{raw};
    ok !exists $r->{headers}{'x-injected'}, 'no header injected';
    is $r->{headers}{$c->{header}} // '', '', 'the variable is not found';
});

subtest 'a claim with UTF-8 and spaces is given out' => sub {
    my $r = get('/map/', tok(sub => "caf\x{e9} client"));
    is $r->{headers}{'x-sub'}, "caf\xc3\xa9 client", 'as is';
};

subtest 'session_jwt_token from a variable the location sets' => sub {
    my $r = http_get($ngx->port, '/tok/index.html', 'X-Tok' => tok(sub => 'from-set'));
    is $r->{status}, 200, 'read again in the access phase: 200' or diag $r->{raw};
    is $r->{headers}{'x-sub'}, 'from-set', 'its claims afterwards';
    $r = http_get($ngx->port, '/tok/index.html');
    is $r->{status}, 401, 'still empty: 401';
    $r = http_get($ngx->port, '/tok/index.html', 'X-Tok' => 'x.y.z');
    is $r->{status}, 401, 'a bad token: 401';
    like $r->{headers}{'www-authenticate'} // '', qr/invalid_token/, 'invalid_token';
};

subtest 'a subrequest into a session_jwt location is refused' => sub {
    my $r = get('/ar/', tok());
    is $r->{status}, 403, 'auth_request into session_jwt: 403, never the 204'
        or diag $r->{raw};
    is get('/ar/')->{status}, 403, 'without a token: 403 too';
    like $ngx->error_log, qr/\[error\].*subrequests are not verified/, 'logged at error';
};

######################################################################
# session_jwt_type, every row

my %TYP = (none => undef, JWT => 'JWT', jwt => 'jwt', 'at+jwt' => 'at+jwt',
           'AT+JWT' => 'AT+JWT', 'application/at+jwt' => 'application/at+jwt',
           'JOSE' => 'JOSE', 'dpop+jwt' => 'dpop+jwt');
my %ACCEPT = (
    '/t/'      => [qw(none JWT jwt at+jwt AT+JWT application/at+jwt)],
    '/t/both/' => [qw(none JWT jwt at+jwt AT+JWT application/at+jwt)],
    '/t/jwt/'  => [qw(none JWT jwt)],
    '/t/at/'   => [qw(at+jwt AT+JWT application/at+jwt)],
);
run_cases([ map { my $path = $_; map { my $typ = $_;
    { name => "$path typ $typ", path => $path, typ => $TYP{$typ},
      ok => scalar grep { $_ eq $typ } @{ $ACCEPT{$path} } } } sort keys %TYP }
    sort keys %ACCEPT ], sub {
    my ($c) = @_;
    my $r = get($c->{path}, tok(header => { typ => $c->{typ} }));
    if ($c->{ok}) {
        is $r->{status}, 200, 'accepted' or diag $r->{raw};
    } else {
        is $r->{status}, 401, 'refused' or diag $r->{raw};
        like $r->{headers}{'www-authenticate'} // '', qr/error="invalid_token"/, 'invalid_token';
    }
});

######################################################################
# session_jwt_scope, every row, with inheritance

my $SCOPE_403 = { '/s/' => 'session:read', '/s/two/' => 'session:read results:read' };
run_cases([ map { my ($name, $claims, @ok) = @$_; map { my $path = $_;
    { name => "$path $name", path => $path, claims => $claims,
      ok => scalar grep { $_ eq $path } @ok } } qw(/s/ /s/two/ /s/off/) }
    ['scope "session:read"', { scope => 'session:read' }, '/s/', '/s/off/'],
    ['scope "results:read session:read"', { scope => 'results:read session:read' },
     '/s/', '/s/two/', '/s/off/'],
    ['scope "results:read"', { scope => 'results:read' }, '/s/off/'],
    ['scope "session:reader"', { scope => 'session:reader' }, '/s/off/'],
    ['scope "Session:Read"', { scope => 'Session:Read' }, '/s/off/'],
    ['scp array', { scope => undef, scp => ['session:read', 'results:read'] },
     '/s/', '/s/two/', '/s/off/'],
    ['scp with one', { scope => undef, scp => ['session:read'] }, '/s/', '/s/off/'],
    ['no scope claim', { scope => undef }, '/s/off/'],
    ['scope not a string', { scope => ['session:read'] }, '/s/off/'],
], sub {
    my ($c) = @_;
    my $r = get($c->{path}, tok(%{ $c->{claims} }));
    if ($c->{ok}) {
        is $r->{status}, 200, 'accepted' or diag $r->{raw};
        return;
    }
    is $r->{status}, 403, 'status 403' or diag $r->{raw};
    is $r->{headers}{'www-authenticate'},
        qq{Bearer realm="api", error="insufficient_scope", error_description="insufficient scope", scope="$SCOPE_403->{$c->{path}}"},
        'WWW-Authenticate names the scopes';
    is $r->{headers}{'content-type'}, 'application/json', 'JSON';
    is((eval { decode_json($r->{body}) } || {})->{error}, 'insufficient_scope', 'body');
});

######################################################################
# every algorithm, as a provider issues it (typ at+jwt, kid, client_id,
# scope, aud, iss), from the fetched set

run_cases([ map { { name => $_, key => $PK{$_} } } @ALGS ], sub {
    my ($c) = @_;
    my $r = get('/alg/', $c->{key}->token);
    is $r->{status}, 200, "$c->{name}: 200" or diag $r->{raw};
    my $bad = $c->{key}->token(aud => 'https://other.example/');
    is get('/alg/', $bad)->{status}, 401, "$c->{name}: another audience 401";
});

$ngx->stop;
error_log_clean($ngx, allow => [qr/limiting (requests|connections)|subrequests are not verified/]);

# a claim variable read before an internal redirect into another policy:
# nginx keeps its value for the access log (which does not re-read it), and
# the first claims are released with the new verdict (no token cache holds
# them)
subtest 'a claim value outlives the claims it came from' => sub {
    my $n = start_nginx(<<'EOF', http => <<'HTTP');
        session_jwt_key_file %%TMP%%/keys.jwks;
        root %%TMP%%/www;
        location /rw/ {
            session_jwt api;
            if ($session_jwt_claim_sub = "") { return 418; }
            # no regex: nginx 1.22 leaks a pcre2 context per regex
            # under valgrind
            try_files /nonexistent /m2/index.html;
        }
        location /m2/ {
            session_jwt other;
            alias %%TMP%%/www/m/;
            access_log %%TMP%%/claims.log claims;
        }
EOF
    session_jwt_cache off;
    log_format claims 'sub=$session_jwt_claim_sub';
HTTP
    my $sub = 'a-long-subject-' . ('x' x 40);
    my $r = http_get($n->port, '/rw/', bearer(tok(sub => $sub)));
    is $r->{status}, 200, '200 after the redirect' or diag $r->{raw};
    $n->stop;
    my $log = -e "$TMP/claims.log" ? SessionTest::_slurp("$TMP/claims.log") : '';
    is $log, "sub=$sub\n", 'the access log has the claim intact';
    error_log_clean($n);
};

done_testing;
