# Issue 9 items 1, 2, 3, 5, 6 and 9 (next_upstream): "if" and
# "limit_except" inside the endpoint, no existence oracle through 502, a
# read buffer that grows only as a reply needs, an HTTP/2 GET with an empty
# DATA frame, $session_result_status limited to short printable text, and
# session_result_next_upstream_tries / _timeout.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Crypt::JWT qw(encode_jwt);
use JSON::PP;
use MIME::Base64 ();
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my $ID = '19fe3b9e-384e-41d1-bded-8de9ef3abacb';
my $SECRET = 'defects-secret-defects-secret-0123456789ab';
my $JWKS = write_file('hs.jwks', '{"keys":[{"kty":"oct","kid":"d1","alg":"HS256","k":"'
    . MIME::Base64::encode_base64url($SECRET) . '"}]}');

sub token {
    my ($sub) = @_;
    encode_jwt(payload => { exp => time + 600, sub => $sub }, alg => 'HS256',
               key => $SECRET, extra_headers => { kid => 'd1' });
}
my %A = (Authorization => 'Bearer ' . token('client-a'));
my %B = (Authorization => 'Bearer ' . token('client-b'));

my $redis = start_redis();
my $out = `$FindBin::Bin/../writer/session-store -p ${\ $redis->port} --owner client-a ${\ fixture('seed-session.json')} 2>&1`;
is $?, 0, 'published example stored' or diag $out;

# a stop of about 200 bytes; $n of them make a session of about $n * 220 bytes
sub stops {
    my ($n) = @_;
    map { encode_json({ timestamp => sprintf('2024-01-01 00:%02d:%02d', $_ / 60 % 60, $_ % 60),
                        type => 'check', source => 'vendor', status => 'ok',
                        action => 'verify', detail => 'x' x 100, n => $_ }) } 1 .. $n;
}
sub session {
    my ($id, $owner, $nstops, %fields) = @_;
    redis_cmd($redis->port, 'DEL', "session:{$id}", "session:{$id}:stops");
    redis_cmd($redis->port, 'HSET', "session:{$id}", owner => $owner,
              status => 'verified', %fields);
    redis_cmd($redis->port, 'RPUSH', "session:{$id}:stops", stops($nstops)) if $nstops;
}
session('big', 'client-a', 500);            # about 110 kB: over 16k
session('mid', 'client-a', 40);             # about 9 kB: over the first 4k read
redis_cmd($redis->port, 'DEL', 'session:{wt}', 'session:{wt}:stops', 'session:{str}');
redis_cmd($redis->port, 'HSET', 'session:{wt}', owner => 'client-a', status => 'x');
redis_cmd($redis->port, 'SET', 'session:{wt}:stops', 'not a list');
redis_cmd($redis->port, 'SET', 'session:{str}', 'not a hash');

my @dead = map { free_port() } 1 .. 3;
my @mute = map { fake_store(never_answer => 1) } 1 .. 3;

my $AUTH = <<'EOF';
        session_jwt "d";
        session_jwt_key_file %%JWKS%%;
        session_result_owner_claim sub;
        session_result_pass 127.0.0.1:%%REDIS_PORT%%;
EOF

my $ngx = start_nginx(<<"EOF", redis => $redis, log_level => 'debug',
    location /api/session/result/ {
$AUTH
        session_result_buffer_size 16k;
        add_header X-Bytes \$upstream_bytes_received always;
        add_header X-Session-Status "\$session_result_status" always;
        if (\$http_x_debug) {
            set \$d 1;
        }
    }
    location /lx/ {
$AUTH
        limit_except GET {
            deny all;
        }
    }
    location /plain/ {
        session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        session_result_buffer_size 16k;
    }
    location /tries/ {
        session_result_pass dead;
        session_result_next_upstream_tries 2;
        add_header X-Up \$upstream_addr always;
    }
    location /alltries/ {
        session_result_pass dead;
        add_header X-Up \$upstream_addr always;
    }
    location /timeout/ {
        session_result_pass mute;
        session_result_read_timeout 500ms;
        session_result_next_upstream_timeout 700ms;
        add_header X-Up \$upstream_addr always;
    }
EOF
    vars => { JWKS => $JWKS, D0 => $dead[0], D1 => $dead[1], D2 => $dead[2],
              M0 => $mute[0]->target, M1 => $mute[1]->target, M2 => $mute[2]->target },
    http => <<'HTTP');
    upstream dead {
        server 127.0.0.1:%%D0%% max_fails=0;
        server 127.0.0.1:%%D1%% max_fails=0;
        server 127.0.0.1:%%D2%% max_fails=0;
    }
    upstream mute {
        server %%M0%% max_fails=0;
        server %%M1%% max_fails=0;
        server %%M2%% max_fails=0;
    }
HTTP

my $API = '/api/session/result';

sub is_json_response {
    my ($r, $status, $error) = @_;
    is $r->{status}, $status, "status $status";
    like $r->{headers}{'content-type'} // '', qr{^application/json}, 'JSON';
    is eval { decode_json($r->{body})->{error} }, $error, "error $error" if $error;
}

# what a client sees of a response, but for Date and the byte count
sub visible {
    my ($r) = @_;
    return [ $r->{status}, $r->{body},
             [ grep { $_->[0] !~ /^(date|x-bytes)$/i } @{ $r->{header_list} } ] ];
}

######################################################################
# item 1: "if" and "limit_except" in the endpoint's location

subtest '"if" inside the location' => sub {
    run_cases([
        { name => 'GET with X-Debug: 200, the same body',
          run => sub {
              my $r = http_get($ngx->port, "$API/$ID", %A, 'X-Debug' => 1);
              is $r->{status}, 200, 'status 200';
              is $r->{body}, http_get($ngx->port, "$API/$ID", %A)->{body}, 'same body';
          } },
        { name => 'DELETE with X-Debug: 405, before the token',
          run => sub {
              my $r = http_request($ngx->port, 'DELETE', "$API/$ID", { 'X-Debug' => 1 });
              is_json_response($r, 405, 'method_not_allowed');
              is $r->{headers}{allow}, 'GET, HEAD', 'Allow';
          } },
        { name => 'GET with X-Debug, no token: 401 JSON',
          run => sub {
              is_json_response(http_get($ngx->port, "$API/$ID", 'X-Debug' => 1), 401,
                               'unauthorized');
          } },
        { name => 'another tenant with X-Debug: 404',
          run => sub {
              is_json_response(http_get($ngx->port, "$API/$ID", %B, 'X-Debug' => 1), 404,
                               'not_found');
          } },
    ], sub { $_[0]{run}->() });
    unlike $ngx->error_log, qr/no upstream configuration/, 'no alert';
};

subtest '"limit_except" inside the location' => sub {
    run_cases([
        { name => 'GET: 200', run => sub {
              is http_get($ngx->port, "/lx/$ID", %A)->{status}, 200, 'status 200' } },
        { name => 'DELETE with a token: 405 JSON, not the HTML 403', run => sub {
              is_json_response(http_request($ngx->port, 'DELETE', "/lx/$ID", \%A), 405,
                               'method_not_allowed') } },
        { name => 'POST without a token: 405 first', run => sub {
              is_json_response(http_request($ngx->port, 'POST', "/lx/$ID", {}), 405,
                               'method_not_allowed') } },
        { name => 'GET without a token: 401', run => sub {
              is_json_response(http_get($ngx->port, "/lx/$ID"), 401, 'unauthorized') } },
    ], sub { $_[0]{run}->() });
};

######################################################################
# item 2: another tenant's session is the 404 of an unknown one

subtest 'another tenant: exactly the 404 of an unknown session' => sub {
    my $unknown = visible(http_get($ngx->port, "$API/no-such-session", %B));
    is $unknown->[0], 404, 'unknown: 404';
    run_cases([
        { name => 'a small session', id => $ID, keepalive => 1 },
        { name => 'a session larger than session_result_buffer_size', id => 'big',
          keepalive => 0 },
        { name => 'a stops key of the wrong type', id => 'wt', keepalive => 1 },
        { name => 'a hash key of the wrong type', id => 'str', keepalive => 1 },
        { name => 'larger, with X-Debug (the "if" conf)', id => 'big', hdr => ['X-Debug' => 1],
          keepalive => 0 },
    ], sub {
        my ($c) = @_;
        my $m = $ngx->mark;
        my $r = http_get($ngx->port, "$API/$c->{id}", %B, @{ $c->{hdr} || [] });
        my $v = visible($r);
        $v->[1] =~ s/no-such-session/$c->{id}/g;
        is_deeply $v, $unknown, 'status, headers and body of the unknown id';
        ok $r->{headers}{'x-bytes'} <= 4096,
           "at most the first read buffer was received ($r->{headers}{'x-bytes'} bytes)";
        my $log = $ngx->error_log($m);
        unlike $log, qr/store read buffer grown/, 'the read buffer never grew';
        unlike $log, qr/\[(error|warn)\]/, 'nothing logged about the session';
        my ($ka) = $log =~ /not the owner's session, rest of the reply skipped, keepalive (\d)/;
        is $ka, $c->{keepalive}, 'the skip path was taken; the connection '
            . ($c->{keepalive} ? 'kept: the reply was all there' : 'closed: more was to come');
    });
};

subtest 'the owner: its own oversize or wrong-type session is 502' => sub {
    run_cases([
        { name => 'larger than session_result_buffer_size', id => 'big',
          log => qr/larger than session_result_buffer_size/ },
        { name => 'stops key of the wrong type', id => 'wt', log => qr/WRONGTYPE/ },
        { name => 'hash key of the wrong type: no owner, 404', id => 'str', status => 404 },
    ], sub {
        my ($c) = @_;
        my $m = $ngx->mark;
        my $r = http_get($ngx->port, "$API/$c->{id}", %A);
        is_json_response($r, $c->{status} || 502, $c->{status} ? 'not_found' : 'store_error');
        like $ngx->error_log($m), $c->{log}, 'logged' if $c->{log};
    });
};

subtest 'without an owner claim, as before: no HGET, 502 for oversize' => sub {
    is_json_response(http_get($ngx->port, "/plain/big"), 502, 'store_error');
    is http_get($ngx->port, "/plain/$ID")->{status}, 200, 'the example: 200';
};

######################################################################
# item 3: the read buffer grows as the reply needs, up to the limit

subtest 'the read buffer: small first, grown on demand' => sub {
    my $m = $ngx->mark;
    my $r = http_get($ngx->port, "$API/$ID", %A);
    is $r->{status}, 200, 'the example: 200';
    unlike $ngx->error_log($m), qr/store read buffer grown/, 'read in the first 4k';

    $m = $ngx->mark;
    $r = http_get($ngx->port, "$API/mid", %A);
    is $r->{status}, 200, 'a 9 kB session: 200';
    ok $r->{headers}{'x-bytes'} > 8192, "all of it was read ($r->{headers}{'x-bytes'} bytes)";
    my @grown = $ngx->error_log($m) =~ /store read buffer grown to (\d+)/g;
    is "@grown", '8192 16384', 'grown twice, doubling';
    my $body = eval { decode_json($r->{body}) } || {};
    my @stops = @{ $body->{journey}{stops} || [] };
    is scalar @stops, 40, 'every stop, across the moves';
    is_deeply [ map { $_->{detail} } @stops ], [ ('x' x 100) x 40 ], 'their values intact';
    is $body->{status}, 'verified', 'the hash too';
    is $body->{journey}{duration}, '00h 00m 39s', 'the duration';
};

######################################################################
# item 5: HTTP/2, a GET whose only DATA frame is empty

SKIP: {
    skip 'no nghttp (nghttp2-client)', 1 unless -x '/usr/bin/nghttp';
    my $h2 = start_nginx(<<'EOF', redis => $redis, server => 0);
    server {
        listen 127.0.0.1:%%PORT%% http2;
        location /api/session/result/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
    }
EOF
    subtest 'HTTP/2: an empty DATA frame is no body' => sub {
        run_cases([
            { name => 'empty DATA frame: 200', body => '', status => 200 },
            { name => '3-byte body: 400', body => 'abc', status => 400 },
        ], sub {
            my ($c) = @_;
            my $file = write_file("body-$c->{status}", $c->{body});
            my $url = 'http://127.0.0.1:' . $h2->port . "$API/$ID";
            my $log = `nghttp -v -t 5 --no-content-length -d $file -H ':method: GET' $url 2>&1`;
            my $len = length $c->{body};
            unlike $log, qr/^\s+content-length:/m, 'no content-length sent';
            like $log, qr/send HEADERS frame <length=\d+, flags=0x2?4,/,
                 'HEADERS without END_STREAM';
            like $log, qr/send DATA frame <length=$len, flags=0x01,/,
                 "then DATA of $len bytes with END_STREAM";
            my ($st) = $log =~ /:status: (\d+)/;
            is $st, $c->{status}, "status $c->{status}";
        });
        my $log = `nghttp -v -t 5 http://127.0.0.1:${\ $h2->port}$API/$ID 2>&1`;
        like $log, qr/:status: 200/, 'the connection and server still serve';
    };
}

######################################################################
# item 6: $session_result_status

subtest '$session_result_status: short printable text only' => sub {
    run_cases([
        { name => 'plain', status => 'verified', shown => 'verified' },
        { name => 'CR LF', status => "ok\r\nX-Injected: 1" },
        { name => 'LF alone', status => "ok\nX-Injected: 1" },
        { name => 'NUL', status => "ok\0" },
        { name => 'DEL', status => "ok\x7f" },
        { name => 'UTF-8', status => "v\xc3\xa9rifi\xc3\xa9" },
        { name => 'empty', status => '' },
        { name => '64 bytes', status => 'a' x 64, shown => 'a' x 64 },
        { name => '65 bytes', status => 'a' x 65 },
    ], sub {
        my ($c) = @_;
        session('st', 'client-a', 0, status => $c->{status});
        my $r = http_get($ngx->port, "$API/st", %A);
        is $r->{status}, 200, 'status 200';
        is $r->{headers}{'x-session-status'}, $c->{shown}, 'the header';
        ok !exists $r->{headers}{'x-injected'}, 'no injected header';
    });
};

######################################################################
# item 9: session_result_next_upstream_tries and _timeout

subtest 'session_result_next_upstream_tries and _timeout' => sub {
    my $r = http_get($ngx->port, "/tries/$ID");
    is_json_response($r, 503, 'store_unavailable');
    is scalar(split /, /, $r->{headers}{'x-up'} // ''), 2, "tries 2: two servers ($r->{headers}{'x-up'})";

    $r = http_get($ngx->port, "/alltries/$ID");
    is scalar(split /, /, $r->{headers}{'x-up'} // ''), 3, 'default: all three';

    $r = http_get($ngx->port, "/timeout/$ID");
    is_json_response($r, 504, 'store_timeout');
    is scalar(split /, /, $r->{headers}{'x-up'} // ''), 2,
       "timeout 700ms, 500ms each: two servers ($r->{headers}{'x-up'})";
};

subtest 'configuration' => sub {
    for my $d ('session_result_next_upstream_tries 1;', 'session_result_next_upstream_timeout 2s;') {
        my ($rc, $o) = nginx_t("location /x/ { session_result_pass 127.0.0.1:1; $d }");
        is $rc, 0, "$d accepted" or diag $o;
    }
    my ($rc, $o) = nginx_t('location /x/ { session_result_pass 127.0.0.1:1; session_result_next_upstream_tries x; }');
    isnt $rc, 0, 'a bad number refused';
};

error_log_clean($ngx);

done_testing;
