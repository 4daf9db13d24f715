#!/usr/bin/perl
# nginx's upstream machinery under session_result_pass (docs/directives.md,
# docs/failures.md): keepalive connections to Redis, no reuse after a bad
# reply, failover (refused, read timeout, connect timeout), max_fails, all
# servers down, the three forms of the address, and the variables in the
# access log.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Socket qw(PF_INET SOCK_STREAM pack_sockaddr_in inet_aton unpack_sockaddr_in);
use IO::Socket::INET;
use Time::HiRes qw(time);
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my $ID = '19fe3b9e-384e-41d1-bded-8de9ef3abacb';
my %CODE = (502 => 'store_error', 503 => 'store_unavailable',
            504 => 'store_timeout');

sub store_seed {
    my ($redis) = @_;
    my $out = `$^X ${\ repo_root()}/writer/session-store -p ${\ $redis->port} --owner client-a ${\ fixture('seed-session.json')} 2>&1`;
    die "session-store: $out" if $?;
}

# connections Redis has accepted so far (this probe's own included)
sub connections_received {
    my ($redis) = @_;
    my ($n) = redis_cmd($redis->port, INFO => 'stats')
        =~ /^total_connections_received:(\d+)/m or die 'no INFO stats';
    return $n;
}

# client connections whose last command was EXEC: nginx's, not this probe's
sub nginx_clients {
    my ($redis) = @_;
    return scalar grep { /\bcmd=exec\b/ } split /\n/, redis_cmd($redis->port, CLIENT => 'LIST');
}

# a listening socket whose accept queue is full: Linux drops further SYNs,
# so connecting to it times out (a connect timeout on loopback)
sub backlog_full_listener {
    socket(my $l, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    bind($l, pack_sockaddr_in(0, inet_aton('127.0.0.1'))) or die "bind: $!";
    listen($l, 0) or die "listen: $!";
    my ($port) = unpack_sockaddr_in(getsockname $l);
    my $filler = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                       Timeout => 1) or die "filler: $!";
    my $t0 = time;
    my $probe = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Timeout => 0.3);
    my $works = !$probe && time - $t0 >= 0.25;
    return { port => $port, works => $works, keep => [$l, $filler] };
}

######################################################################
# the stores

my $good = start_redis(unix => 1);          # failover target, addressing
my $r_ka = start_redis();                   # keepalive, new client connections
my $r_ka_conn = start_redis();              # keepalive, one client connection
my $r_noka = start_redis();                 # no keepalive
store_seed($_) for $good, $r_ka, $r_ka_conn, $r_noka;

my $VALID = exec_reply([ fn => 'Zebulon', status => 'PASS' ], []);
my %fake = (
    valid_ka   => fake_store(reply => $VALID),
    garbage_ka => fake_store(reply => "garbage\r\n"),
    extra_ka   => fake_store(reply => "$VALID+OK\r\n"),
    mute       => fake_store(never_answer => 1),
    garbage    => fake_store(reply => "garbage\r\n"),
    cut_good   => fake_store(reply => $VALID, close_after => 25),
    cut_dead   => fake_store(reply => $VALID, close_after => 25),
    slam       => fake_store(accept_close => 1),
);
my %dead = map { $_ => free_port() } qw(backup max_fails max_fails0 all1 all2 cut);
my $backlog = backlog_full_listener();

my %vars = (
    GOOD => $good->port, SOCK => $good->socket,
    R_KA => $r_ka->port, R_KA_CONN => $r_ka_conn->port, R_NOKA => $r_noka->port,
    BACKLOG => $backlog->{port},
    (map { ('FAKE_' . uc $_ => $fake{$_}->target) } keys %fake),
    (map { ('DEAD_' . uc $_ => $dead{$_}) } keys %dead),
);

my $ngx = start_nginx(<<'EOF', vars => \%vars, http => <<'EOH', log_format => q{'$request_uri $status id=$session_result_request_id st=$session_result_status up=$upstream_addr'});
        session_result_connect_timeout 300ms;
        session_result_read_timeout 300ms;
        session_result_send_timeout 300ms;

        location /ka/ { session_result_pass ka; }
        location /ka-conn/ { session_result_pass ka_conn; }
        location /noka/ { session_result_pass noka; }
        location /valid-ka/ { session_result_pass valid_ka; }
        location /garbage-ka/ { session_result_pass garbage_ka; }
        location /extra-ka/ { session_result_pass extra_ka; }
        location /dead-backup/ { session_result_pass dead_backup; }
        location /mute-first/ { session_result_pass mute_first; }
        location /garbage-first/ { session_result_pass garbage_first; }
        location /cut-then-good/ { session_result_pass cut_then_good; }
        location /cut-then-dead/ { session_result_pass cut_then_dead; }
        location /slam-first/ { session_result_pass slam_first; }
        location /slow-connect-first/ { session_result_pass slow_connect_first; }
        location /slow-connect/ { session_result_pass 127.0.0.1:%%BACKLOG%%; }
        location /max-fails/ { session_result_pass max_fails; }
        location /max-fails0/ { session_result_pass max_fails0; }
        location /all-down/ { session_result_pass all_down; }
        location /direct/ { session_result_pass 127.0.0.1:%%GOOD%%; }
        location /unix/ { session_result_pass unix:%%SOCK%%; }
        location /unix-upstream/ { session_result_pass unix_upstream; }
EOF
    upstream ka { server 127.0.0.1:%%R_KA%%; keepalive 4; }
    upstream ka_conn { server 127.0.0.1:%%R_KA_CONN%%; keepalive 4; }
    upstream noka { server 127.0.0.1:%%R_NOKA%%; }
    upstream valid_ka { server %%FAKE_VALID_KA%%; keepalive 4; }
    upstream garbage_ka { server %%FAKE_GARBAGE_KA%%; keepalive 4; }
    upstream extra_ka { server %%FAKE_EXTRA_KA%%; keepalive 4; }

    upstream dead_backup {
        server 127.0.0.1:%%DEAD_BACKUP%%;
        server 127.0.0.1:%%GOOD%% backup;
    }
    # equal weights: a fresh group tries its first server first
    upstream mute_first { server %%FAKE_MUTE%%; server 127.0.0.1:%%GOOD%%; }
    upstream garbage_first { server %%FAKE_GARBAGE%%; server 127.0.0.1:%%GOOD%%; }
    upstream cut_then_good { server %%FAKE_CUT_GOOD%%; server 127.0.0.1:%%GOOD%%; }
    upstream cut_then_dead { server %%FAKE_CUT_DEAD%%; server 127.0.0.1:%%DEAD_CUT%%; }
    upstream slam_first { server %%FAKE_SLAM%%; server 127.0.0.1:%%GOOD%%; }
    upstream slow_connect_first {
        server 127.0.0.1:%%BACKLOG%%;
        server 127.0.0.1:%%GOOD%%;
    }
    upstream max_fails {
        server 127.0.0.1:%%DEAD_MAX_FAILS%% max_fails=1 fail_timeout=30s;
        server 127.0.0.1:%%GOOD%%;
    }
    upstream max_fails0 {
        server 127.0.0.1:%%DEAD_MAX_FAILS0%% max_fails=0;
        server 127.0.0.1:%%GOOD%%;
    }
    upstream all_down {
        server 127.0.0.1:%%DEAD_ALL1%%;
        server 127.0.0.1:%%DEAD_ALL2%%;
    }
    upstream unix_upstream { server unix:%%SOCK%%; }
    # every request reads the store here: no push connection (SPEC 9)
    session_result_wait_max 0;
EOH

my $seq = 0;

# GET with a unique query string (never part of the request_id) to find
# the request's access log line; returns the response, the time it took,
# and that line
sub fetch {
    my ($path) = @_;
    my $uri = "$path?n=" . ++$seq;
    my $t0 = time;
    my $r = http_get($ngx->port, $uri);
    my $dt = time - $t0;
    my $line = wait_for(sub { ($ngx->access_log =~ /^\Q$uri\E (.*)$/m)[0] }, 2);
    return ($r, $dt, $line // '');
}

sub is_status {
    my ($r, $status) = @_;
    is $r->{status}, $status, "status $status" or diag $r->{raw} // $r->{error};
    is $r->{headers}{'content-type'}, 'application/json', 'Content-Type: application/json';
    is $r->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store';
    like $r->{body}, qr/^\{"error":"\Q$CODE{$status}\E","error_description":"[^"]+"\}$/,
        "JSON error $CODE{$status}" if $CODE{$status};
}

sub count_log { my ($re, $mark) = @_; scalar(() = $ngx->error_log($mark) =~ /$re/g) }

my $REFUSED = qr/connect\(\) failed \(111: Connection refused\) while connecting to upstream/;

######################################################################
# keepalive

subtest 'keepalive 4: 20 requests on 20 client connections, 1 Redis connection' => sub {
    my $before = connections_received($r_ka);
    for my $i (1 .. 20) {
        my $r = http_get($ngx->port, "/ka/$ID");
        is $r->{status}, 200, "request $i: 200" or diag $r->{raw};
    }
    # the second probe's own connection is one of them
    is connections_received($r_ka) - $before - 1, 1,
        'total_connections_received grew by 1 (plus the probe)';
    is nginx_clients($r_ka), 1, 'CLIENT LIST: one (idle) connection from nginx';
};

subtest 'keepalive 4: 20 requests on one client connection, 1 Redis connection' => sub {
    my $before = connections_received($r_ka_conn);
    my $c = http_conn($ngx->port);
    for my $i (1 .. 20) {
        my $r = $c->get("/ka-conn/$ID");
        is $r->{status}, 200, "request $i: 200" or diag $r->{raw};
    }
    $c->close;
    is connections_received($r_ka_conn) - $before - 1, 1,
        'total_connections_received grew by 1 (plus the probe)';
    is nginx_clients($r_ka_conn), 1, 'CLIENT LIST: one connection from nginx';
};

subtest 'no keepalive: 20 requests, 20 Redis connections' => sub {
    my $before = connections_received($r_noka);
    for my $i (1 .. 20) {
        my $r = http_get($ngx->port, "/noka/$ID");
        is $r->{status}, 200, "request $i: 200" or diag $r->{raw};
    }
    is connections_received($r_noka) - $before - 1, 20,
        'total_connections_received grew by 20 (plus the probe)';
    ok wait_for(sub { nginx_clients($r_noka) == 0 }, 2),
        'CLIENT LIST: no connection from nginx left open';
};

######################################################################
# a connection is reused only after a complete, exactly consumed reply

run_cases([
    { name => 'valid reply: the connection is reused (control)',
      loc => 'valid-ka', fake => 'valid_ka', status => 200, conns => 1 },
    { name => 'garbage reply: the connection is not reused',
      loc => 'garbage-ka', fake => 'garbage_ka', status => 502, conns => 2 },
    { name => 'extra bytes after the reply: the connection is not reused',
      loc => 'extra-ka', fake => 'extra_ka', status => 502, conns => 2 },
], sub {
    my ($c) = @_;
    my $store = $fake{ $c->{fake} };
    for my $i (1, 2) {
        my $r = http_get($ngx->port, "/$c->{loc}/abc");
        is_status($r, $c->{status});
    }
    ok wait_for(sub { $store->requests == 2 }, 2), 'the store got 2 requests';
    is $store->connections, $c->{conns}, "on $c->{conns} connection(s)";
});

######################################################################
# failover, timeouts, all down, addressing; $upstream_addr in the access log

my $G = "127.0.0.1:$vars{GOOD}";
my $TIMED_OUT_READ = qr/upstream timed out \(110: Connection timed out\) while reading response header from upstream/;
my $TIMED_OUT_CONNECT = qr/upstream timed out \(110: Connection timed out\) while connecting to upstream/;
my $NO_BACKLOG = $backlog->{works} ? undef
    : 'a full accept queue does not make connect() time out here';

run_cases([
    { name => 'dead primary (refused), backup redis -> 200',
      path => "/dead-backup/$ID", status => 200, log => $REFUSED,
      addr => "127.0.0.1:$dead{backup}, $G" },
    { name => 'primary never answers (read timeout 300ms), next server -> 200',
      path => "/mute-first/$ID", status => 200, log => $TIMED_OUT_READ,
      addr => $fake{mute}->target . ", $G", min_time => 0.28,
      fake => 'mute', requests => 1 },
    { name => 'primary answers garbage: not retried -> 502',
      path => "/garbage-first/$ID", status => 502,
      log => qr/store sent an invalid reply for "session:\{\Q$ID\E\}": unknown RESP type/,
      addr => $fake{garbage}->target, fake => 'garbage', requests => 1 },
    # a closed connection is a connection error, whenever it happens: the
    # next server is tried (docs/failures.md)
    { name => 'primary cuts its reply off: the next server answers -> 200',
      path => "/cut-then-good/$ID", status => 200,
      log => qr/upstream prematurely closed connection/,
      addr => $fake{cut_good}->target . ", $G", fake => 'cut_good', requests => 1 },
    # SPEC 3.2: "A store reply that is cut off is 502, not 503"
    { name => 'primary cuts its reply off, next server refuses -> 502',
      path => "/cut-then-dead/$ID", status => 502,
      log => qr/upstream prematurely closed connection/,
      fake => 'cut_dead', requests => 1 },
    { name => 'primary accepts and closes without a byte, next server -> 200',
      path => "/slam-first/$ID", status => 200,
      log => qr/upstream prematurely closed connection|(?:recv|send|writev)\(\) failed/,
      addr => $fake{slam}->target . ", $G" },
    { name => 'primary connect timeout (accept queue full), next server -> 200',
      skip => $NO_BACKLOG,
      path => "/slow-connect-first/$ID", status => 200, log => $TIMED_OUT_CONNECT,
      addr => "127.0.0.1:$backlog->{port}, $G", min_time => 0.28 },
    { name => 'only server: connect timeout -> 504',
      skip => $NO_BACKLOG,
      path => "/slow-connect/$ID", status => 504, log => $TIMED_OUT_CONNECT,
      addr => "127.0.0.1:$backlog->{port}", min_time => 0.28, max_time => 2 },
    { name => 'all servers refuse -> 503',
      path => "/all-down/$ID", status => 503, log => $REFUSED, log_count => 2,
      addr => "127.0.0.1:$dead{all1}, 127.0.0.1:$dead{all2}", max_time => 2 },
    { name => 'all servers marked failed: no live upstreams -> 503',
      path => "/all-down/$ID", status => 503,
      log => qr/no live upstreams while connecting to upstream/, addr => 'all_down' },
    { name => 'session_result_pass host:port -> 200',
      path => "/direct/$ID", status => 200, addr => $G },
    { name => 'session_result_pass unix:path -> 200',
      path => "/unix/$ID", status => 200, addr => 'unix:' . $good->socket },
    { name => 'upstream with a unix: server -> 200',
      path => "/unix-upstream/$ID", status => 200, addr => 'unix:' . $good->socket },
], sub {
    my ($c) = @_;
    my $mark = $ngx->mark;
    my ($r, $dt, $line) = fetch($c->{path});
    is_status($r, $c->{status});
    if ($c->{status} == 200) {
        like $r->{body}, qr/^\{"fn":"John",/, 'the session';
    }
    if ($c->{log}) {
        ok $ngx->wait_log($c->{log}, 2, $mark), "error log: $c->{log}"
            or diag $ngx->error_log($mark);
        is count_log($c->{log}, $mark), $c->{log_count}, "$c->{log_count} such lines"
            if $c->{log_count};
    }
    like $line, qr/ up=\Q$c->{addr}\E$/, "\$upstream_addr: $c->{addr}" or diag $line
        if $c->{addr};
    cmp_ok $dt, '>=', $c->{min_time}, "took at least $c->{min_time} s" if $c->{min_time};
    cmp_ok $dt, '<', $c->{max_time}, "took less than $c->{max_time} s" if $c->{max_time};
    if ($c->{fake}) {
        my $store = $fake{ $c->{fake} };
        wait_for(sub { $store->requests >= $c->{requests} }, 1);
        is scalar(() = $store->requests), $c->{requests}, "the store got $c->{requests} request";
    }
});

######################################################################
# max_fails

subtest 'max_fails=1 fail_timeout=30s: the dead server is tried once in 5 requests' => sub {
    my $mark = $ngx->mark;
    for my $i (1 .. 5) {
        my ($r) = fetch("/max-fails/$ID");
        is $r->{status}, 200, "request $i: 200" or diag $r->{raw};
    }
    is count_log($REFUSED, $mark), 1, 'exactly 1 "connect() failed" line';
    is count_log(qr/upstream server temporarily disabled/, $mark), 1,
        'the server is disabled once';
};

subtest 'max_fails=0 (control): the dead server is tried by every request' => sub {
    my $mark = $ngx->mark;
    for my $i (1 .. 5) {
        my ($r) = fetch("/max-fails0/$ID");
        is $r->{status}, 200, "request $i: 200" or diag $r->{raw};
    }
    cmp_ok count_log($REFUSED, $mark), '>', 1, 'more than 1 "connect() failed" line';
};

######################################################################
# the module's variables in the access log

subtest '$session_result_request_id and $session_result_status in the access log' => sub {
    my (undef, undef, $line) = fetch("/direct/$ID");
    is $line, "200 id=$ID st=PASS up=$G", 'found: id, status, upstream';
    (undef, undef, $line) = fetch('/direct/no-such-session');
    is $line, "404 id=no-such-session st=- up=$G", 'not found: id, no status';
    (undef, undef, $line) = fetch('/direct/-bad');
    # docs/directives.md: set "once it passed the syntax check"
    is $line, '400 id=- st=- up=-', 'malformed request_id: no id';
    like $line, qr/^400 id=\S* st=- up=-$/, 'malformed request_id: no store request';
    (undef, undef, $line) = fetch('/garbage-ka/abc');
    is $line, '502 id=abc st=- up=' . $fake{garbage_ka}->target, 'store error: id, no status';
};

$ngx->stop;
error_log_lacks($ngx, ['John', 'johndoe@example.com', '123-456-7890', '19900101', 'Zebulon'],
                'no stored personal value in the error log');
error_log_clean($ngx);

done_testing;
