# SPEC 9: the cache Redis keeps fresh.  While the push connection is up, an
# unchanged session is answered without a store read (Redis INFO
# commandstats shows none); a change, a deletion or the TTL running out is
# seen by the next request; the owner is checked on every request; losing
# the push connection drops every entry; a store without push support
# (Redis before 6: HELLO refused) is read every time, and nobody waits.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Crypt::JWT qw(encode_jwt);
use MIME::Base64 qw(encode_base64url);
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my $SECRET = 'fresh-test-secret-fresh-test-secret-0123';
my $JWKS = write_file('f.jwks', '{"keys":[{"kty":"oct","alg":"HS256","k":"'
                               . encode_base64url($SECRET) . '"}]}');

sub bearer {
    'Bearer ' . encode_jwt(payload => { sub => $_[0], exp => time + 600 },
                           alg => 'HS256', key => $SECRET);
}

my $redis = start_redis();
my $P = '/api/session/result';

my $ngx = start_nginx(<<'EOF', redis => $redis, vars => { JWKS => $JWKS });
        location /api/session/result/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /pretty/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
            session_result_pretty on;
        }
        location /nopush/ {
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
            session_result_wait_max 0;
        }
        location /owned/ {
            session_jwt "f";
            session_jwt_key_file %%JWKS%%;
            session_result_owner_claim sub;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
EOF

sub get { http_get($ngx->port, @_) }

sub store {
    my ($id, @fields) = @_;
    redis_pipeline($redis->port, ['MULTI'], [DEL => "session:{$id}"],
                   [HSET => "session:{$id}", @fields], ['EXEC']);
}

# the store reads so far, and the push connections
sub reads { redis_calls($redis->port, 'hgetall') }
sub trackers { redis_trackers($redis->port) }

ok wait_for(sub { trackers() == 1 }, 3), 'the push connection is up';

subtest 'an unchanged session: no store read' => sub {
    store('u1', status => 'PENDING');
    like get("$P/u1")->{body}, qr/PENDING/, 'first read';
    my $before = reads();
    my @r = map { get("$P/u1") } 1 .. 20;
    is scalar(grep { $_->{status} == 200 && $_->{body} =~ /PENDING/ } @r), 20,
       '20 answers';
    is reads(), $before, 'INFO commandstats: no HGETALL for them';
    my $etag = $r[0]{headers}{etag};
    is get("$P/u1", 'If-None-Match' => $etag)->{status}, 304,
       'If-None-Match still works: 304';
    is reads(), $before, 'without a read either';
};

subtest 'session_result_wait_max 0: a store read for every request' => sub {
    store('z1', status => 'PENDING');
    get("/nopush/z1");
    my $before = reads();
    is get("/nopush/z1")->{status}, 200, 'served' for 1 .. 5;
    is reads(), $before + 5, 'five reads for five requests';
};

subtest 'a change is seen by the next request' => sub {
    store('c1', status => 'PENDING');
    get("$P/c1") for 1 .. 2;
    my $before = reads();
    store('c1', status => 'PASS');
    like get("$P/c1")->{body}, qr/"PASS"/, 'the new body at once';
    is reads(), $before + 1, 'read from the store once';
    like get("$P/c1")->{body}, qr/"PASS"/, 'and kept again';
    is reads(), $before + 1, 'no more reads';
};

subtest 'both renderings of a session are dropped by a change' => sub {
    store('p1', status => 'PENDING');
    get("$P/p1"); get("/pretty/p1");
    store('p1', status => 'PASS');
    like get("/pretty/p1")->{body}, qr/"status": "PASS"/, 'pretty: new';
    like get("$P/p1")->{body}, qr/"status":"PASS"/, 'compact: new';
};

subtest 'a deleted session is gone at once' => sub {
    store('d1', status => 'PENDING');
    get("$P/d1") for 1 .. 2;
    $redis->cmd(DEL => 'session:{d1}');
    is get("$P/d1")->{status}, 404, '404 after DEL';
};

subtest 'never served after its TTL ran out' => sub {
    store('x1', status => 'PENDING');
    $redis->cmd(PEXPIRE => 'session:{x1}', 1000);
    my $t0 = time;
    my ($last200, $n) = (0, 0);
    while (time < $t0 + 1.6) {
        # a request sent before the expiry may be answered just after it
        # (a loaded machine): the time it was sent is the one bounded
        my $sent = time;
        my $r = get("$P/x1");
        $n++;
        $last200 = $sent if $r->{status} == 200;
        sleep 0.01;
    }
    cmp_ok $n, '>', 20, 'polled throughout';
    cmp_ok $last200, '>', $t0 + 0.5, 'served while it lived';
    cmp_ok $last200, '<=', $t0 + 1.0, 'never after the TTL';
    is get("$P/x1")->{status}, 404, 'then 404';
};

subtest 'the owner is checked on every request' => sub {
    store('o1', status => 'PENDING', owner => 'client-a');
    my $a = bearer('client-a');
    is get('/owned/o1', Authorization => $a)->{status}, 200, 'the owner';
    my $before = reads();
    is get('/owned/o1', Authorization => $a)->{status}, 200, 'again';
    is reads(), $before, 'without a read';
    is get('/owned/o1', Authorization => bearer('client-b'))->{status}, 404,
       'another tenant: 404';
    is get('/owned/o1', Authorization => bearer('client-a'))->{status}, 200,
       'the owner again';
    store('o2', status => 'PENDING', owner => '');
    get("$P/o2");
    is get('/owned/o2', Authorization => $a)->{status}, 404,
       'an empty stored owner never matches';
};

subtest 'the push connection lost: every entry dropped' => sub {
    store('l1', status => 'PENDING');
    get("$P/l1") for 1 .. 2;
    my $before = reads();
    redis_cmd($redis->port, CLIENT => 'KILL', ID => (trackers())[0]);
    ok wait_for(sub { trackers() == 1 }, 3), 'connected again';
    get("$P/l1");
    is reads(), $before + 1, 'read from the store again';
    get("$P/l1");
    is reads(), $before + 1, 'then kept again';
};

subtest 'a store without push support: read every time, nobody waits' => sub {
    my $fake = fake_store(reply => exec_reply([status => 'PENDING'], []));
    my $n = start_nginx(<<"EOF");
        location /api/session/result/ {
            session_result_pass @{[ $fake->target ]};
        }
EOF
    my $r = http_get($n->port, "$P/f1");
    is $r->{status}, 200, 'served';
    http_get($n->port, "$P/f1") for 1 .. 3;
    is scalar($fake->requests), 4, 'four reads for four requests';
    my $t = time;
    $r = http_get($n->port, "$P/f1", 'If-None-Match' => $r->{headers}{etag},
                  Prefer => 'wait=5');
    is $r->{status}, 304, 'status 304';
    cmp_ok time - $t, '<', 0.5, 'at once';
    ok !defined $r->{headers}{'preference-applied'}, 'no Preference-Applied';
    like $n->error_log, qr/\[notice\].*session push: .* refused/,
         'the refusal is logged as a notice';
    unlike $n->error_log, qr/\[(warn|error|crit|alert)\]/, 'nothing worse';
    $n->stop;
    $fake->stop;
};

subtest 'a read from a server the push connection does not watch is not kept' => sub {
    # the push connection is on the first server line (a); round-robin
    # weights send nearly every read to b, whose changes are never reported
    my $b = start_redis();
    my $n = start_nginx(<<"EOF", http => <<"HTTP");
        location /api/session/result/ {
            session_result_pass two;
        }
EOF
        upstream two {
            server 127.0.0.1:@{[ $redis->port ]} weight=1;
            server 127.0.0.1:@{[ $b->port ]} weight=100;
        }
HTTP
    ok wait_for(sub { trackers() == 2 }, 5), 'the push connection is on a';
    for my $port ($redis->port, $b->port) {
        redis_pipeline($port, [DEL => 'session:{w1}'],
                       [HSET => 'session:{w1}', status => 'PENDING']);
    }
    like http_get($n->port, "$P/w1")->{body}, qr/PENDING/, 'read from b';
    redis_cmd($b->port, HSET => 'session:{w1}', status => 'COMPLETED');
    sleep 0.2;
    like http_get($n->port, "$P/w1")->{body}, qr/COMPLETED/,
         'b changed: the change is served, not a kept body';
    $n->stop;
    $b->stop;
};

ok error_log_clean($ngx), 'error log clean';

done_testing;
