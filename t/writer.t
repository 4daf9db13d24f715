#!/usr/bin/perl
# The writer (SPEC section 4): writer/session_store.lua and writer/session-store
# against a real redis-server.  Needs no nginx.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Basename qw(dirname);
use JSON::PP ();
use SessionTest;

my $ROOT = repo_root();
my $CLI = "$ROOT/writer/session-store";
my $SCRIPT = do { local (@ARGV, $/) = "$ROOT/writer/session_store.lua"; <> };
my $FIXTURES = dirname(fixture('seed-session.json'));
my $ID = '19fe3b9e-384e-41d1-bded-8de9ef3abacb';
my %JSONTEXT = map { $_ => 1 } qw(additionalData dcams_plus storage documents);

my $redis = start_redis(unix => 1);
my $P = $redis->port;

# runs the CLI; returns (exit code, stdout+stderr)
sub cli {
    my ($args, $stdin) = @_;
    my $in = write_file('stdin.json', $stdin // '');
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', $in;
        open STDERR, '>&', \*STDOUT;
        exec $^X, $CLI, @$args or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

# EVALs the script directly
sub store {
    my ($doc, %o) = @_;
    my $key = $o{key} // "session:{" . ($o{id} // 'doc-1') . "}";
    return redis_cmd($P, EVAL => $SCRIPT, 2, $key, $o{stops_key} // "$key:stops",
                     $doc, $o{owner} // '', $o{ttl} // '');
}

sub hash_of { my @kv = @{ redis_cmd($_[0] // $P, HGETALL => $_[1]) }; return {@kv} }

my %ESC = (n => "\n", r => "\r", t => "\t", b => "\b", a => "\a");
sub unescape { my $e = shift; $e =~ /^x(..)$/ ? chr hex $1 : $ESC{$e} // $e }

# redis-cli argument splitting, enough for the .redis fixture
sub split_args {
    my ($line) = @_;
    my @args;
    while ($line =~ /\G\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+))/gc) {
        if (defined $1) {
            my $s = $1;
            $s =~ s{\\(x[0-9a-fA-F]{2}|.)}{unescape($1)}ge;
            push @args, $s;
        } else {
            push @args, $2 // $3;
        }
    }
    return @args;
}

{

    # --- the published example, stored both ways ---------------------------
    my ($rc, $out) = cli(['-p', $P, '--owner', 'client-a', "$FIXTURES/seed-session.json"]);
    is $rc, 0, 'session-store exits 0' or diag $out;
    is $out, "stored $ID (3 stops)\n", 'reports the id and the stops';

    my $ref = start_redis();
    open my $fh, '<', "$FIXTURES/seed-session.redis" or die $!;
    my @cmds = map { [ split_args($_) ] } grep { /\S/ } <$fh>;
    my @replies = redis_pipeline($ref->port, @cmds);
    is ref $replies[-1], 'ARRAY', 'fixture .redis executed (EXEC)';

    my $key = "session:{$ID}";
    my @got = @{ redis_cmd($P, HGETALL => $key) };
    my @want = @{ redis_cmd($ref->port, HGETALL => $key) };
    my %got = @got;
    my %want = @want;
    is_deeply [ sort keys %got ], [ sort keys %want ], 'same hash fields';
    is scalar(@got), scalar(@want), 'no duplicate or extra fields';
    for my $f (sort keys %want) {
        if ($JSONTEXT{$f}) {
            is_json_equal $got{$f}, $want{$f}, "$f equal as JSON";
            is $got{$f}, $want{$f}, "$f byte-identical (compact)";
        } else {
            is $got{$f}, $want{$f}, "field $f";
        }
    }
    is_deeply redis_cmd($P, LRANGE => "$key:stops", 0, -1),
              redis_cmd($ref->port, LRANGE => "$key:stops", 0, -1),
              'stops byte-identical';
    is redis_cmd($P, TTL => $key), -1, 'no ttl by default';
    is redis_cmd($P, TTL => "$key:stops"), -1, 'no ttl on the stops either';
    is $got{owner}, 'client-a', 'owner set';
    $ref->stop;

    # from stdin, with a ttl, another prefix, over the unix socket
    ($rc, $out) = cli(['-s', $redis->socket, '--prefix', 'other:', '--ttl', 100, '-'],
                      do { local (@ARGV, $/) = "$FIXTURES/seed-session.json"; <> });
    is $rc, 0, 'stdin, unix socket' or diag $out;
    my $ttl = redis_cmd($P, TTL => "other:{$ID}");
    ok $ttl > 0 && $ttl <= 100, "ttl set on the hash ($ttl)";
    $ttl = redis_cmd($P, TTL => "other:{$ID}:stops");
    ok $ttl > 0 && $ttl <= 100, "ttl set on the stops ($ttl)";
    ok !exists hash_of($P, "other:{$ID}")->{owner}, 'no --owner: no owner field';
}

# --- re-store replaces ------------------------------------------------------

my $first = '{"request_id":"doc-1","fn":"A","city":"X","journey":{"stops":[{"type":"1"},{"type":"2"},{"type":"3"}]}}';
is store($first, owner => 'o1', ttl => 50), 3, 'first version: 3 stops';
redis_cmd($P, HSET => 'session:{doc-1}', junk => 'left over');
is store('{"request_id":"doc-1","fn":"B","city":null,"journey":{"stops":[{"type":"only"}]}}'),
   1, 'second version: 1 stop';
is_deeply hash_of($P, 'session:{doc-1}'), { request_id => 'doc-1', fn => 'B' },
    'hash replaced: stale fields, null city and old owner gone';
is_deeply redis_cmd($P, LRANGE => 'session:{doc-1}:stops', 0, -1), ['{"type":"only"}'],
    'stops replaced';
is redis_cmd($P, TTL => 'session:{doc-1}'), -1, 'old ttl gone';
is store('{"request_id":"doc-1"}'), 0, 'no journey: 0 stops';
is redis_cmd($P, EXISTS => 'session:{doc-1}:stops'), 0, 'empty stops list absent';

# --- accepted documents, stored as expected ----------------------------------

my $deep = ('[' x 63) . (']' x 63);
run_cases([
    { name => '[] and {} kept apart',
      doc => '{"request_id":"doc-1","additionalData":{ },"storage":[ ],"dcams_plus":{"a":[],"b":{},"c":[{}]}}',
      want => { additionalData => '{}', storage => '[]', dcams_plus => '{"a":[],"b":{},"c":[{}]}' } },
    { name => 'null JSON-text fields stored as null, absent ones left out',
      doc => '{"request_id":"doc-1","additionalData":null,"documents":null}',
      want => { additionalData => 'null', documents => 'null' }, absent => ['storage', 'dcams_plus'] },
    { name => 'whitespace dropped only outside strings',
      doc => qq({ "request_id" : "doc-1" ,\n\t"dcams_plus" : { "detail" : "ALL  CHECKS\\tPASSED" , "n" : [ 1 , 2 ] } }\r\n),
      want => { dcams_plus => '{"detail":"ALL  CHECKS\\tPASSED","n":[1,2]}' } },
    { name => 'escapes kept in JSON text, decoded in flat fields',
      doc => q({"request_id":"doc-1","fn":"Jos\u00e9 \"J\" \ud83d\ude00\/","storage":{"n":"Jos\u00e9\/"}}),
      want => { fn => "Jos\xc3\xa9 \"J\" \xf0\x9f\x98\x80/", storage => q({"n":"Jos\u00e9\/"}) } },
    { name => 'raw UTF-8 accepted',
      doc => qq({"request_id":"doc-1","ln":"M\xc3\xbcller \xe2\x82\xac \xf0\x9f\x98\x80"}),
      want => { ln => "M\xc3\xbcller \xe2\x82\xac \xf0\x9f\x98\x80" } },
    { name => 'numbers kept as written',
      doc => '{"request_id":"doc-1","dcams_plus":[1.50,1e400,-0,12345678901234567890123,2E-3,0.0]}',
      want => { dcams_plus => '[1.50,1e400,-0,12345678901234567890123,2E-3,0.0]' } },
    { name => 'unknown members, owner in the document and journey extras ignored',
      doc => '{"request_id":"doc-1","ssn":"123","owner":"evil","journey":{"duration":"99h","x":1,"stops":[]},"stops":[1]}',
      want => { request_id => 'doc-1' }, absent => ['ssn', 'owner', 'journey', 'stops', 'duration'], stops => [] },
    { name => 'null flat fields left out',
      doc => '{"request_id":"doc-1","fn":null,"ln":""}',
      want => { ln => '' }, absent => ['fn'] },
    { name => 'stops: nulls and extra keys of any type accepted, stored compact',
      doc => '{"request_id":"doc-1","journey":{"stops":[ {"timestamp":null,"type":"T","extra":{"a":[ ]},"n":5} , {} ]}}',
      stops => ['{"timestamp":null,"type":"T","extra":{"a":[]},"n":5}', '{}'] },
    { name => 'nesting of 64 levels accepted',
      doc => qq({"request_id":"doc-1","documents":$deep}), want => { documents => $deep } },
    { name => 'longest request_id',
      id => 'a' x 128, doc => '{"request_id":"' . ('a' x 128) . '"}' },
    { name => 'empty key prefix',
      key => '{doc-1}', doc => '{"request_id":"doc-1"}' },
    { name => '2500 stops (pushed in batches)',
      doc => '{"request_id":"doc-1","journey":{"stops":[' . join(',', ('{"type":"x"}') x 2500) . ']}}',
      nstops => 2500 },
], sub {
    my $c = shift;
    my $key = $c->{key} // '{' . ($c->{id} // 'doc-1') . '}';
    $key = "session:$key" unless $c->{key};
    my $n = store($c->{doc}, %$c);
    ok !is_redis_error($n), 'stored' or diag $n;
    my $h = hash_of($P, $key);
    for my $f (sort keys %{ $c->{want} || {} }) {
        is $h->{$f}, $c->{want}{$f}, "field $f";
    }
    ok !exists $h->{$_}, "no field $_" for @{ $c->{absent} || [] };
    is_deeply redis_cmd($P, LRANGE => "$key:stops", 0, -1), $c->{stops}, 'stops'
        if $c->{stops};
    is $n, $c->{nstops}, 'stop count' if $c->{nstops};
    is redis_cmd($P, LLEN => "$key:stops"), $c->{nstops}, 'list length' if $c->{nstops};
});

# --- malformed documents are refused, nothing is written ----------------------

my $too_deep = ('[' x 65) . (']' x 65);
my $ok_stop = '{"timestamp":"2024-08-19 20:56:25","type":"x"}';
run_cases([
    { name => 'empty', doc => '' },
    { name => 'not JSON', doc => 'nope' },
    { name => 'truncated', doc => '{"request_id":"bad-1"' },
    { name => 'trailing data', doc => '{"request_id":"bad-1"} x' },
    { name => 'two documents', doc => '{"request_id":"bad-1"}{}' },
    { name => 'top-level array', doc => '[{"request_id":"bad-1"}]' },
    { name => 'top-level string', doc => '"x"' },
    { name => 'flat field a number', doc => '{"request_id":"bad-1","fn":3}', err => qr/fn must be a string/ },
    { name => 'flat field an object', doc => '{"request_id":"bad-1","email":{}}' },
    { name => 'additionalData a string', doc => '{"request_id":"bad-1","additionalData":"x"}', err => qr/additionalData/ },
    { name => 'additionalData a number', doc => '{"request_id":"bad-1","additionalData":1}' },
    { name => 'journey an array', doc => '{"request_id":"bad-1","journey":[]}' },
    { name => 'stops an object', doc => '{"request_id":"bad-1","journey":{"stops":{}}}' },
    { name => 'stop a string', doc => qq({"request_id":"bad-1","journey":{"stops":[$ok_stop,"x"]}}), err => qr/stops\[1\]/ },
    { name => 'stop status a number', doc => '{"request_id":"bad-1","journey":{"stops":[{"status":1}]}}', err => qr/status must be a string/ },
    { name => 'stop timestamp a boolean', doc => '{"request_id":"bad-1","journey":{"stops":[{"timestamp":true}]}}' },
    { name => 'stop detail an object', doc => '{"request_id":"bad-1","journey":{"stops":[{"detail":{}}]}}' },
    { name => 'duplicate key in a stop', doc => '{"request_id":"bad-1","journey":{"stops":[{"type":"a","type":"b"}]}}' },
    { name => 'invalid UTF-8', doc => qq({"request_id":"bad-1","fn":"\xff"}), err => qr/UTF-8/ },
    { name => 'overlong UTF-8', doc => qq({"request_id":"bad-1","fn":"\xc0\xaf"}) },
    { name => 'truncated UTF-8', doc => qq({"request_id":"bad-1","fn":"\xe2\x82"}) },
    { name => 'UTF-8 surrogate', doc => qq({"request_id":"bad-1","fn":"\xed\xa0\x80"}) },
    { name => 'above U+10FFFF', doc => qq({"request_id":"bad-1","fn":"\xf4\x90\x80\x80"}) },
    { name => 'UTF-8 outside strings', doc => qq({"request_id":"bad-1"}\xc2\xa0) },
    { name => 'lone high surrogate escape', doc => q({"request_id":"bad-1","fn":"\ud800x"}), err => qr/surrogate/ },
    { name => 'lone low surrogate escape', doc => q({"request_id":"bad-1","storage":"\udc00"}) },
    { name => 'two high surrogates', doc => q({"request_id":"bad-1","fn":"\ud800\ud800"}) },
    { name => '\u0000', doc => q({"request_id":"bad-1","fn":"a\u0000b"}) },
    { name => 'bad escape', doc => q({"request_id":"bad-1","fn":"\x41"}) },
    { name => 'short \u escape', doc => q({"request_id":"bad-1","fn":"\u12"}) },
    { name => 'raw control character', doc => qq({"request_id":"bad-1","fn":"a\tb"}) },
    { name => 'leading zero', doc => '{"request_id":"bad-1","dcams_plus":{"n":01}}' },
    { name => 'bare minus', doc => '{"request_id":"bad-1","dcams_plus":-}' },
    { name => 'dot without digits', doc => '{"request_id":"bad-1","dcams_plus":1.}' },
    { name => 'exponent without digits', doc => '{"request_id":"bad-1","dcams_plus":1e}' },
    { name => 'hex number', doc => '{"request_id":"bad-1","dcams_plus":0x10}' },
    { name => 'NaN', doc => '{"request_id":"bad-1","dcams_plus":NaN}' },
    { name => 'bad literal', doc => '{"request_id":"bad-1","dcams_plus":tru}' },
    { name => 'single quotes', doc => q({'request_id':'bad-1'}) },
    { name => 'trailing comma', doc => '{"request_id":"bad-1","storage":[1,]}' },
    { name => 'trailing comma in object', doc => '{"request_id":"bad-1",}' },
    { name => 'missing colon', doc => '{"request_id" "bad-1"}' },
    { name => 'duplicate member', doc => '{"request_id":"bad-1","fn":"a","fn":"b"}', err => qr/duplicate/ },
    { name => 'nesting too deep', doc => qq({"request_id":"bad-1","documents":$too_deep}), err => qr/nesting/ },
    { name => 'missing request_id', doc => '{"fn":"x"}', err => qr/request_id is required/ },
    { name => 'null request_id', doc => '{"request_id":null}' },
    { name => 'numeric request_id', doc => '{"request_id":1}' },
    { name => 'request_id with a slash', id => 'a/b', doc => '{"request_id":"a/b"}', err => qr/syntax/ },
    { name => 'empty request_id', id => '', doc => '{"request_id":""}' },
    { name => 'request_id starting with -', id => '-a', doc => '{"request_id":"-a"}' },
    { name => 'request_id too long', id => 'a' x 129, doc => '{"request_id":"' . ('a' x 129) . '"}' },
    { name => 'request_id not the key', doc => '{"request_id":"other"}', err => qr/KEYS\[1\]/ },
    { name => 'stops key wrong', doc => '{"request_id":"bad-1"}', stops_key => 'session:{bad-1}:x', err => qr/KEYS\[2\]/ },
    { name => 'negative ttl', doc => '{"request_id":"bad-1"}', ttl => '-1', err => qr/ttl/ },
    { name => 'ttl not a number', doc => '{"request_id":"bad-1"}', ttl => '1s' },
], sub {
    my $c = shift;
    my $key = 'session:{bad-1}';
    redis_cmd($P, DEL => $key, "$key:stops");
    redis_cmd($P, HSET => $key, sentinel => 'kept');
    redis_cmd($P, RPUSH => "$key:stops", 'old');
    my $r = store($c->{doc}, id => 'bad-1', %$c, key => $key);
    ok is_redis_error($r, qr/^ERR session_store: /), 'refused' or diag explain $r;
    like "$r", $c->{err}, 'reason' if $c->{err};
    is_deeply hash_of($P, $key), { sentinel => 'kept' }, 'hash untouched';
    is redis_cmd($P, LLEN => "$key:stops"), 1, 'stops untouched';
});

# --- the CLI refuses bad input itself -----------------------------------------

my @bad_cli = (
    [ 'missing request_id', '{"fn":"x"}', qr/no request_id/ ],
    [ 'bad request_id', '{"request_id":"a b"}', qr/invalid syntax/ ],
    [ 'not JSON', '{', qr/not valid JSON/ ],
    [ 'not an object', '[]', qr/not a JSON object/ ],
    [ 'refused by the script', '{"request_id":"cli-1","fn":1}', qr/fn must be a string/ ],
);
for (@bad_cli) {
    my ($name, $doc, $re) = @$_;
    my ($rc, $out) = cli(['-p', $P, '-'], $doc);
    is $rc, 1, "CLI: $name exits 1";
    like $out, $re, "CLI: $name message";
}
is redis_cmd($P, EXISTS => 'session:{cli-1}'), 0, 'CLI: nothing stored';
my ($rc, $out) = cli(['-p', free_port(), '-'], '{"request_id":"x"}');
is $rc, 1, 'CLI: connection refused exits 1';
like $out, qr/cannot connect/, 'CLI: says so';
($rc, $out) = cli(['--bogus', '-'], '{}');
is $rc, 255, 'CLI: bad option' or diag $out;
like $out, qr/usage/, 'CLI: usage';

# password and database
my $locked = start_redis(args => ['--requirepass', 'sesame']);
($rc, $out) = cli(['-p', $locked->port, '-'], '{"request_id":"pw-1"}');
isnt $rc, 0, 'CLI: no password refused';
like $out, qr/NOAUTH/, 'CLI: NOAUTH reported';
($rc, $out) = cli(['-p', $locked->port, '-a', 'sesame', '-n', 3, '--owner', 'o', '-'],
                  '{"request_id":"pw-1"}');
is $rc, 0, 'CLI: with -a and -n' or diag $out;
is_deeply [ redis_pipeline($locked->port, [AUTH => 'sesame'], [SELECT => 3],
                           [HGETALL => 'session:{pw-1}']) ]->[2],
          [ request_id => 'pw-1', owner => 'o' ], 'CLI: stored in db 3';
$locked->stop;

$redis->stop;
done_testing;
