# SPEC 9 with the shared body cache (session_result_cache shared:NAME:SIZE)
# and two workers: each worker's fresh index holds the key of the body in
# the zone, not the body.  Unchanged sessions are answered by both workers
# without a store read (Redis INFO commandstats); a change through the
# writer is seen at once, by both; another tenant never gets the body; a
# body the zone evicted is read again; the push connection lost, the store
# is read again.
#
# Which worker answers is the kernel's choice: warm() polls until both
# workers have answered from their index (the debug log's pid tells them
# apart), so that the counts after it do not depend on that choice.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Crypt::JWT qw(encode_jwt);
use MIME::Base64 qw(encode_base64url);
use JSON::PP;
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my $SECRET = 'fresh-shared-secret-fresh-shared-secret-01';
my $JWKS = write_file('fs.jwks', '{"keys":[{"kty":"oct","alg":"HS256","k":"'
                                . encode_base64url($SECRET) . '"}]}');

sub bearer {
    'Bearer ' . encode_jwt(payload => { sub => $_[0], exp => time + 600 },
                           alg => 'HS256', key => $SECRET);
}

my $redis = start_redis();
my $P = '/api/session/result';

# the smallest zone: a few large bodies evict the others
my $ngx = start_nginx(<<'EOF', redis => $redis, workers => 2,
        location /api/session/result/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /owned/ {
            session_jwt "fs";
            session_jwt_key_file %%JWKS%%;
            session_result_owner_claim sub;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location = /metrics {
            session_result_metrics;
        }
EOF
    http => 'session_result_cache shared:bodies:64k;', log_level => 'debug',
    vars => { JWKS => $JWKS });

sub get { http_get($ngx->port, @_) }

# through the project's writer, as a backend would
my $WRITER = repo_root() . '/writer/session-store';
my $DOC = do {
    open my $fh, '<', repo_root() . '/t/data/seed-session.json' or die $!;
    decode_json(do { local $/; <$fh> });
};

# $name: the first name, unique to each version written
sub write_session {
    my ($id, $name, $owner) = @_;
    my $file = write_file("fs-$id.json", encode_json(
        { %$DOC, request_id => $id, fn => $name }));
    my $out = `$WRITER -p @{[ $redis->port ]} @{[ $owner ? "--owner $owner" : '' ]} $file 2>&1`;
    die "session-store: $out" if $?;
}

sub store {
    my ($id, @fields) = @_;
    redis_pipeline($redis->port, ['MULTI'], [DEL => "session:{$id}"],
                   [HSET => "session:{$id}", @fields], ['EXEC']);
}

# the store reads so far, and the push connections
sub reads { redis_calls($redis->port, 'hgetall') }
sub trackers { redis_trackers($redis->port) }

# the pids of the workers that answered from their fresh index since $from
sub fresh_pids {
    my ($from) = @_;
    my ($log, %pid) = ($ngx->error_log($from));
    $pid{$1}++ while $log
        =~ /\[debug\] (\d+)#\d+: \*\d+ session result: body cache hit, no store read/g;
    return keys %pid;
}

# polls until both workers have answered from their index
sub warm {
    my ($path, @h) = @_;
    my $mark = $ngx->mark;
    for (1 .. 300) {
        my $r = get($path, @h);
        die "warm $path: $r->{status}" unless $r->{status} == 200;
        return 1 if fresh_pids($mark) >= 2;
    }
    return 0;
}

sub metric {
    my ($name) = @_;
    my $body = get('/metrics')->{body};
    return $body =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

ok wait_for(sub { trackers() == 2 }, 5), 'a push connection per worker';

subtest 'an unchanged session: no store read in either worker' => sub {
    write_session('u1', 'Unchanged');
    ok warm("$P/u1"), 'both workers answer from their index';
    my ($reads, $hits) = (reads(), metric('session_result_fresh_hits_total'));
    my @r = map { get("$P/u1") } 1 .. 30;
    is scalar(grep { $_->{status} == 200 && $_->{body} =~ /"Unchanged"/ } @r),
       30, '30 answers';
    is reads(), $reads, 'INFO commandstats: no HGETALL for them';
    is metric('session_result_fresh_hits_total'), $hits + 30,
       'session_result_fresh_hits_total: 30 more';
    is get("$P/u1", 'If-None-Match' => $r[0]{headers}{etag})->{status}, 304,
       'If-None-Match: 304';
    is reads(), $reads, 'without a read either';
};

subtest 'a change through the writer: a new body and ETag from both' => sub {
    write_session('c1', 'Before');
    ok warm("$P/c1"), 'both workers answer from their index';
    my $old = get("$P/c1")->{headers}{etag};
    my $reads = reads();
    write_session('c1', 'After');
    my @r = map { get("$P/c1") } 1 .. 30;
    is scalar(grep { $_->{body} =~ /"fn":"After"/ } @r), 30,
       'every answer has the new body';
    is scalar(grep { $_->{headers}{etag} ne $old } @r), 30,
       'and a new ETag';
    cmp_ok reads() - $reads, '<=', 2, 'read again once per worker at most';
    cmp_ok reads() - $reads, '>=', 1, 'read again';
};

subtest "another tenant's token never gets the body from the index" => sub {
    store('o1', status => 'PENDING', owner => 'client-a');
    my $a = bearer('client-a');
    ok warm('/owned/o1', Authorization => $a),
       "the owner's body is in both workers' index";
    my $reads = reads();
    my $b = bearer('client-b');
    my @r = map { get('/owned/o1', Authorization => $b) } 1 .. 20;
    is scalar(grep { $_->{status} == 404 && $_->{body} !~ /PENDING/ } @r), 20,
       'another tenant: 404 each time';
    is reads(), $reads + 20, 'each one decided by the store';
    store('o2', status => 'PENDING', owner => '');
    get("$P/o2") for 1 .. 10;
    is scalar(grep { get('/owned/o2', Authorization => $a)->{status} == 404 }
              1 .. 10), 10, 'an empty stored owner never matches';
    $reads = reads();
    is get('/owned/o1', Authorization => $a)->{status}, 200, 'the owner';
    is reads(), $reads, 'still from the index';
};

subtest 'a body the zone evicted is read again' => sub {
    store('e1', fn => 'Evicted', status => 'PENDING');
    ok warm("$P/e1"), 'both workers answer from their index';
    my $etag = get("$P/e1")->{headers}{etag};

    # ten bodies of 6 KB, two pages each, in a zone of 64k
    store("big$_", fn => 'x' x 6000, status => 'PENDING') for 1 .. 10;
    is scalar(grep { get("$P/big$_")->{status} == 200 } 1 .. 10), 10,
       'ten large bodies served';

    my ($mark, $reads) = ($ngx->mark, reads());
    my @r = map { get("$P/e1") } 1 .. 10;
    is scalar(grep { $_->{status} == 200 && $_->{body} =~ /"Evicted"/
                     && $_->{headers}{etag} eq $etag } @r), 10,
       'the same body and ETag each time';
    like $ngx->error_log($mark),
         qr/fresh index hit, its body evicted from the shared cache/,
         'the index had it, the zone did not';
    is reads() - $reads, 1, 'read once, then in the zone again for both';
};

subtest 'the push connections lost: read again' => sub {
    store('l1', status => 'PENDING');
    ok warm("$P/l1"), 'both workers answer from their index';
    my $reads = reads();
    my $misses = metric('session_result_fresh_misses_total');
    my %old = map { $_ => 1 } trackers();
    redis_cmd($redis->port, CLIENT => 'KILL', ID => $_) for keys %old;
    ok wait_for(sub { (grep { !$old{$_} } trackers()) == 2 }, 5),
       'both connected again';
    get("$P/l1");
    is reads(), $reads + 1, 'read from the store';
    cmp_ok metric('session_result_fresh_misses_total'), '>', $misses,
       'session_result_fresh_misses_total moved';
    $reads = reads();
    ok warm("$P/l1"), 'both workers keep it again';
    cmp_ok reads() - $reads, '<=', 1, 'after one more read at most';
};

error_log_clean($ngx);

done_testing;
