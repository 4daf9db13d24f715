# The shared cache of verified tokens (session_jwt_cache shared:NAME:SIZE):
# a token verified by one worker is a hit in the other; no entry outlives
# a reload (a changed key file or policy), nor the token's exp.  Counted
# with the module's own metrics (session_jwt_cache_hits_total and
# _misses_total) and the debug line "session jwt: cached token", whose
# pid tells the worker.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Crypt::JWT qw(encode_jwt);
use MIME::Base64 qw(encode_base64url);
use Time::HiRes qw(sleep);
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();

my @SECRETS = map { "token-cache-secret-$_-" . ('x' x 24) } 1, 2;

sub jwks {
    my ($secret, $kid) = @_;
    '{"keys":[{"kty":"oct","alg":"HS256","kid":"' . $kid . '","k":"'
        . encode_base64url($secret) . '"}]}';
}

sub token {
    my (%o) = @_;
    encode_jwt(payload => { sub => 'client-a', exp => $o{exp} // time + 600,
                            jti => $o{jti} // rand },
               alg => 'HS256', key => $SECRETS[$o{key} // 0],
               extra_headers => { kid => "k" . ($o{key} // 0) });
}

my $KEYS = write_file('tc.jwks', jwks($SECRETS[0], 'k0'));

my $redis = start_redis();
redis_cmd($redis->port, HSET => 'session:{s1}', fn => 'One', owner => 'client-a');

my $CONF = <<'EOF';
        location /api/session/result/ {
            session_jwt "tc";
            session_jwt_key_file %%KEYS%%;
            session_result_owner_claim sub;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location = /metrics {
            session_result_metrics;
        }
EOF

my $ngx = start_nginx($CONF, redis => $redis, workers => 2, log_level => 'debug',
                      http => 'session_jwt_cache shared:tokens:1m;',
                      vars => { KEYS => $KEYS });
my $port = $ngx->port;

sub get { http_get($port, '/api/session/result/s1', Authorization => "Bearer $_[0]") }

sub counts {
    my $body = http_get($port, '/metrics')->{body};
    my %m = $body =~ /^(session_jwt_cache_(?:hits|misses)_total) (\d+)$/mg;
    return ($m{session_jwt_cache_hits_total} // 0,
            $m{session_jwt_cache_misses_total} // 0);
}

# the log phase may count a moment after the response
sub counts_after {
    my ($n) = @_;
    my @c;
    wait_for(sub { @c = counts(); $c[0] + $c[1] >= $n }, 5);
    return @c;
}

subtest 'one verification for both workers' => sub {
    my $t = token();
    my ($h0, $m0) = counts();
    my $mark = $ngx->mark;
    my ($sent, $ok, %pids) = (0, 0);
    for my $batch (1 .. 10) {
        for (1 .. 20) {
            $sent++;
            $ok++ if get($t)->{status} == 200;
        }
        my $log = $ngx->error_log($mark);
        %pids = ();
        $pids{$1}++
            while $log =~ /\[debug\] (\d+)#\d+: \*\d+ session jwt: cached token/g;
        last if keys %pids >= 2;
    }
    is $ok, $sent, "$sent requests answered 200";
    is scalar(keys %pids), 2, 'cached claims served by both workers';
    my ($h, $m) = counts_after($h0 + $m0 + $sent);
    is $m - $m0, 1, 'one miss';
    is $h - $h0, $sent - 1, 'every other lookup a hit';
};

subtest 'never past exp' => sub {
    my $exp = time + 2;
    my $t = token(exp => $exp);
    is get($t)->{status}, 200, 'before exp' for 1 .. 4;
    sleep 0.1 while time < $exp;
    is get($t)->{status}, 401, 'at exp: refused in every worker' for 1 .. 4;
};

subtest 'a reload with another key: no cached verdict survives' => sub {
    my $t = token();
    is get($t)->{status}, 200, 'accepted' for 1 .. 4;
    write_file('tc.jwks', jwks($SECRETS[1], 'k1'));
    ok $ngx->reload, 'reloaded with another key set';
    my $r = get($t);
    is $r->{status}, 401, 'the cached token is verified again, and refused';
    like $r->{headers}{'www-authenticate'} // '', qr/unknown kid/, 'its key is gone';
    is get(token(key => 1))->{status}, 200, 'a token of the new key';
};

subtest 'a reload with the same configuration: verified again once' => sub {
    my $t = token(key => 1);
    is get($t)->{status}, 200, 'accepted' for 1 .. 4;
    ok $ngx->reload, 'reloaded';
    my ($h0, $m0) = counts();
    is get($t)->{status}, 200, 'accepted after the reload' for 1 .. 6;
    my ($h, $m) = counts_after($h0 + $m0 + 6);
    is $m - $m0, 1, 'one miss: the new configuration verifies it once';
};

$ngx->stop;
error_log_clean($ngx);

done_testing;
