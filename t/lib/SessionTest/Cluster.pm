package SessionTest::Cluster;

=head1 NAME

SessionTest::Cluster - a real Redis Cluster on loopback, for tests

=head1 SYNOPSIS

    use SessionTest;
    use SessionTest::Cluster;

    my $cl = start_cluster();                  # 3 masters, 1 replica each
    $cl->store('abc', fixture('seed-session.json'), owner => 'client-a');
    my $port = $cl->master_of('abc');          # the node owning {abc}
    $cl->move_slot($cl->slot('abc'), $to);     # all its keys, by hand
    $cl->migrating($slot, $to, keys => 1);     # ASK: half-way, left so
    $cl->finish_migration($slot, $to);
    $cl->failover($replica_port);              # CLUSTER FAILOVER
    $cl->wait_ok;                              # every node agrees, all slots

=head1 HOW IT WORKS

Six (masters x (1 + replicas)) C<redis-server --cluster-enabled yes>, each
a SessionTest::Redis with its own port and directory (nodes.conf there, so a
restarted node rejoins), joined by C<redis-cli --cluster create ...
--cluster-replicas 1 --cluster-yes>.  C<cluster-node-timeout> is short
(C<node_timeout>, default 1000 ms) so that failover happens within a test.
Start it once per test file: creating one takes a few seconds.

=cut

use strict;
use warnings;
use Exporter 'import';
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use JSON::PP ();
use SessionTest;

our @EXPORT = qw(start_cluster key_slot);

sub start_cluster {
    my (%o) = @_;
    my $masters = $o{masters} // 3;
    my $replicas = $o{replicas} // 1;
    my $timeout = $o{node_timeout} // 1000;
    my $self = bless { nodes => [] }, __PACKAGE__;

    for (1 .. $masters * (1 + $replicas)) {
        push @{ $self->{nodes} }, start_redis(port => _cluster_port(), args => [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', 'nodes.conf',
            '--cluster-node-timeout', $timeout,
            # a replica that lost its master for long still takes over
            '--cluster-replica-validity-factor', '0',
            '--cluster-allow-replica-migration', 'no',
        ]);
    }

    my @addrs = map { '127.0.0.1:' . $_->port } @{ $self->{nodes} };
    my $out = `redis-cli --cluster create @addrs --cluster-replicas $replicas --cluster-yes 2>&1`;
    die "redis-cli --cluster create: $out" if $?;
    $self->wait_ok(20) or die "cluster not ok:\n" . $self->nodes_text;
    $self->{replicas} = $replicas;
    # CLUSTER SLOTS lists a replica once it has replicated something
    for my $i (0 .. 200) {
        my $key = "warm-$i";
        my $port = $self->master_of_slot(key_slot($key));
        redis_cmd($port, SET => $key, 1);
    }
    $self->wait_ok(20) or die "replicas not listed:\n" . $self->nodes_text;
    return $self;
}

# the cluster's hash slot of a key (CRC16-XMODEM of its hash tag)
sub key_slot {
    my ($key) = @_;
    my $open = index $key, '{';
    my $close = $open < 0 ? -1 : index $key, '}', $open + 1;
    $key = substr $key, $open + 1, $close - $open - 1 if $close > $open + 1;
    my $crc = 0;
    for my $c (unpack 'C*', $key) {
        $crc ^= $c << 8;
        $crc = ($crc & 0x8000 ? ($crc << 1) ^ 0x1021 : $crc << 1) & 0xffff for 1 .. 8;
    }
    return $crc % 16384;
}

# a free port whose cluster bus port (+10000) is free too: at most 55535
my %taken;
sub _cluster_port {
    for (1 .. 200) {
        my $p = 20000 + int rand 35000;
        next if $taken{$p} || $taken{$p + 10000};
        my @s = map { IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                        LocalPort => $_, Proto => 'tcp', Listen => 1, ReuseAddr => 1) }
                $p, $p + 10000;
        next unless $s[0] && $s[1];
        $taken{$p} = $taken{$p + 10000} = 1;
        return $p;
    }
    die "no free cluster port";
}

sub nodes { @{ $_[0]{nodes} } }
sub ports { map { $_->port } @{ $_[0]{nodes} } }
sub node { my ($s, $port) = @_; (grep { $_->port == $port } $s->nodes)[0] }
sub seed { $_[0]{nodes}[0]->port }

sub cmd {
    my ($s, $port, @cmd) = @_;
    return redis_cmd($port, @cmd);
}

sub slot {
    my ($s, $id) = @_;
    my $port = $s->_live;
    return redis_cmd($port, CLUSTER => KEYSLOT => "session:{$id}");
}

sub _live { my $s = shift; (map { $_->port } grep { !$_->{stopped} } $s->nodes)[0] }

sub nodes_text { my $s = shift; redis_cmd($s->_live, CLUSTER => 'NODES') }

# [port, role, master id, id, flags, slots text] per node, from a live node's view
sub topology {
    my ($s, $from) = @_;
    my $text = redis_cmd($from // $s->_live, CLUSTER => 'NODES');
    my @n;
    for (split /\n/, $text) {
        my ($id, $addr, $flags, $master, undef, undef, undef, undef, @slots) = split / /;
        my ($port) = $addr =~ /:(\d+)/;
        push @n, { id => $id, port => $port, flags => $flags, master => $master,
                   slots => [@slots], role => $flags =~ /master/ ? 'master' : 'replica' };
    }
    return @n;
}

sub id_of { my ($s, $port) = @_; (grep { $_->{port} == $port } $s->topology)[0]{id} }

# the master port serving a slot, in the view of a live node
sub master_of_slot {
    my ($s, $slot) = @_;
    my $map = redis_cmd($s->_live, CLUSTER => 'SLOTS');
    for my $r (@$map) {
        return $r->[2][1] if $slot >= $r->[0] && $slot <= $r->[1];
    }
    return undef;
}
sub master_of { my ($s, $id) = @_; $s->master_of_slot($s->slot($id)) }

sub replicas_of {
    my ($s, $port) = @_;
    my $id = $s->id_of($port);
    return map { $_->{port} } grep { $_->{master} eq $id && $_->{flags} !~ /fail/ } $s->topology;
}

sub masters { my $s = shift; map { $_->{port} } grep { $_->{role} eq 'master' && $_->{flags} !~ /fail/ } $s->topology }

# every live node says ok, knows all 16384 slots, and agrees on the masters
sub wait_ok {
    my ($s, $timeout) = @_;
    return wait_for(sub {
        my %view;
        for my $n (grep { !$_->{stopped} } $s->nodes) {
            my $info = eval { $n->cmd(CLUSTER => 'INFO') } // return 0;
            return 0 if is_redis_error($info);
            return 0 unless $info =~ /cluster_state:ok/ && $info =~ /cluster_slots_ok:16384/;
            my $slots = eval { $n->cmd(CLUSTER => 'SLOTS') } // return 0;
            return 0 if grep { @$_ - 3 < ($s->{replicas} // 0) } @$slots;
            $view{ join ',', sort map { "$_->[0]-$_->[1]\@$_->[2][1]" } @$slots }++;
        }
        return keys %view == 1;
    }, $timeout // 20);
}

# the writer against the cluster (it follows MOVED); dies on failure
sub store {
    my ($s, $file, %o) = @_;
    my $root = repo_root();
    my @opt = ('-p', $o{port} // $s->seed);
    push @opt, '--owner', $o{owner} if defined $o{owner};
    my $out = `$^X $root/writer/session-store @opt $file 2>&1`;
    die "session-store: $out" if $?;
    return $out;
}

# the published example with this request_id (and fn), written into tmpdir
sub document {
    my ($s, $id, %o) = @_;
    open my $fh, '<', fixture('seed-session.json') or die $!;
    my $doc = JSON::PP->new->decode(do { local $/; <$fh> });
    $doc->{request_id} = $id;
    $doc->{fn} = $o{fn} if defined $o{fn};
    return write_file("doc-$id.json", JSON::PP->new->canonical->encode($doc));
}

# half a migration: the slot MIGRATING at its owner, IMPORTING at $to, and
# (keys => 1) its keys already at $to; finish_migration ends it
sub migrating {
    my ($s, $slot, $to, %o) = @_;
    my $from = $s->master_of_slot($slot);
    redis_cmd($to, CLUSTER => SETSLOT => $slot, IMPORTING => $s->id_of($from));
    redis_cmd($from, CLUSTER => SETSLOT => $slot, MIGRATING => $s->id_of($to));
    $s->_migrate_keys($slot, $from, $to) if $o{keys};
    return $from;
}

sub finish_migration {
    my ($s, $slot, $to) = @_;
    my $from = $s->master_of_slot($slot);
    $s->_migrate_keys($slot, $from, $to);
    my $id = $s->id_of($to);
    redis_cmd($_, CLUSTER => SETSLOT => $slot, NODE => $id) for $to, $from;
    redis_cmd($_, CLUSTER => SETSLOT => $slot, NODE => $id) for $s->masters;
}

sub move_slot {
    my ($s, $slot, $to) = @_;
    $s->migrating($slot, $to);
    $s->finish_migration($slot, $to);
}

sub _migrate_keys {
    my ($s, $slot, $from, $to) = @_;
    while (1) {
        my $keys = redis_cmd($from, CLUSTER => GETKEYSINSLOT => $slot, 100);
        last unless @$keys;
        my $r = redis_cmd($from, MIGRATE => '127.0.0.1', $to, '', 0, 5000, KEYS => @$keys);
        die "MIGRATE: $r" if is_redis_error($r);
    }
}

# a replica takes over from its master, which stays up (CLUSTER FAILOVER)
sub failover {
    my ($s, $replica) = @_;
    my $r = redis_cmd($replica, CLUSTER => 'FAILOVER');
    die "CLUSTER FAILOVER: $r" if is_redis_error($r);
    return wait_for(sub {
        (redis_cmd($replica, 'ROLE'))->[0] eq 'master'
    }, 10);
}

# calls of a command on a node, from INFO commandstats
sub calls {
    my ($s, $port, $cmd) = @_;
    my $info = redis_cmd($port, INFO => 'commandstats');
    return $info =~ /^cmdstat_\Q$cmd\E:calls=(\d+)/m ? $1 : 0;
}

1;
