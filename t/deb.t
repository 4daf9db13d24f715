# The Debian package (SPEC 11): `make deb`, then on this machine
# `apt-get install ./build/<package>.deb`, the files and the modules-enabled
# link, Debian's own `nginx -t` on /etc/nginx/nginx.conf with a server in
# /etc/nginx/conf.d/ that uses the directives, one request through the
# system nginx binary with the module loaded from /etc/nginx/modules-enabled/,
# then remove, reinstall and purge.
#
# Runs as root only.  The package must not be installed already (an
# installation that is not this test's is left alone).  Whatever happens,
# the END block stops the nginx started here, purges the package and removes
# the conf.d file; the last case checks that /etc/nginx is as it was found.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::MD5 ();
use Fcntl qw(:flock);
use File::Find ();
use SessionTest;

my $PKG = 'libnginx-mod-http-session-result';
my $SO = '/usr/lib/nginx/modules/ngx_http_session_module.so';
my $AVAILABLE = '/usr/share/nginx/modules-available/mod-http-session-result.conf';
my $LINK = '/etc/nginx/modules-enabled/50-mod-http-session-result.conf';
my $SHARE = "/usr/share/$PKG";
my $DOC = "/usr/share/doc/$PKG";
my $CONFD = '/etc/nginx/conf.d/session-result-deb-test.conf';
my $ID = '19fe3b9e-384e-41d1-bded-8de9ef3abacb';
my $ROOT = repo_root();

plan skip_all => 'installs a package: run as root' unless $> == 0;
for my $tool (qw(apt-get dpkg-buildpackage lintian)) {
    plan skip_all => "$tool missing: run scripts/deps.sh"
        unless grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}

sub installed {
    my $s = `dpkg-query -W -f='\${Status}' $PKG 2>/dev/null`;
    return $s =~ /install ok installed/;
}

sub known_to_dpkg {     # installed, or removed with its config files kept
    my $s = `dpkg-query -W -f='\${Status}' $PKG 2>/dev/null`;
    return $s =~ /\b(?:installed|config-files)$/;
}

plan skip_all => "$PKG is installed on this machine: not touching it"
    if known_to_dpkg();

# one run at a time on a machine: dpkg and /etc/nginx are shared
open my $lock, '>', '/run/lock/session-result-deb-test.lock' or die "lock: $!";
flock $lock, LOCK_EX or die "flock: $!";

BAIL_OUT('Crypt::JWT missing: run scripts/deps.sh')
    unless eval { require Crypt::JWT; require Crypt::PK::RSA; 1 };

# /etc/nginx as a list of "path type detail" lines
sub manifest {
    my @m;
    File::Find::find({ no_chdir => 1, wanted => sub {
        my $p = $File::Find::name;
        my @st = lstat $p;
        my $what = -l _ ? 'link ' . readlink $p
                 : -d _ ? 'dir'
                 : do {
                       open my $fh, '<:raw', $p or die "$p: $!";
                       'file ' . Digest::MD5->new->addfile($fh)->hexdigest;
                   };
        push @m, sprintf "%s %o %s", $p, $st[2] & 07777, $what;
    } }, '/etc/nginx');
    return join "\n", sort @m;
}

my $BEFORE = manifest();
my $NGX;                         # the nginx started here

# apt-get, with its output in tmpdir()/apt.log; returns the exit code
sub apt {
    my @args = @_;
    my $log = tmpdir() . '/apt.log';
    local $ENV{DEBIAN_FRONTEND} = 'noninteractive';
    system("apt-get -y -q -o DPkg::Lock::Timeout=120 @args >>$log 2>&1");
    my $rc = $? >> 8;
    diag `tail -20 $log` if $rc;
    return $rc;
}

sub cleanup {
    $NGX->stop if $NGX;
    unlink $CONFD;
    apt("purge $PKG") if known_to_dpkg();
}

END {
    local $?;
    cleanup() if defined $BEFORE;
}

######################################################################
# the package

my $VERSION = `$ROOT/scripts/deb-changelog --version`;
chomp $VERSION;
my $DEB = "$ROOT/build/${PKG}_${VERSION}_amd64.deb";

subtest 'make deb' => sub {
    like $VERSION, qr/^\d+\.\d+\.\d+(?:~dev)?$/, 'version from CHANGELOG.md';
    my $out = `make -s -C $ROOT deb 2>&1`;
    is $?, 0, 'make deb passes (lintian: no errors)' or diag $out;
    ok -f $DEB, "build/${PKG}_${VERSION}_amd64.deb";
    is `dpkg-deb -f $DEB Version`, "$VERSION\n", 'its version';

    my ($abi) = `dpkg-query -W -f='\${Provides}' nginx` =~ /(nginx-abi-[\w.-]+)/;
    ok $abi, "Debian's nginx provides $abi";
    my $dep = `dpkg-deb -f $DEB Depends`;
    like $dep, qr/^\Q$abi\E,/, 'Depends on that nginx ABI first';
    like $dep, qr/\blibjwt\d/, 'and on libjwt';
    like $dep, qr/\blibjansson\d/, 'and on jansson';
    like $dep, qr/\blibssl\d/, 'and on OpenSSL';
};
BAIL_OUT("no package built") unless -f $DEB;

subtest 'apt-get install makes the files and the link' => sub {
    is apt("install --no-install-recommends $DEB"), 0, 'apt-get install';
    ok installed(), 'installed';
    ok -f $SO, $SO;
    is do { local (@ARGV, $/) = $AVAILABLE; <> },
        "load_module modules/ngx_http_session_module.so;\n", $AVAILABLE;
    is readlink($LINK), $AVAILABLE, "$LINK links to it";
    ok -x "$SHARE/session-store", 'the writer command';
    ok -f "$SHARE/session_store.lua", 'the writer script';
    ok -f "$DOC/$_", "$DOC/$_" for qw(README.md copyright changelog.gz
        docs/directives.md docs/auth.md examples/nginx.conf);
};

######################################################################
# Debian's nginx with the module enabled by the package

my $redis = start_redis();
my $out = `$SHARE/session-store -p ${\ $redis->port} --owner client-a ${\ fixture('seed-session.json')} 2>&1`;
is $?, 0, "the packaged writer stored the published example" or diag $out;

genkey('rsa', '-algorithm RSA -pkeyopt rsa_keygen_bits:2048');
my $TMP = tmpdir();
my $PORT = free_port();

# a server in the system's configuration, included by the stock nginx.conf
write_file($CONFD, <<"EOF");
server {
    listen 127.0.0.1:$PORT;
    server_name session-result-deb-test;

    location /api/session/result/ {
        session_jwt "deb-test";
        session_jwt_key_file $TMP/rsa-pub.pem;
        session_result_owner_claim sub;
        session_result_pass 127.0.0.1:${\ $redis->port};
    }
}
EOF

subtest "Debian's nginx -t on /etc/nginx/nginx.conf" => sub {
    my $out = `/usr/sbin/nginx -t 2>&1`;
    is $? >> 8, 0, 'nginx -t passes' or diag $out;
    like $out, qr{/etc/nginx/nginx\.conf syntax is ok}, 'the stock nginx.conf';
};

subtest 'one request through the system nginx' => sub {
    # the stock main level (its pid file, user, logs) is the running
    # service's; this one has its own, and the same includes: the module
    # from modules-enabled, the server from conf.d, the default prefix
    $NGX = start_nginx(<<'EOF', full => 1, port => $PORT, prefix => '/usr/share/nginx/');
include /etc/nginx/modules-enabled/*.conf;
daemon off;
master_process on;
worker_processes 1;
user root;
pid %%DIR%%/nginx.pid;
error_log %%DIR%%/error.log info;
events {
    worker_connections 64;
}
http {
    access_log %%DIR%%/access.log;
    client_body_temp_path %%DIR%%/client_body_temp;
    proxy_temp_path %%DIR%%/proxy_temp;
    fastcgi_temp_path %%DIR%%/fastcgi_temp;
    uwsgi_temp_path %%DIR%%/uwsgi_temp;
    scgi_temp_path %%DIR%%/scgi_temp;
    include /etc/nginx/conf.d/session-result-deb-test.conf;
}
EOF
    my $url = "/api/session/result/$ID";
    my $r = http_get($PORT, $url);
    is $r->{status}, 401, 'no token: 401';
    like $r->{headers}{'www-authenticate'} // '', qr/^Bearer realm="deb-test"/,
        'the module answered';

    my $token = Crypt::JWT::encode_jwt(alg => 'RS256',
        key => Crypt::PK::RSA->new("$TMP/rsa.pem"),
        payload => { sub => 'client-a', exp => time + 300 });
    $r = http_get($PORT, $url, Authorization => "Bearer $token");
    is $r->{status}, 200, 'a valid token: 200';
    like $r->{body}, qr/"request_id":"\Q$ID\E"/, 'the stored session';

    $NGX->stop;
    error_log_clean($NGX);
};
$redis->stop;
unlink $CONFD;

######################################################################
# remove, reinstall, purge: Debian's modules-enabled behaviour

subtest 'apt-get remove takes the link and the .so away' => sub {
    is apt("remove $PKG"), 0, 'apt-get remove';
    ok !installed(), 'not installed';
    ok !-e $SO && !-l $LINK, 'no .so, no link';
    ok -l "$LINK.removed", 'the link is kept aside as .removed';
    my $out = `/usr/sbin/nginx -t 2>&1`;
    is $? >> 8, 0, 'nginx -t passes without the module' or diag $out;
};

subtest 'a reinstall after remove enables it again' => sub {
    is apt("install --no-install-recommends $DEB"), 0, 'apt-get install';
    is readlink($LINK), $AVAILABLE, 'the link is back';
    ok !-l "$LINK.removed", 'no .removed';
};

subtest 'apt-get purge leaves nothing' => sub {
    is apt("purge $PKG"), 0, 'apt-get purge';
    ok !known_to_dpkg(), 'unknown to dpkg';
    ok !-e $SO && !-l $LINK && !-l "$LINK.removed", 'no .so, no link';
    ok !-e $SHARE && !-e $DOC, 'no writer, no docs';
};

cleanup();
is manifest(), $BEFORE, '/etc/nginx is as it was';

done_testing;
