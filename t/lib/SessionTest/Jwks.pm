package SessionTest::Jwks;

=head1 NAME

SessionTest::Jwks - an identity provider's jwks_uri, for tests

=head1 SYNOPSIS

    use SessionTest;
    use SessionTest::Jwks;

    my $idp = start_jwks(keys => jwks_json($k1));      # text or a Perl struct
    # location = /_jwks { internal; proxy_pass http://127.0.0.1:PORT/jwks.json; }
    my $url = $idp->url;                              # http://127.0.0.1:PORT/jwks.json

    $idp->serve(jwks_json($k1, $k2));   # rotation, no restart
    $idp->fail(500);                    # any status, with a small JSON body
    $idp->garbage;                      # 200 application/json, not a key set
    $idp->hang;                         # reads the request, never answers
    $idp->close;                        # the port refuses connections
    $idp->delay(300);                   # every answer 300 ms late (0: none)
    $idp->serve;                        # back to serving the current set

    is $idp->fetches, 1, 'one fetch';   # requests for the path so far
    $idp->wait_fetches(2, 5);           # true once 2 have arrived (5 s at most)

=head1 HOW IT WORKS

One forked master process listens on a free 127.0.0.1 port and forks one
process per connection (so a hanging answer holds up nobody else).  The test
changes it through C<control.json> in the server's own directory (written
whole, then renamed into place): every request reads the control when its
request head has arrived, so a change made before a request is sent applies
to it.  Each change has a generation number; every method that changes the
server returns only once the master has applied that generation (it closes or
reopens its listening socket for C<close>), so a test never races the server.

Every request is logged, one JSON line (method, path, connection number) in
C<requests.log>, before anything is answered: once a client has its answer,
the request is counted.  C<fetches> counts the requests for the served path
(query string ignored); C<requests> lists all of them.

C<stop> ends the master and every connection process (its process group);
the harness stops it at exit as it does redis and nginx.

=head1 OPTIONS of start_jwks

C<keys> (the body served: text, or a Perl structure encoded as JSON),
C<path> (default C</jwks.json>; other paths answer 404), C<port>,
C<delay> (ms), C<content_type> (default C<application/json>).

=cut

use strict;
use warnings;
use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);
use SessionTest ();

our @EXPORT = qw(start_jwks);

my $JS = JSON::PP->new->canonical;
my $SEQ = 0;

sub start_jwks {
    my (%o) = @_;
    my $self = bless {
        port => $o{port} || SessionTest::free_port(),
        path => $o{path} // '/jwks.json',
        dir => SessionTest::tmpdir() . '/jwks-' . $$ . '-' . ++$SEQ,
        gen => 0,
        owner => $$,
        control => {
            mode => 'serve',
            body => _text($o{keys} // '{"keys":[]}'),
            status => 200,
            delay => $o{delay} // 0,
            content_type => $o{content_type} // 'application/json',
        },
    }, __PACKAGE__;
    mkdir $self->{dir} or die "$self->{dir}: $!";
    $self->_write_control;
    my $l = $self->_listen or die "jwks server: listen on $self->{port}: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        eval { $self->_master($l) };
        POSIX::_exit(1);
    }
    close $l;
    $self->{pid} = $pid;
    SessionTest::track($self);
    $self->_await($self->{gen});
    return $self;
}

sub port { $_[0]{port} }
sub pid { $_[0]{pid} }
sub dir { $_[0]{dir} }
sub path { $_[0]{path} }
sub target { "127.0.0.1:$_[0]{port}" }
sub url { "http://127.0.0.1:$_[0]{port}$_[0]{path}" }

# serve($keys): serve this set from now on (rotation); serve(): serve the
# current set again after a failure mode
sub serve {
    my ($s, $keys) = @_;
    $s->_set(mode => 'serve', status => 200,
             defined $keys ? (body => _text($keys)) : ());
}

sub fail { my ($s, $status) = @_; $s->_set(mode => 'status', status => $status // 500) }
sub garbage { $_[0]->_set(mode => 'garbage') }
sub hang { $_[0]->_set(mode => 'hang') }
sub close { $_[0]->_set(mode => 'closed') }
sub delay { my ($s, $ms) = @_; $s->_set(delay => $ms // 0) }
sub mode { $_[0]{control}{mode} }

sub requests {
    my $s = shift;
    map { $JS->decode($_) } grep { length }
        split /\n/, SessionTest::_slurp("$s->{dir}/requests.log");
}

sub fetches {
    my $s = shift;
    scalar grep { (my $p = $_->{path}) =~ s/\?.*//s; $p eq $s->{path} }
        $s->requests;
}

sub wait_fetches {
    my ($s, $n, $timeout) = @_;
    SessionTest::wait_for(sub { $s->fetches >= $n }, $timeout);
}

sub stop {
    my $s = shift;
    return if $s->{stopped}++ || !$s->{pid};
    SessionTest::_terminate($s->{pid}, 5, 'TERM');
    kill 'KILL', -$s->{pid};            # connection processes left over
}

sub DESTROY { local $?; $_[0]->stop if $$ == $_[0]{owner} && !$_[0]{stopped} }

######################################################################
# test side

sub _text { ref $_[0] ? $JS->encode($_[0]) : $_[0] }

sub _write_control {
    my $s = shift;
    my $tmp = "$s->{dir}/control.json.tmp";
    SessionTest::write_file($tmp, $JS->encode({ %{ $s->{control} },
                                                gen => $s->{gen} }));
    rename $tmp, "$s->{dir}/control.json" or die "rename: $!";
}

sub _set {
    my ($s, %c) = @_;
    $s->{control} = { %{ $s->{control} }, %c };
    $s->{gen}++;
    $s->_write_control;
    kill 'USR1', $s->{pid} if $s->{pid};    # wake the master at once
    $s->_await($s->{gen});
    return $s;
}

sub _await {
    my ($s, $gen) = @_;
    SessionTest::wait_for(sub {
        die "jwks server exited\n" if $s->{pid} && !SessionTest::_alive($s->{pid});
        my $applied = SessionTest::_slurp("$s->{dir}/applied");
        length $applied && $applied >= $gen;
    }) or die "jwks server did not apply change $gen\n";
}

######################################################################
# server side (forked processes: they end in _exit, never return)

sub _listen {
    my $s = shift;
    IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $s->{port},
                          Proto => 'tcp', Listen => 128, ReuseAddr => 1);
}

sub _control {
    my $s = shift;
    my $c = eval { $JS->decode(SessionTest::_slurp("$s->{dir}/control.json")) };
    return $c || { mode => 'status', status => 500, body => '', gen => -1 };
}

sub _master {
    my ($s, $l) = @_;
    POSIX::setpgid(0, 0);
    $SIG{CHLD} = 'IGNORE';
    $SIG{USR1} = sub { };               # only interrupts the select
    $SIG{TERM} = sub {
        $SIG{TERM} = 'IGNORE';
        kill 'TERM', -$$;
        POSIX::_exit(0);
    };
    my ($applied, $conns) = (-1, 0);
    while (1) {
        my $c = $s->_control;
        if ($c->{gen} != $applied) {
            if ($c->{mode} eq 'closed') {
                CORE::close($l) if $l;
                undef $l;
            } elsif (!$l) {
                $l = $s->_listen or POSIX::_exit(2);
            }
            $applied = $c->{gen};
            my $tmp = "$s->{dir}/applied.tmp";
            SessionTest::write_file($tmp, $applied);
            rename $tmp, "$s->{dir}/applied";
        }
        if (!$l) { sleep 0.02; next }
        next unless IO::Select->new($l)->can_read(0.02);
        my $conn = $l->accept or next;
        $conns++;
        my $pid = fork;
        if (defined $pid && $pid == 0) {
            $SIG{TERM} = sub { POSIX::_exit(0) };
            CORE::close($l);
            eval { $s->_answer($conn, $conns) };
            POSIX::_exit(0);
        }
        CORE::close($conn);
    }
}

my %REASON = (200 => 'OK', 404 => 'Not Found', 500 => 'Internal Server Error',
              502 => 'Bad Gateway', 503 => 'Service Unavailable');

sub _answer {
    my ($s, $conn, $n) = @_;
    my ($buf, $end) = ('', time + 10);
    while (index($buf, "\r\n\r\n") < 0) {
        return if time > $end || length $buf > 65536
            || !IO::Select->new($conn)->can_read($end - time);
        sysread($conn, $buf, 4096, length $buf) or return;
    }
    my ($method, $path) = $buf =~ /^(\S+) (\S+)/;
    my $c = $s->_control;
    open my $log, '>>', "$s->{dir}/requests.log" or return;
    syswrite $log, $JS->encode({ method => $method // '', path => $path // '',
                                 conn => $n, gen => $c->{gen} }) . "\n";
    CORE::close $log;

    sleep 1e9 if $c->{mode} eq 'hang';
    sleep $c->{delay} / 1000 if $c->{delay};

    (my $p = $path // '') =~ s/\?.*//s;
    my ($status, $type, $body) = (200, $c->{content_type}, $c->{body});
    if ($p ne $s->{path}) {
        ($status, $body) = (404, '{"error":"not_found"}');
    } elsif ($c->{mode} eq 'status') {
        ($status, $body) = ($c->{status}, qq({"error":"status $c->{status}"}));
    } elsif ($c->{mode} eq 'garbage') {
        $body = "<html>\x00\xff not a key set {\"keys\":[";
    }
    $body = '' if ($method // '') eq 'HEAD';
    my $head = "HTTP/1.1 $status " . ($REASON{$status} // 'Status') . "\r\n"
             . "Content-Type: $type\r\nContent-Length: " . length($body)
             . "\r\nConnection: close\r\n\r\n";
    my $out = $head . $body;
    while (length $out) {
        my $w = syswrite($conn, $out) or return;
        substr($out, 0, $w) = '';
    }
    shutdown $conn, 1;
    # let the client read everything before the close
    IO::Select->new($conn)->can_read(2) and sysread $conn, $buf, 4096;
}

1;
