# SPEC 9: waiting for a change.  A GET with "Prefer: wait=N" and the
# session's current ETag in If-None-Match is held until the session's keys
# change (200, the new body and ETag) or min(N, session_result_wait_max)
# passes (304), both with "Preference-Applied: wait"; anything else is
# answered at once.  The module learns of changes from Redis itself (the
# writer's commands, here redis_cmd, are plain HSET/MULTI/EXEC).
#
# Timing is checked with generous margins only: "held" means no answer for
# a while, "woken" means an answer within 1 s of the change.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Select;
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my $redis = start_redis();

my $ngx = start_nginx(<<'EOF', redis => $redis);
        location /api/session/result/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
            session_result_wait_max 5s;
        }
        location /capped/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
            session_result_wait_max 1s;
        }
        location /nowait/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
            session_result_wait_max 0;
        }
        location /down/ {
            session_result_pass 127.0.0.1:1;
        }
        location = /metrics {
            session_result_metrics;
        }
EOF
my $port = $ngx->port;
my $P = '/api/session/result';

sub store {
    my ($id, @fields) = @_;
    redis_pipeline($redis->port, ['MULTI'], [DEL => "session:{$id}"],
                   [HSET => "session:{$id}", @fields], ['EXEC']);
}

sub etag_of {
    my ($path) = @_;
    my $r = http_get($port, $path);
    is $r->{status}, 200, "$path is there" or diag explain $r;
    return $r->{headers}{etag};
}

sub waiting {
    my $m = http_get($port, '/metrics');
    return $m->{body} =~ /^session_result_waiting (-?\d+)$/m ? $1 : -1;
}

# a request sent now, its response read later
sub start_wait {
    my ($path, @h) = @_;
    my $c = http_conn($port);
    $c->send_raw(SessionTest::_build_request('GET', $path, \@h));
    return $c;
}

sub held_until { my $n = shift; wait_for(sub { waiting() == $n }, 5) }

subtest 'held until the session changes, then 200 with the new ETag' => sub {
    store('h1', status => 'PENDING');
    my $etag = etag_of("$P/h1");
    my $c = start_wait("$P/h1", 'If-None-Match' => $etag,
                       Prefer => 'wait=5');
    ok held_until(1), 'one request waiting';
    ok !IO::Select->new($c->{sock})->can_read(0.5), 'no answer yet';
    my $t = time;
    store('h1', status => 'PASS');
    my $r = $c->read_response('GET', 3);
    my $dt = time - $t;
    is $r->{status}, 200, 'status 200';
    isnt $r->{headers}{etag}, $etag, 'a new ETag';
    like $r->{body}, qr/"PASS"/, 'the new body';
    is $r->{headers}{'preference-applied'}, 'wait', 'Preference-Applied: wait';
    cmp_ok $dt, '<', 1, 'within 1 s of the change';
    ok wait_for(sub { waiting() == 0 }, 2), 'nobody waiting';
};

subtest 'nothing changes: 304 at the end of the wait' => sub {
    store('t1', status => 'PENDING');
    my $etag = etag_of("$P/t1");
    my $t = time;
    my $c = start_wait("$P/t1", 'If-None-Match' => $etag,
                       Prefer => 'wait=2');
    my $r = $c->read_response('GET', 6);
    my $dt = time - $t;
    is $r->{status}, 304, 'status 304';
    is $r->{headers}{etag}, $etag, 'the same ETag';
    is $r->{headers}{'preference-applied'}, 'wait', 'Preference-Applied: wait';
    cmp_ok $dt, '>=', 1.9, 'after the 2 s asked for';
    cmp_ok $dt, '<', 3.5, 'not much later';
};

subtest 'session_result_wait_max caps the wait' => sub {
    store('c1', status => 'PENDING');
    my $etag = etag_of("/capped/c1");
    my $t = time;
    my $r = http_get($port, "/capped/c1", 'If-None-Match' => $etag,
                     Prefer => 'wait=30');
    my $dt = time - $t;
    is $r->{status}, 304, 'status 304';
    cmp_ok $dt, '>=', 0.9, 'held for the 1 s cap';
    cmp_ok $dt, '<', 2.5, 'not for the 30 s asked';
    # 999999999 s in ms does not fit 32 bits: clamped before the product
    $t = time;
    $r = http_get($port, "/capped/c1", 'If-None-Match' => $etag,
                  Prefer => 'wait=999999999');
    $dt = time - $t;
    is $r->{status}, 304, 'the largest wait parsed: 304';
    cmp_ok $dt, '>=', 0.9, 'held for the 1 s cap';
    cmp_ok $dt, '<', 2.5, 'no more';
};

run_cases([
    { name => 'session_result_wait_max 0 ignores Prefer: wait',
      path => '/nowait/n1', status => 304,
      h => sub { ('If-None-Match' => $_[0], Prefer => 'wait=5') } },
    { name => 'no If-None-Match', path => "$P/n1", status => 200,
      h => sub { (Prefer => 'wait=5') } },
    { name => 'a non-matching If-None-Match', path => "$P/n1", status => 200,
      h => sub { ('If-None-Match' => '"other"', Prefer => 'wait=5') } },
    { name => 'no Prefer: wait', path => "$P/n1", status => 304,
      h => sub { ('If-None-Match' => $_[0]) } },
    { name => 'If-None-Match: * (matches every ETag)', path => "$P/n1",
      status => 304,
      h => sub { ('If-None-Match' => '*', Prefer => 'wait=5') } },
    { name => 'Prefer: wait=0', path => "$P/n1", status => 304,
      h => sub { ('If-None-Match' => $_[0], Prefer => 'wait=0') } },
    { name => 'Prefer: wait=abc', path => "$P/n1", status => 304,
      h => sub { ('If-None-Match' => $_[0], Prefer => 'wait=abc') } },
    { name => 'an unknown session (404)', path => "$P/none", status => 404,
      h => sub { ('If-None-Match' => $_[0], Prefer => 'wait=5') } },
    { name => 'a store that is down (503)', path => '/down/n1', status => 503,
      h => sub { ('If-None-Match' => $_[0], Prefer => 'wait=5') } },
    { name => 'a malformed request_id (400)', path => "$P/a%20b",
      status => 400,
      h => sub { ('If-None-Match' => $_[0], Prefer => 'wait=5') } },
  ], sub {
    my ($c) = @_;
    store('n1', status => 'PENDING');
    my $etag = etag_of("$P/n1");
    my $t = time;
    my $r = http_get($port, $c->{path}, $c->{h}->($etag));
    my $dt = time - $t;
    is $r->{status}, $c->{status}, "$c->{status} at once" or diag explain $r;
    cmp_ok $dt, '<', 0.5, 'not held';
    ok !defined $r->{headers}{'preference-applied'}, 'no Preference-Applied';
});

subtest 'the stops list changed in a MULTI/EXEC: woken' => sub {
    store('m1', status => 'PENDING');
    my $etag = etag_of("$P/m1");
    my $c = start_wait("$P/m1", 'If-None-Match' => $etag,
                       Prefer => 'wait=5');
    ok held_until(1), 'waiting';
    redis_pipeline($redis->port, ['MULTI'],
                   [RPUSH => 'session:{m1}:stops', '{"t":"x"}'], ['EXEC']);
    my $r = $c->read_response('GET', 3);
    is $r->{status}, 200, 'woken by the stops list';
    isnt $r->{headers}{etag}, $etag, 'a new ETag';
};

subtest 'a write that changes nothing visible keeps it waiting' => sub {
    store('u1', status => 'PENDING');
    my $etag = etag_of("$P/u1");
    my $t = time;
    my $c = start_wait("$P/u1", 'If-None-Match' => $etag,
                       Prefer => 'wait=2');
    ok held_until(1), 'waiting';
    $redis->cmd(EXPIRE => 'session:{u1}', 3600);
    sleep 0.3;
    ok held_until(1), 'still waiting after reading it again';
    my $r = $c->read_response('GET', 5);
    is $r->{status}, 304, '304 at the deadline';
    cmp_ok time - $t, '>=', 1.9, 'the whole wait';
};

subtest 'fan-out: 50 waiters on one session' => sub {
    store('f1', status => 'PENDING');
    my $etag = etag_of("$P/f1");
    my @c = map { start_wait("$P/f1", 'If-None-Match' => $etag,
                             Prefer => 'wait=5') } 1 .. 50;
    ok held_until(50), '50 waiting';
    my $t = time;
    store('f1', status => 'PASS');
    my @r = map { $_->read_response('GET', 3) } @c;
    my $dt = time - $t;
    is scalar(grep { ($_->{status} // 0) == 200 } @r), 50, '50 answers 200';
    is scalar(grep { ($_->{headers}{etag} // $etag) ne $etag } @r), 50,
       'all with the new ETag';
    cmp_ok $dt, '<', 1.5, 'all within 1.5 s';
    ok wait_for(sub { waiting() == 0 }, 2), 'nobody waiting';
};

subtest '20 sessions waited on, 10 change: only those are woken' => sub {
    my (%etag, %c, %r);
    for my $i (1 .. 20) {
        store("s$i", status => 'PENDING');
        $etag{$i} = etag_of("$P/s$i");
    }
    $c{$_} = start_wait("$P/s$_", 'If-None-Match' => $etag{$_},
                        Prefer => 'wait=3') for 1 .. 20;
    ok held_until(20), '20 waiting';
    my $t = time;
    store("s$_", status => 'PASS') for 1 .. 10;
    $r{$_} = $c{$_}->read_response('GET', 2) for 1 .. 10;
    cmp_ok time - $t, '<', 1.5, 'the 10 answered within 1.5 s';
    is scalar(grep { ($r{$_}{status} // 0) == 200 } 1 .. 10), 10,
       'the 10 changed: 200';
    is waiting(), 10, 'the other 10 still wait';
    $r{$_} = $c{$_}->read_response('GET', 5) for 11 .. 20;
    is scalar(grep { ($r{$_}{status} // 0) == 304 } 11 .. 20), 10,
       'the 10 unchanged: 304 at the deadline';
};

subtest 'a client that goes away ends its wait at once (HTTP/1.1)' => sub {
    store('a1', status => 'PENDING');
    my $etag = etag_of("$P/a1");
    my $c = start_wait("$P/a1", 'If-None-Match' => $etag,
                       Prefer => 'wait=5');
    ok held_until(1), 'waiting';
    my $from = -s $ngx->dir . '/access.log' // 0;
    $c->close;
    ok wait_for(sub { waiting() == 0 }, 1), 'not waiting within 1 s';
    ok wait_for(sub { $ngx->access_log($from) =~ m{/a1 HTTP/1.1" 499 } }, 1),
       'logged as 499';
};

is waiting(), 0, 'nobody waiting at the end';
ok error_log_clean($ngx), 'error log clean';

done_testing;
