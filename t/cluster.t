#!/usr/bin/perl
# Redis Cluster (SPEC 10, docs/cluster.md): one real cluster of 3 masters
# and 3 replicas for the whole file (SessionTest::Cluster), nginx with
# "session_result_cluster" seeded by one node.  Every slot's sessions, the
# writer's keys in one slot on its master, MOVED after a slot moved, ASK
# half-way through a migration, resharding under a steady polling load,
# CLUSTER FAILOVER, a killed master, reads from replicas (READONLY, INFO
# commandstats) and back to the master when the replica is down, all
# nodes down; the edge-site layout (a local replica, the primary as
# backup); nginx -t without the cluster, and the directive's checks.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use SessionTest;
use SessionTest::Cluster;

BAIL_OUT('module not built: run make') unless have_module();
plan skip_all => 'redis-cli not found' unless `redis-cli --version 2>&1` =~ /redis-cli/;

my $URL = '/api/session/result';
my $cl = start_cluster();
my $seed = $cl->seed;

# sessions in every master's slots: fn tells them apart
my @IDS = map { "c$_-" . (1000 + $_) } 1 .. 30;
$cl->store($cl->document($_, fn => "fn-$_")) for @IDS;

my $ngx = start_nginx(<<'EOF', http => <<"EOF2", log_level => 'debug');
    location /api/session/result/ {
        session_result_pass cluster;
        session_result_read_timeout 2s;
    }
    location /replicas/api/session/result/ {
        session_result_pass cluster_replicas;
        session_result_read_timeout 2s;
    }
EOF
    upstream cluster {
        session_result_cluster;
        server 127.0.0.1:$seed;
        keepalive 16;
    }
    upstream cluster_replicas {
        session_result_cluster replicas;
        server 127.0.0.1:$seed;
        keepalive 16;
    }
EOF2

sub get { http_get($ngx->port, "$URL/$_[0]") }
sub fn_of { my $r = shift; $r->{body} =~ /"fn":"([^"]*)"/ ? $1 : '' }

sub all_ok {
    my ($name, @ids) = @_;
    my @bad = grep { my $r = get($_); $r->{status} != 200 || fn_of($r) ne "fn-$_" } @ids;
    ok !@bad, $name or diag "not served: @bad";
}

# the EXEC calls of each node so far
sub execs { my %n = map { $_ => $cl->calls($_, 'exec') } $cl->ports; \%n }

######################################################################
# the map, learnt from one seed

subtest 'every slot\'s sessions through one seed' => sub {
    my %owner = map { $_ => $cl->master_of($_) } @IDS;
    my %masters = map { $_ => 1 } values %owner;
    is scalar(keys %masters), 3, 'the sessions are spread over the 3 masters';
    my $before = execs();
    all_ok('every session served', @IDS);
    my $after = execs();
    for my $m (sort keys %masters) {
        my $n = grep { $owner{$_} == $m } @IDS;
        is $after->{$m} - $before->{$m}, $n, "master $m ran its $n transactions";
    }
    is get('no-such-session')->{status}, 404, 'an unknown id: 404';
    unlike $ngx->error_log, qr/MOVED/, 'no redirection: the map was right';
};

subtest 'the writer: both keys in one slot, on its master' => sub {
    my $id = $IDS[0];
    my $m = $cl->master_of($id);
    my $slot = $cl->slot($id);
    is $cl->cmd($m, CLUSTER => COUNTKEYSINSLOT => $slot), 2, 'two keys in the slot';
    is $cl->cmd($m, EXISTS => "session:{$id}", "session:{$id}:stops"), 2,
       'hash and stops on the slot\'s master';
    my $other = (grep { $_ != $m } $cl->masters)[0];
    $cl->store($cl->document($id, fn => "fn-$id"), port => $other);
    is fn_of(get($id)), "fn-$id", 'stored through another master (MOVED followed)';
    ok $cl->calls($m, 'eval') >= 2, 'the script ran on the slot\'s master';
};

subtest 'a change on any master is seen at once; Prefer: wait answered at once' => sub {
    # CLIENT TRACKING on one node would report that node's keys only: a
    # cluster store keeps no body served without a read (docs/cluster.md)
    my %seen;
    my @ids = grep { !$seen{$cl->master_of($_)}++ } @IDS;
    is scalar(@ids), 3, 'one session on each master';
    for my $id (@ids) {
        get($id) for 1 .. 3;
        $cl->store($cl->document($id, fn => "changed-$id"));
        is fn_of(get($id)), "changed-$id", "the change on master " . $cl->master_of($id);
        my $etag = get($id)->{headers}{etag};
        my $t0 = time;
        my $r = http_get($ngx->port, "$URL/$id", 'If-None-Match' => $etag,
                         Prefer => 'wait=5');
        is $r->{status}, 304, 'a matching ETag: 304';
        ok time - $t0 < 2, 'answered without waiting';
        ok !defined $r->{headers}{'preference-applied'}, 'no Preference-Applied';
        $cl->store($cl->document($id, fn => "fn-$id"));
    }
};

######################################################################
# redirections

subtest 'MOVED after a slot moved: the map follows' => sub {
    my $id = $IDS[1];
    my $slot = $cl->slot($id);
    my $from = $cl->master_of($id);
    my $to = (grep { $_ != $from } $cl->masters)[0];
    $cl->move_slot($slot, $to);
    my $mark = $ngx->mark;
    my $r = get($id);
    is $r->{status}, 200, 'served after the move';
    is fn_of($r), "fn-$id", 'the right session';
    like $ngx->error_log($mark), qr/MOVED slot $slot from 127\.0\.0\.1:$from to 127\.0\.0\.1:$to/,
         'one MOVED followed';
    $mark = $ngx->mark;
    is get($id)->{status}, 200, 'again';
    unlike $ngx->error_log($mark), qr/MOVED/, 'no MOVED the second time';
};

subtest 'ASK half-way through a migration' => sub {
    my $id = $IDS[2];
    my $slot = $cl->slot($id);
    my $from = $cl->master_of($id);
    my $to = (grep { $_ != $from } $cl->masters)[0];
    $cl->migrating($slot, $to, keys => 1);
    my $mark = $ngx->mark;
    my $r = get($id);
    is $r->{status}, 200, 'served from the importing node';
    is fn_of($r), "fn-$id", 'the right session';
    like $ngx->error_log($mark), qr/ASK slot $slot .* to 127\.0\.0\.1:$to/, 'ASK followed';
    like $ngx->error_log($mark), qr/slot $slot to 127\.0\.0\.1:$to, ASKING/, 'with ASKING';
    $mark = $ngx->mark;
    get($id);
    like $ngx->error_log($mark), qr/ASK slot $slot/, 'the map is not changed by ASK';
    $cl->finish_migration($slot, $to);
    all_ok('served after the migration', $id);
};

# one of a session's two keys moved, the other not: the slot's multi-key
# reads are TRYAGAIN until the migration ends
sub split_slot {
    my ($id) = @_;
    my $slot = $cl->slot($id);
    my $to = (grep { $_ != $cl->master_of($id) } $cl->masters)[0];
    my $from = $cl->migrating($slot, $to);
    my $r = $cl->cmd($from, MIGRATE => '127.0.0.1', $to, "session:{$id}", 0, 5000);
    is "$r", 'OK', 'the hash moved, the stops not';
    return ($slot, $to);
}

subtest 'TRYAGAIN that ends within the read timeout: served' => sub {
    my $id = $IDS[21];
    my ($slot, $to) = split_slot($id);
    my $pid = fork // die;
    if (!$pid) {
        sleep 0.4;
        $cl->finish_migration($slot, $to);
        POSIX::_exit(0);
    }
    my $mark = $ngx->mark;
    my $t0 = time;
    my $r = get($id);
    my $took = time - $t0;
    waitpid $pid, 0;
    is $r->{status}, 200, 'status 200';
    is fn_of($r), "fn-$id", 'the right session';
    ok $took >= 0.3 && $took < 2, sprintf 'after the migration ended (%.2f s)', $took;
    like $ngx->error_log($mark), qr/store read again in \d+ ms/, 'read again later';
};

subtest 'TRYAGAIN that persists: 503 once the read timeout is spent' => sub {
    my $id = $IDS[20];
    my ($slot, $to) = split_slot($id);
    my $mark = $ngx->mark;
    my $t0 = time;
    my $r = get($id);
    my $took = time - $t0;
    is $r->{status}, 503, 'status 503';
    like $r->{body}, qr/store_unavailable/, 'store_unavailable';
    ok $took > 1 && $took < 2.6, sprintf 'within session_result_read_timeout 2s (%.2f s)', $took;
    my $log = $ngx->error_log($mark);
    like $log, qr/ASK slot $slot/, 'ASK to the importing node';
    like $log, qr/TRYAGAIN.*trying again/, 'TRYAGAIN there, tried again';
    unlike $log, qr/MOVED slot $slot/, 'never sent back without ASKING';
    like $log, qr/store cluster could not serve "session:\{\Q$id\E\}" in \d+ reads/,
         'then gave up, logged';
    $cl->finish_migration($slot, $to);
    all_ok('served once the migration ended', $id);
};

######################################################################
# replicas (before any failover: the map of the replicas upstream is
# learnt at start, its next periodic refresh is 10 s away)

subtest 'replicas: reads go to replicas (READONLY), not to masters' => sub {
    my @masters = $cl->masters;
    my %replica = map { $_ => 1 } grep { my $p = $_; !grep { $_ == $p } @masters } $cl->ports;
    my $before = execs();
    my $ro = { map { $_ => $cl->calls($_, 'readonly') } keys %replica };
    for my $id (@IDS[6 .. 17]) {
        my $r = http_get($ngx->port, "/replicas$URL/$id");
        is $r->{status}, 200, "$id from a replica";
        is fn_of($r), "fn-$id", "$id: the right session";
    }
    my $after = execs();
    is $after->{$_} - $before->{$_}, 0, "master $_ ran none" for @masters;
    my $on_replicas = 0;
    $on_replicas += $after->{$_} - $before->{$_} for keys %replica;
    is $on_replicas, 12, 'the replicas ran the 12 transactions';
    my $readonly = 0;
    $readonly += $cl->calls($_, 'readonly') - $ro->{$_} for keys %replica;
    is $readonly, 12, 'each after READONLY';
};

subtest 'replicas: a replica down, its master serves' => sub {
    my $id = $IDS[18];
    my $m = $cl->master_of($id);
    my @r = $cl->replicas_of($m);
    $cl->node($_)->pause for @r;
    kill 'KILL', $cl->node($_)->pid for @r;
    waitpid $cl->node($_)->pid, 0 for @r;
    $cl->node($_)->{stopped} = 1 for @r;
    my $before = $cl->calls($m, 'exec');
    my $t0 = time;
    my $r = http_get($ngx->port, "/replicas$URL/$id");
    is $r->{status}, 200, 'served';
    is fn_of($r), "fn-$id", 'the right session';
    ok time - $t0 < 1, 'at once';
    is $cl->calls($m, 'exec') - $before, 1, 'by the master';
    $cl->node($_)->restart for @r;
    ok $cl->wait_ok(20), 'the replica rejoined';
};

######################################################################
# resharding and failover under load

# a child polling the ids until told to stop; returns the statuses seen
sub poll_start {
    my (@ids) = @_;
    my $file = tmpdir() . "/poll-" . time;
    my $pid = fork // die;
    if (!$pid) {
        open my $out, '>', $file or POSIX::_exit(1);
        my $stop = 0;
        local $SIG{TERM} = sub { $stop = 1 };
        while (!$stop) {
            for my $id (@ids) {
                my $r = get($id);
                my $ok = $r->{status} == 200 && fn_of($r) eq "fn-$id";
                printf $out "%.3f %s %s\n", time, $ok ? 200 : $r->{status}, $id;
                last if $stop;
            }
        }
        close $out;
        POSIX::_exit(0);
    }
    return { pid => $pid, file => $file };
}

sub poll_stop {
    my ($p) = @_;
    kill 'TERM', $p->{pid};
    waitpid $p->{pid}, 0;
    open my $in, '<', $p->{file} or die;
    return [ map { [split] } <$in> ];
}

subtest 'resharding under a steady polling load: no failed request' => sub {
    # ids in the first 200 slots of the master owning slot 0: redis-cli
    # moves those first
    my $from = $cl->master_of_slot(0);
    my $to = (grep { $_ != $from } $cl->masters)[0];
    my @first = grep { my $s = key_slot("session:{$_}"); $s < 200 }
                map { "r$_" } 1 .. 3000;
    my @ids = @first[0 .. 11];
    $cl->store($cl->document($_, fn => "fn-$_")) for @ids;
    all_ok('served before', @ids);
    my $p = poll_start(@ids);
    sleep 0.3;
    my $out = `redis-cli --cluster reshard 127.0.0.1:$from --cluster-from ${\ $cl->id_of($from)} --cluster-to ${\ $cl->id_of($to)} --cluster-slots 200 --cluster-yes --cluster-pipeline 2 2>&1`;
    is $?, 0, 'redis-cli --cluster reshard moved 200 slots' or diag $out;
    sleep 0.3;
    my $seen = poll_stop($p);
    my @failed = grep { $_->[1] != 200 } @$seen;
    ok @$seen > 50, scalar(@$seen) . ' requests during the resharding';
    is scalar(@failed), 0, 'none failed' or diag explain [@failed[0 .. 4]];
    is $cl->master_of($ids[0]), $to, 'the slots did move';
    like $ngx->error_log, qr/MOVED slot \d+ from 127\.0\.0\.1:$from/, 'MOVED were followed';
};

subtest 'CLUSTER FAILOVER under load' => sub {
    my $id = $IDS[3];
    my $m = $cl->master_of($id);
    my ($replica) = $cl->replicas_of($m);
    my $p = poll_start($id, $IDS[4]);
    sleep 0.3;
    ok $cl->failover($replica), "replica $replica took over";
    ok $cl->wait_ok(10), 'cluster ok';
    sleep 0.5;
    my $seen = poll_stop($p);
    my @failed = grep { $_->[1] != 200 } @$seen;
    is scalar(@failed), 0, scalar(@$seen) . ' requests, none failed'
        or diag explain [@failed[0 .. 4]];
    is $cl->master_of($id), $replica, 'the replica serves the slot';
    all_ok('served from the new master', $id);
};

subtest 'a killed master: 503 only until its replica takes over' => sub {
    my $id = $IDS[5];
    my $m = $cl->master_of($id);
    my ($replica) = $cl->replicas_of($m);
    my $p = poll_start($id);
    sleep 0.3;
    my $killed = time;
    kill 'KILL', $cl->node($m)->pid;
    waitpid $cl->node($m)->pid, 0;
    $cl->node($m)->{stopped} = 1;
    my $promoted = wait_for(sub { eval { (redis_cmd($replica, 'ROLE'))->[0] eq 'master' } && time }, 15);
    ok $promoted, sprintf 'replica promoted %.1f s after the kill', ($promoted || time) - $killed;
    my $back = wait_for(sub {
        my $r = get($id); $r->{status} == 200 && time }, 10);
    ok $back, sprintf 'served %.1f s after the promotion', ($back || time) - ($promoted || time);
    sleep 0.5;
    my $seen = poll_stop($p);
    my %status = map { $_->[1] => 1 } @$seen;
    delete @status{200, 503};
    is_deeply [keys %status], [], 'only 200 and 503 answered';
    my @late = grep { $_->[1] != 200 && $_->[0] > $back + 0.1 } @$seen;
    is scalar(@late), 0, 'no failure once served again';
    my @early = grep { $_->[1] != 200 && $_->[0] < $killed } @$seen;
    is scalar(@early), 0, 'no failure before the kill';
    ok $seen->[-1][1] == 200, 'served at the end';
    # the old master comes back as a replica
    $cl->node($m)->restart;
    ok $cl->wait_ok(20), 'the old master rejoined';
};

######################################################################
# all down

subtest 'all nodes down: 503, fast' => sub {
    $_->stop for $cl->nodes;
    my $t0 = time;
    my $r = get($IDS[19]);
    is $r->{status}, 503, 'status 503';
    like $r->{body}, qr/store_unavailable/, 'store_unavailable';
    ok time - $t0 < 1, sprintf 'in %.2f s', time - $t0;
    $r = http_get($ngx->port, "/replicas$URL/$IDS[19]");
    is $r->{status}, 503, 'replicas: status 503 too';
};

$ngx->stop;
error_log_clean($ngx);

######################################################################
# the edge-site layout: a local replica first, the primary as backup

subtest 'edge site: reads from the local replica, the primary as backup' => sub {
    my $primary = start_redis();
    my $replica = start_redis(args => ['--replicaof', '127.0.0.1', $primary->port]);
    my $out = `$^X ${\ repo_root()}/writer/session-store -p ${\ $primary->port} ${\ $cl->document('edge-1', fn => 'fn-edge-1')} 2>&1`;
    is $?, 0, 'stored on the primary' or diag $out;
    ok wait_for(sub { $replica->cmd(EXISTS => 'session:{edge-1}') }), 'replicated';
    my $edge = start_nginx(<<'EOF', http => <<"EOF2");
    location /api/session/result/ {
        session_result_pass edge;
    }
EOF
    upstream edge {
        server 127.0.0.1:${\ $replica->port};
        server 127.0.0.1:${\ $primary->port} backup;
        keepalive 4;
    }
EOF2
    my %c0 = (r => $replica->cmd(INFO => 'commandstats') =~ /cmdstat_exec:calls=(\d+)/ ? $1 : 0);
    my $r = http_get($edge->port, "$URL/edge-1");
    is $r->{status}, 200, 'served';
    is fn_of($r), 'fn-edge-1', 'the session';
    like $replica->cmd(INFO => 'commandstats'), qr/cmdstat_exec:calls=@{[ $c0{r} + 1 ]}\b/,
         'by the local replica';
    $replica->stop;
    $r = http_get($edge->port, "$URL/edge-1");
    is $r->{status}, 200, 'replica down: served';
    like $primary->cmd(INFO => 'commandstats'), qr/cmdstat_exec:calls=1\b/, 'by the primary';
    $edge->stop;
    error_log_clean($edge, allow => [qr/Connection refused/]);
};

######################################################################
# configuration

subtest 'nginx -t and start do not need the cluster' => sub {
    my $dead = free_port();
    my ($rc, $out) = nginx_t(<<'EOF', http => "upstream c { session_result_cluster; server 127.0.0.1:$dead; keepalive 4; }");
        location /api/session/result/ { session_result_pass c; }
EOF
    is $rc, 0, 'nginx -t with no cluster up' or diag $out;
    my $n = start_nginx(<<'EOF', http => "upstream c { session_result_cluster; server 127.0.0.1:$dead; }");
        location /api/session/result/ { session_result_pass c; }
EOF
    my $t0 = time;
    is http_get($n->port, "$URL/x1")->{status}, 503, 'started; a read is 503';
    ok time - $t0 < 1, 'fast';
    $n->stop;
    error_log_clean($n, allow => [qr/Connection refused|no live upstreams/]);
};

run_cases([
    { name => 'after keepalive', http => 'keepalive 4; session_result_cluster;',
      err => qr/must come before "keepalive"/ },
    { name => 'bad parameter', http => 'session_result_cluster all;',
      err => qr/invalid parameter "all"/ },
    { name => 'twice', http => 'session_result_cluster; session_result_cluster;',
      err => qr/is duplicate/ },
    { name => 'a backup seed', http => 'session_result_cluster; server 127.0.0.1:1 backup;',
      err => qr/"backup" servers|does not support parameter "backup"/ },
    { name => 'weight', http => 'session_result_cluster; server 127.0.0.1:2 weight=2;',
      err => qr/balancing method does not support parameter "weight=2"/ },
], sub {
    my ($c) = @_;
    my ($rc, $out) = nginx_t(<<'EOF', http => "upstream c { server 127.0.0.1:1; $c->{http} }");
        location /api/session/result/ { session_result_pass c; }
EOF
    isnt $rc, 0, 'refused';
    like $out, $c->{err}, 'with the reason';
});

done_testing;
