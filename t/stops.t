#!/usr/bin/perl
# Stops through nginx and a real redis (SPEC 3.2, issue 9 item 4): only the
# six values of a stop can fail a session.  Other members are dropped, so a
# vendor's huge number, a repeated key or a "\u0000" in a key there is fine;
# they must still be JSON, and nesting stays bounded (the stop is level 1 of
# 64).  Two values for one emitted key are ambiguous: 502.  The RESP bound
# of the stops list is here too (issue 9 item 9).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use JSON::PP ();
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my $redis = start_redis();
my $big = fake_store(reply => "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n*0\r\n"
                            . "*16000000\r\n");
my $ngx = start_nginx(<<"EOF", redis => $redis);
    location /api/session/result/ {
        session_result_pass 127.0.0.1:%%REDIS_PORT%%;
    }
    location /huge-count/ {
        session_result_pass 127.0.0.1:${\ $big->port };
        session_result_buffer_size 16m;
        session_result_read_timeout 3s;
    }
EOF

my $OK = '"type":"Data Service","status":"PASS"';
my %EMITTED = (timestamp => '', type => 'Data Service', source => '',
               status => 'PASS', action => '', detail => '');

sub store {
    my ($id, @stops) = @_;
    redis_cmd($redis->port, DEL => "session:{$id}", "session:{$id}:stops");
    redis_cmd($redis->port, HSET => "session:{$id}", fn => 'x');
    redis_cmd($redis->port, RPUSH => "session:{$id}:stops", @stops);
}

my $deep63 = ('[' x 63) . (']' x 63);    # 64 levels with the stop
my $deep64 = ('[' x 64) . (']' x 64);    # 65

# a dropped member holding any JSON: 200, the six values only
my @dropped = (
    [ 'dropped-1e999',    qq({$OK,"score":1e999}) ],
    [ 'dropped-2e64',     qq({$OK,"vendor_id":18446744073709551616}) ],
    [ 'dropped-long-int', qq({"vendor_id":123456789012345678901234567890,$OK}) ],
    [ 'dropped-dup',      qq({"ref":1,$OK,"ref":2}) ],
    [ 'dropped-dup-deep', qq({$OK,"raw":{"a":1,"a":{"b":2,"b":3}}}) ],
    [ 'dropped-nul-key',  qq({$OK,"a\\u0000b":1}) ],
    [ 'dropped-63-deep',  qq({$OK,"raw":$deep63}) ],
);

for (@dropped) {
    my ($id, $stop) = @$_;
    store($id, $stop);
    my $r = http_get($ngx->port, "/api/session/result/$id");
    is $r->{status}, 200, "$id: 200" or diag $r->{body};
    my $j = eval { JSON::PP->new->decode($r->{body}) } || {};
    is_deeply $j->{journey}{stops}, [ \%EMITTED ], "$id: the six values";
    unlike $r->{body}, qr/score|vendor_id|"ref"|"raw"|a\\u0000b/,
           "$id: dropped members not emitted";
}

# refused: the emitted values, and anything that is not bounded JSON
my @refused = (
    [ 'emitted-dup',     qq({"status":"PASS","type":"x","status":"FAIL"}),
      qr/stop 0: "status" repeated/ ],
    [ 'emitted-number',  qq({"type":"x","status":18446744073709551616}),
      qr/stop 0: "status" is not a string or null/ ],
    [ 'dropped-65-deep', qq({$OK,"raw":$deep64}),
      qr/stop 0: JSON text nested too deeply/ ],
    [ 'dropped-invalid', qq({$OK,"raw":[1,]}),
      qr/stop 0: invalid JSON text/ ],
    [ 'dropped-utf8',    qq({$OK,"raw":"\xff"}),
      qr/stop 0: invalid UTF-8 in JSON text/ ],
);

for (@refused) {
    my ($id, $stop, $log) = @$_;
    store($id, $stop);
    my $r = http_get($ngx->port, "/api/session/result/$id");
    is $r->{status}, 502, "$id: 502";
    is_json_equal($r->{body}, { error => 'store_error',
                                error_description => 'the session store failed' },
                  "$id: body");
    like $ngx->error_log, qr/invalid stored session "session:\{$id\}": $log/,
         "$id: logged with the key and the reason";
}

# a list count that cannot fit the largest reply fails at its header,
# before any allocation for it and without waiting for the elements
my $t0 = time;
my $r = http_get($ngx->port, '/huge-count/some-id');
my $took = time - $t0;
is $r->{status}, 502, '*16000000 with a 16m buffer: 502';
ok $took < 2, sprintf('at once (%.2f s), not at the 3 s read timeout', $took);
like $ngx->error_log, qr/store sent an invalid reply for "session:\{some-id\}": LRANGE count past the reply limit/,
     'logged with the key and the reason';

$ngx->stop;
error_log_clean($ngx);

done_testing;
