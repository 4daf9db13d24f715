package SessionTest;

=head1 NAME

SessionTest - a small Test::Nginx-style harness for the session module

=head1 SYNOPSIS

    use FindBin; use lib "$FindBin::Bin/lib";
    use Test::More;
    use SessionTest;

    plan skip_all => 'module not built' unless have_module();

    my $redis = start_redis();
    redis_cmd($redis->port, HSET => 'session:{abc}', fn => 'John');
    my $ngx = start_nginx(<<'EOF', redis => $redis);
        location /api/session/result/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
    EOF
    my $r = http_get($ngx->port, '/api/session/result/abc',
                     Authorization => "Bearer $token");
    is $r->{status}, 200;
    is_json_equal $r->{body}, { fn => 'John', ... }, 'body';
    $ngx->stop;
    error_log_clean($ngx);
    done_testing;

=head1 WHAT IS IN IT

Everything lives in one per-test-file temporary directory (C<tmpdir()>,
removed at exit unless C<TEST_KEEP_TMP=1>).  Every process started here
(redis, nginx, fake stores) is stopped by pid at exit, also when a test dies.

=over

=item start_redis(%opts) -> $redis

A redis-server on a free loopback port (C<port>, C<unix =E<gt> 1> adds a unix
socket, C<args =E<gt> [...]> extra arguments).  Methods: port, pid, socket,
dir, cmd(@args), pause (SIGSTOP), resume (SIGCONT), stop, restart (same port,
empty data), log.

=item redis_cmd($port_or_unix_path, @args) -> reply

One command on a new connection.  Replies: string, integer, array ref, undef
(nil), or a SessionTest::RedisError object (C<is_redis_error($reply)>,
stringifies to the message).  redis_pipeline($port, [@cmd], [@cmd]...) sends
several on one connection (e.g. MULTI ... EXEC) and returns all replies.

=item start_nginx($server_snippet, %opts) -> $nginx

Writes a complete nginx.conf into its own directory under tmpdir() and runs
C</usr/sbin/nginx -p DIR -c DIR/nginx.conf> (master + 1 worker, daemon off).
Options: C<load_module> (default 1: the module from build/; 0: none; or a
path), C<http> / C<main> / C<events> (extra text at that level),
C<server =E<gt> 0> (the snippet is the whole http body, write your own server
blocks, listen on %%PORT%%), C<workers =E<gt> N> (C<worker_processes N>,
default C<TEST_NGINX_WORKERS> or 1; start_nginx returns once N workers run; C<$nginx-E<gt>workers>
lists them), C<http2 =E<gt> 1> (the generated server listens with
C<http2>: HTTP/2 prior knowledge on cleartext, see SessionTest::HTTP2), C<log_level> (default info), C<log_format>
(the format text, quoted, used for access.log), C<redis> (object) or
C<redis_port>, C<vars =E<gt> {NAME =E<gt> value}>, C<port>, C<user> (default
root when run as root, so workers can read everything in tmpdir), C<may_fail>
(return undef instead of dying), C<timeout>, C<prefix> (the -p
directory, default its own; paths in the config that are not absolute are
relative to it).  Placeholders in all texts:
%%PORT%% %%TMP%% %%DIR%% %%ROOT%% %%REDIS_PORT%% and each of C<vars>.
C<TEST_NGINX_VALGRIND=1> (or a full command line, %%DIR%% allowed) runs it
under valgrind.  Methods: port, pid, dir, conf, stop, reload, workers,
error_log([$from]), access_log([$from]), mark, wait_log(qr//, [$timeout]).

=item nginx_t($snippet, %opts) -> ($exit_code, $output)

C<nginx -t> on a config built as for start_nginx (C<full =E<gt> 1>: the
snippet is the complete nginx.conf).

=item http_get($port, $path, %headers), http_request($port, $method, $path, \%headers_or_\@pairs, %opts)

Raw-socket HTTP/1.1.  Returns { status, reason, headers => {lowercase name =>
value, or [values] when repeated}, header_list => [[name, value]...], body,
raw, error }.  Options: body, raw (bytes sent verbatim), timeout (10 s),
keepalive (no C<Connection: close>).  http_conn($port) gives a keepalive
connection: $c->request($method, $path, \%headers, %opts), $c->get($path,
%headers), $c->send_raw($bytes), $c->read_response([$method]), $c->close,
$c->peer_closed.

=item fake_store(%opts) -> $store

A forked loopback server (C<unix =E<gt> 1> for a unix socket) that reads one
request (RESP commands up to EXEC when it starts with MULTI, else one
command; C<commands =E<gt> N> to set the count, 0 = any bytes) and answers
C<reply> (bytes, or a coderef ($raw, \@commands, $nth) returning bytes or
undef to close; no reply: close after the request).  One process per
connection; a connection stays open for further requests unless C<close>.  C<close_after =E<gt> N> (bytes, then close), C<delay>
(seconds), C<never_answer>, C<accept_close>, C<close> (after each reply),
C<trickle =E<gt> [$bytes, $seconds]>.  Methods: port, path, target (for
session_result_pass), requests (list of \@commands), connections, stop.
resp_encode($perl) and exec_reply(\@hash_pairs, \@stops) build replies.

=item is_json_equal($got_text, $expected_text_or_struct, $name)

=item error_log_clean($nginx, allow => [qr//...], deny => [qr//...])

No [alert], [emerg], "signal 11", "exited on signal" lines (and, after stop
under valgrind, no valgrind errors).  error_log_lacks($nginx, \@needles,
$name) checks that no secret appears in the error log.

=item run_cases(\@cases, \&runner)

One subtest per case (hashref with C<name>; C<skip> / C<todo> honoured).

=item tmpdir, free_port, write_file($name, $content), repo_root, module_path, have_module, wait_for(\&cond, $timeout)

=item track($server)

Another module's server object, stopped (its C<stop>) at exit with the rest.

=back

Beside it: SessionTest::Jwks (start_jwks: an identity provider's jwks_uri
that rotates, fails, hangs, closes and counts its fetches),
SessionTest::Keys (provider_key, jwks_json, $key-E<gt>token: RS/PS/ES/EdDSA/HS
keys and RFC 9068-shaped access tokens), SessionTest::HTTP2 (http2_request,
have_http2: curl --http2-prior-knowledge, and nghttp for exact DATA frames).

=cut

use strict;
use warnings;
use Exporter 'import';
use Cwd 'abs_path';
use File::Basename 'dirname';
use File::Temp ();
use IO::Socket::INET;
use IO::Socket::UNIX;
use IO::Select;
use JSON::PP ();
use POSIX ();
use Socket qw(SOCK_STREAM);
use Test::More ();
use Time::HiRes qw(sleep time);

our @EXPORT = qw(tmpdir free_port write_file repo_root module_path fixture
    have_module openssl genkey
    wait_for start_redis redis_cmd redis_pipeline is_redis_error start_nginx
    redis_calls redis_trackers
    nginx_t http_get http_request http_conn fake_store resp_encode exec_reply
    is_json_equal error_log_clean error_log_lacks run_cases);

our $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
our $REDIS = $ENV{TEST_REDIS_BINARY} || 'redis-server';
our $TIMEOUT = 10;                # seconds, for sockets and waits

my $OWNER = $$;                   # only this process cleans up
my (@LIVE, $TMP, %USED_PORTS, $SEQ);
$SIG{PIPE} = 'IGNORE';

sub repo_root { abs_path(dirname(__FILE__) . '/../..') }
sub module_path {
    $ENV{TEST_NGINX_MODULE} || repo_root() . '/build/ngx_http_session_module.so'
}

# TEST_NGINX_ASAN=1: the module was built with AddressSanitizer and
# UndefinedBehaviorSanitizer (make test-asan); Debian's nginx is not, so the
# runtime is preloaded into nginx alone, and every report goes to a file
# that error_log_clean() looks for
sub _asan_env {
    my ($dir) = @_;
    return () unless $ENV{TEST_NGINX_ASAN};
    my $rt = `gcc -print-file-name=libasan.so`;
    chomp $rt;
    # nginx frees little at exit; what it allocates itself is not ours
    write_file('lsan.supp', join "", map { "leak:$_\n" }
               qw(ngx_set_environment ngx_alloc ngx_calloc ngx_memalign))
        unless -f tmpdir() . '/lsan.supp';
    return (LD_PRELOAD => $rt,
            ASAN_OPTIONS => "log_path=$dir/asan:detect_leaks=1:"
                          . "abort_on_error=0:halt_on_error=0",
            UBSAN_OPTIONS => "log_path=$dir/ubsan:print_stacktrace=1",
            LSAN_OPTIONS => 'suppressions=' . tmpdir() . '/lsan.supp');
}

# the published fixtures: ../shared/fixtures beside the checkout (as CI lays
# it out), else the copies in t/data
sub fixture {
    my ($name) = @_;
    my $shared = repo_root() . "/../shared/fixtures/$name";
    return -f $shared ? abs_path($shared) : repo_root() . "/t/data/$name";
}
sub have_module { -f module_path() }

# keys for the JWT tests, made by the openssl command (not by libjwt):
# genkey('rsa1', '-algorithm RSA -pkeyopt rsa_keygen_bits:2048') writes
# tmpdir()/rsa1.pem and its public half tmpdir()/rsa1-pub.pem
sub openssl {
    my $out = `openssl @_ 2>&1`;
    die "openssl @_: $out" if $?;
    return $out;
}

sub genkey {
    my ($name, @opt) = @_;
    my $tmp = tmpdir();
    openssl("genpkey @opt -out $tmp/$name.pem");
    openssl("pkey -in $tmp/$name.pem -pubout -out $tmp/$name-pub.pem");
}

sub tmpdir {
    $TMP //= File::Temp::tempdir('session-test-XXXXXX', TMPDIR => 1,
                                 CLEANUP => !$ENV{TEST_KEEP_TMP});
    chmod 0755, $TMP;
    return $TMP;
}

sub free_port {
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
            LocalPort => 0, Proto => 'tcp', Listen => 1) or die "bind: $!";
        my $p = $s->sockport;
        next if $USED_PORTS{$p}++;
        return $p;
    }
    die "no free port";
}

sub write_file {
    my ($name, $content) = @_;
    my $path = $name =~ m{^/} ? $name : tmpdir() . "/$name";
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh $content;
    close $fh;
    return $path;
}

sub _slurp {
    my ($path, $from) = @_;
    open my $fh, '<:raw', $path or return '';
    seek $fh, $from || 0, 0;
    local $/;
    return scalar(<$fh>) // '';
}

sub wait_for {
    my ($cond, $timeout) = @_;
    my $end = time + ($timeout // $TIMEOUT);
    while (time < $end) { my $v = $cond->(); return $v if $v; sleep 0.05 }
    return $cond->();
}

# fork/exec with stdin from /dev/null and stdout+stderr to $out
sub _spawn {
    my ($out, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    open STDIN, '<', '/dev/null';
    open STDOUT, '>>', $out;
    open STDERR, '>&', \*STDOUT;
    exec @cmd or POSIX::_exit(127);
}

# signals in turn, each followed by up to $wait seconds; returns exit status
sub _terminate {
    my ($pid, $wait, @signals) = @_;
    for my $sig (@signals, 'KILL') {
        kill $sig, $pid;
        my $end = time + ($sig eq 'KILL' ? 5 : $wait);
        while (time < $end) {
            my $r = waitpid $pid, POSIX::WNOHANG();
            return $? if $r == $pid;
            return -1 if $r < 0;
            sleep 0.02;
        }
    }
    return -1;
}

sub _alive { my $pid = shift; waitpid($pid, POSIX::WNOHANG()) == 0 }

# a server object of another module (SessionTest::Jwks): stopped at exit
# with the others, by its stop method
sub track { push @LIVE, $_[0] }

sub _connect {
    my ($target, $timeout) = @_;
    return $target =~ m{^(?:unix:)?(/.*)}
        ? IO::Socket::UNIX->new(Peer => $1, Type => SOCK_STREAM)
        : IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $target,
                                Proto => 'tcp', Timeout => $timeout // 2);
}

END {
    local $?;
    return unless $$ == $OWNER;
    $_->stop for grep { $_ && !$_->{stopped} } reverse @LIVE;
    Test::More::diag("kept $TMP") if $TMP && $ENV{TEST_KEEP_TMP};
}

######################################################################
# Redis

package SessionTest::RedisError {
    use overload '""' => sub { $_[0]{message} }, fallback => 1;
}

sub is_redis_error {
    my ($r, $re) = @_;
    return ref $r eq 'SessionTest::RedisError' && (!$re || "$r" =~ $re);
}

sub _resp_command {
    my @a = @_;
    return join '', "*" . @a . "\r\n", map { '$' . length($_) . "\r\n$_\r\n" } @a;
}

# reads one RESP reply from $sock; $buf holds unread bytes
sub _read_reply {
    my ($sock, $buf, $end) = @_;
    my $line = sub {
        while ((my $i = index $$buf, "\r\n") < 0) { _fill($sock, $buf, $end) }
        my $i = index $$buf, "\r\n";
        my $l = substr $$buf, 0, $i;
        substr($$buf, 0, $i + 2) = '';
        return $l;
    };
    my $l = $line->();
    my ($t, $v) = (substr($l, 0, 1), substr($l, 1));
    return $v if $t eq '+';
    return $v + 0 if $t eq ':';
    return bless { message => $v }, 'SessionTest::RedisError' if $t eq '-';
    if ($t eq '$') {
        return undef if $v < 0;
        _fill($sock, $buf, $end) while length $$buf < $v + 2;
        my $s = substr $$buf, 0, $v;
        substr($$buf, 0, $v + 2) = '';
        return $s;
    }
    if ($t eq '*') {
        return undef if $v < 0;
        return [ map { _read_reply($sock, $buf, $end) } 1 .. $v ];
    }
    die "bad RESP line: $l";
}

sub _fill {
    my ($sock, $buf, $end) = @_;
    my $left = $end - time;
    die "redis: timeout\n" if $left <= 0
        || !IO::Select->new($sock)->can_read($left);
    my $n = sysread $sock, $$buf, 65536, length $$buf;
    die "redis: connection closed\n" unless $n;
}

sub redis_pipeline {
    my ($target, @cmds) = @_;
    my $sock = _connect($target) or die "redis $target: $!";
    my $req = join '', map { _resp_command(@$_) } @cmds;
    while (length $req) {
        my $n = syswrite($sock, $req) or die "redis write: $!";
        substr($req, 0, $n) = '';
    }
    my ($buf, $end) = ('', time + $TIMEOUT);
    my @r = map { _read_reply($sock, \$buf, $end) } @cmds;
    close $sock;
    return wantarray ? @r : $r[-1];
}

sub redis_cmd { my $t = shift; scalar redis_pipeline($t, [@_]) }

# how many times Redis ran a command so far (INFO commandstats), e.g. the
# store reads: redis_calls($port, 'hgetall')
sub redis_calls {
    my ($t, $cmd) = @_;
    my $s = redis_cmd($t, INFO => 'commandstats');
    return $s =~ /^cmdstat_\Q$cmd\E:calls=(\d+)/m ? $1 : 0;
}

# the ids of the clients with broadcast tracking on (the push connections)
sub redis_trackers {
    my ($t) = @_;
    return grep { $_ } map { /^id=(\d+) .* flags=\S*B/ ? $1 : undef }
        split /\n/, redis_cmd($t, CLIENT => 'LIST');
}

sub start_redis {
    my (%o) = @_;
    my $self = bless { %o, port => $o{port} || free_port() }, 'SessionTest::Redis';
    $self->{dir} = tmpdir() . '/redis-' . ++$SEQ;
    mkdir $self->{dir};
    $self->{socket} = "$self->{dir}/redis.sock" if $o{unix};
    push @LIVE, $self;
    $self->_start;
    return $self;
}

package SessionTest::Redis {
    sub port { $_[0]{port} }
    sub pid { $_[0]{pid} }
    sub dir { $_[0]{dir} }
    sub socket { $_[0]{socket} }
    sub cmd { my $s = shift; SessionTest::redis_cmd($s->{port}, @_) }
    sub log { SessionTest::_slurp("$_[0]{dir}/redis.log") }
    sub pause { kill 'STOP', $_[0]{pid} }
    sub resume { kill 'CONT', $_[0]{pid} }

    sub _start {
        my $s = shift;
        my @cmd = ($SessionTest::REDIS, '--port', $s->{port},
            '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
            '--dir', $s->{dir}, '--daemonize', 'no',
            '--logfile', "$s->{dir}/redis.log",
            $s->{socket} ? ('--unixsocket', $s->{socket},
                            '--unixsocketperm', '777') : (),
            @{ $s->{args} || [] });
        $s->{pid} = SessionTest::_spawn("$s->{dir}/stdout", @cmd);
        $s->{stopped} = 0;
        my $up = SessionTest::wait_for(sub {
            die "redis-server exited:\n" . $s->log . "\n"
                unless SessionTest::_alive($s->{pid});
            defined eval { SessionTest::redis_cmd($s->{port}, 'PING') };
        });
        die "redis-server did not answer PING\n" . $s->log unless $up;
    }

    sub stop {
        my $s = shift;
        return if $s->{stopped}++;
        kill 'CONT', $s->{pid};
        SessionTest::_terminate($s->{pid}, 5, 'TERM');
    }

    sub restart { my $s = shift; $s->stop; $s->_start; $s }
    sub DESTROY { local $?; $_[0]->stop if $$ == $OWNER && !$_[0]{stopped} }
}

######################################################################
# nginx

sub _fill_in {
    my ($text, $vars) = @_;
    $text =~ s{%%(\w+)%%}{
        defined $vars->{$1} ? $vars->{$1} : die "unknown placeholder %%$1%%\n"
    }ge;
    return $text;
}

sub _nginx_setup {
    my ($snippet, %o) = @_;
    my $self = bless { %o, port => $o{port} || free_port(),
                       workers => $o{workers} || $ENV{TEST_NGINX_WORKERS} || 1 },
                 'SessionTest::Nginx';
    my $dir = $self->{dir} = tmpdir() . '/nginx-' . ++$SEQ;
    mkdir $dir;
    my $redis_port = $o{redis_port} // ($o{redis} && $o{redis}->port);
    my %v = (PORT => $self->{port}, TMP => tmpdir(), DIR => $dir,
             ROOT => repo_root(), %{ $o{vars} || {} },
             defined $redis_port ? (REDIS_PORT => $redis_port) : ());
    $self->{vars} = \%v;
    my $conf = $o{full} ? _fill_in($snippet, \%v) : do {
        my $mod = $o{load_module} // 1;
        $mod = module_path() if $mod && $mod eq '1';
        my $level = $o{log_level} || 'info';
        $self->{log_level} = $level;
        my $fmt = defined $o{log_format}
            ? "log_format test $o{log_format};\n    access_log $dir/access.log test;"
            : "access_log $dir/access.log;";
        my $body = ($o{server} // 1) ? <<"EOS" : $snippet;
    server {
        listen 127.0.0.1:$self->{port}@{[ $o{http2} ? ' http2' : '' ]};
        server_name localhost;
$snippet
    }
EOS
        my $http = $o{http} // '';
        my $user = $o{user} // ($> == 0 ? 'root' : undef);
        _fill_in(<<"EOC", \%v);
@{[ $mod ? "load_module $mod;" : '' ]}
daemon off;
master_process on;
worker_processes $self->{workers};
@{[ defined $user ? "user $user;" : '' ]}
pid $dir/nginx.pid;
error_log $dir/error.log $level;
@{[ $o{main} // '' ]}
events {
    worker_connections 256;
    @{[ $o{events} // '' ]}
}
http {
    $fmt
    client_body_temp_path $dir/client_body_temp;
    proxy_temp_path $dir/proxy_temp;
    fastcgi_temp_path $dir/fastcgi_temp;
    uwsgi_temp_path $dir/uwsgi_temp;
    scgi_temp_path $dir/scgi_temp;
$http
$body
}
EOC
    };
    write_file("$dir/nginx.conf", $conf);
    return $self;
}

sub _valgrind {
    my ($self) = @_;
    my $vg = $ENV{TEST_NGINX_VALGRIND} or return ();
    # stock nginx never frees its workers' environment and event arrays
    write_file('valgrind.supp', <<'EOS') unless -f tmpdir() . '/valgrind.supp';
{
   nginx-worker-environment
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   fun:ngx_set_environment
}
{
   nginx-worker-init-after-reload
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   obj:*/nginx
   obj:*/nginx
   obj:*/nginx
   fun:ngx_spawn_process
}
EOS
    $vg = 'valgrind --tool=memcheck --leak-check=full --error-exitcode=99 '
        . '--errors-for-leak-kinds=definite --log-file=%%DIR%%/vg.%p '
        . '--suppressions=%%TMP%%/valgrind.supp'
        if $vg eq '1';
    return split ' ', _fill_in($vg, $self->{vars});
}

sub start_nginx {
    my ($snippet, %o) = @_;
    my $self = _nginx_setup($snippet, %o);
    my $dir = $self->{dir};
    my @vg = _valgrind($self);
    $self->{valgrind} = @vg > 0;
    my $timeout = $o{timeout} // ($self->{valgrind} ? 60 : $TIMEOUT);
    local %ENV = (%ENV, _asan_env($dir));
    $self->{pid} = _spawn("$dir/stderr.log", @vg, $NGINX,
        '-p', $o{prefix} // "$dir/",
        '-c', "$dir/nginx.conf", '-e', "$dir/error.log");
    push @LIVE, $self;
    my $up = wait_for(sub {
        return 'dead' unless _alive($self->{pid});
        my $s = _connect($self->{port}, 1) or return 0;
        close $s;
        return $self->workers >= $self->{workers};
    }, $timeout);
    return $self if $up && $up ne 'dead';
    my $why = "nginx did not start:\n" . _slurp("$dir/stderr.log")
            . $self->error_log;
    $self->stop;
    die $why unless $o{may_fail};
    Test::More::note($why);
    return undef;
}

sub nginx_t {
    my ($snippet, %o) = @_;
    my $self = _nginx_setup($snippet, %o);
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        %ENV = (%ENV, _asan_env($self->{dir}));
        exec $NGINX, '-t', '-p', "$self->{dir}/", '-c', "$self->{dir}/nginx.conf",
             '-e', "$self->{dir}/error.log" or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

package SessionTest::Nginx {
    sub port { $_[0]{port} }
    sub pid { $_[0]{pid} }
    sub dir { $_[0]{dir} }
    sub conf { SessionTest::_slurp("$_[0]{dir}/nginx.conf") }
    sub error_log { SessionTest::_slurp("$_[0]{dir}/error.log", $_[1]) }
    sub access_log { SessionTest::_slurp("$_[0]{dir}/access.log", $_[1]) }
    sub mark { -s "$_[0]{dir}/error.log" || 0 }

    sub wait_log {
        my ($s, $re, $timeout, $from) = @_;
        SessionTest::wait_for(sub { $s->error_log($from) =~ $re }, $timeout);
    }

    # child processes of the master (the workers)
    sub workers {
        my $s = shift;
        my @w;
        for my $stat (glob '/proc/[0-9]*/stat') {
            open my $fh, '<', $stat or next;
            my $l = <$fh> // next;
            my ($pid, $ppid) = $l =~ /^(\d+) .*\) \S+ (\d+)/s or next;
            push @w, $pid if $ppid == $s->{pid};
        }
        @w = sort { $a <=> $b } @w;
        return @w;
    }

    # SIGHUP; true once all new workers run (and the old ones are gone)
    sub reload {
        my ($s, $timeout) = @_;
        my %old = map { $_ => 1 } $s->workers;
        kill 'HUP', $s->{pid};
        my $ok = SessionTest::wait_for(
            sub { grep({ !$old{$_} } $s->workers) >= $s->{workers} },
            $timeout);
        SessionTest::wait_for(sub { !grep { $old{$_} } $s->workers }, 5)
            if $ok;
        return $ok ? 1 : 0;
    }

    sub stop {
        my $s = shift;
        return $s->{exit} if $s->{stopped}++ || !$s->{pid};
        my $wait = $s->{valgrind} ? 60 : 10;
        $s->{exit} = SessionTest::_terminate($s->{pid}, $wait, 'QUIT', 'TERM');
    }

    sub sanitizer_report {
        my $s = shift;
        # a report says ERROR: (ASan, LSan) or runtime error: (UBSan); a
        # file listing only the suppressions used is no report
        join '', map { my $t = SessionTest::_slurp($_);
                       $t =~ /ERROR: |runtime error: / ? "$_:\n$t" : '' }
            glob "$s->{dir}/asan.* $s->{dir}/ubsan.*";
    }

    sub valgrind_report {
        my $s = shift;
        join '', map { my $t = SessionTest::_slurp($_);
                       $t =~ /ERROR SUMMARY: [1-9]/ ? "$_:\n$t" : '' }
            glob "$s->{dir}/vg.*";
    }

    sub DESTROY { local $?; $_[0]->stop if $$ == $OWNER && !$_[0]{stopped} }
}

######################################################################
# HTTP client

sub _pairs { my $h = shift; ref $h eq 'HASH' ? map { $_ => $h->{$_} } sort keys %$h : @{ $h || [] } }

# every credential a test sends, so that error_log_clean() can prove that
# none of them reaches an error log at info or above
our %SENT_SECRETS;

sub _remember_secrets {
    my (@h) = @_;
    for (my $i = 0; $i < @h; $i += 2) {
        my ($name, $value) = (lc $h[$i], $h[$i + 1] // '');
        if ($name eq 'authorization' && $value =~ /^\S+\s+(\S{16,})/) {
            $SENT_SECRETS{$1} = 1;
        } elsif ($name eq 'cookie') {
            $SENT_SECRETS{$1} = 1 while $value =~ /=([^;\s]{16,})/g;
        }
    }
}

# the published example's personal values
our @PERSONAL = ('John', 'johndoe@example.com', '123-456-7890', '19900101');

sub _build_request {
    my ($method, $path, $headers, %o) = @_;
    return $o{raw} if defined $o{raw};
    my @h = _pairs($headers);
    _remember_secrets(@h);
    my %has;
    for (my $i = 0; $i < @h; $i += 2) { $has{ lc $h[$i] } = 1 }
    unshift @h, Host => 'localhost' unless $has{host};
    push @h, Connection => 'close' unless $has{connection} || $o{keepalive};
    push @h, 'Content-Length' => length $o{body}
        if defined $o{body} && !$has{'content-length'};
    my $req = "$method $path HTTP/1.1\r\n";
    for (my $i = 0; $i < @h; $i += 2) { $req .= "$h[$i]: $h[$i+1]\r\n" }
    return $req . "\r\n" . ($o{body} // '');
}

# parses a complete response at the start of $$buf (removing it);
# undef if more bytes are needed
sub _parse_response {
    my ($buf, $method, $eof) = @_;
    my $he = index $$buf, "\r\n\r\n";
    return undef if $he < 0;
    my ($status_line, @lines) = split /\r\n/, substr($$buf, 0, $he);
    my %r = (header_list => [], headers => {});
    @r{qw(protocol status reason)} = $status_line =~ m{^(\S+) (\d{3}) ?(.*)$}
        or return { error => "bad status line: $status_line", raw => $$buf };
    for (@lines) {
        my ($n, $v) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        push @{ $r{header_list} }, [$n, $v];
        my $h = \$r{headers}{ lc $n };
        $$h = defined $$h ? [ ref $$h ? @$$h : $$h, $v ] : $v;
    }
    my $pos = $he + 4;
    my $te = $r{headers}{'transfer-encoding'} // '';
    my $cl = $r{headers}{'content-length'};
    if ($method eq 'HEAD' || $r{status} =~ /^(1..|204|304)$/) {
        $r{body} = '';
    } elsif ($te =~ /chunked/i) {
        $r{body} = '';
        while (1) {
            my $le = index $$buf, "\r\n", $pos;
            return undef if $le < 0;
            my ($hex) = substr($$buf, $pos, $le - $pos) =~ /^\s*([0-9a-fA-F]+)/
                or return { error => 'bad chunk', raw => $$buf };
            my $size = hex $hex;
            return undef if length($$buf) < $le + 2 + $size + 2;
            $r{body} .= substr $$buf, $le + 2, $size;
            $pos = $le + 2 + $size + 2;
            if ($size == 0) {                     # no trailers expected
                last;
            }
        }
    } elsif (defined $cl && !ref $cl) {
        return undef if length($$buf) < $pos + $cl;
        $r{body} = substr $$buf, $pos, $cl;
        $pos += $cl;
    } else {
        return undef unless $eof;
        $r{body} = substr $$buf, $pos;
        $pos = length $$buf;
    }
    $r{raw} = substr $$buf, 0, $pos, '';
    return \%r;
}

sub http_conn {
    my ($port, %o) = @_;
    my $sock = _connect($port) or die "connect $port: $!";
    return bless { sock => $sock, buf => '', port => $port, keepalive => 1, %o },
        'SessionTest::HTTPConn';
}

sub http_request {
    my ($port, $method, $path, $headers, %o) = @_;
    my $c = http_conn($port, keepalive => $o{keepalive});
    my $r = $c->request($method, $path, $headers, %o);
    $c->close;
    return $r;
}

sub http_get { my ($port, $path, @h) = @_; http_request($port, 'GET', $path, \@h) }

package SessionTest::HTTPConn {
    use Time::HiRes qw(time);

    sub send_raw {
        my ($c, $bytes) = @_;
        while (length $bytes) {
            my $n = syswrite $c->{sock}, $bytes;
            return 0 unless $n;          # peer gone: read what it said
            substr($bytes, 0, $n) = '';
        }
        return 1;
    }

    sub request {
        my ($c, $method, $path, $headers, %o) = @_;
        $c->send_raw(SessionTest::_build_request($method, $path, $headers,
                                                 keepalive => $c->{keepalive}, %o));
        return $c->read_response($method, $o{timeout});
    }

    sub get { my ($c, $path, @h) = @_; $c->request('GET', $path, \@h) }

    sub read_response {
        my ($c, $method, $timeout) = @_;
        my $end = time + ($timeout // $SessionTest::TIMEOUT);
        my $sel = IO::Select->new($c->{sock});
        while (1) {
            my $r = SessionTest::_parse_response(\$c->{buf}, $method // 'GET',
                                                 $c->{eof});
            return $r if $r;
            return { error => $c->{eof} ? 'closed' : 'timeout',
                     raw => $c->{buf} } if $c->{eof} || time >= $end;
            if ($sel->can_read($end - time)) {
                my $n = sysread $c->{sock}, $c->{buf}, 65536, length $c->{buf};
                $c->{eof} = 1 unless $n;
            }
        }
    }

    # true when the server has closed the connection (no pending bytes)
    sub peer_closed {
        my ($c, $wait) = @_;
        return 1 if $c->{eof};
        return 0 unless IO::Select->new($c->{sock})->can_read($wait // 0.5);
        my $n = sysread $c->{sock}, $c->{buf}, 65536, length $c->{buf};
        return $c->{eof} = !$n;
    }

    sub close { close $_[0]{sock} if $_[0]{sock}; delete $_[0]{sock} }
}

######################################################################
# fake store

sub resp_encode {
    my ($v) = @_;
    return "\$-1\r\n" unless defined $v;
    return '*' . @$v . "\r\n" . join '', map { resp_encode($_) } @$v
        if ref $v eq 'ARRAY';
    if (ref $v eq 'HASH') {
        return ":$v->{int}\r\n" if exists $v->{int};
        return "+$v->{status}\r\n" if exists $v->{status};
        return "-$v->{error}\r\n" if exists $v->{error};
        return "*-1\r\n" if $v->{nil_array};
    }
    return '$' . length($v) . "\r\n$v\r\n";
}

# the reply to MULTI / HGETALL / LRANGE / EXEC
sub exec_reply {
    my ($pairs, $stops) = @_;
    return "+OK\r\n+QUEUED\r\n+QUEUED\r\n"
         . resp_encode([ [ _pairs($pairs) ], $stops || [] ]);
}

# complete RESP arrays of bulk strings at the start of $buf (consumed)
sub _parse_commands {
    my ($buf) = @_;
    my @cmds;
    while ($$buf =~ /^\*(\d+)\r\n/) {
        my ($n, $pos, @a) = ($1, length($&));
        for (1 .. $n) {
            substr($$buf, $pos) =~ /^\$(\d+)\r\n/ or return @cmds;
            my $len = $1;
            $pos += length $&;
            return @cmds if length($$buf) < $pos + $len + 2;
            push @a, substr $$buf, $pos, $len;
            $pos += $len + 2;
        }
        substr($$buf, 0, $pos) = '';
        push @cmds, \@a;
    }
    return @cmds;
}

sub fake_store {
    my (%o) = @_;
    my $self = bless { %o, log => tmpdir() . '/fake-' . ++$SEQ . '.log' },
        'SessionTest::FakeStore';
    my $l;
    if ($o{unix}) {
        $self->{path} = tmpdir() . "/fake-$SEQ.sock";
        $l = IO::Socket::UNIX->new(Local => $self->{path}, Listen => 128,
                                   Type => SOCK_STREAM);
        chmod 0777, $self->{path};
    } else {
        $self->{port} = $o{port} || free_port();
        $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', Listen => 128,
            LocalPort => $self->{port}, Proto => 'tcp', ReuseAddr => 1);
    }
    $l or die "fake store listen: $!";
    my $pid = fork // die "fork: $!";
    if ($pid) { close $l; $self->{pid} = $pid; push @LIVE, $self; return $self }
    # the child never returns into the test: it always ends in _exit
    POSIX::setpgid(0, 0);
    $SIG{CHLD} = 'IGNORE';
    $SIG{TERM} = sub {              # end the connections, reap them, exit
        $SIG{TERM} = 'IGNORE';
        kill 'TERM', -$$;
        1 while waitpid(-1, 0) > 0;
        POSIX::_exit(0);
    };
    my $conns = 0;
    eval {
        while (1) {
            my $c = $l->accept or next;
            $conns++;
            my $k = fork;
            if (defined $k && $k == 0) {
                $SIG{TERM} = sub { POSIX::_exit(0) };
                close $l;
                eval { _fake_conn($self, $c, $conns) };
                POSIX::_exit(0);
            }
            close $c;
        }
    };
    POSIX::_exit(1);
}

sub _fake_log {
    my ($self, $rec) = @_;
    open my $fh, '>>', $self->{log} or return;
    syswrite $fh, JSON::PP->new->latin1->canonical->encode($rec) . "\n";
}

sub _fake_conn {
    my ($self, $c, $conn) = @_;
    _fake_log($self, { conn => $conn });
    return if $self->{accept_close};
    my ($buf, @cmds, $nth) = ('');
    while (1) {
        my $n = sysread $c, $buf, 65536, length $buf;
        return unless $n;
        my $raw = $buf;
        push @cmds, _parse_commands(\$buf);
        return _fake_push($self, $c, $conn)
            if @cmds && uc $cmds[0][0] eq 'HELLO';
        my $want = $self->{commands};
        if (!defined $want) {
            next unless @cmds;
            $want = uc $cmds[0][0] eq 'MULTI'
                ? (grep { uc $cmds[$_][0] eq 'EXEC' } 0 .. $#cmds)[0] // next
                : 0;
            $want++;
        }
        if ($want == 0) { $buf = '' } else { next if @cmds < $want }
        my @req = $want ? splice(@cmds, 0, $want) : ();
        _fake_log($self, { conn => $conn, commands => \@req });
        next if $self->{never_answer};
        my $reply = ref $self->{reply} eq 'CODE'
            ? $self->{reply}->($raw, \@req, ++$nth) : $self->{reply};
        return unless defined $reply;
        sleep $self->{delay} if $self->{delay};
        $reply = substr $reply, 0, $self->{close_after}
            if defined $self->{close_after};
        my ($step, $pause) = @{ $self->{trickle} || [ length($reply) || 1, 0 ] };
        for (my $i = 0; $i < length $reply; $i += $step) {
            syswrite($c, substr $reply, $i, $step) or return;
            sleep $pause if $pause && $i + $step < length $reply;
        }
        return if $self->{close} || defined $self->{close_after};
    }
}

# the module's push connection (SPEC 9: HELLO 3 first): refused as Redis
# before 6 refuses it, and kept out of requests() and connections(); the
# module then reads this store as it always did
sub _fake_push {
    my ($self, $c, $conn) = @_;
    _fake_log($self, { conn => $conn, push => 1 });
    syswrite $c, "-ERR unknown command 'HELLO'\r\n";
}

package SessionTest::FakeStore {
    sub port { $_[0]{port} }
    sub path { $_[0]{path} }
    sub pid { $_[0]{pid} }
    sub target { $_[0]{path} ? "unix:$_[0]{path}" : "127.0.0.1:$_[0]{port}" }
    sub _records {
        map { JSON::PP->new->latin1->decode($_) }
            split /\n/, SessionTest::_slurp($_[0]{log});
    }
    sub requests { map { $_->{commands} } grep { $_->{commands} } $_[0]->_records }
    sub connections {
        my @r = $_[0]->_records;
        my %push = map { $_->{conn} => 1 } grep { $_->{push} } @r;
        scalar grep { !$_->{commands} && !$push{ $_->{conn} } } @r;
    }
    sub stop {
        my $s = shift;
        return if $s->{stopped}++;
        SessionTest::_terminate($s->{pid}, 5, 'TERM');
        kill 'KILL', -$s->{pid};        # stragglers of its process group
        unlink $s->{path} if $s->{path};
    }
    sub DESTROY { local $?; $_[0]->stop if $$ == $OWNER && !$_[0]{stopped} }
}

######################################################################
# assertions

sub is_json_equal {
    my ($got, $expected, $name) = @_;
    my $js = JSON::PP->new->canonical->allow_nonref;
    my $g = eval { $js->decode($got // '') };
    if ($@) {
        Test::More::ok(0, $name);
        Test::More::diag("not JSON: $@" . ($got // 'undef'));
        return 0;
    }
    my $e = ref $expected ? $expected : $js->decode($expected);
    my ($gt, $et) = ($js->encode($g), $js->encode($e));
    my $ok = Test::More::ok($gt eq $et, $name);
    Test::More::diag("got:      $gt\nexpected: $et") unless $ok;
    return $ok;
}

sub error_log_clean {
    my ($ngx, %o) = @_;
    my @deny = (qr/\[alert\]/, qr/\[emerg\]/, qr/signal 11/,
                qr/exited on signal/, @{ $o{deny} || [] });
    my @bad = grep {
        my $l = $_;
        (grep { $l =~ $_ } @deny) && !grep { $l =~ $_ } @{ $o{allow} || [] }
    } split /\n/, $ngx->error_log;
    my $vg = $ngx->{valgrind} && $ngx->{stopped} ? $ngx->valgrind_report : '';
    $vg .= $ngx->sanitizer_report;

    # log hygiene, for every nginx of the suite: no token sent and no
    # personal value of the published example at info or above (debug
    # logs show request headers by design)
    if (($ngx->{log_level} // 'info') ne 'debug') {
        my $log = $ngx->error_log;
        push @bad, map { "secret or personal value in the error log: "
                         . substr($_, 0, 12) . '...' }
                   grep { index($log, $_) >= 0 }
                   @PERSONAL, keys %SENT_SECRETS;
    }
    my $ok = Test::More::ok(!@bad && !$vg, $o{name} || 'error log clean');
    Test::More::diag(join "\n", @bad, $vg) unless $ok;
    return $ok;
}

sub error_log_lacks {
    my ($ngx, $needles, $name) = @_;
    my $log = $ngx->error_log;
    my @found = grep { ref $_ ? $log =~ $_ : index($log, $_) >= 0 } @$needles;
    my $ok = Test::More::ok(!@found, $name || 'error log lacks secrets');
    Test::More::diag("found in error log: @found") unless $ok;
    return $ok;
}

sub run_cases {
    my ($cases, $runner) = @_;
    for my $case (@$cases) {
        my $name = $case->{name} // die "case without a name";
        Test::More::subtest($name, sub {
            Test::More::plan(skip_all => $case->{skip}) if $case->{skip};
            my $tb = Test::More->builder;
            $tb->todo_start($case->{todo}) if $case->{todo};
            $runner->($case);
            $tb->todo_end if $case->{todo};
        });
    }
}

1;
