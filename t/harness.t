#!/usr/bin/perl
# Self-test of t/lib/SessionTest.pm: needs nginx and redis-server, not the module.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use SessionTest;
use SessionTest::Jwks;
use SessionTest::Keys;
use Crypt::JWT qw(decode_jwt);
use JSON::PP qw(decode_json);
use MIME::Base64 qw(decode_base64url);

# --- nginx without the module ---------------------------------------------

my $ngx = start_nginx(<<'EOF', load_module => 0, log_format => q{'$request_method $uri $status'});
        location / { return 200 "ok"; }
        location /echo { return 200 "auth=[$http_authorization] x=[$http_x_many]"; }
EOF

ok $ngx->port, 'nginx started on a port';
ok scalar($ngx->workers) >= 1, 'has a worker';
like $ngx->conf, qr/listen 127\.0\.0\.1:\d+;/, 'config written';
unlike $ngx->conf, qr/load_module/, 'load_module => 0 leaves the module out';

my $r = http_get($ngx->port, '/');
is $r->{status}, 200, 'GET / -> 200';
is $r->{body}, 'ok', 'body';
is $r->{headers}{'content-type'}, 'text/plain', 'lowercased header names';
like $r->{raw}, qr{^HTTP/1\.1 200 OK\r\n}, 'raw response kept';

$r = http_get($ngx->port, '/echo', Authorization => 'Bearer', 'X-Many' => 'a',
              'X-Many' => 'b');
is $r->{body}, 'auth=[Bearer] x=[a]', 'odd header sent as given';

$r = http_request($ngx->port, 'HEAD', '/', {});
is $r->{status}, 200, 'HEAD -> 200';
is $r->{body}, '', 'HEAD has no body';

$r = http_request($ngx->port, 'GET', '/', {}, raw => "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \r\nConnection: close\r\n\r\n");
is $r->{status}, 200, 'raw request';

$r = http_get($ngx->port, '/', 'X-Huge' => 'a' x 20000);
is $r->{status}, 400, 'huge header -> 400 from nginx, client survives';

# keepalive: several requests on one connection
my $c = http_conn($ngx->port);
for my $i (1 .. 3) {
    my $k = $c->get("/echo?$i", 'X-Many' => $i);
    is $k->{status}, 200, "keepalive request $i";
    is $k->{body}, "auth=[] x=[$i]", "keepalive body $i";
}
ok !$c->peer_closed(0.2), 'connection still open';
my $last = $c->request('GET', '/', { Connection => 'close' });
is $last->{body}, 'ok', 'last request with Connection: close';
ok $c->peer_closed(2), 'server closed it';
$c->close;

like $ngx->access_log, qr{GET /echo 200}, 'access log with log_format';

my $mark = $ngx->mark;
ok $ngx->reload, 'reload brings up a new worker';
ok $ngx->wait_log(qr/reconfiguring/, 5, $mark), 'reload logged';
is http_get($ngx->port, '/')->{status}, 200, 'serves after reload';

# a second instance with placeholders and full http-level control
my $ngx2 = start_nginx(<<'EOF', load_module => 0, server => 0, vars => { BIG => 'x' x 10 });
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { return 200 "%%BIG%% %%TMP%%"; }
    }
EOF
is http_get($ngx2->port, '/')->{body}, 'x' x 10 . ' ' . tmpdir(), 'placeholders filled';
$ngx2->stop;
ok !http_conn_ok($ngx2->port), 'stopped nginx no longer listens';
error_log_clean($ngx2);

# nginx -t
my ($rc, $out) = nginx_t('location / { return 200; }', load_module => 0);
is $rc, 0, 'nginx -t ok' or diag $out;
($rc, $out) = nginx_t('location / { bogus_directive on; }', load_module => 0);
isnt $rc, 0, 'nginx -t fails';
like $out, qr/unknown directive "bogus_directive"/, 'with the reason';

my $bad = start_nginx('location / { bogus; }', load_module => 0, may_fail => 1);
ok !defined $bad, 'start_nginx may_fail returns undef on bad config';

# --- redis -----------------------------------------------------------------

my $redis = start_redis(unix => 1);
is redis_cmd($redis->port, 'PING'), 'PONG', 'PING';
is redis_cmd($redis->port, HSET => 'h', a => 1, b => "x\r\ny"), 2, 'HSET integer';
is_deeply redis_cmd($redis->port, HGETALL => 'h'), [a => 1, b => "x\r\ny"], 'HGETALL array, binary safe';
is redis_cmd($redis->port, GET => 'nope'), undef, 'nil';
ok is_redis_error(redis_cmd($redis->port, 'NOSUCHCMD'), qr/unknown command/), 'error reply';
is redis_cmd($redis->socket, 'PING'), 'PONG', 'over the unix socket';
my @replies = redis_pipeline($redis->port, ['MULTI'], [SET => 'k', 'v'], ['EXEC']);
is_deeply \@replies, ['OK', 'QUEUED', ['OK']], 'MULTI/EXEC pipeline';
like redis_cmd($redis->port, CLIENT => 'LIST'), qr/cmd=client/, 'CLIENT LIST';

$redis->pause;
my $t0 = time;
{
    local $SessionTest::TIMEOUT = 1;
    ok !eval { redis_cmd($redis->port, 'PING'); 1 }, 'paused redis does not answer';
    like $@, qr/timeout/, 'timeout';
}
$redis->resume;
is $redis->cmd('PING'), 'PONG', 'resumed';

my $old = $redis->pid;
$redis->restart;
isnt $redis->pid, $old, 'restarted: new pid';
is $redis->cmd('GET', 'k'), undef, 'restart starts empty';
$redis->stop;
ok !kill(0, $old) && !kill(0, $redis->pid), 'redis processes gone';
ok !http_conn_ok($redis->port), 'redis port closed';

# --- fake store ------------------------------------------------------------

my $store = fake_store(reply => exec_reply([fn => 'John'], ['{"type":"x"}']));
my $req = [ ['MULTI'], ['HGETALL', 'session:{a}'], ['LRANGE', 'session:{a}:stops', 0, -1], ['EXEC'] ];
@replies = redis_pipeline($store->port, @$req);
is_deeply \@replies, ['OK', 'QUEUED', 'QUEUED', [[fn => 'John'], ['{"type":"x"}']]],
    'fake store answers MULTI/EXEC';
@replies = redis_pipeline($store->port, @$req);
ok wait_for(sub { $store->requests == 2 }, 2), 'requests recorded';
is_deeply [($store->requests)[0]], [$req], 'commands as sent';
is $store->connections, 2, 'connections counted';
is $store->target, '127.0.0.1:' . $store->port, 'target';
$store->stop;

my $cut = fake_store(reply => exec_reply([fn => 'John'], []), close_after => 10);
ok !eval { redis_pipeline($cut->port, @$req); 1 }, 'close_after cuts the reply';
like $@, qr/closed/, 'connection closed mid-reply';

my $raw = fake_store(reply => "garbage\r\n", commands => 0, unix => 1);
my $s = IO::Socket::UNIX->new(Peer => $raw->path);
print $s "hello\r\n";
$s->sysread(my $got, 100);
is $got, "garbage\r\n", 'raw reply on any bytes, unix socket';
like $raw->target, qr/^unix:\//, 'unix target';

my $slow = fake_store(reply => "+OK\r\n", delay => 0.5);
$t0 = time;
is redis_cmd($slow->port, 'PING'), 'OK', 'delayed reply';
cmp_ok time - $t0, '>=', 0.4, 'after the delay';

my $mute = fake_store(never_answer => 1);
{
    local $SessionTest::TIMEOUT = 0.5;
    ok !eval { redis_cmd($mute->port, 'PING'); 1 }, 'never_answer';
}
my $slam = fake_store(accept_close => 1);
ok !eval { redis_cmd($slam->port, 'PING'); 1 }, 'accept_close';
like $@, qr/closed/, 'closed at once';

my $code = fake_store(reply => sub { my ($raw, $cmds, $n) = @_; $n > 1 ? undef : resp_encode([$cmds->[0][1], { int => $n }]) });
my $cc = redis_pipeline($code->port, ['ECHO', 'hi']);
is_deeply $cc, ['hi', 1], 'coderef reply';

is resp_encode([undef, { status => 'OK' }, { error => 'ERR x' }, { nil_array => 1 }]),
   "*4\r\n\$-1\r\n+OK\r\n-ERR x\r\n*-1\r\n", 'resp_encode';

my $trickle = fake_store(reply => "+" . ('x' x 20) . "\r\n", trickle => [5, 0.05]);
is redis_cmd($trickle->port, 'PING'), 'x' x 20, 'trickled reply reassembled';

# the fake store doubles as a raw HTTP server: chunked and close-delimited bodies
my $http = fake_store(commands => 0, reply => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
    . "X-A: 1\r\nX-A: 2\r\n\r\n5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\n\r\n");
$r = http_get($http->port, '/');
is $r->{body}, 'hello!', 'chunked body decoded';
is_deeply $r->{headers}{'x-a'}, [1, 2], 'repeated headers as an array';
$http = fake_store(commands => 0, close => 1, reply => "HTTP/1.0 502 Bad\r\n\r\nuntil close");
$r = http_get($http->port, '/');
is "$r->{status} $r->{reason} $r->{body}", '502 Bad until close', 'close-delimited body';
$http = fake_store(commands => 0, never_answer => 1);
$r = http_request($http->port, 'GET', '/', {}, timeout => 0.3);
is $r->{error}, 'timeout', 'client timeout reported';
is wait_for(sub { scalar $http->requests }, 2), 1, 'never_answer still records';

# --- JWKS server and provider keys -----------------------------------------

{
    my @k = map { provider_key($_) } qw(RS256 PS384 ES256 ES512 EdDSA HS256);
    my $t = $k[1]->token(scope => 'a b', aud => undef);
    my ($h, $c) = map { decode_json(decode_base64url($_)) } (split /\./, $t)[0, 1];
    is_deeply [@$h{qw(typ kid alg)}], ['at+jwt', $k[1]->kid, 'PS384'],
        'token header as providers send it';
    is_deeply [sort keys %$c], [sort qw(iss sub client_id scope iat exp jti)],
        'claims; undef removes aud';
    is $c->{scope}, 'a b', 'a claim replaced';
    for my $k (@k) {
        # verified with the public half only (the secret for HS)
        my $pub = $k->public_pem ? $k->public_pem : $k->pk;
        $pub = (ref $k->pk)->new($pub) if $k->public_pem;
        my $p = eval { decode_jwt(token => $k->token, key => $pub,
                                  accepted_alg => $k->alg) };
        is $p && $p->{sub}, 'client-a', $k->alg . ' token verifies independently';
    }
    my $set = decode_json(jwks_json(@k, { kty => 'EC', crv => 'P-999' }));
    is_deeply [map { $_->{kty} } @{ $set->{keys} }], [qw(RSA RSA EC EC OKP oct EC)],
        'jwks_json';
    is $set->{keys}[4]{crv}, 'Ed25519', 'EdDSA key published as an OKP JWK';
    is $k[0]->jwk->{alg}, 'RS256', 'JWK names its alg';
    ok !exists provider_key('ES384', no_alg => 1)->jwk->{alg}, 'no_alg';

    my $idp = start_jwks(keys => jwks_json($k[0]));
    my $get = sub { http_request($idp->port, 'GET', $_[0] // $idp->path, {},
                                 timeout => $_[1] // 5) };
    my $r = $get->();
    is $r->{status}, 200, 'jwks: 200';
    is $r->{headers}{'content-type'}, 'application/json', 'jwks: JSON';
    is decode_json($r->{body})->{keys}[0]{kid}, $k[0]->kid, 'jwks: the set';
    is $idp->fetches, 1, 'jwks: one fetch counted';
    is $get->('/other')->{status}, 404, 'jwks: another path is 404';
    is $idp->fetches, 1, '... and not a fetch';
    is scalar($idp->requests), 2, '... but a request';
    is $get->($idp->path . '?x=1')->{status}, 200, 'jwks: the query is ignored';

    $idp->serve($k[1]->jwk);
    is decode_json($get->()->{body})->{kid}, $k[1]->kid,
        'rotation: a single JWK, no restart';
    $idp->fail(500);
    is $get->()->{status}, 500, 'fail(500)';
    $idp->fail(503);
    is $get->()->{status}, 503, 'fail(503)';
    $idp->garbage;
    $r = $get->();
    is $r->{status}, 200, 'garbage: 200';
    ok !eval { decode_json($r->{body}); 1 }, 'garbage: not JSON';
    $idp->serve;
    is decode_json($get->()->{body})->{kid}, $k[1]->kid, 'serve() brings the last set back';

    $idp->hang;
    my $t0 = time;
    $r = $get->(undef, 0.5);
    is $r->{error}, 'timeout', 'hang: accepted, never answered';
    cmp_ok time - $t0, '>=', 0.45, '... until the client gave up';
    my $before = $idp->fetches;
    $idp->close;
    ok !http_conn_ok($idp->port), 'close: the port refuses';
    $idp->serve;
    ok http_conn_ok($idp->port), 'serve: the port is open again';
    is $get->()->{status}, 200, '... and answers';
    is $idp->fetches, $before + 1, 'a refused connection is no fetch, a hung one was';

    $idp->delay(300);
    $t0 = time;
    is $get->()->{status}, 200, 'delay: answered';
    cmp_ok time - $t0, '>=', 0.28, '... 300 ms late';
    $idp->delay(0);

    # through nginx, as session_jwt_key_request will fetch it
    my $px = start_nginx(<<'EOF', load_module => 0, vars => { IDP => $idp->url });
        location = /jwks { proxy_pass %%IDP%%; proxy_read_timeout 1s; }
EOF
    $before = $idp->fetches;
    is http_get($px->port, '/jwks')->{status}, 200, 'proxied: 200';
    $idp->fail(500);
    is http_get($px->port, '/jwks')->{status}, 500, 'proxied: 500';
    $idp->hang;
    is http_get($px->port, '/jwks')->{status}, 504, 'proxied: hang is a timeout';
    $idp->close;
    is http_get($px->port, '/jwks')->{status}, 502, 'proxied: closed port is 502';
    is $idp->fetches, $before + 3, 'proxied: three fetches arrived';
    $idp->serve;
    my @w = map { my $c = http_conn($px->port);
                  $c->send_raw("GET /jwks HTTP/1.0\r\n\r\n"); $c } 1 .. 5;
    is scalar(grep { ($_->read_response->{status} // 0) == 200 } @w), 5,
        'five at once';
    ok $idp->wait_fetches($before + 8, 2), 'wait_fetches';
    $px->stop;
    error_log_clean($px, allow => [qr/upstream timed out|Connection refused/]);
    $idp->stop;
    ok !kill(0, $idp->pid), 'jwks server stopped';
}

# --- assertions and cases --------------------------------------------------

is_json_equal '{"b":[1,{}],"a":null}', { a => undef, b => [1, {}] }, 'is_json_equal struct';
is_json_equal '{"a":"1"}', '{ "a" : "1" }', 'is_json_equal text';

run_cases([ { name => 'one', n => 1 }, { name => 'two', n => 2 },
            { name => 'skipped', skip => 'demo' } ],
          sub { my $case = shift; ok $case->{n} > 0, "n=$case->{n}" });

my $path = write_file('x.txt', "data");
is -s $path, 4, 'write_file';
ok have_module() || 1, 'have_module callable: ' . module_path();

error_log_lacks($ngx, ['Bearer secret-token'], 'no secrets in the log');
$ngx->stop;
ok !kill(0, $ngx->pid), 'nginx master gone';
error_log_clean($ngx);

done_testing;

sub http_conn_ok { my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => shift); defined $s }
