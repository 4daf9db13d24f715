# Everything that grows with input is bounded: each limit at its bound and
# one past it (docs/security.md lists them).  The token's 8 KiB is in
# t/jwt.t, malformed lengths in t/store_faults.t.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my $redis = start_redis();
my $ngx = start_nginx(<<'EOF', redis => $redis);
    location /api/session/result/ {
        session_result_pass 127.0.0.1:%%REDIS_PORT%%;
    }
    location /big/ {
        session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        session_result_buffer_size 1m;
    }
EOF

my $STOP = JSON::PP->new->canonical->encode({
    timestamp => '2024-08-19 20:56:25.223174', type => 'Data Service',
    source => 'PhoneMatch5.0.Smart2FA.SMS', status => 'PENDING',
    action => 'PENDING', detail => 'MORE INFORMATION IS REQUIRED' });

sub store {
    my ($id, $fields, $stops) = @_;
    redis_cmd($redis->port, DEL => "session:{$id}", "session:{$id}:stops");
    redis_cmd($redis->port, HSET => "session:{$id}", fn => 'x', @$fields);
    redis_cmd($redis->port, RPUSH => "session:{$id}:stops", @$stops)
        if $stops && @$stops;
}

# the size of the store's reply to the module's query for $id
sub reply_size {
    my ($id) = @_;
    my @r = redis_pipeline($redis->port, ['MULTI'], ['HGETALL', "session:{$id}"],
                           ['LRANGE', "session:{$id}:stops", 0, -1], ['EXEC']);
    my $size = length("+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n");
    for my $arr (@{ $r[-1] }) {
        $size += length('*' . @$arr . "\r\n");
        $size += length('$' . length($_) . "\r\n$_\r\n") for @$arr;
    }
    return $size;
}

subtest 'stored JSON nesting: 64 levels, not 65' => sub {
    store('deep64', [dcams_plus => ('[' x 64) . (']' x 64)]);
    store('deep65', [dcams_plus => ('[' x 65) . (']' x 65)]);
    is http_get($ngx->port, '/api/session/result/deep64')->{status}, 200, 'at the bound';
    my $r = http_get($ngx->port, '/api/session/result/deep65');
    is $r->{status}, 502, 'past it';
    is_json_equal($r->{body}, { error => 'store_error',
                                error_description => 'the session store failed' }, 'body');
    like $ngx->error_log, qr/invalid stored session "session:\{deep65\}": field "dcams_plus": JSON text nested too deeply/,
         'logged with the key and field';
};

subtest 'stops and reply size: bounded by session_result_buffer_size' => sub {
    # the largest number of stops that fits 64k, and one more
    my $n = 1;
    $n++ while length($STOP) * ($n + 1) < 60_000;
    for (;; $n++) {
        store('many', [], [($STOP) x $n]);
        last if reply_size('many') > 65536;
    }
    store('fits', [], [($STOP) x ($n - 1)]);
    ok reply_size('fits') <= 65536, ($n - 1) . ' stops: the reply fits 64k';
    my $r = http_get($ngx->port, '/api/session/result/fits');
    is $r->{status}, 200, 'at the bound: 200';
    is scalar @{ JSON::PP->new->decode($r->{body})->{journey}{stops} }, $n - 1,
       'every stop';
    is http_get($ngx->port, '/api/session/result/many')->{status}, 502,
       "$n stops: one past the bound, 502";
    like $ngx->error_log, qr/store reply for "session:\{many\}" is larger than session_result_buffer_size/, 'logged';
    is http_get($ngx->port, '/big/many')->{status}, 200,
       'a larger session_result_buffer_size takes it';
};

subtest 'request_id: 128 characters, not 129' => sub {
    my $id = 'a' x 128;
    store($id, []);
    is http_get($ngx->port, "/api/session/result/$id")->{status}, 200, 'at the bound';
    is http_get($ngx->port, "/api/session/result/${id}a")->{status}, 400, 'past it';
};

$ngx->stop;
error_log_clean($ngx);

done_testing;
