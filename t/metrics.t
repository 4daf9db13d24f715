# session_result_metrics: the Prometheus text, exact counts over two
# workers, kept across a reload, and the shipped Prometheus examples.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Crypt::JWT qw(encode_jwt);
use MIME::Base64 qw(encode_base64url);
use IO::Socket::INET;
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my $SECRET = 'metrics-test-secret-metrics-test-secret-01';
my $JWKS = write_file('m.jwks', '{"keys":[{"kty":"oct","alg":"HS256","k":"'
                               . encode_base64url($SECRET) . '"}]}');

sub bearer {
    my (%claims) = @_;
    'Bearer ' . encode_jwt(payload => { exp => time + 600, %claims },
                           alg => 'HS256', key => $SECRET);
}

# a store that takes the connection and never answers: 504
my $silent = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                   LocalPort => 0, ReuseAddr => 1)
    or die "listen: $!";
my $dead = free_port();

my $redis = start_redis();
redis_cmd($redis->port, HSET => 'session:{s1}', fn => 'First', status => 'PASS');
redis_cmd($redis->port, HSET => 'session:{s2}', fn => 'Second', owner => 't1');
redis_cmd($redis->port, HSET => 'session:{big}', fn => 'x' x 4096);

my $CONF = <<'EOF';
        # every request reads the store: exact store counts (no push, SPEC 9)
        session_result_wait_max 0;

        location /api/session/result/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /owned/ {
            session_jwt "m";
            session_jwt_key_file %%JWKS%%;
            session_result_owner_claim sub;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /down/ {
            session_result_pass 127.0.0.1:%%DEAD%%;
        }
        location /slow/ {
            session_result_read_timeout 300ms;
            session_result_pass 127.0.0.1:%%SILENT%%;
        }
        location /small/ {
            session_result_buffer_size 1k;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location = /metrics {
            allow 127.0.0.1;
            deny all;
            session_result_metrics;
        }
        location = /closed-metrics {
            deny all;
            session_result_metrics;
        }
EOF

# both caches shared by the two workers: their counts are exact
my $ngx = start_nginx($CONF, redis => $redis, workers => 2,
                      http => 'session_result_cache shared:bodies:1m; '
                            . 'session_jwt_cache shared:tokens:1m;',
                      vars => { JWKS => $JWKS, DEAD => $dead,
                                SILENT => $silent->sockport });
my $port = $ngx->port;

# "name{labels}" => value; dies on a line that is not comment or sample
sub scrape {
    my $r = http_get($port, '/metrics');
    die "scrape: $r->{status}" unless $r->{status} == 200;
    my %m;
    for my $l (split /\n/, $r->{body}) {
        next if $l =~ /^# (HELP|TYPE) /;
        $l =~ /^([a-z_]+(?:\{[^}]*\})?) (-?[0-9.]+)$/ or die "bad line: $l";
        $m{$1} = $2;
    }
    return \%m;
}

sub delta {
    my ($before, $after) = @_;
    my %d;
    for my $k (keys %$after) {
        my $v = $after->{$k} - ($before->{$k} // 0);
        $d{$k} = $v if $v;
    }
    return \%d;
}

sub promtool_ok {
    my ($text, $what, @args) = @_;
    my $file = write_file("promtool.$$." . int(rand(1e9)), $text);
    my $out = `promtool check $what @args < $file 2>&1`;
    return ($? == 0, $out);
}

subtest 'the text' => sub {
    my $r = http_get($port, '/metrics');
    is $r->{status}, 200, 'GET: 200';
    is $r->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
       'Content-Type of the text format';
    my @fam = $r->{body} =~ /^# TYPE (\S+) /mg;
    is_deeply [sort @fam], [sort qw(
        session_result_requests_total session_jwt_refusals_total
        session_result_store_requests_total session_result_store_duration_seconds
        session_result_cache_hits_total session_result_cache_misses_total
        session_result_fresh_hits_total session_result_fresh_misses_total
        session_jwt_cache_hits_total session_jwt_cache_misses_total
        session_jwt_key_fetches_total session_result_waiting)], 'every family of SPEC 8';
    is scalar(() = $r->{body} =~ /^# HELP /mg), scalar @fam, 'each with HELP';
    my $m = scrape();
    is_deeply [sort grep { /^session_result_requests_total/ } keys %$m],
        [sort map { "session_result_requests_total{code=\"$_\"}" }
              qw(200 304 400 401 403 404 405 500 502 503 504 other)], 'every code';
    is_deeply [sort grep { /^session_jwt_refusals_total/ } keys %$m],
        [sort map { "session_jwt_refusals_total{reason=\"$_\"}" }
              qw(missing malformed signature expired not_yet_valid issuer audience
                 unknown_kid algorithm type scope owner_claim)], 'every reason';
    is_deeply [sort grep { /^session_result_store_requests_total/ } keys %$m],
        [sort map { "session_result_store_requests_total{outcome=\"$_\"}" }
              qw(found not_found error unavailable timeout)], 'every outcome';
    is_deeply [grep { $_ != 0 } values %$m], [], 'all zero when nginx starts';

    my ($ok, $out) = promtool_ok($r->{body}, 'metrics');
    ok $ok, 'promtool check metrics accepts it' or diag $out;

    my $h = http_request($port, 'HEAD', '/metrics', {});
    is $h->{status}, 200, 'HEAD: 200';
    is $h->{body}, '', 'HEAD: no body';
};

subtest 'other methods, and access' => sub {
    my $r = http_request($port, 'POST', '/metrics', {}, body => 'x');
    is $r->{status}, 405, 'POST: 405';
    is $r->{headers}{allow}, 'GET, HEAD', 'Allow';
    like $r->{body}, qr/"error":"method_not_allowed"/, 'JSON, as the module answers';
    is http_get($port, '/closed-metrics')->{status}, 403, 'deny all: 403';
};

my %EXPECT = (
    'session_result_requests_total{code="200"}' => 6,
    'session_result_requests_total{code="304"}' => 1,
    'session_result_requests_total{code="400"}' => 1,
    'session_result_requests_total{code="401"}' => 4,
    'session_result_requests_total{code="403"}' => 1,
    'session_result_requests_total{code="404"}' => 1,
    'session_result_requests_total{code="405"}' => 1,
    'session_result_requests_total{code="502"}' => 1,
    'session_result_requests_total{code="503"}' => 1,
    'session_result_requests_total{code="504"}' => 1,
    'session_jwt_refusals_total{reason="missing"}' => 1,
    'session_jwt_refusals_total{reason="malformed"}' => 1,
    'session_jwt_refusals_total{reason="expired"}' => 1,
    'session_jwt_refusals_total{reason="signature"}' => 1,
    'session_jwt_refusals_total{reason="owner_claim"}' => 1,
    'session_result_store_requests_total{outcome="found"}' => 7,
    'session_result_store_requests_total{outcome="not_found"}' => 1,
    'session_result_store_requests_total{outcome="error"}' => 1,
    'session_result_store_requests_total{outcome="unavailable"}' => 1,
    'session_result_store_requests_total{outcome="timeout"}' => 1,
    'session_result_store_duration_seconds_count' => 11,
    'session_result_store_duration_seconds_bucket{le="+Inf"}' => 11,
    'session_result_store_duration_seconds_bucket{le="0.5"}' => 11,
    'session_result_store_duration_seconds_bucket{le="1"}' => 11,
);

# The caches are shared: a body or token seen by one worker is a hit in
# the other.  Exact: the lookups, and one miss per distinct item.
my %LOOKUPS = (
    # s1 looked up five times, s2 twice; two bodies
    session_result_cache => [7, 2],
    # every presented token is looked up (five), the good one twice; five
    # distinct tokens
    session_jwt_cache => [6, 5],
);

sub known_requests {
    my $get = sub { my ($p, @h) = @_; http_get($port, $p, @h)->{status} };
    my @got;
    push @got, $get->('/api/session/result/s1');
    push @got, $get->('/api/session/result/s1');
    push @got, http_request($port, 'HEAD', '/api/session/result/s1', {})->{status};
    my $etag = http_get($port, '/api/session/result/s1')->{headers}{etag};
    push @got, $get->('/api/session/result/s1', 'If-None-Match' => $etag);
    push @got, $get->('/api/session/result/nope');
    push @got, $get->('/api/session/result/-bad');
    push @got, http_request($port, 'POST', '/api/session/result/s1', {}, body => 'x')->{status};
    push @got, $get->('/owned/s2');
    push @got, $get->('/owned/s2', Authorization => 'Bearer abc');
    push @got, $get->('/owned/s2', Authorization => bearer(sub => 't1', exp => time - 60));
    push @got, $get->('/owned/s2', Authorization => 'Bearer ' . encode_jwt(
        payload => { sub => 't1', exp => time + 600 }, alg => 'HS256', key => 'x' x 40));
    push @got, $get->('/owned/s2', Authorization => bearer(tid => 't1'));
    my $good = bearer(sub => 't1');
    push @got, $get->('/owned/s2', Authorization => $good);
    push @got, $get->('/owned/s2', Authorization => $good);
    push @got, $get->('/down/x');
    push @got, $get->('/slow/x');
    push @got, $get->('/small/big');
    return "@got";
}

# the log phase may run a moment after the client has its response
sub settle {
    my ($before, $want) = @_;
    my $d;
    # every request counted (the last one, a 502, is logged after its
    # response too), and every store read timed
    wait_for(sub { $d = delta($before, scrape());
                   my $n = 0;
                   $n += $d->{$_} for grep { /^session_result_requests_total\{/ } keys %$d;
                   ($d->{'session_result_store_duration_seconds_count'} // 0) >= $want->{st}
                   && ($d->{'session_result_requests_total{code="504"}'} // 0) >= $want->{c}
                   && $n >= ($want->{requests} // 0) }, 5);
    return $d;
}

subtest 'exact deltas for known requests, over two workers' => sub {
    is scalar($ngx->workers), 2, 'two workers';
    my $before = scrape();
    is known_requests(),
       '200 200 200 304 404 400 405 401 401 401 401 403 200 200 503 504 502',
       'the statuses';
    my $d = settle($before, { st => 11, c => 1, requests => 17 });
    my %buckets = map { $_ => delete $d->{$_} }
                  grep { /_bucket\{le="0\.[0-2]|_bucket\{le="0\.0/ } keys %$d;
    my $sum = delete $d->{'session_result_store_duration_seconds_sum'} // 0;
    for my $cache (sort keys %LOOKUPS) {
        my ($lookups, $distinct) = @{ $LOOKUPS{$cache} };
        my $hits = delete $d->{"${cache}_hits_total"} // 0;
        my $misses = delete $d->{"${cache}_misses_total"} // 0;
        is $hits + $misses, $lookups, "$cache: every lookup counted once";
        is $misses, $distinct,
           "$cache: one miss per distinct item over two workers";
    }
    is_deeply $d, \%EXPECT, 'every series moved by exactly the expected amount'
        or diag explain $d;
    ok $sum >= 0.3 && $sum < 10, "duration sum ($sum) holds the 300ms timeout";
    ok +($buckets{'session_result_store_duration_seconds_bucket{le="0.25"}'} // 0) <= 10,
       'the timed-out read is above 0.25 s';
    ok +($buckets{'session_result_store_duration_seconds_bucket{le="0.1"}'} // 0) >= 1,
       'fast reads in the small buckets';

    my $r = http_get($port, '/metrics');
    my ($ok, $out) = promtool_ok($r->{body}, 'metrics');
    ok $ok, 'promtool check metrics accepts the counted text' or diag $out;
};

subtest 'kept across a reload' => sub {
    my $before = scrape();
    ok $ngx->reload, 'reloaded (HUP), new workers';
    is_deeply delta($before, scrape()), {}, 'same values after the reload';
    is http_get($port, '/api/session/result/s1')->{status}, 200, 'a request';
    my $d;
    wait_for(sub { $d = delta($before, scrape());
                   $d->{'session_result_requests_total{code="200"}'} }, 5);
    is $d->{'session_result_requests_total{code="200"}'}, 1, 'counted on top';
    is $d->{'session_result_store_requests_total{outcome="found"}'}, 1, 'store too';
};

subtest 'a restart starts from zero' => sub {
    $ngx->stop;
    error_log_clean($ngx, allow => [qr/upstream timed out/]);
    $ngx = start_nginx($CONF, redis => $redis, workers => 2,
                       vars => { JWKS => $JWKS, DEAD => $dead,
                                 SILENT => $silent->sockport });
    $port = $ngx->port;
    is_deeply [grep { $_ != 0 } values %{ scrape() }], [], 'all zero';
    $ngx->stop;
    error_log_clean($ngx);
};

subtest 'the shipped Prometheus examples' => sub {
    my $root = repo_root();
    my $out = `promtool check config $root/examples/prometheus/scrape.yml 2>&1`;
    is $?, 0, 'promtool check config: scrape.yml' or diag $out;
    $out = `promtool check rules $root/examples/prometheus/alerts.yml 2>&1`;
    is $?, 0, 'promtool check rules: alerts.yml' or diag $out;
    my $rules = do { local (@ARGV, $/) = "$root/examples/prometheus/alerts.yml"; <> };
    for my $series (qw(session_result_store_requests_total session_jwt_key_fetches_total
                       session_result_requests_total session_result_waiting)) {
        like $rules, qr/\b$series\b/, "an alert on $series";
    }
};

done_testing;
