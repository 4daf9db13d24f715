#!/usr/bin/perl
# Store faults (SPEC section 3: 502/503/504, docs/failures.md): a real
# redis-server that is stopped or paused, fake stores that answer badly, and
# stored data the module must refuse.  Every error is a JSON body with
# Cache-Control: no-store, never an HTML page; every fault leaves its line in
# the error log, naming the key and never the stored content.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use JSON::PP ();
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my %CODE = (502 => 'store_error', 503 => 'store_unavailable',
            504 => 'store_timeout');
my $SEED_ID = '19fe3b9e-384e-41d1-bded-8de9ef3abacb';

# the personal values stored in this file: none may reach the error log
my @PERSONAL = ('John', 'johndoe@example.com', '123-456-7890', '19900101',
                'Zebulon', 'Quixote', 'Zeb-stop-secret', 'dcams-secret',
                'client-a');

# stores the published example with the writer CLI
sub store_seed {
    my ($redis) = @_;
    my $out = `$^X ${\ repo_root()}/writer/session-store -p ${\ $redis->port} --owner client-a ${\ fixture('seed-session.json')} 2>&1`;
    is $?, 0, 'seed session stored with the writer' or diag $out;
}

# status, headers and JSON body of an error response
sub is_store_error {
    my ($r, $status) = @_;
    is $r->{status}, $status, "status $status" or diag $r->{raw} // $r->{error};
    is $r->{headers}{'content-type'}, 'application/json', 'Content-Type: application/json';
    is $r->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store';
    unlike $r->{body} // '', qr/<html/i, 'no HTML page';
    my $j = eval { JSON::PP->new->decode($r->{body} // '') };
    is ref $j, 'HASH', 'body is a JSON object' or return;
    is_deeply [ sort keys %$j ], [qw(error error_description)], 'error and error_description only';
    is $j->{error}, $CODE{$status}, "error $CODE{$status}";
    ok defined $j->{error_description} && !ref $j->{error_description}
       && length $j->{error_description}, 'error_description is a non-empty string';
}

sub timed_get {
    my ($port, $path) = @_;
    my $t0 = time;
    my $r = http_get($port, $path);
    return ($r, time - $t0);
}

######################################################################
# the stores

my $redis = start_redis();          # stored data cases
my $victim = start_redis();         # will be stopped
my $sleeper = start_redis();        # will be paused
store_seed($_) for $victim, $sleeper;

my $VALID_REPLY = exec_reply(
    [ fn => 'Zebulon', ln => 'Quixote', status => 'PASS' ],
    [ '{"timestamp":"2024-08-19 20:56:25","type":"NEW REGISTRATION"}',
      '{"timestamp":"2024-08-19 21:56:26.5","type":"Data Service"}' ]);
my $VALID_BODY = {
    (map { $_ => '' } qw(fn ln addr city state zip dob email phone reference status)),
    fn => 'Zebulon', ln => 'Quixote', status => 'PASS', request_id => 'abc',
    additionalData => [], dcams_plus => undef, storage => { success => undef },
    journey => {
        stops => [
            { timestamp => '2024-08-19 20:56:25', type => 'NEW REGISTRATION',
              source => '', status => '', action => '', detail => '' },
            { timestamp => '2024-08-19 21:56:26.5', type => 'Data Service',
              source => '', status => '', action => '', detail => '' },
        ],
        duration => '01h 00m 01s',
    },
    documents => undef,
};
my $QUEUED = "+OK\r\n+QUEUED\r\n+QUEUED\r\n";
my $INVALID = sub { qr/store sent an invalid reply for "session:\{abc\}": \Q$_[0]\E/ };

# fake store cases: location /fake/N/ reads key session:{abc} from store N
my @FAKE = (
    { name => 'valid reply in one write -> 200 (control)',
      store => { reply => $VALID_REPLY }, status => 200 },
    # nginx arms the read timer once, when the query is sent: the whole
    # reply must come within read_timeout, hence 5s here
    { name => 'valid reply trickled byte by byte -> 200 (incremental parsing)',
      store => { reply => $VALID_REPLY, trickle => [1, 0.002] }, status => 200,
      conf => 'session_result_read_timeout 5s;' },
    # docs/directives.md: read_timeout bounds the whole reply, counted from
    # when the query was sent, not the silence between two reads
    { name => 'reply in pieces 100ms apart, 900ms in all, read_timeout 300ms -> 504',
      store => { reply => $VALID_REPLY, trickle => [20, 0.1] }, status => 504,
      log => qr/upstream timed out/ },
    { name => 'garbage bytes -> 502',
      store => { reply => "garbage\r\n" }, status => 502,
      log => $INVALID->('unknown RESP type') },
    { name => 'reply cut off in the middle of a string -> 502',
      store => { reply => $VALID_REPLY, close_after => length($QUEUED) + 20 },
      status => 502, log => qr/upstream prematurely closed connection/ },
    { name => 'reply cut off after the MULTI/QUEUED lines -> 502',
      store => { reply => $VALID_REPLY, close_after => length $QUEUED },
      status => 502, log => qr/upstream prematurely closed connection/ },
    { name => 'reply with a 2000-byte field, buffer 1k -> 502',
      store => { reply => exec_reply([ fn => 'Zebulon' . ('x' x 1993) ]) },
      status => 502,
      log => $INVALID->('bulk string too long') },
    { name => 'reply of many small fields over 1k in total -> 502',
      store => { reply => exec_reply([ map { ("x$_" => 'Zebulon' . 'y' x 93) } 1 .. 15 ]) },
      status => 502, log => qr/store reply for "session:\{abc\}" is larger than session_result_buffer_size/ },
    { name => 'bulk length announcing more than the buffer -> 502 at once',
      store => { reply => "$QUEUED*2\r\n*2\r\n\$100000\r\n" },
      status => 502, log => $INVALID->('bulk string too long'), max_time => 0.25 },
    { name => 'array count announcing more than the buffer -> 502 at once',
      store => { reply => "$QUEUED*2\r\n*100000\r\n" },
      status => 502, log => $INVALID->('array count too large'), max_time => 0.25 },
    { name => 'error reply to MULTI -> 502',
      store => { reply => "-NOAUTH Authentication required.\r\n" },
      status => 502, log => qr/store sent an invalid reply for "session:\{abc\}": store replied with an error \("NOAUTH/ },
    { name => 'WRONGTYPE inside EXEC -> 502',
      store => { reply => "$QUEUED*2\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n*0\r\n" },
      status => 502, log => qr/store sent an invalid reply for "session:\{abc\}": store replied with an error \("WRONGTYPE/ },
    { name => 'EXEC nil (*-1) -> 502',
      store => { reply => "$QUEUED*-1\r\n" },
      status => 502, log => $INVALID->('transaction aborted') },
    { name => 'HGETALL array of odd length -> 502',
      store => { reply => "$QUEUED*2\r\n*3\r\n\$2\r\nfn\r\n\$7\r\nZebulon\r\n\$2\r\nln\r\n*0\r\n" },
      status => 502, log => $INVALID->('HGETALL reply has an odd number of elements') },
    { name => 'extra bytes after a valid reply -> 502',
      store => { reply => "$VALID_REPLY+OK\r\n" },
      status => 502, log => qr/store sent 5 bytes more than the reply for "session:\{abc\}"/ },
    { name => 'store accepts and closes without a byte -> 503',
      store => { accept_close => 1 }, status => 503,
      log => qr/upstream prematurely closed connection|(?:recv|send|writev)\(\) failed/ },
    { name => 'part of the reply, then silence past read_timeout -> 504',
      store => { reply => $VALID_REPLY, trickle => [40, 2] }, status => 504,
      log => qr/upstream timed out \(110: Connection timed out\) while reading response header from upstream/,
      min_time => 0.28, max_time => 2 },
    { name => 'store never answers, read_timeout 300ms -> 504',
      store => { never_answer => 1 }, status => 504,
      log => qr/upstream timed out \(110: Connection timed out\) while reading response header from upstream/,
      min_time => 0.28, max_time => 2 },
);

$_->{fake} = fake_store(%{ $_->{store} }) for @FAKE;

my $locations = '';
for my $i (0 .. $#FAKE) {
    $FAKE[$i]{path} = "/fake/$i/abc";
    $locations .= "            location /fake/$i/ { session_result_pass "
                . $FAKE[$i]{fake}->target . "; " . ($FAKE[$i]{conf} // '') . " }\n";
}

my $ngx = start_nginx(<<"EOF", redis => $redis, vars => { VICTIM => $victim->port, SLEEPER => $sleeper->port }, http => <<'EOH');
        session_result_connect_timeout 300ms;
        session_result_read_timeout 300ms;
        session_result_send_timeout 300ms;

        location /api/session/result/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /victim/ {
            session_result_pass 127.0.0.1:%%VICTIM%%;
        }
        location /victim-keepalive/ {
            session_result_pass victim_keepalive;
        }
        location /paused/ {
            session_result_pass 127.0.0.1:%%SLEEPER%%;
        }
        location /fake/ {
            session_result_buffer_size 1k;
$locations
        }
EOF
    upstream victim_keepalive {
        server 127.0.0.1:%%VICTIM%%;
        keepalive 4;
    }
    # every request reads the store here: no push connection (SPEC 9)
    session_result_wait_max 0;
EOH

######################################################################
# fake stores

run_cases(\@FAKE, sub {
    my ($c) = @_;
    my $mark = $ngx->mark;
    my ($r, $dt) = timed_get($ngx->port, $c->{path});
    if ($c->{status} == 200) {
        is $r->{status}, 200, 'status 200' or diag $r->{raw};
        is_json_equal $r->{body}, $VALID_BODY, 'the session';
    } else {
        is_store_error($r, $c->{status});
        ok $ngx->wait_log($c->{log}, 2, $mark), "error log: $c->{log}"
            or diag $ngx->error_log($mark);
    }
    cmp_ok $dt, '>=', $c->{min_time}, "took at least $c->{min_time} s" if $c->{min_time};
    cmp_ok $dt, '<', $c->{max_time}, "took less than $c->{max_time} s" if $c->{max_time};
    is scalar(() = $c->{fake}->requests), 1, 'the store got one request'
        unless $c->{store}{accept_close};
});

######################################################################
# stored data the module refuses (real redis)

my @DATA = (
    { name => 'string field that is not UTF-8 -> 502',
      id => 'bad-utf8', hash => [ fn => "Zebulon\xff\xfeQuixote" ],
      log => qr/invalid stored session "session:\{bad-utf8\}": field "fn": invalid UTF-8/ },
    { name => 'dcams_plus holding JSON that does not parse -> 502',
      id => 'bad-dcams', hash => [ dcams_plus => '{"dcams-secret": Zebulon' ],
      log => qr/invalid stored session "session:\{bad-dcams\}": field "dcams_plus": invalid JSON text/ },
    { name => 'a stop that is not a JSON object -> 502',
      id => 'bad-stop', stops => [ '["Zeb-stop-secret"]' ],
      log => qr/invalid stored session "session:\{bad-stop\}": stop \d+: not a JSON object/ },
    { name => 'additionalData a number -> 502',
      id => 'bad-additional', hash => [ additionalData => '4242' ],
      log => qr/invalid stored session "session:\{bad-additional\}": field "additionalData": not a JSON object or array/ },
    { name => 'key of the wrong type (real WRONGTYPE inside EXEC) -> 502',
      id => 'wrongtype', string => 'Zebulon',
      log => qr/store sent an invalid reply for "session:\{wrongtype\}": store replied with an error \("WRONGTYPE/ },
);

run_cases(\@DATA, sub {
    my ($c) = @_;
    my $key = "session:{$c->{id}}";
    if (defined $c->{string}) {
        redis_cmd($redis->port, SET => $key, $c->{string});
    } else {
        redis_cmd($redis->port, HSET => $key, ln => 'Quixote', owner => 'client-a',
                  email => 'johndoe@example.com', @{ $c->{hash} || [] });
        redis_cmd($redis->port, RPUSH => "$key:stops", @{ $c->{stops} })
            if $c->{stops};
    }
    my $mark = $ngx->mark;
    my $r = http_get($ngx->port, "/api/session/result/$c->{id}");
    is_store_error($r, 502);
    ok $ngx->wait_log($c->{log}, 2, $mark), "error log: $c->{log}"
        or diag $ngx->error_log($mark);
});

######################################################################
# redis stopped, then back

subtest 'redis up: both locations serve the session' => sub {
    for my $loc ('victim', 'victim-keepalive') {
        my $r = http_get($ngx->port, "/$loc/$SEED_ID");
        is $r->{status}, 200, "/$loc/ -> 200" or diag $r->{raw};
    }
};

$victim->stop;
ok !kill(0, $victim->pid), 'redis stopped (by pid)';

for my $loc ('victim', 'victim-keepalive') {
    subtest "redis stopped: /$loc/ -> 503 within 2 s" => sub {
        my $mark = $ngx->mark;
        my ($r, $dt) = timed_get($ngx->port, "/$loc/$SEED_ID");
        is_store_error($r, 503);
        cmp_ok $dt, '<', 2, sprintf('answered in %.3f s', $dt);
        ok $ngx->wait_log(qr/connect\(\) failed \(111: Connection refused\) while connecting to upstream/, 2, $mark),
            'error log: connect() failed (111: Connection refused)'
            or diag $ngx->error_log($mark);
    };
}

subtest 'redis back on the same port: 200 at once, no action needed' => sub {
    $victim->restart;
    store_seed($victim);
    for my $loc ('victim', 'victim-keepalive', 'victim-keepalive') {
        my $r = http_get($ngx->port, "/$loc/$SEED_ID");
        is $r->{status}, 200, "/$loc/ -> 200" or diag $r->{raw};
    }
};

######################################################################
# redis paused (SIGSTOP): connections are accepted by the kernel, no reply

subtest 'redis paused past read_timeout 300ms -> 504, then 200 after resume' => sub {
    my $r = http_get($ngx->port, "/paused/$SEED_ID");
    is $r->{status}, 200, 'before: 200';

    $sleeper->pause;
    my $mark = $ngx->mark;
    my $dt;
    ($r, $dt) = timed_get($ngx->port, "/paused/$SEED_ID");
    is_store_error($r, 504);
    cmp_ok $dt, '>=', 0.28, sprintf('waited for the read timeout (%.3f s)', $dt);
    cmp_ok $dt, '<', 2, 'but not much longer';
    ok $ngx->wait_log(qr/upstream timed out \(110: Connection timed out\) while reading response header from upstream/, 2, $mark),
        'error log: upstream timed out' or diag $ngx->error_log($mark);

    $sleeper->resume;
    $r = http_get($ngx->port, "/paused/$SEED_ID");
    is $r->{status}, 200, 'after resume: 200' or diag $r->{raw};
    is_json_equal $r->{body}, do { local (@ARGV, $/) = fixture('seed-session.json'); <> },
        'the published example';
};

######################################################################

$ngx->stop;
error_log_lacks($ngx, \@PERSONAL, 'no stored personal value in the error log');
error_log_clean($ngx);

done_testing;
