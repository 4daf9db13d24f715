#!/usr/bin/perl
# Store faults under load (SPEC section 3, docs/failures.md): while 32
# keepalive client connections keep the endpoint busy, (a) redis-server is
# stopped for 3 s and started again on the same port, (b) it is paused
# (SIGSTOP) past the read timeout, (c) the store is swapped, by a reload,
# for one that answers garbage, and back, (d) nginx is reloaded twice.
#
# For each phase: a count per status; only the SPEC status of the fault
# (503 / 504 / 502) besides 200, every error a JSON body with the SPEC
# error code; full recovery (nothing but 200) no later than 1 s after the
# fault ended, then at least 1 s of 200s.  Then: no worker crashed (no
# "exited on signal", one "start worker process" per reload and no more),
# and the worker's RSS did not grow by more than a small bound over phases
# (a) and (b), which the same worker(s) serve from start to end.
# TEST_NGINX_WORKERS=2 (t/load_faults_w2.t) runs it with two workers.
#
# This is the short form run by `make test` (about 25 s, everything on
# 127.0.0.1, every wait bounded).  LOAD_FAULTS_LONG=1 makes every window
# longer.  The 10^6-request memory soak is the bench mode, not this test:
# `make bench-memory` (bench/run --memory).
#
# The load client is one forked process driving 32 non-blocking keepalive
# connections with IO::Select (cheaper than 32 processes on a 2-core box);
# it records (time sent, time received, status, what was wrong) for every
# response and reconnects when nginx closes a connection (a reload ends the
# old worker's keepalive connections: such a request is sent again and
# counted as a connection error, apart from the statuses).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use File::Copy ();
use IO::Socket::INET;
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();
# statuses within 300ms timeouts and a 1 s recovery mean nothing at
# valgrind's speed
plan skip_all => 'timing under load: not under valgrind' if $ENV{TEST_NGINX_VALGRIND};

my $LONG = $ENV{LOAD_FAULTS_LONG} ? 1 : 0;
my %T = $LONG
    ? (warmup => 3, baseline => 2, stop => 10, pause => 5, garbage => 10,
       between_reloads => 3, recovery => 3)
    : (warmup => 1, baseline => 1, stop => 3, pause => 1.5, garbage => 2,
       between_reloads => 1, recovery => 2);
my $CONNS = 32;
my $GRACE = 1.0;              # recovery: nothing but 200 this long after the fault
my $REQ_TIMEOUT = 5;          # a response later than this is a hang
my $RSS_BOUND_KB = 10 * 1024;

my %CODE = (502 => 'store_error', 503 => 'store_unavailable',
            504 => 'store_timeout');

######################################################################
# the store, the sessions, nginx

# save points: a stopped redis-server writes its data on SIGTERM and reads
# it back when started again, as a real store does ("restart" is otherwise
# an empty one, and its 404s would be no fault of the module)
my $redis = start_redis(args => ['--save', '3600 1']);

my @IDS = map { "load-$_" } 0 .. 7;
for my $i (0 .. $#IDS) {
    my $key = "session:{$IDS[$i]}";
    redis_pipeline($redis->port,
        [ HSET => $key, fn => "Load-$i", ln => 'Tester', status => 'PASS',
          request_id => $IDS[$i], owner => 'client-a' ],
        [ RPUSH => "$key:stops",
          '{"timestamp":"2024-08-19 20:56:25","type":"NEW REGISTRATION"}',
          '{"timestamp":"2024-08-19 21:56:26.5","type":"Data Service"}' ]);
}

# the garbage store: replies the module must refuse with 502 (docs/failures.md:
# malformed, an error reply, EXEC aborted, an odd HGETALL), in turn by the
# pid of the store's process for the connection (rand would be the same in
# every one: the seed is inherited); none leaves the module waiting for more
my $QUEUED = "+OK\r\n+QUEUED\r\n+QUEUED\r\n";
my @GARBAGE = ("garbage\r\n", "-ERR garbage\r\n", "$QUEUED*-1\r\n",
               "$QUEUED*2\r\n*1\r\n\$2\r\nfn\r\n*0\r\n");
my $garbage = fake_store(reply => sub { $GARBAGE[$$ % @GARBAGE] });

# nginx loads the module again on every reload: from a private copy, so that
# a rebuild of build/ (which rewrites the file in place) while this runs
# cannot change the code under a running master (SIGBUS / SIGSEGV, or
# "dlsym() ... undefined symbol: ngx_modules" on the next reload)
my $MODULE = tmpdir() . '/ngx_http_session_module.so';
File::Copy::copy(module_path(), $MODULE) or BAIL_OUT("copy the module: $!");

my $ngx = start_nginx(<<'EOF', redis => $redis, load_module => $MODULE, http => <<'EOH');
        session_result_connect_timeout 300ms;
        session_result_read_timeout 300ms;
        session_result_send_timeout 300ms;
        # every request reads the store here: no push connection (SPEC 9)
        session_result_wait_max 0;

        location /api/session/result/ {
            access_log off;
            session_result_pass store;
        }
EOF
    upstream store {
        server 127.0.0.1:%%REDIS_PORT%%;    # the store
        keepalive 8;
    }
EOH

my $CONF = $ngx->dir . '/nginx.conf';
my $REDIS_CONF = $ngx->conf;
(my $GARBAGE_CONF = $REDIS_CONF) =~ s{server \S+;(\s+# the store)}{'server ' . $garbage->target . ";$1"}e
    or BAIL_OUT('no store line in nginx.conf');

for my $id (@IDS) {
    my $r = http_get($ngx->port, "/api/session/result/$id");
    is $r->{status}, 200, "$id: 200 before the load" or diag $r->{raw} // $r->{error};
}

######################################################################
# the load client

my (@LOADERS, $LOAD_SEQ);
END { kill 'KILL', $_ for grep { $_ } @LOADERS }    # only if the test died

# forks the client; stop_load() ends it and returns its records
sub start_load {
    my $file = tmpdir() . '/load-' . ++$LOAD_SEQ . '.rec';
    my $parent = $$;
    my $pid = fork // die "fork: $!";
    if ($pid) {
        push @LOADERS, $pid;
        return { pid => $pid, file => $file };
    }
    my $rc = eval { load_client($ngx->port, $file, $parent); 0 } // do {
        print STDERR "# load client: $@";
        1;
    };
    POSIX::_exit($rc);
}

sub stop_load {
    my ($l) = @_;
    kill 'USR1', $l->{pid};
    my $done = wait_for(sub { waitpid($l->{pid}, POSIX::WNOHANG()) == $l->{pid} }, 10);
    if (!$done) {
        kill 'KILL', $l->{pid};
        waitpid $l->{pid}, 0;
    }
    @LOADERS = grep { $_ != $l->{pid} } @LOADERS;
    die "load client did not stop\n" unless $done;
    die "load client failed (exit $?)\n" if $?;
    open my $fh, '<', $l->{file} or die "$l->{file}: $!";
    my @rec;
    while (<$fh>) {
        chomp;
        my ($sent, $recv, $status, $what) = split /\t/, $_, 4;
        push @rec, { sent => $sent, recv => $recv, status => $status,
                     what => $what // '' };
    }
    return \@rec;
}

# one process, $CONNS connections, one request at a time on each; records
# "sent <TAB> received <TAB> status <TAB> what was wrong" per response,
# status 0 for a connection error (closed or reset before any byte of the
# response: the request is sent again on a new connection)
sub load_client {
    my ($port, $file, $parent) = @_;
    my $stop = 0;
    local $SIG{USR1} = sub { $stop = 1 };
    local $SIG{PIPE} = 'IGNORE';
    my $end = time + 300;                 # bounded whatever the parent does
    my $sel = IO::Select->new;
    my (%conn, @rec, $seq);

    my $send;
    my $open = sub {
        my ($c) = @_;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 2);
        if (!$s) {
            push @rec, [time, time, 0, "connect: $!"];
            return 0;
        }
        $s->blocking(0);
        setsockopt $s, IPPROTO_TCP, TCP_NODELAY, 1;
        @$c{qw(sock buf)} = ($s, '');
        $conn{ fileno $s } = $c;
        $sel->add($s);
        return 1;
    };
    my $drop = sub {
        my ($c) = @_;
        $sel->remove($c->{sock});
        delete $conn{ fileno $c->{sock} };
        close $c->{sock};
        delete $c->{sock};
    };
    $send = sub {
        my ($c, $again) = @_;
        if (!$c->{sock}) {
            $open->($c) or return;
        }
        if (!$again) {
            my $n = $seq++ % @IDS;
            $c->{n} = $n;
            $c->{sent} = time;
        }
        my $req = "GET /api/session/result/$IDS[$c->{n}] HTTP/1.1\r\n"
                . "Host: localhost\r\n\r\n";
        my $w = syswrite $c->{sock}, $req;
        if (!defined $w || $w != length $req) {
            # the connection is gone (the old worker closed it): again, anew
            push @rec, [$c->{sent}, time, 0, 'write: ' . ($! || 'short')];
            $drop->($c);
            $send->($c, 1) if $open->($c);
        }
    };
    my $check = sub {
        my ($c, $r) = @_;
        return "bad response: $r->{error}" if $r->{error};
        my $h = $r->{headers};
        my @bad;
        push @bad, 'Content-Type: ' . ($h->{'content-type'} // '-')
            unless ($h->{'content-type'} // '') eq 'application/json';
        push @bad, 'Cache-Control: ' . ($h->{'cache-control'} // '-')
            unless ($h->{'cache-control'} // '') eq 'no-store';
        my $body = $r->{body} // '';
        if ($r->{status} == 200) {
            my $n = $c->{n};
            push @bad, 'not the session asked for'
                unless index($body, '{"fn":"Load-' . $n . '",') == 0
                    && index($body, qq{"request_id":"$IDS[$n]"}) > 0;
        } elsif (my $code = $CODE{ $r->{status} }) {
            push @bad, 'not the JSON error ' . $code
                unless $body =~ /^\{"error":"\Q$code\E","error_description":"[^"\\]+"\}$/;
        } else {
            push @bad, 'not a JSON object'
                unless $body =~ /^\{"error":"\w+","error_description":"[^"\\]*"\}$/;
        }
        return '' unless @bad;
        (my $snip = substr $body, 0, 60) =~ s/[^\x20-\x7e]/./g;
        return join('; ', @bad) . " body=$snip";
    };

    my $all = [ map { { id => $_ } } 1 .. $CONNS ];
    $send->($_) for @$all;
    my $last_check = time;
    while (!$stop && time < $end) {
        for my $s ($sel->can_read(0.05)) {
            my $c = $conn{ fileno $s } or next;
            my $n = sysread $s, $c->{buf}, 65536, length $c->{buf};
            next if !defined $n && $!{EAGAIN};
            my $why = defined $n ? ($n ? '' : 'closed') : "read: $!";
            while (!$why) {
                my $r = SessionTest::_parse_response(\$c->{buf}, 'GET', 0)
                    or last;
                my $now = time;
                push @rec, [$c->{sent}, $now, $r->{status} // 0, $check->($c, $r)];
                if ($r->{error}) {
                    $drop->($c);
                    $send->($c);
                    last;
                }
                if (($r->{headers}{connection} // '') =~ /close/i) {
                    $drop->($c);
                }
                $send->($c);
                last;
            }
            next unless $why;
            # closed or reset: a connection error if nothing of the
            # response came, a cut-off response otherwise
            my $cut = length $c->{buf};
            push @rec, [$c->{sent}, time, $cut ? 'cut' : 0,
                        $cut ? "response cut off ($why)" : $why];
            $drop->($c);
            $send->($c, !$cut);
        }
        my $now = time;
        next if $now - $last_check < 0.2;
        $last_check = $now;
        POSIX::_exit(3) if getppid() != $parent;
        for my $c (@$all) {
            if (!$c->{sock}) {                       # could not connect
                $send->($c);
            } elsif ($now - $c->{sent} > $REQ_TIMEOUT) {
                push @rec, [$c->{sent}, $now, 'hang',
                            "no response in $REQ_TIMEOUT s"];
                $drop->($c);
                $send->($c);
            }
        }
    }
    $drop->($_) for grep { $_->{sock} } @$all;
    open my $fh, '>', $file or die "$file: $!";
    print $fh join("\t", @$_), "\n" for @rec;
    close $fh or die "$file: $!";
}

sub rss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+) kB/ }
    return undef;
}

# the workers' RSS summed (undef if one cannot be read)
sub rss_total {
    my $sum = 0;
    for my $pid (@_) { my $k = rss_kb($pid) // return undef; $sum += $k }
    return $sum;
}

######################################################################
# a phase: baseline, fault, recovery

sub counts {
    my %n;
    $n{ $_->{status} }++ for @_;
    return join(' ', map { "$_=$n{$_}" } sort keys %n) || 'none';
}

sub run_phase {
    my (%p) = @_;
    my $name = $p{name};
    my %allowed = map { $_ => 1 } 200, @{ $p{allowed} };
    my $mark = $ngx->mark;
    my $load = start_load();
    sleep $T{baseline};
    my $t0 = time;
    my ($c0, $c1) = $p{fault}->();
    my $t1 = time;
    sleep $T{recovery};
    my $rec = stop_load($load);

    my @http = grep { $_->{status} ne '0' } @$rec;
    my @conn_err = grep { $_->{status} eq '0' } @$rec;
    my @base = grep { $_->{recv} < $t0 } @http;
    my @during = grep { $_->{recv} >= $t0 && $_->{recv} <= $t1 + $GRACE } @http;
    my @after = grep { $_->{recv} > $t1 + $GRACE } @http;
    my @non200 = grep { $_->{status} ne '200' } @http;
    my $last_bad = @non200 ? (sort { $a <=> $b } map { $_->{recv} } @non200)[-1] : undef;
    my $last = @http ? (sort { $a <=> $b } map { $_->{recv} } @http)[-1] : $t1;
    # sent once the fault was fully in place, answered before it was undone
    my @core = defined $c0 ? grep { $_->{sent} >= $c0 && $_->{recv} <= $c1 } @http : ();

    diag sprintf '%s: %s (%.1f s fault, %d requests, %d connection errors)',
        $name, counts(@http), $t1 - $t0, scalar @http, scalar @conn_err;
    diag sprintf '    baseline: %s | fault + %.0f s: %s%s | after: %s | last non-200 %s',
        counts(@base), $GRACE, counts(@during),
        defined $c0 ? ' (fully in place: ' . counts(@core) . ')' : '', counts(@after),
        defined $last_bad ? sprintf('%+.3f s after the fault ended', $last_bad - $t1) : 'none';

    subtest $name => sub {
        cmp_ok scalar @base, '>', 0, 'baseline: responses';
        my @b = grep { $_->{status} ne '200' } @base;
        is scalar @b, 0, 'baseline: all 200' or diag counts(@b);
        my @odd = grep { !$allowed{ $_->{status} } } @http;
        is scalar @odd, 0, 'statuses only ' . join(' / ', sort keys %allowed)
            or diag counts(@odd) . "\n" . join "\n", map { "$_->{status} $_->{what}" } @odd[0 .. ($#odd < 4 ? $#odd : 4)];
        cmp_ok scalar(grep { $_->{status} eq $p{expect} } @http), '>', 0,
            "the fault was seen: some $p{expect}" if $p{expect};
        if (defined $c0) {
            my @c = grep { $_->{status} ne $p{expect} } @core;
            cmp_ok scalar @core, '>', 0, 'requests while the fault was fully in place';
            is scalar @c, 0, "all of them $p{expect}" or diag counts(@c);
        }
        my @wrong = grep { $_->{what} ne '' } @http;
        is scalar @wrong, 0, 'every response: JSON, no-store, the SPEC error code or the session asked for'
            or diag join "\n", map { "$_->{status}: $_->{what}" } @wrong[0 .. ($#wrong < 4 ? $#wrong : 4)];
        ok !defined $last_bad || $last_bad <= $t1 + $GRACE,
            sprintf 'recovered: the last non-200 no later than %.0f s after the fault ended', $GRACE;
        cmp_ok scalar @after, '>', 0, 'responses after the recovery window';
        cmp_ok $last - (defined $last_bad && $last_bad > $t1 ? $last_bad : $t1), '>=', $GRACE,
            sprintf 'then only 200 for at least %.0f s', $GRACE;
        if ($p{conn_errors_ok}) {
            note 'connection errors (retried): ' . scalar @conn_err;
        } else {
            is scalar @conn_err, 0, 'no client connection closed or reset'
                or diag join "\n", map { $_->{what} } @conn_err[0 .. ($#conn_err < 4 ? $#conn_err : 4)];
        }
        ok $ngx->wait_log($p{log}, 2, $mark), "error log: $p{log}"
            or diag substr $ngx->error_log($mark), -2000 if $p{log};
    };
    return $rec;
}

######################################################################
# the phases

my $t_start = time;
my $WORKERS = $ngx->{workers};
my @W0 = $ngx->workers;
is scalar @W0, $WORKERS, "$WORKERS worker(s)";

# warm-up: the worker's pools and connections at their working size
my $warm = start_load();
sleep $T{warmup};
stop_load($warm);
my $rss0 = rss_total(@W0);
my $served = 0;

$served += @{ run_phase(
    name => "(a) redis stopped $T{stop}s, restarted on the same port",
    allowed => [503], expect => 503,
    log => qr/connect\(\) failed \(111: Connection refused\) while connecting to upstream/,
    fault => sub {
        $redis->stop;
        my $c0 = time;
        sleep $T{stop};
        my $c1 = time;
        $redis->restart;
        return ($c0, $c1);
    },
) };

$served += @{ run_phase(
    name => "(b) redis paused ${\ $T{pause}}s, read timeout 300ms",
    allowed => [504], expect => 504,
    log => qr/upstream timed out \(110: Connection timed out\) while reading response header from upstream/,
    fault => sub {
        $redis->pause;
        my $c0 = time;
        sleep $T{pause};
        my $c1 = time;
        $redis->resume;
        return ($c0, $c1);
    },
) };

my $rss1 = rss_total(@W0);
is_deeply [ $ngx->workers ], \@W0, '(a), (b): the same worker(s) from start to end (no respawn)';
ok defined $rss0 && defined $rss1, 'worker RSS read from /proc' or diag 'rss0 ' . ($rss0 // 'undef') . ' rss1 ' . ($rss1 // 'undef');
diag sprintf 'worker(s) %s RSS: %d kB after the warm-up, %d kB after %d requests of (a) and (b): %+d kB',
    "@W0", $rss0 // 0, $rss1 // 0, $served, ($rss1 // 0) - ($rss0 // 0);
SKIP: {
    # ASan keeps freed memory in quarantine: RSS says nothing of leaks there
    skip 'RSS under AddressSanitizer', 1 if $ENV{TEST_NGINX_ASAN};
    cmp_ok +($rss1 // 0) - ($rss0 // 0), '<', $RSS_BOUND_KB,
        "worker RSS grew by less than $RSS_BOUND_KB kB" . ($WORKERS > 1 ? ' (all workers)' : '');
}

my $reloads = 0;
my $reload = sub {
    my ($conf) = @_;
    write_file($CONF, $conf) if defined $conf;
    $reloads++;
    ok $ngx->reload, "reload $reloads: new worker(s), the old ones gone";
};

run_phase(
    name => "(c) store swapped for one answering garbage for $T{garbage}s (reload), and back",
    allowed => [502], expect => 502, conn_errors_ok => 1,
    log => qr/store sent an invalid reply for "session:\{load-\d\}"/,
    fault => sub {
        $reload->($GARBAGE_CONF);
        my $c0 = time;
        sleep $T{garbage};
        my $c1 = time;
        $reload->($REDIS_CONF);
        return ($c0, $c1);
    },
);

# $ngx->reload is what `nginx -s reload` does: SIGHUP to the master
run_phase(
    name => '(d) nginx -s reload twice',
    allowed => [], conn_errors_ok => 1,
    fault => sub {
        $reload->();
        sleep $T{between_reloads};
        $reload->();
        return;
    },
);

######################################################################
# no crash

my @W = $ngx->workers;
is scalar @W, $WORKERS, "$WORKERS worker(s) at the end";
my $log = $ngx->error_log;
my $started = () = $log =~ /start worker process \d+/g;
is $started, $WORKERS * (1 + $reloads),
    "workers started: $WORKERS x (1 + $reloads reloads) (no respawn)";
my @died = grep { /exited on signal|exited with code [1-9]/ } split /\n/, $log;
is scalar @died, 0, 'no worker died'
    or diag join "\n", "(the first of " . @died . ')', @died[0 .. ($#died < 9 ? $#died : 9)];
$ngx->stop;
# a crash loop leaves thousands of lines: the first few tell the story
my @alerts = grep { /\[alert\]|\[emerg\]|signal 11|exited on signal/ } split /\n/, $ngx->error_log;
if (@alerts > 20) {
    fail 'error log clean';
    diag join "\n", "(the first of " . @alerts . ')', @alerts[0 .. 19];
} else {
    error_log_clean($ngx);
}
diag sprintf 'load_faults: %.1f s', time - $t_start;

done_testing;
