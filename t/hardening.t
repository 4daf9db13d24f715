# Hostile requests and a hostile store: request bodies (smuggling), a record
# that must not take servers out of the group, store states, the variables
# an operator may expose, and configurations the module refuses.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Crypt::JWT qw(encode_jwt);
use IO::Socket::INET;
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my $ID = '19fe3b9e-384e-41d1-bded-8de9ef3abacb';
my $SECRET = 'hardening-secret-hardening-secret-0123456789';
my $JWKS = write_file('hs.jwks', '{"keys":[{"kty":"oct","kid":"h1","alg":"HS256","k":"'
    . do { require MIME::Base64; my $k = MIME::Base64::encode_base64url($SECRET); $k } . '"}]}');

sub token {
    my (%claims) = @_;
    encode_jwt(payload => { exp => time + 600, %claims }, alg => 'HS256',
               key => $SECRET, extra_headers => { kid => 'h1' });
}

my $redis = start_redis();
my $out = `$FindBin::Bin/../writer/session-store -p ${\ $redis->port} --owner client-a ${\ fixture('seed-session.json')} 2>&1`;
is $?, 0, 'published example stored' or diag $out;

my $garbage = fake_store(reply => "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
my $loading = fake_store(reply => "-LOADING Redis is loading the dataset in memory\r\n");

my $ngx = start_nginx(<<'EOF', redis => $redis, vars => { JWKS => $JWKS, BAD => $garbage->target, LOADING => $loading->target }, http => <<'HTTP', log_format => q{'$status $request_method $uri $upstream_status'});
    location /api/session/result/ {
        session_result_pass 127.0.0.1:%%REDIS_PORT%%;
    }
    location /jwt/ {
        session_jwt "h";
        session_jwt_key_file %%JWKS%%;
        session_result_owner_claim sub;
        session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        add_header X-Session-Status "$session_result_status" always;
        add_header X-Tenant "$tenant" always;
    }
    location /protected/ {
        session_jwt "p";
        session_jwt_key_file %%JWKS%%;
        root %%TMP%%;
    }
    location /pair/ {
        session_result_pass pair;
    }
    location /loading/ {
        session_result_pass %%LOADING%%;
    }
EOF
    session_jwt_claim_set $tenant tenantId;
    upstream pair {
        server %%BAD%% max_fails=1 fail_timeout=30s;
        server 127.0.0.1:%%REDIS_PORT%% max_fails=1 fail_timeout=30s;
    }
HTTP

# sends raw bytes on one connection, returns all nginx sent until it closed
sub raw_exchange {
    my ($bytes) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ngx->port,
                                  Timeout => 5) or die "connect: $!";
    print $s $bytes;
    local $/;
    my $all = <$s>;
    return $all // '';
}

subtest 'a refused request body is discarded, never run as a request' => sub {
    run_cases([
        { name => '405 with a body holding a request',
          path => '/api/session/result/abc', status => 405 },
        { name => '401 with a body holding a request',
          path => '/protected/abc', status => 401 },
    ], sub {
        my ($c) = @_;
        my $smuggled = "GET /api/session/result/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
        $ngx->mark;
        my $raw = raw_exchange("POST $c->{path} HTTP/1.1\r\nHost: x\r\n"
                               . "Content-Length: " . length($smuggled) . "\r\n\r\n"
                               . $smuggled
                               . "GET /api/session/result/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        my @statuses = $raw =~ m{HTTP/1\.1 (\d{3}) }g;
        is_deeply \@statuses, [$c->{status}, 404],
                  'two responses: the refusal, then the real next request';
        ok wait_for(sub { $ngx->access_log =~ m{/next} }, 5), 'logged';
        unlike $ngx->access_log, qr/smuggled/, 'the body never ran';
    });
};

subtest 'GET with a body: 400, whether it arrived or not' => sub {
    run_cases([
        { name => 'Content-Length body',
          raw => "GET /api/session/result/$ID HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" },
        { name => 'chunked body complete',
          raw => "GET /api/session/result/$ID HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" },
        { name => 'chunked body still to come',
          raw => "GET /api/session/result/$ID HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
          later => "0\r\n\r\n" },
    ], sub {
        my ($c) = @_;
        my $conn = http_conn($ngx->port);
        $conn->send_raw($c->{raw});
        my $r = $conn->read_response;
        is $r->{status}, 400, 'status 400';
        is_json_equal($r->{body}, { error => 'invalid_request',
                                    error_description => 'a request body is not allowed' }, 'JSON');
        $conn->send_raw($c->{later}) if $c->{later};
        my $next = $conn->get("/api/session/result/$ID");
        is $next->{status}, 200, 'the connection serves the next request'
            unless $conn->peer_closed;
        $conn->close;
    });
    is http_request($ngx->port, 'GET', "/api/session/result/$ID",
                    { 'Content-Length' => 0 })->{status}, 200,
       'Content-Length: 0 is no body';
};

subtest 'a bad record does not take the servers out of the group' => sub {
    # the first server answers WRONGTYPE: a store error for this request only
    my @got = map { http_get($ngx->port, "/pair/$ID")->{status} } 1 .. 6;
    ok !(grep { $_ == 503 } @got), "no 503 (no live upstreams): @got";
    ok((grep { $_ == 200 } @got), 'the good server keeps serving');
    unlike $ngx->error_log, qr/no live upstreams|temporarily disabled/,
           'no server marked failed';
};

subtest 'a store that is loading is unavailable, not broken' => sub {
    my $r = http_get($ngx->port, "/loading/$ID");
    is $r->{status}, 503, 'status 503';
    is_json_equal($r->{body}, { error => 'store_unavailable',
                                error_description => 'the session store is unavailable' }, 'JSON');
    like $ngx->error_log, qr/store replied with an error \("LOADING/, 'logged';
    ok wait_for(sub { $ngx->access_log =~ m{^503 GET /loading/\S+ 503$}m }, 5),
       '$upstream_status says 503 too';
};

subtest 'variables that could leak across tenants' => sub {
    my $r = http_get($ngx->port, "/jwt/$ID",
                     Authorization => 'Bearer ' . token(sub => 'client-a', tenantId => 'T1'));
    is $r->{status}, 200, 'owner: 200';
    is $r->{headers}{'x-session-status'}, 'PASS', 'owner sees the status';
    is $r->{headers}{'x-tenant'}, 'T1', 'a claim with capitals, by session_jwt_claim_set';

    $r = http_get($ngx->port, "/jwt/$ID",
                  Authorization => 'Bearer ' . token(sub => 'client-b'));
    is $r->{status}, 404, 'other tenant: 404';
    is $r->{headers}{'x-session-status'} // '', '',
       'other tenant: no $session_result_status';
};

subtest 'configurations refused' => sub {
    my ($rc, $o) = nginx_t(<<'EOF', vars => { JWKS => $JWKS });
        location /x/ {
            satisfy any;
            allow 127.0.0.1;
            session_jwt "x";
            session_jwt_key_file %%JWKS%%;
        }
EOF
    isnt $rc, 0, 'satisfy any with session_jwt fails nginx -t';
    like $o, qr/"session_jwt" cannot be used with "satisfy any"/, 'and says why';
};

subtest 'the default port is 6379' => sub {
    my $n = start_nginx('location /x/ { session_result_pass 127.0.0.1; }',
                        log_format => q{'$upstream_addr'});
    my $r = http_get($n->port, '/x/abc');
    like $r->{headers}{'content-type'} // '', qr{^application/json},
         'answered by the module, whatever is on 6379';
    ok wait_for(sub { $n->access_log =~ /^127\.0\.0\.1:6379$/m }, 5),
       'the store was 127.0.0.1:6379';
    $n->stop;
};

$ngx->stop;
error_log_clean($ngx);

done_testing;
