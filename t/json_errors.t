# examples/json-errors.conf (issue 9 item 10): the answers nginx makes itself,
# before the module runs, are JSON too; an 8192-byte token reaches the module
# with large_client_header_buffers 4 16k; at "notice" nginx's own lines about
# a duplicate Authorization header or an invalid header line keep the token
# out of the error log (at "info" they do not: shown here too).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my $API = '/api/session/result';
my $TOKEN = 'eyJhbGciOiJIUzI1NiJ9.' . 'c2VjcmV0LXRva2Vu' x 4 . '.c2lnbmF0dXJlLXNlY3JldA';
my $SERVER = <<'EOF';
        include %%ROOT%%/examples/json-errors.conf;
        location /api/session/result/ {
            session_jwt "json";
            session_jwt_key_file %%ROOT%%/t/fuzz/corpus/keys/jwks;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /open/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
EOF
my $HTTP = 'large_client_header_buffers 4 16k; client_max_body_size 1k;';

my $redis = start_redis();
my $ngx = start_nginx($SERVER, redis => $redis, http => $HTTP, log_level => 'notice');

sub raw { http_request($ngx->port, 'GET', '/', {}, raw => $_[0]) }

sub is_json_error {
    my ($r, $status, $code) = @_;
    is $r->{status}, $status, "status $status" or diag $r->{raw} // $r->{error};
    is $r->{headers}{'content-type'}, 'application/json', 'application/json';
    is $r->{headers}{'cache-control'}, 'no-store', 'no-store';
    unlike $r->{body} // '', qr/<html/i, 'no HTML';
    my $j = eval { JSON::PP->new->decode($r->{body} // '') };
    is ref $j, 'HASH', 'a JSON object' or return;
    is $j->{error}, $code, "error $code";
    ok length($j->{error_description} // ''), 'error_description';
}

my $GET = "GET $API/abc HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";

run_cases([
    { name => 'a header larger than the buffers (16k)',
      req => $GET . 'X-Big: ' . ('a' x 17000) . "\r\n\r\n",
      status => 400, code => 'invalid_request' },
    { name => '%00 in the path',
      req => "GET $API/abc%00def HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
      status => 400, code => 'invalid_request' },
    { name => 'Content-Length and Transfer-Encoding',
      req => $GET . "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      status => 400, code => 'invalid_request' },
    { name => 'an invalid header line (a NUL in the value)',
      req => $GET . "Authorization: Bearer $TOKEN\x00x\r\n\r\n",
      status => 400, code => 'invalid_request' },
    { name => 'a duplicate Authorization header',
      req => $GET . "Authorization: Bearer $TOKEN\r\nAuthorization: Bearer $TOKEN\r\n\r\n",
      status => 400, code => 'invalid_request' },
    { name => 'a request line nginx cannot parse',
      req => "GET /a b c\x01 HTTP/1.1\r\nHost: localhost\r\n\r\n",
      status => 400, code => 'invalid_request' },
    { name => 'a URI longer than the buffers',
      req => "GET $API/" . ('a' x 17000) . " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
      status => 414, code => 'invalid_request' },
    { name => 'a body over client_max_body_size',
      req => $GET . "Content-Length: 100000\r\n\r\n",
      status => 413, code => 'invalid_request' },
    { name => 'an unknown Transfer-Encoding',
      req => $GET . "Transfer-Encoding: gzip\r\n\r\n",
      status => 501, code => 'invalid_request' },
    { name => "the module's own 401 is left as it is",
      req => $GET . "\r\n", status => 401, code => 'unauthorized' },
    { name => "the module's own 404 is left as it is",
      req => "GET /open/no-such-id HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
      status => 404, code => 'not_found', description => qr/session/ },
    { name => 'an 8192-byte token reaches the module (401 invalid_token, not 400)',
      req => $GET . 'Authorization: Bearer ' . ('a' x 4000) . '.' . ('b' x 4191) . "\r\n\r\n",
      status => 401, code => 'invalid_token' },
], sub {
    my ($c) = @_;
    my $r = raw($c->{req});
    is_json_error($r, $c->{status}, $c->{code});
    like $r->{body}, $c->{description}, 'the module wrote it' if $c->{description};
});

subtest 'at notice, no token in the error log' => sub {
    error_log_lacks($ngx, [$TOKEN, 'c2VjcmV0LXRva2Vu'], 'token absent at notice');
};

subtest 'at info, nginx itself logs the token (why notice is advised)' => sub {
    my $info = start_nginx($SERVER, redis => $redis, http => $HTTP, log_level => 'info');
    my $dup = $GET . "Authorization: Bearer $TOKEN\r\nAuthorization: Bearer $TOKEN\r\n\r\n";
    is http_request($info->port, 'GET', '/', {}, raw => $dup)->{status}, 400, 'duplicate: 400';
    ok $info->wait_log(qr/duplicate header line: "Authorization: Bearer \Q$TOKEN\E"/, 2),
       'nginx logged the whole duplicate header line at info';
    $info->stop;
    error_log_clean($info);
};

$ngx->stop;
error_log_clean($ngx);

done_testing;
