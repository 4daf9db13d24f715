# The feature check at the top of `config`: nginx's configure stops with the
# Debian package to install when a library's header cannot be compiled.
# A header is "missing" when a directory given first with -I holds a header
# of that name that fails to compile.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use SessionTest;

my $SRC = $ENV{NGX_SRC} || '/usr/share/nginx/src';
plan skip_all => "no nginx source tree in $SRC (nginx-dev)"
    unless -x "$SRC/configure";

my $tree = tmpdir() . '/nginx';
system('cp', '-r', $SRC, $tree) == 0 or die "cp $SRC: $?";

# configure as the Makefile runs it, with extra -I flags first; returns
# (exit code, output)
sub configure {
    my (@inc) = @_;
    my $opt = join ' ', (map { "-I$_" } @inc),
        '-g -O2 -fPIC -Wall -Wextra -Werror';
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        chdir $tree or die "$tree: $!";
        exec 'bash', '-c', '. ./conf_flags && ./configure '
            . '"${NGX_CONF_FLAGS[@]}" --with-cc-opt="$1" '
            . '--add-dynamic-module="$2"', 'configure', $opt, repo_root()
            or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

# a directory where $header exists but does not compile
sub hiding {
    my ($header) = @_;
    my $dir = tmpdir() . "/hide-" . ($header =~ tr{/.}{--}r);
    my $path = "$dir/$header";
    (my $sub = $path) =~ s{/[^/]+$}{};
    system('mkdir', '-p', $sub) == 0 or die "mkdir $sub";
    write_file($path, "#error $header hidden by t/configure.t\n");
    return $dir;
}

run_cases([
    { name => 'jansson missing', header => 'jansson.h',
      feature => 'jansson', package => 'libjansson-dev' },
    { name => 'libjwt missing', header => 'jwt.h',
      feature => 'libjwt', package => 'libjwt-dev' },
    { name => 'OpenSSL missing', header => 'openssl/evp.h',
      feature => 'OpenSSL libcrypto', package => 'libssl-dev' },
], sub {
    my ($c) = @_;
    my ($rc, $out) = configure(hiding($c->{header}));
    isnt $rc, 0, 'configure fails';
    like $out, qr/checking for \Q$c->{feature}\E \.\.\. not found/,
        'the check names the feature';
    like $out, qr/error: ngx_http_session_module requires \Q$c->{feature}\E/,
        'the error names the module and the library';
    like $out, qr/apt-get install \Q$c->{package}\E\b/,
        "the error names $c->{package}";
    unlike $out, qr/creating objs\/Makefile/, 'no Makefile is written';
});

subtest 'every library present: the checks pass' => sub {
    my ($rc, $out) = configure();
    is $rc, 0, 'configure passes' or diag $out;
    like $out, qr/checking for \Q$_\E \.\.\. found/, "$_ found"
        for 'jansson', 'libjwt', 'OpenSSL libcrypto';
};

done_testing;
