# The 200 body and the HTTP contract of SPEC 3 (without authentication):
# the published example, ETag/304, HEAD, 405, 400, 404, defaults, whitelist.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use Digest::SHA qw(sha1);
use MIME::Base64 qw(encode_base64url);
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my $ID = '19fe3b9e-384e-41d1-bded-8de9ef3abacb';
my $URL = '/api/session/result';
my @KEYS = qw(fn ln addr city state zip dob email phone reference status
              request_id additionalData dcams_plus storage journey documents);

my $redis = start_redis();
my $ngx = start_nginx(<<'EOF', redis => $redis, log_format => q{'$status id=$session_result_request_id result=$session_result_status'});
    location /api/session/result/ {
        session_result_pass 127.0.0.1:%%REDIS_PORT%%;
    }
    location /pretty/ {
        session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        session_result_pretty on;
    }
    location / {
        return 200 "other\n";
    }
EOF

sub store_fixture {
    my $out = `$FindBin::Bin/../writer/session-store -p ${\ $redis->port} --owner client-a ${\ fixture('seed-session.json')} 2>&1`;
    is $?, 0, 'writer stored the published example' or diag $out;
}

sub store_hash {
    my ($id, $fields, $stops) = @_;
    redis_cmd($redis->port, DEL => "session:{$id}", "session:{$id}:stops");
    redis_cmd($redis->port, HSET => "session:{$id}", @$fields) if @$fields;
    redis_cmd($redis->port, RPUSH => "session:{$id}:stops", @$stops)
        if $stops && @$stops;
}

sub get { http_get($ngx->port, @_) }

sub is_json_response {
    my ($r, $status, $name) = @_;
    is $r->{status}, $status, "$name: status $status";
    is $r->{headers}{'content-type'}, 'application/json', "$name: JSON";
    is $r->{headers}{'cache-control'}, 'no-store', "$name: no-store";
}

sub top_keys {
    my ($body) = @_;
    # the order of the top-level keys as they appear in the compact body
    my $doc = JSON::PP->new->decode($body);
    my @order = sort { index($body, "\"$a\":") <=> index($body, "\"$b\":") }
                keys %$doc;
    return \@order;
}

store_fixture();

subtest 'the published example' => sub {
    my $r = get("$URL/$ID");
    is_json_response($r, 200, 'example');
    is_json_equal($r->{body}, do { local (@ARGV, $/) = fixture('seed-session.json'); <> },
                  'equal as JSON to fixtures/seed-session.json');
    is_deeply top_keys($r->{body}), \@KEYS, 'top-level keys in SPEC order';
    unlike $r->{body}, qr/\n/, 'compact by default';
    unlike $r->{body}, qr/owner|client-a/, 'owner never emitted';
    is $r->{headers}{'content-length'}, length($r->{body}), 'Content-Length';
    like $r->{headers}{etag}, qr/^"[A-Za-z0-9_-]{27}"$/, 'strong ETag';
    # the same ETag whatever computes the SHA-1: clients keep their 304s
    is $r->{headers}{etag}, '"' . encode_base64url(sha1($r->{body})) . '"',
       'ETag is base64url(SHA-1(body))';
};

subtest 'pretty output is the published layout' => sub {
    my $r = get("/pretty/$ID");
    is $r->{status}, 200, 'status';
    my $want = do { local (@ARGV, $/) = fixture('seed-session.json'); <> };
    $want =~ s/\n\z//;
    is $r->{body}, $want, 'byte for byte the fixture (4-space indent)';
    is $r->{headers}{etag}, '"' . encode_base64url(sha1($r->{body})) . '"',
       'ETag is base64url(SHA-1(body))';
};

subtest 'ETag, If-None-Match and HEAD' => sub {
    my $r = get("$URL/$ID");
    my $etag = $r->{headers}{etag};
    is get("$URL/$ID")->{headers}{etag}, $etag, 'stable across requests';

    run_cases([
        { name => 'same etag', inm => $etag, status => 304 },
        { name => 'weak form', inm => "W/$etag", status => 304 },
        { name => 'in a list', inm => qq{"x", $etag}, status => 304 },
        { name => 'star', inm => '*', status => 304 },
        { name => 'other etag', inm => '"abc"', status => 200 },
        { name => 'malformed', inm => 'abc', status => 200 },
    ], sub {
        my ($c) = @_;
        my $r = get("$URL/$ID", 'If-None-Match' => $c->{inm});
        is $r->{status}, $c->{status}, "status $c->{status}";
        if ($c->{status} == 304) {
            is $r->{body}, '', 'no body';
            is $r->{headers}{etag}, $etag, 'ETag repeated';
            is $r->{headers}{'cache-control'}, 'no-store', 'no-store';
        }
    });

    my $h = http_request($ngx->port, 'HEAD', "$URL/$ID");
    is $h->{status}, 200, 'HEAD 200';
    is $h->{body}, '', 'HEAD: no body';
    is $h->{headers}{etag}, $etag, 'HEAD: same ETag';
    is $h->{headers}{'content-length'}, length($r->{body}),
       'HEAD: the GET Content-Length';
    is $h->{headers}{'content-type'}, 'application/json', 'HEAD: JSON';

    is get("$URL/$ID", 'If-Match' => '"nope"')->{status}, 200,
       'If-Match is not evaluated (no HTML 412)';
};

subtest 'methods other than GET and HEAD' => sub {
    run_cases([ map { { name => $_, method => $_ } }
                qw(POST PUT DELETE PATCH OPTIONS) ], sub {
        my ($c) = @_;
        my $r = http_request($ngx->port, $c->{method}, "$URL/$ID", {},
                             body => $c->{method} eq 'POST' ? '{}' : undef);
        is_json_response($r, 405, $c->{method});
        is $r->{headers}{allow}, 'GET, HEAD', 'Allow';
        is_json_equal($r->{body}, { error => 'method_not_allowed',
                                    error_description => 'use GET or HEAD' },
                      'body');
    });
    is http_request($ngx->port, 'POST', '/elsewhere', {}, body => 'x')->{status},
       200, 'other locations are not affected';
};

subtest 'request_id syntax' => sub {
    run_cases([
        { name => 'empty', path => "$URL/", status => 400 },
        { name => '129 chars', path => "$URL/" . ('a' x 129), status => 400 },
        { name => '128 chars', path => "$URL/" . ('a' x 128), status => 404 },
        { name => 'leading dot', path => "$URL/.abc", status => 400 },
        { name => 'leading dash', path => "$URL/-abc", status => 400 },
        { name => 'leading underscore', path => "$URL/_abc", status => 400 },
        { name => 'slash', path => "$URL/abc/def", status => 400 },
        { name => 'trailing slash', path => "$URL/abc/", status => 400 },
        { name => 'encoded slash', path => "$URL/abc%2Fdef", status => 400 },
        { name => 'space', path => "$URL/ab%20c", status => 400 },
        { name => 'colon', path => "$URL/ab:c", status => 400 },
        { name => 'brace', path => "$URL/ab%7Bc%7D", status => 400 },
        { name => 'non-ASCII', path => "$URL/ab%C3%A9", status => 400 },
        { name => 'all allowed chars', path => "$URL/aZ9._-", status => 404 },
        { name => 'URL-decoded first', path => "$URL/19fe3b9e-384e-41d1-bded-8de9ef3abac%62",
          status => 200 },
        { name => 'query string not part of it', path => "$URL/$ID?x=1/2", status => 200 },
    ], sub {
        my ($c) = @_;
        my $r = get($c->{path});
        is_json_response($r, $c->{status}, $c->{name});
        is_json_equal($r->{body}, { error => 'invalid_request',
                                    error_description => 'malformed request_id' },
                      'body') if $c->{status} == 400;
    });
};

subtest 'no such session' => sub {
    my $r = get("$URL/nosuch");
    is_json_response($r, 404, 'missing');
    is $r->{body}, '{"error":"not_found","error_description":"no such session"}',
       'body';
    store_hash('onlystops', [], ['{"timestamp":"2024-01-01 00:00:00"}']);
    is get("$URL/onlystops")->{body}, $r->{body},
       'stops without a hash: the same 404';
};

subtest 'defaults for absent fields' => sub {
    store_hash('sparse', [fn => 'Ann']);
    my $r = get("$URL/sparse");
    is $r->{status}, 200, 'status';
    is_json_equal($r->{body}, {
        fn => 'Ann', ln => '', addr => '', city => '', state => '', zip => '',
        dob => '', email => '', phone => '', reference => '', status => '',
        request_id => 'sparse', additionalData => [], dcams_plus => undef,
        storage => { success => undef },
        journey => { stops => [], duration => '00h 00m 00s' },
        documents => undef }, 'every default, request_id from the URL');
    is_deeply top_keys($r->{body}), \@KEYS, 'order';
};

subtest 'only the whitelisted fields' => sub {
    store_hash('extra', [fn => 'Ann', owner => 'tenant-x', ssn => '123-45-6789',
                         journey => '{"x":1}', duration => '99h', stops => '[1]',
                         request_id => 'stored-id', additionalData => 'null',
                         storage => 'null'],
               ['{"timestamp":"2024-01-01T00:00:00Z","type":"A","extra":{"k":1},"source":null}',
                '{"timestamp":"2024-01-01 01:02:03.5","detail":"done"}']);
    my $r = get("$URL/extra");
    is $r->{status}, 200, 'status';
    my $doc = JSON::PP->new->decode($r->{body});
    is_deeply [sort keys %$doc], [sort @KEYS], 'no other keys';
    unlike $r->{body}, qr/tenant-x|123-45-6789|99h|extra/, 'nothing else leaks';
    is $doc->{request_id}, 'stored-id', 'request_id from the hash';
    is_deeply $doc->{additionalData}, [], 'additionalData null -> []';
    is $doc->{storage}, undef, 'storage stored as null stays null';
    is_deeply $doc->{journey}, {
        stops => [
            { timestamp => '2024-01-01T00:00:00Z', type => 'A', source => '',
              status => '', action => '', detail => '' },
            { timestamp => '2024-01-01 01:02:03.5', type => '', source => '',
              status => '', action => '', detail => 'done' } ],
        duration => '01h 02m 03s' }, 'journey built from the list only';
    like $r->{body}, qr/"stops":\[\{"timestamp":"[^"]+","type":"A","source":"","status":"","action":"","detail":""\}/,
         'stop keys in SPEC order';
};

subtest 'duration' => sub {
    run_cases([
        { name => 'one stop', stops => ['2024-01-01 00:00:00'], want => '00h 00m 00s' },
        { name => 'unordered', stops => ['2024-01-01 10:00:00', '2024-01-01 09:00:00.5',
                                         '2024-01-01 09:30:00'], want => '00h 59m 59s' },
        { name => 'over 99 hours', stops => ['2024-01-01 00:00:00', '2024-01-06 03:04:05'],
          want => '123h 04m 05s' },
        { name => 'unparsable ignored', stops => ['2024-01-01 00:00:00', 'yesterday',
                                                  '2024-02-30 00:00:00', '2024-01-01 00:00:07Z'],
          want => '00h 00m 07s' },
    ], sub {
        my ($c) = @_;
        store_hash('dur', [fn => 'x'],
                   [ map { JSON::PP->new->encode({ timestamp => $_ }) } @{ $c->{stops} } ]);
        my $doc = JSON::PP->new->decode(get("$URL/dur")->{body});
        is $doc->{journey}{duration}, $c->{want}, $c->{want};
    });
};

subtest 'variables in the access log' => sub {
    $ngx->mark;
    get("$URL/$ID");
    get("$URL/nosuch");
    get("$URL/.bad");
    ok wait_for(sub { $ngx->access_log =~ /400 id=-/ }, 5), 'log written';
    like $ngx->access_log, qr/^200 id=\Q$ID\E result=PASS$/m,
         '$session_result_request_id and $session_result_status';
    like $ngx->access_log, qr/^404 id=nosuch result=-$/m, 'no status when not found';
};

subtest 'no personal data in the error log' => sub {
    error_log_lacks($ngx, ['John', 'johndoe@example.com', '123-456-7890',
                           '19900101', 'client-a', 'tenant-x', '123-45-6789'],
                    'personal values');
};

$ngx->stop;
error_log_clean($ngx);

done_testing;
