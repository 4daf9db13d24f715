package SessionTest::HTTP2;

=head1 NAME

SessionTest::HTTP2 - HTTP/2 (prior knowledge, cleartext) requests for tests

=head1 SYNOPSIS

    use SessionTest;
    use SessionTest::HTTP2;

    plan skip_all => 'no HTTP/2 client' unless have_http2();
    my $ngx = start_nginx($conf, http2 => 1);          # listen ... http2
    my $r = http2_request($ngx->port, 'GET', '/x', [Authorization => "Bearer $t"]);
    is $r->{status}, 200;                              # same shape as http_request
    # a GET whose HEADERS frame has no END_STREAM, then DATA frames:
    $r = http2_request($ngx->port, 'GET', '/x', {}, body => '');     # one empty DATA
    $r = http2_request($ngx->port, 'GET', '/x', {}, body => 'abc');  # 3 bytes

=head1 FUNCTIONS

C<http2_request($port, $method, $path, \%headers_or_\@pairs, %opts)> returns
{ status, headers => {lowercase name => value, or [values]}, header_list,
body, raw, client, error }.  Without C<body> it runs Debian's curl with
C<--http2-prior-knowledge> (one HEADERS frame with END_STREAM).  With C<body>
(bytes, C<''> allowed) it runs nghttp (nghttp2-client) with C<-d>: a HEADERS
frame without END_STREAM, then DATA frames of the body, the last one with
END_STREAM (for C<''>: one DATA frame of length 0 with END_STREAM); no
content-length unless C<content_length =E<gt> 1>.  C<frames> in the result
lists the frames nghttp sent and received ("send HEADERS flags=0x24", ...).
Options: C<timeout> (seconds, default 10).

C<have_http2()>: curl speaks HTTP/2 and nghttp is installed.

=cut

use strict;
use warnings;
use Exporter 'import';
use POSIX ();
use SessionTest ();

our @EXPORT = qw(http2_request have_http2);

sub have_http2 {
    my $v = `curl --version 2>/dev/null`;
    return $v =~ /\bHTTP2\b/ && -x '/usr/bin/nghttp';
}

sub _run {
    my (@cmd) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

sub _add_header {
    my ($r, $n, $v) = @_;
    push @{ $r->{header_list} }, [$n, $v];
    my $h = \$r->{headers}{ lc $n };
    $$h = defined $$h ? [ ref $$h ? @$$h : $$h, $v ] : $v;
}

sub http2_request {
    my ($port, $method, $path, $headers, %o) = @_;
    my @h = SessionTest::_pairs($headers);
    SessionTest::_remember_secrets(@h);
    my $url = "http://127.0.0.1:$port$path";
    my $timeout = $o{timeout} // $SessionTest::TIMEOUT;
    my @hdr;
    for (my $i = 0; $i < @h; $i += 2) { push @hdr, '-H', "$h[$i]: $h[$i+1]" }
    return defined $o{body}
        ? _nghttp($url, $method, \@hdr, $timeout, %o)
        : _curl($url, $method, \@hdr, $timeout);
}

sub _curl {
    my ($url, $method, $hdr, $timeout) = @_;
    my ($rc, $out) = _run('curl', '-sS', '--http2-prior-knowledge', '-i',
        '--max-time', $timeout, '--path-as-is',
        $method eq 'HEAD' ? '-I' : ('-X', $method), @$hdr, $url);
    my %r = (client => 'curl', raw => $out, header_list => [], headers => {});
    return { %r, error => "curl exit $rc: $out" } if $rc;
    my $he = index $out, "\r\n\r\n";
    return { %r, error => "no header end: $out" } if $he < 0;
    my ($status, @lines) = split /\r\n/, substr($out, 0, $he);
    ($r{protocol}, $r{status}) = $status =~ m{^(HTTP/\S+) (\d{3})}
        or return { %r, error => "bad status line: $status" };
    for (@lines) {
        my ($n, $v) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        _add_header(\%r, $n, $v);
    }
    $r{body} = substr $out, $he + 4;
    return \%r;
}

my $SEQ = 0;

sub _nghttp {
    my ($url, $method, $hdr, $timeout, %o) = @_;
    my $data = SessionTest::write_file("h2-body-$$-" . ++$SEQ, $o{body});
    my ($rc, $out) = _run('nghttp', '-v', '-t', $timeout,
        $o{content_length} ? () : '--no-content-length',
        '-H', ":method: $method", @$hdr, '-d', $data, $url);
    my %r = (client => 'nghttp', raw => $out, header_list => [], headers => {},
             frames => []);
    # nghttp -v writes its log and the response body to stdout, one log
    # entry being a "[  0.000] ..." line and its indented continuations
    my $body = $out;
    my $entry = qr/\[\s*\d+\.\d{3}\] ([^\n]*)\n((?:[ ]{10,}[^\n]*\n)*)/;
    while ($out =~ /$entry/g) {
        my ($line, $more) = ($1, $2);
        if ($line =~ /^recv \(stream_id=\d+\) ([^:\s][^:]*|:[a-z]+): (.*)$/) {
            if ($1 eq ':status') { $r{status} = $2 } else { _add_header(\%r, $1, $2) }
        } elsif ($line =~ /^(send|recv) (\w+) frame <length=(\d+), flags=(0x[0-9a-f]+)/) {
            push @{ $r{frames} }, "$1 $2 length=$3 flags=$4"
                . ($more =~ /END_STREAM/ ? ' END_STREAM' : '');
        }
    }
    $body =~ s/$entry//g;
    $r{body} = $body;
    $r{error} = "nghttp exit $rc" if $rc && !defined $r{status};
    return \%r;
}

1;
