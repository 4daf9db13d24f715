# The HTTP contract of SPEC 3 over HTTP/2 (listen ... http2, prior
# knowledge on cleartext): the main cases as t/result.t and t/jwt.t check
# them over HTTP/1.1, and issue 9 item 5: a GET whose HEADERS frame lacks
# END_STREAM, followed by an empty DATA frame with END_STREAM, has no body
# and is answered normally; a non-empty body stays 400.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use SessionTest;
use SessionTest::HTTP2;
use SessionTest::Keys;

BAIL_OUT('module not built: run make') unless have_module();
plan skip_all => 'no HTTP/2 client (curl with HTTP2, nghttp2-client): run scripts/deps.sh'
    unless have_http2();

my $ID = '19fe3b9e-384e-41d1-bded-8de9ef3abacb';
my $API = '/api/session/result';
my $EXAMPLE = do { local (@ARGV, $/) = fixture('seed-session.json'); <> };

my $hs = provider_key('HS256', kid => 'h2');
my $KEYS = write_file('h2.jwks', jwks_json($hs));
# typ JWT: the module of today; at+jwt comes with SPEC 7
my $TOKEN = $hs->token(sub => 'client-a', header => { typ => 'JWT' },
                       iss => undef, aud => undef);

my $redis = start_redis();
my $out = `$FindBin::Bin/../writer/session-store -p ${\ $redis->port} --owner client-a ${\ fixture('seed-session.json')} 2>&1`;
is $?, 0, 'writer stored the published example' or diag $out;

my $ngx = start_nginx(<<'EOF', redis => $redis, http2 => 1, vars => { KEYS => $KEYS, DOWN => free_port() });
    location /api/session/result/ {
        session_result_pass 127.0.0.1:%%REDIS_PORT%%;
    }
    location /auth/ {
        session_jwt "h2";
        session_jwt_key_file %%KEYS%%;
        session_result_owner_claim sub;
        session_result_pass 127.0.0.1:%%REDIS_PORT%%;
    }
    location /down/ {
        session_result_pass 127.0.0.1:%%DOWN%%;
    }
EOF

sub req { http2_request($ngx->port, @_) }

sub is_json_response {
    my ($r, $status, $code) = @_;
    is $r->{status}, $status, "status $status" or diag $r->{error} // $r->{raw};
    is $r->{headers}{'content-type'}, 'application/json', 'application/json';
    is $r->{headers}{'cache-control'}, 'no-store', 'no-store';
    return unless defined $code;
    my $j = eval { JSON::PP->new->decode($r->{body}) } || {};
    is $j->{error}, $code, "error $code";
}

my $etag;
run_cases([
    { name => '200: the published example',
      run => sub {
          my $r = req('GET', "$API/$ID", {});
          is $r->{protocol}, 'HTTP/2', 'answered over HTTP/2';
          is_json_response($r, 200);
          is_json_equal $r->{body}, $EXAMPLE, 'equal as JSON to the fixture';
          is $r->{headers}{'content-length'}, length $r->{body}, 'content-length';
          like $etag = $r->{headers}{etag}, qr/^"[A-Za-z0-9_-]{27}"$/, 'strong ETag';
      } },
    { name => '304 with If-None-Match',
      run => sub {
          my $r = req('GET', "$API/$ID", ['If-None-Match' => $etag]);
          is $r->{status}, 304, 'status 304';
          is $r->{body}, '', 'no body';
          is $r->{headers}{etag}, $etag, 'the ETag';
          is $r->{headers}{'cache-control'}, 'no-store', 'no-store';
      } },
    { name => 'HEAD: the headers of GET, no body',
      run => sub {
          my $g = req('GET', "$API/$ID", {});
          my $r = req('HEAD', "$API/$ID", {});
          is_json_response($r, 200);
          is $r->{body}, '', 'no body';
          is $r->{headers}{$_}, $g->{headers}{$_}, "$_ as for GET"
              for qw(etag content-length);
      } },
    { name => '200 with a token of the owner',
      run => sub {
          my $r = req('GET', "/auth/$ID", [Authorization => "Bearer $TOKEN"]);
          is_json_response($r, 200);
          is_json_equal $r->{body}, $EXAMPLE, 'the example';
      } },
    { name => '401: no token',
      run => sub {
          my $r = req('GET', "/auth/$ID", {});
          is_json_response($r, 401, 'unauthorized');
          is $r->{headers}{'www-authenticate'}, 'Bearer realm="h2"', 'WWW-Authenticate';
      } },
    { name => '401: bad token',
      run => sub {
          my $r = req('GET', "/auth/$ID", [Authorization => 'Bearer x.y.z']);
          is_json_response($r, 401, 'invalid_token');
          like $r->{headers}{'www-authenticate'}, qr/error="invalid_token"/, 'error attribute';
      } },
    { name => '404: no such session',
      run => sub { is_json_response(req('GET', "$API/no-such-id", {}), 404, 'not_found') } },
    { name => '400: malformed request_id',
      run => sub { is_json_response(req('GET', "$API/bad%21id", {}), 400, 'invalid_request') } },
    { name => '405: DELETE, with Allow',
      run => sub {
          my $r = req('DELETE', "$API/$ID", {});
          is_json_response($r, 405, 'method_not_allowed');
          is $r->{headers}{allow}, 'GET, HEAD', 'Allow: GET, HEAD';
      } },
    { name => '503: store down',
      run => sub { is_json_response(req('GET', "/down/$ID", {}), 503, 'store_unavailable') } },

    # issue 9 item 5
    { name => 'GET, HEADERS without END_STREAM, an empty DATA frame: no body, 200',
      run => sub {
          my $r = req('GET', "$API/$ID", {}, body => '');
          like "@{ $r->{frames} }", qr/send HEADERS length=\d+ flags=0x\w+ .*send DATA length=0 flags=0x01 END_STREAM/,
              'the frames sent: HEADERS, then DATA(0, END_STREAM)';
          my ($flags) = "@{ $r->{frames} }" =~ /send HEADERS length=\d+ flags=(0x\w+)/;
          is hex($flags // 1) & 1, 0, 'HEADERS without END_STREAM';
          is_json_response($r, 200);
          is_json_equal $r->{body}, $EXAMPLE, 'the example';
      } },
    { name => 'the same with a token',
      run => sub {
          my $r = req('GET', "/auth/$ID", [Authorization => "Bearer $TOKEN"], body => '');
          is_json_response($r, 200);
      } },
    { name => 'the same with content-length: 0',
      run => sub {
          is_json_response(req('GET', "$API/$ID", {}, body => '', content_length => 1), 200);
      } },
    { name => 'HEAD with an empty DATA frame',
      run => sub {
          my $r = req('HEAD', "$API/$ID", {}, body => '');
          is $r->{status}, 200, 'status 200';
          is $r->{body}, '', 'no body';
      } },
    { name => 'GET with a 3-byte body: 400, discarded',
      run => sub {
          my $r = req('GET', "$API/$ID", {}, body => 'abc');
          is_json_response($r, 400, 'invalid_request');
          is_json_response(req('GET', "$API/$ID", {}), 200);
      } },
    { name => 'GET with a 3-byte body and content-length: 400',
      run => sub {
          is_json_response(req('GET', "$API/$ID", {}, body => 'abc', content_length => 1),
                           400, 'invalid_request');
      } },
    { name => 'GET with a 100 kB body: 400 (or nginx 413), never 200',
      run => sub {
          my $r = req('GET', "$API/$ID", {}, body => 'x' x 100_000);
          like $r->{status}, qr/^(400|413)$/, 'refused';
          is $r->{headers}{'content-type'}, 'application/json', 'JSON'
              if $r->{status} == 400;
      } },
], sub { $_[0]{run}->() });

$ngx->stop;
error_log_clean($ngx);

done_testing;
