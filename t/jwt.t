# Bearer JWT authentication (SPEC 3, 3.2, 5): which tokens are accepted and
# which are refused, with the exact 401/403 responses; the owner claim and
# tenant isolation; the order of checks; the token's source; the claim and
# error variables; the per-worker cache; and log hygiene.
#
# Tokens are minted independently of libjwt: Crypt::JWT (CryptX) for the
# signed ones, hand-built (MIME::Base64 + Digest::SHA) for malformed, forged
# and "alg":"none" ones.  Keys are made by the openssl command at test time.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use MIME::Base64 qw(encode_base64url decode_base64url);
use Digest::SHA qw(hmac_sha256);
use Time::HiRes qw(sleep);
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();
BAIL_OUT('Crypt::JWT missing: run scripts/deps.sh')
    unless eval { require Crypt::JWT; require Crypt::PK::RSA;
                  require Crypt::PK::ECC; require Crypt::PK::Ed25519; 1 };
Crypt::JWT->import('encode_jwt');

my $ID = '19fe3b9e-384e-41d1-bded-8de9ef3abacb';
my $API = '/api/session/result';
my $JS = JSON::PP->new->canonical;
my $TMP = tmpdir();

######################################################################
# keys, made here with openssl


genkey($_, '-algorithm RSA -pkeyopt rsa_keygen_bits:2048')
    for qw(rsa rsa-old rsa-new);
genkey("ec$_->[0]", "-algorithm EC -pkeyopt ec_paramgen_curve:$_->[1]")
    for [256, 'P-256'], [384, 'P-384'], [521, 'P-521'];
genkey('ed', '-algorithm ED25519');

my %PK = (
    rsa => Crypt::PK::RSA->new("$TMP/rsa.pem"),
    'rsa-old' => Crypt::PK::RSA->new("$TMP/rsa-old.pem"),
    'rsa-new' => Crypt::PK::RSA->new("$TMP/rsa-new.pem"),
    ec256 => Crypt::PK::ECC->new("$TMP/ec256.pem"),
    ec384 => Crypt::PK::ECC->new("$TMP/ec384.pem"),
    ec521 => Crypt::PK::ECC->new("$TMP/ec521.pem"),
    ed => Crypt::PK::Ed25519->new("$TMP/ed.pem"),
);
my $SECRET = join '', map { chr int rand 256 } 1 .. 64;   # serves HS256/384/512
$PK{hs} = $SECRET;

sub jwk {
    my ($name, %extra) = @_;
    my $j = $PK{$name}->export_key_jwk('public', 1);
    return { %$j, kid => $name, %extra };
}

write_file('keys.jwks', $JS->encode({ keys => [
    { kty => 'oct', kid => 'hs', k => encode_base64url($SECRET), use => 'sig' },
    jwk('rsa', use => 'sig'), jwk('ec256'), jwk('ec384'), jwk('ec521'),
    jwk('ed'),
] }));
write_file('old.jwk', $JS->encode(jwk('rsa-old', kid => 'old')));
write_file('new.jwk', $JS->encode(jwk('rsa-new', kid => 'new')));
my $RSA_PUB_PEM = do { local (@ARGV, $/) = "$TMP/rsa-pub.pem"; <> };

######################################################################
# tokens

my @TOKENS;                     # every token sent: none may reach the log
my %KID = (HS => 'hs', RS => 'rsa', PS => 'rsa', ES256 => 'ec256',
           ES384 => 'ec384', ES512 => 'ec521', EdDSA => 'ed');

sub b64j { encode_base64url(ref $_[0] ? $JS->encode($_[0]) : $_[0]) }

sub claims { { sub => 'client-a', exp => time + 300, %{ $_[0] || {} } } }

# mint(alg => 'RS256', kid => ..., claims => {...} | 'raw json',
#      key => name, header => {...}) -> a token signed by Crypt::JWT
sub mint {
    my (%o) = @_;
    my $alg = $o{alg} || 'RS256';
    my $kid = exists $o{kid} ? $o{kid}
            : $KID{$alg} // $KID{ substr $alg, 0, 2 };
    my $keyname = $o{key} || ($alg =~ /^HS/ ? 'hs' : $alg =~ /^[RP]S/ ? 'rsa'
                              : $KID{$alg});
    my $key = $o{key_bytes} // $PK{$keyname} // die "no key $keyname";
    my $payload = ref $o{claims} eq 'HASH' || !defined $o{claims}
        ? $JS->encode(claims($o{claims})) : $o{claims};
    my $t = encode_jwt(payload => $payload, alg => $alg, key => $key,
        extra_headers => { defined $kid ? (kid => $kid) : (),
                           %{ $o{header} || {} } });
    push @TOKENS, $t;
    return $t;
}

# a token assembled by hand: header and payload as given, HS256 over them
# with $SECRET unless a signature is given
sub handmade {
    my ($header, $payload, $sig) = @_;
    my $input = b64j($header) . '.' . b64j($payload);
    $sig //= encode_base64url(hmac_sha256($input, $SECRET));
    my $t = "$input.$sig";
    push @TOKENS, $t;
    return $t;
}

sub parts { split /\./, $_[0], -1 }

sub flip_sig {
    my ($t) = @_;
    my ($h, $p, $s) = parts($t);
    my $raw = decode_base64url($s);
    substr($raw, 10, 1) ^= "\x01";
    return "$h.$p." . encode_base64url($raw);
}

# a valid HS256 token of exactly $len bytes (padding claim, header filler)
sub sized_token {
    my ($len) = @_;
    for my $pad (int(($len - 300) * 3 / 4) .. int($len * 3 / 4)) {
        for my $f (0 .. 3) {
            my $input = b64j({ alg => 'HS256', kid => 'hs', f => 'x' x $f })
                . '.' . b64j(claims({ pad => 'p' x $pad }));
            my $t = "$input." . encode_base64url(hmac_sha256($input, $SECRET));
            next unless length $t == $len;
            push @TOKENS, $t;
            return $t;
        }
    }
    die "no token of $len bytes";
}

######################################################################
# the server

my $redis = start_redis();

sub store {
    my (%o) = @_;
    my $cmd = "$FindBin::Bin/../writer/session-store -p ${\ $redis->port}"
        . ($o{prefix} ? " --prefix $o{prefix}" : '')
        . (defined $o{owner} ? " --owner $o{owner}" : '')
        . ' ' . fixture('seed-session.json') . ' 2>&1';
    my $out = `$cmd`;
    die "writer: $out" if $?;
}
store(owner => 'client-a');
store(owner => '42', prefix => 'int:');
store(prefix => 'noowner:');
store(prefix => 'emptyowner:');
redis_cmd($redis->port, 'HSET', "emptyowner:$ID", 'owner', '');

mkdir "$TMP/www";
mkdir "$TMP/www/protected";
mkdir "$TMP/www/protected/open";
write_file('www/protected/index.html', "ok\n");
write_file('www/protected/open/index.html', "open\n");

my $LOG_FORMAT = q{'$status $session_jwt_claim_sub $session_jwt_claim_aud $session_jwt_error $uri'};
my $ngx = start_nginx(<<'EOF', redis => $redis, log_format => $LOG_FORMAT);
        large_client_header_buffers 4 32k;
        session_jwt_key_file %%TMP%%/keys.jwks;

        location /api/session/result/ {
            session_jwt vx;
            session_result_owner_claim sub;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /int/ {
            session_jwt vx;
            session_result_owner_claim sub;
            session_result_key_prefix int:;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /noowner/ {
            session_jwt vx;
            session_result_owner_claim sub;
            session_result_key_prefix noowner:;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /emptyowner/ {
            session_jwt vx;
            session_result_owner_claim sub;
            session_result_key_prefix emptyowner:;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /iss/ {
            session_jwt vx;
            session_jwt_issuer https://issuer.example/;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /aud/ {
            session_jwt vx;
            session_jwt_audience api-a api-b;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /leeway/ {
            session_jwt vx;
            session_jwt_leeway 30s;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /algs/ {
            session_jwt vx;
            session_jwt_algorithms RS256 ES256;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /rotate/ {
            session_jwt vx;
            session_jwt_key_file %%TMP%%/old.jwk;
            session_jwt_key_file %%TMP%%/new.jwk;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /rsaonly/ {
            session_jwt vx;
            session_jwt_key_file %%TMP%%/rsa-pub.pem;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /cookie/ {
            session_jwt vx;
            session_jwt_token $cookie_token;
            session_result_owner_claim sub;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
        location /protected/ {
            session_jwt protected;
            root %%TMP%%/www;
            location /protected/open/ {
                session_jwt off;
            }
        }
EOF

######################################################################
# checks

my $FIXTURE = do { local (@ARGV, $/) = fixture('seed-session.json'); <> };

sub get {
    my ($path, %h) = @_;
    my $c = http_conn($ngx->port, keepalive => 0);
    my $r = $c->request('GET', $path, \%h);
    $c->close;
    return $r;
}

sub bearer { (Authorization => "Bearer $_[0]") }

sub is_json_headers {
    my ($r, $what) = @_;
    is $r->{headers}{'content-type'}, 'application/json', "$what: JSON";
    is $r->{headers}{'cache-control'}, 'no-store', "$what: no-store";
}

sub is_ok_fixture {
    my ($r, $what) = @_;
    is $r->{status}, 200, "$what: 200" or diag $r->{raw};
    is_json_equal($r->{body}, $FIXTURE, "$what: the published example");
}

sub is_no_token {
    my ($r, $realm) = @_;
    is $r->{status}, 401, 'status 401' or diag $r->{raw};
    is $r->{headers}{'www-authenticate'}, qq{Bearer realm="$realm"},
       'WWW-Authenticate without an error attribute';
    is_json_headers($r, 'the 401');
    is_json_equal($r->{body}, { error => 'unauthorized',
        error_description => 'a bearer token is required' }, 'body');
}

sub is_invalid {
    my ($r, $reason, $realm) = @_;
    $realm //= 'vx';
    is $r->{status}, 401, 'status 401' or diag $r->{raw};
    my $www = $r->{headers}{'www-authenticate'} // '';
    if (ref $reason) {
        like $www, qr/^Bearer realm="\Q$realm\E", error="invalid_token", error_description="(?:$reason)"$/,
             'WWW-Authenticate invalid_token';
        my $b = eval { JSON::PP->new->decode($r->{body}) } || {};
        is $b->{error}, 'invalid_token', 'body error';
        like $b->{error_description}, qr/^(?:$reason)$/, 'body reason';
    } else {
        is $www, qq{Bearer realm="$realm", error="invalid_token", error_description="$reason"},
           'WWW-Authenticate invalid_token';
        is_json_equal($r->{body}, { error => 'invalid_token',
                                    error_description => $reason }, 'body');
    }
    is_json_headers($r, 'the 401');
}

sub is_forbidden {
    my ($r) = @_;
    is $r->{status}, 403, 'status 403' or diag $r->{raw};
    is $r->{headers}{'www-authenticate'},
       'Bearer realm="vx", error="insufficient_scope", error_description="the token does not name an owner"',
       'WWW-Authenticate insufficient_scope';
    is_json_headers($r, 'the 403');
    is_json_equal($r->{body}, { error => 'insufficient_scope',
        error_description => 'the token does not name an owner' }, 'body');
}

# the response minus Date: what a caller could compare
sub observable {
    my ($r) = @_;
    return join "\n", "$r->{status} $r->{reason}",
        (map { "$_->[0]: $_->[1]" } grep { lc $_->[0] ne 'date' }
         @{ $r->{header_list} }), '', $r->{body};
}

# one case: request (path, headers) -> expectation
sub check {
    my ($c) = @_;
    my $path = $c->{path} // "$API/$ID";
    my @h = @{ $c->{headers} || [] };
    push @h, bearer($c->{token}) if defined $c->{token};
    my $r = get($path, @h);
    my $e = $c->{expect};
    if ($e eq 'ok') { is_ok_fixture($r, $c->{name}) }
    elsif ($e eq 'no_token') { is_no_token($r, $c->{realm} // 'vx') }
    elsif ($e eq 'invalid') { is_invalid($r, $c->{reason}, $c->{realm}) }
    elsif ($e eq 'forbidden') { is_forbidden($r) }
    elsif ($e eq 'refused') {       # 401 invalid_token or the 404: not served
        like $r->{status}, qr/^(401|404)$/, 'refused (401 or 404)'
            or diag $r->{raw};
        unlike $r->{body}, qr/John/, 'nothing of the session';
    }
    elsif ($e =~ /^\d+$/) {
        is $r->{status}, $e, "status $e" or diag $r->{raw};
        is $r->{body}, $c->{body}, 'body' if defined $c->{body};
    }
    else { die "bad expectation $e" }
    return $r;
}

my $now = time;

######################################################################
# accepted algorithms and token forms

run_cases([
    (map { my $a = $_;
           { name => "$a accepted", token => mint(alg => $a), expect => 'ok' } }
     qw(HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384
        ES512 EdDSA)),
    (map { my $a = $_;
           { name => "typ at+jwt, $a accepted (RFC 9068)",
             token => mint(alg => $a, header => { typ => 'at+jwt' }),
             expect => 'ok' } }
     qw(HS256 RS256 PS256 ES384 EdDSA)),
    { name => 'typ application/at+jwt accepted',
      token => mint(alg => 'ES256', header => { typ => 'application/at+jwt' }),
      expect => 'ok' },
    { name => 'typ AT+JWT: compared case-insensitively',
      token => mint(header => { typ => 'AT+JWT' }), expect => 'ok' },
    { name => 'PS256 without kid', token => mint(alg => 'PS256', kid => undef),
      expect => 'ok' },
    { name => 'EdDSA without kid', token => mint(alg => 'EdDSA', kid => undef),
      expect => 'ok' },
    { name => 'RS256 without kid: every RSA key tried',
      token => mint(alg => 'RS256', kid => undef), expect => 'ok' },
    { name => 'ES384 without kid: the P-384 key found among the EC keys',
      token => mint(alg => 'ES384', kid => undef), expect => 'ok' },
    { name => 'HS512 without kid',
      token => mint(alg => 'HS512', kid => undef), expect => 'ok' },
    { name => 'typ "JWT" accepted',
      token => mint(header => { typ => 'JWT' }), expect => 'ok' },
    { name => 'iat and jti are ignored',
      token => mint(claims => { iat => $now, jti => 'x1' }), expect => 'ok' },
], \&check);

######################################################################
# refused tokens

my $good = mint(alg => 'RS256');
my $good_hs = mint(alg => 'HS256');
my ($gh, $gp, $gs) = parts($good);
my $hs_sig = (parts($good_hs))[2];
my $none_payload = claims();

run_cases([
    { name => 'expired', token => mint(claims => { exp => $now - 5 }),
      expect => 'invalid', reason => 'token expired' },
    { name => 'nbf in the future',
      token => mint(claims => { nbf => $now + 60 }),
      expect => 'invalid', reason => 'token not yet valid' },
    { name => 'nbf in the past accepted',
      token => mint(claims => { nbf => $now - 60 }), expect => 'ok' },
    { name => 'missing exp',
      token => mint(claims => $JS->encode({ sub => 'client-a' })),
      expect => 'invalid', reason => 'missing exp' },
    { name => 'exp not a number',
      token => mint(claims => { exp => 'tomorrow' }),
      expect => 'invalid', reason => 'invalid exp' },
    { name => 'nbf not a number',
      token => mint(claims => { nbf => 'now' }),
      expect => 'invalid', reason => 'invalid nbf' },
    { name => 'claims not an object',
      token => mint(claims => '[1,2,3]'),
      expect => 'invalid', reason => 'claims are not a JSON object' },
    { name => 'alg none without signature',
      token => do { my $t = b64j({ alg => 'none', typ => 'JWT' }) . '.'
                    . b64j($none_payload) . '.'; push @TOKENS, $t; $t },
      expect => 'invalid', reason => qr/algorithm not allowed|malformed token/ },
    { name => 'alg none with a signature',
      token => handmade({ alg => 'none' }, $none_payload),
      expect => 'invalid', reason => 'algorithm not allowed' },
    { name => 'alg "None" (case matters)',
      token => handmade({ alg => 'None' }, $none_payload),
      expect => 'invalid', reason => 'algorithm not allowed' },
    { name => 'alg "hs256" (case matters)',
      token => handmade({ alg => 'hs256', kid => 'hs' }, $none_payload),
      expect => 'invalid', reason => 'algorithm not allowed' },
    { name => 'HS256 signed with the RSA public key PEM (only the RSA key configured)',
      path => "/rsaonly/$ID",
      token => mint(alg => 'HS256', kid => undef, key_bytes => $RSA_PUB_PEM),
      expect => 'invalid', reason => 'no key for the algorithm' },
    { name => 'RS256 with that RSA PEM key: control',
      path => "/rsaonly/$ID", token => mint(alg => 'RS256', kid => undef),
      expect => 'ok' },
    { name => 'HS256 signed with the RSA PEM, kid of the RSA key',
      token => mint(alg => 'HS256', kid => 'rsa', key_bytes => $RSA_PUB_PEM),
      expect => 'invalid', reason => 'no key for the algorithm' },
    { name => 'unknown kid',
      token => mint(alg => 'RS256', kid => 'nobody'),
      expect => 'invalid', reason => 'unknown kid' },
    { name => 'ES256 with the kid of the RSA key',
      token => mint(alg => 'ES256', kid => 'rsa'),
      expect => 'invalid', reason => 'no key for the algorithm' },
    { name => 'RS256 with the kid of the HMAC key',
      token => mint(alg => 'RS256', kid => 'hs'),
      expect => 'invalid', reason => 'no key for the algorithm' },
    { name => 'ES384 with the kid of the P-256 key',
      token => mint(alg => 'ES384', kid => 'ec256', key => 'ec384'),
      expect => 'invalid', reason => 'no key for the algorithm' },
    { name => 'algorithm outside session_jwt_algorithms', path => "/algs/$ID",
      token => mint(alg => 'HS256'),
      expect => 'invalid', reason => 'algorithm not allowed' },
    { name => 'algorithm inside session_jwt_algorithms', path => "/algs/$ID",
      token => mint(alg => 'ES256'), expect => 'ok' },
    { name => 'tampered header (member added)',
      token => do { my $t = b64j({ alg => 'RS256', kid => 'rsa', x => 1 })
                    . ".$gp.$gs"; push @TOKENS, $t; $t },
      expect => 'invalid', reason => 'signature verification failed' },
    { name => 'tampered header (RS256 -> RS384)',
      token => do { my $t = b64j({ alg => 'RS384', kid => 'rsa' })
                    . ".$gp.$gs"; push @TOKENS, $t; $t },
      expect => 'invalid', reason => 'signature verification failed' },
    { name => 'tampered payload (sub changed)',
      token => do { my $c = $JS->decode(decode_base64url($gp));
                    $c->{sub} = 'client-b';
                    my $t = "$gh." . b64j($c) . ".$gs"; push @TOKENS, $t; $t },
      expect => 'invalid', reason => 'signature verification failed' },
    { name => 'tampered payload (exp extended)',
      token => do { my $c = $JS->decode(decode_base64url($gp));
                    $c->{exp} += 3600;
                    my $t = "$gh." . b64j($c) . ".$gs"; push @TOKENS, $t; $t },
      expect => 'invalid', reason => 'signature verification failed' },
    { name => 'tampered signature (RS256)', token => flip_sig($good),
      expect => 'invalid', reason => 'signature verification failed' },
    { name => 'tampered signature (HS256)', token => flip_sig($good_hs),
      expect => 'invalid', reason => 'signature verification failed' },
    { name => 'tampered signature (ES256)', token => flip_sig(mint(alg => 'ES256')),
      expect => 'invalid', reason => 'signature verification failed' },
    { name => 'signature of another token', token => "$gh.$gp.$hs_sig",
      expect => 'invalid', reason => 'signature verification failed' },
    { name => 'truncated: two characters off the signature',
      token => substr($good, 0, -2),
      expect => 'invalid', reason => 'signature verification failed' },
    { name => 'truncated: signature removed', token => "$gh.$gp.",
      expect => 'invalid', reason => 'malformed token' },
    { name => 'truncated: two parts', token => "$gh.$gp",
      expect => 'invalid', reason => 'malformed token' },
    { name => 'truncated in the payload', token => substr($good, 0, length($gh) + 20),
      expect => 'invalid', reason => 'malformed token' },
    { name => 'four parts', token => "$good.$gs",
      expect => 'invalid', reason => 'malformed token' },
    { name => 'garbage word', token => 'hello',
      expect => 'invalid', reason => 'malformed token' },
    { name => 'garbage parts', token => 'a.b.c',
      expect => 'invalid', reason => 'malformed token' },
    { name => 'characters outside base64url', token => "$gh.$gp.$gs=",
      expect => 'invalid', reason => 'malformed token' },
    { name => 'header not JSON',
      token => encode_base64url('not json') . ".$gp.$gs",
      expect => 'invalid', reason => 'malformed token' },
    { name => 'crit header', token => handmade(
          { alg => 'HS256', kid => 'hs', crit => ['exp'] }, claims()),
      expect => 'invalid', reason => 'unsupported critical header' },
    { name => 'typ JOSE', token => mint(header => { typ => 'JOSE' }),
      expect => 'invalid', reason => 'unsupported token type' },
    { name => 'typ at+jwt, signature altered',
      token => flip_sig(mint(alg => 'PS256', header => { typ => 'at+jwt' })),
      expect => 'invalid', reason => 'signature verification failed' },
    { name => 'EdDSA, signature altered', token => flip_sig(mint(alg => 'EdDSA')),
      expect => 'invalid', reason => 'signature verification failed' },
    { name => 'PS256 signed with the EC key id',
      token => mint(alg => 'PS256', kid => 'ec256'),
      expect => 'invalid', reason => 'no key for the algorithm' },
    { name => 'EdDSA token naming the RSA key',
      token => mint(alg => 'EdDSA', kid => 'rsa'),
      expect => 'invalid', reason => 'no key for the algorithm' },
    { name => 'duplicate claim (last would win in libjwt)',
      token => handmade({ alg => 'HS256', kid => 'hs' },
          '{"sub":"client-b","exp":' . ($now + 300) . ',"sub":"client-a"}'),
      expect => 'invalid', reason => 'malformed claims' },
    { name => 'token of 8193 bytes (validly signed)', token => sized_token(8193),
      expect => 'invalid', reason => 'token too large' },
    { name => 'token of 8192 bytes accepted', token => sized_token(8192),
      expect => 'ok' },
    { name => 'token of 20000 bytes of garbage', token => 'x' x 20000,
      expect => 'invalid', reason => 'token too large' },
], \&check);

######################################################################
# leeway, issuer, audience

run_cases([
    { name => 'leeway 30s: exp 10 s ago accepted', path => "/leeway/$ID",
      token => mint(claims => { exp => $now - 10 }), expect => 'ok' },
    { name => 'leeway 30s: exp 60 s ago refused', path => "/leeway/$ID",
      token => mint(claims => { exp => $now - 60 }),
      expect => 'invalid', reason => 'token expired' },
    { name => 'leeway 30s: nbf 10 s ahead accepted', path => "/leeway/$ID",
      token => mint(claims => { nbf => $now + 10 }), expect => 'ok' },
    { name => 'leeway 30s: nbf 60 s ahead refused', path => "/leeway/$ID",
      token => mint(claims => { nbf => $now + 60 }),
      expect => 'invalid', reason => 'token not yet valid' },
    { name => 'no leeway elsewhere: exp 10 s ago refused',
      token => mint(claims => { exp => $now - 10 }),
      expect => 'invalid', reason => 'token expired' },
    { name => 'issuer matches', path => "/iss/$ID",
      token => mint(claims => { iss => 'https://issuer.example/' }), expect => 'ok' },
    { name => 'wrong issuer', path => "/iss/$ID",
      token => mint(claims => { iss => 'https://evil.example/' }),
      expect => 'invalid', reason => 'issuer mismatch' },
    { name => 'issuer differs by a trailing slash', path => "/iss/$ID",
      token => mint(claims => { iss => 'https://issuer.example' }),
      expect => 'invalid', reason => 'issuer mismatch' },
    { name => 'no issuer when one is required', path => "/iss/$ID",
      token => mint(), expect => 'invalid', reason => 'issuer mismatch' },
    { name => 'aud string matches', path => "/aud/$ID",
      token => mint(claims => { aud => 'api-b' }), expect => 'ok' },
    { name => 'aud array matches', path => "/aud/$ID",
      token => mint(claims => { aud => ['other', 'api-a'] }), expect => 'ok' },
    { name => 'aud mismatch', path => "/aud/$ID",
      token => mint(claims => { aud => 'api-c' }),
      expect => 'invalid', reason => 'audience mismatch' },
    { name => 'aud array mismatch', path => "/aud/$ID",
      token => mint(claims => { aud => ['api-c', 'api-d'] }),
      expect => 'invalid', reason => 'audience mismatch' },
    { name => 'aud with a NUL byte after a configured name', path => "/aud/$ID",
      token => mint(claims => '{"exp":' . ($now + 300) . ',"aud":"api-a\\u0000"}'),
      expect => 'invalid', reason => qr/[a-z ]+/ },
    { name => 'iss with a NUL byte after the issuer', path => "/iss/$ID",
      token => mint(claims => '{"exp":' . ($now + 300) . ',"iss":"https://issuer.example/\\u0000"}'),
      expect => 'invalid', reason => qr/[a-z ]+/ },
    { name => 'no aud when one is required', path => "/aud/$ID",
      token => mint(), expect => 'invalid', reason => 'audience mismatch' },
], \&check);

######################################################################
# the Authorization header

run_cases([
    { name => 'no header', expect => 'no_token' },
    { name => 'Basic scheme', headers => [Authorization => 'Basic Y2xpZW50LWE6c2VjcmV0'],
      expect => 'no_token' },
    { name => 'scheme glued to the token',
      headers => [Authorization => "Bearer$good"], expect => 'no_token' },
    { name => 'bare Bearer', headers => [Authorization => 'Bearer'],
      expect => 'invalid', reason => 'malformed token' },
    { name => 'Bearer and spaces only', headers => [Authorization => 'Bearer   '],
      expect => 'invalid', reason => 'malformed token' },
    { name => 'lowercase bearer', headers => [Authorization => "bearer $good"],
      expect => 'ok' },
    { name => 'uppercase BEARER', headers => [Authorization => "BEARER $good"],
      expect => 'ok' },
    { name => 'two spaces: the token starts with a space',
      headers => [Authorization => "Bearer  $good"],
      expect => 'invalid', reason => 'malformed token' },
    { name => 'text after the token', headers => [Authorization => "Bearer $good x"],
      expect => 'invalid', reason => 'malformed token' },
], \&check);

######################################################################
# key rotation: two key files, either key's kid is accepted

run_cases([
    { name => 'old key', path => "/rotate/$ID",
      token => mint(key => 'rsa-old', kid => 'old'), expect => 'ok' },
    { name => 'new key', path => "/rotate/$ID",
      token => mint(key => 'rsa-new', kid => 'new'), expect => 'ok' },
    { name => 'no kid: both keys tried', path => "/rotate/$ID",
      token => mint(key => 'rsa-new', kid => undef), expect => 'ok' },
    { name => 'kid in neither file', path => "/rotate/$ID",
      token => mint(key => 'rsa-new', kid => 'newer'),
      expect => 'invalid', reason => 'unknown kid' },
    { name => 'server-level key (replaced here)', path => "/rotate/$ID",
      token => mint(), expect => 'invalid', reason => 'unknown kid' },
    { name => 'old kid, signed by the new key', path => "/rotate/$ID",
      token => mint(key => 'rsa-new', kid => 'old'),
      expect => 'invalid', reason => 'signature verification failed' },
], \&check);

######################################################################
# the token from a cookie

run_cases([
    { name => 'cookie token', path => "/cookie/$ID",
      headers => [Cookie => "a=b; token=$good; c=d"], expect => 'ok' },
    { name => 'Authorization header ignored when a source is set',
      path => "/cookie/$ID", token => $good, expect => 'no_token' },
    { name => 'good cookie, garbage Authorization', path => "/cookie/$ID",
      headers => [Cookie => "token=$good", Authorization => 'Bearer junk'],
      expect => 'ok' },
    { name => 'empty cookie', path => "/cookie/$ID",
      headers => [Cookie => 'token='], expect => 'no_token' },
    { name => 'expired cookie token', path => "/cookie/$ID",
      headers => [Cookie => 'token=' . mint(claims => { exp => $now - 5 })],
      expect => 'invalid', reason => 'token expired' },
], \&check);

######################################################################
# owner claim and tenant isolation

my $missing = get("$API/nonexistent-id", bearer(mint()));
subtest 'the 404 of a missing session' => sub {
    is $missing->{status}, 404, 'status 404';
    is_json_headers($missing, 'the 404');
    is_json_equal($missing->{body}, { error => 'not_found',
        error_description => 'no such session' }, 'body')
        or note $missing->{body};
};

run_cases([
    { name => 'another tenant: the same bytes as a missing session',
      token => mint(claims => { sub => 'client-b' }), same_as_missing => 1 },
    { name => 'owner differing in case', token => mint(claims => { sub => 'Client-A' }),
      same_as_missing => 1 },
    { name => 'owner with a trailing space', token => mint(claims => { sub => 'client-a ' }),
      same_as_missing => 1 },
    { name => 'owner prefix', token => mint(claims => { sub => 'client' }),
      same_as_missing => 1 },
    { name => 'another tenant, missing id',
      path => "$API/nonexistent-id",
      token => mint(claims => { sub => 'client-b' }), same_as_missing => 1 },
    { name => 'owner claim with a NUL byte after the owner',
      token => mint(claims => '{"exp":' . ($now + 300) . ',"sub":"client-a\\u0000"}'),
      expect => 'refused' },
    { name => 'session without owner field', path => "/noowner/$ID",
      token => mint(), same_as_missing => 1 },
    # issue 9 item 7: an empty owner claim counts as missing, an empty
    # stored owner never matches
    { name => 'empty owner claim, session without owner field', path => "/noowner/$ID",
      token => mint(claims => { sub => '' }), expect => 'forbidden' },
    { name => 'empty owner claim, session with an empty owner', path => "/emptyowner/$ID",
      token => mint(claims => { sub => '' }), expect => 'forbidden' },
    { name => 'a session with an empty owner is nobody\'s', path => "/emptyowner/$ID",
      token => mint(), same_as_missing => 1 },
    { name => 'integer owner claim', path => "/int/$ID",
      token => mint(claims => '{"exp":' . ($now + 300) . ',"sub":42}'),
      expect => 'ok' },
    { name => 'string "42" owner claim', path => "/int/$ID",
      token => mint(claims => { sub => '42' }), expect => 'ok' },
    { name => 'integer 43 against owner 42', path => "/int/$ID",
      token => mint(claims => '{"exp":' . ($now + 300) . ',"sub":43}'),
      same_as_missing => 1 },
    { name => 'client-a on the session owned by 42', path => "/int/$ID",
      token => mint(), same_as_missing => 1 },
    { name => 'float owner claim 42.0', path => "/int/$ID",
      token => mint(claims => '{"exp":' . ($now + 300) . ',"sub":42.0}'),
      expect => 'forbidden' },
    { name => 'float owner claim 42.5', path => "/int/$ID",
      token => mint(claims => '{"exp":' . ($now + 300) . ',"sub":42.5}'),
      expect => 'forbidden' },
    { name => 'boolean owner claim',
      token => mint(claims => '{"exp":' . ($now + 300) . ',"sub":true}'),
      expect => 'forbidden' },
    { name => 'null owner claim',
      token => mint(claims => '{"exp":' . ($now + 300) . ',"sub":null}'),
      expect => 'forbidden' },
    { name => 'array owner claim', token => mint(claims => { sub => ['client-a'] }),
      expect => 'forbidden' },
    { name => 'object owner claim', token => mint(claims => { sub => { id => 'client-a' } }),
      expect => 'forbidden' },
    { name => 'token without the owner claim',
      token => mint(claims => $JS->encode({ exp => $now + 300, client => 'client-a' })),
      expect => 'forbidden' },
], sub {
    my ($c) = @_;
    if ($c->{same_as_missing}) {
        my $r = get($c->{path} // "$API/$ID", bearer($c->{token}));
        is $r->{status}, 404, 'status 404';
        is $r->{headers}{'content-type'}, $missing->{headers}{'content-type'},
           'Content-Type';
        is $r->{body}, $missing->{body}, 'byte-identical body';
        is observable($r), observable($missing),
           'status line, headers (but Date) and body identical';
        unlike $r->{body}, qr/John|client/, 'nothing of the session';
    } else {
        check($c);
    }
});

######################################################################
# order of checks

run_cases([
    { name => 'POST without a token: 405 first', method => 'POST',
      status => 405 },
    { name => 'DELETE with a bad token: 405 first', method => 'DELETE',
      headers => { Authorization => 'Bearer junk' }, status => 405 },
    { name => 'bad request_id without a token: 401', path => "$API/-bad",
      status => 401, www => 'Bearer realm="vx"' },
    { name => 'bad request_id with an expired token: 401', path => "$API/-bad",
      headers => { bearer(mint(claims => { exp => $now - 5 })) }, status => 401,
      www => 'Bearer realm="vx", error="invalid_token", error_description="token expired"' },
    { name => 'bad request_id, token without the owner claim: 403', path => "$API/-bad",
      headers => { bearer(mint(claims => $JS->encode({ exp => $now + 300 }))) },
      status => 403 },
    { name => 'bad request_id with a good token: 400', path => "$API/-bad",
      headers => { bearer($good) }, status => 400 },
    { name => 'missing session with no token: 401', path => "$API/nonexistent-id",
      status => 401 },
    { name => 'HEAD without a token: 401, no body', method => 'HEAD', status => 401,
      www => 'Bearer realm="vx"' },
], sub {
    my ($c) = @_;
    my $r = http_request($ngx->port, $c->{method} // 'GET', $c->{path} // "$API/$ID",
                         $c->{headers} || {},
                         body => ($c->{method} // '') eq 'POST' ? '{}' : undef);
    is $r->{status}, $c->{status}, "status $c->{status}" or diag $r->{raw};
    is_json_headers($r, "the $c->{status}");
    is $r->{headers}{'www-authenticate'}, $c->{www}, 'WWW-Authenticate'
        if $c->{www};
    ok !exists $r->{headers}{'www-authenticate'}, 'no WWW-Authenticate'
        if $c->{status} =~ /^(405|400)$/;
    is $r->{body}, '', 'HEAD: no body' if ($c->{method} // '') eq 'HEAD';
});

######################################################################
# session_jwt in a location without session_result_pass

run_cases([
    { name => 'protected static file with a token', path => '/protected/',
      token => $good, expect => 200, body => "ok\n" },
    { name => 'protected static file without a token', path => '/protected/',
      expect => 'no_token', realm => 'protected' },
    { name => 'protected static file with a bad token', path => '/protected/',
      token => flip_sig($good), expect => 'invalid', realm => 'protected',
      reason => 'signature verification failed' },
    { name => 'no owner claim needed there', path => '/protected/',
      token => mint(claims => $JS->encode({ exp => $now + 300 })),
      expect => 200, body => "ok\n" },
    { name => 'session_jwt off in the inner location', path => '/protected/open/',
      expect => 200, body => "open\n" },
    { name => 'session_jwt off ignores a bad token', path => '/protected/open/',
      token => 'junk', expect => 200, body => "open\n" },
], \&check);

######################################################################
# the claim and error variables in the access log

subtest 'variables in the access log' => sub {
    my $from = -s $ngx->dir . '/access.log' || 0;
    my @req = (
        [ "$API/$ID", mint(claims => { aud => ['api-a', 'api-b'] }),
          qq{200 client-a [\\x22api-a\\x22,\\x22api-b\\x22] - $API/$ID} ],
        [ "/aud/$ID", mint(claims => { aud => 'api-a' }),
          "200 client-a api-a - /aud/$ID" ],
        [ "/int/$ID", mint(claims => '{"exp":' . ($now + 300) . ',"sub":42}'),
          "200 42 - - /int/$ID" ],
        [ "$API/$ID", undef, "401 - - no token $API/$ID" ],
        [ "$API/$ID", mint(claims => { exp => $now - 5, aud => 'x' }),
          "401 - - token expired $API/$ID" ],
        [ "$API/$ID", mint(kid => 'nobody'), "401 - - unknown kid $API/$ID" ],
        [ "$API/$ID", flip_sig($good),
          "401 - - signature verification failed $API/$ID" ],
        [ "$API/$ID", 'x' x 9000, "401 - - token too large $API/$ID" ],
    );
    for (@req) {
        my ($path, $token, $want) = @$_;
        get($path, defined $token ? bearer($token) : ());
    }
    my @lines;
    wait_for(sub { @lines = split /\n/, $ngx->access_log($from); @lines >= @req }, 5);
    is scalar @lines, scalar @req, 'one line per request';
    is $lines[$_], $req[$_][2], "line: $req[$_][2]" for 0 .. $#req;
};

######################################################################
# the cache of verified tokens (per worker by default, or shared)

subtest 'cache: the same token twice' => sub {
    my $t = mint(alg => 'ES512');
    is_ok_fixture(get("$API/$ID", bearer($t)), 'first');
    is_ok_fixture(get("$API/$ID", bearer($t)), 'second (cached)');
    my $c = http_conn($ngx->port);
    is_ok_fixture($c->get("$API/$ID", bearer($t)), "keepalive $_") for 1 .. 3;
    $c->close;
};

subtest 'cache: a token verified in one location is checked again in another' => sub {
    my $t = mint();
    is_ok_fixture(get("$API/$ID", bearer($t)), 'accepted by the API location');
    is_invalid(get("/iss/$ID", bearer($t)), 'issuer mismatch');
    is_invalid(get("/aud/$ID", bearer($t)), 'audience mismatch');
    is_invalid(get("/rotate/$ID", bearer($t)), 'unknown kid');
    my $l = mint(claims => { exp => time - 10 });
    is_ok_fixture(get("/leeway/$ID", bearer($l)), 'accepted with leeway');
    is_invalid(get("$API/$ID", bearer($l)), 'token expired');
    is_ok_fixture(get("/leeway/$ID", bearer($l)), 'still accepted with leeway');
};

subtest 'cache: never past exp' => sub {
    my $exp = time + 2;
    my $t = mint(alg => 'HS256', claims => { exp => $exp });
    is_ok_fixture(get("$API/$ID", bearer($t)), 'before exp');
    is_ok_fixture(get("$API/$ID", bearer($t)), 'before exp, cached');
    sleep 0.1 while time < $exp + 1;
    is_invalid(get("$API/$ID", bearer($t)), 'token expired');
    # and with a leeway, the cached claims still expire at exp + leeway only
    my $l = mint(claims => { exp => time - 25 });
    is_ok_fixture(get("/leeway/$ID", bearer($l)), 'within the leeway');
    is_ok_fixture(get("/leeway/$ID", bearer($l)), 'within the leeway, cached');
};

subtest 'cache: a small cache under churn, and the cache off' => sub {
    for my $size (4, 'off', 'shared:tokens:64k') {
        my $small = start_nginx(<<'EOF', redis => $redis, http => "session_jwt_cache $size;");
        location /api/session/result/ {
            session_jwt vx;
            session_jwt_key_file %%TMP%%/keys.jwks;
            session_result_owner_claim sub;
            session_result_pass 127.0.0.1:%%REDIS_PORT%%;
        }
EOF
        my @t = map { mint(alg => $_ % 2 ? 'HS256' : 'ES256',
                           claims => { jti => "t$_" }) } 1 .. 12;
        my @forged = map { flip_sig($_) } @t;
        my ($ok, $refused) = (0, 0);
        for my $round (1 .. 3) {
            for my $i (0 .. $#t) {
                my $c = http_conn($small->port);
                $ok++ if $c->get("$API/$ID", bearer($t[$i]))->{status} == 200;
                $c->close;
                $c = http_conn($small->port);
                $refused++ if $c->get("$API/$ID", bearer($forged[$i]))->{status} == 401;
                $c->close;
            }
        }
        is $ok, 36, "cache $size: every good token accepted every time";
        is $refused, 36, "cache $size: every forged token refused every time";
        my $exp = time + 1;
        my $t = mint(alg => 'HS256', claims => { exp => $exp });
        is get_from($small, $t)->{status}, 200, "cache $size: before exp";
        sleep 0.1 while time < $exp + 1;
        is_invalid(get_from($small, $t), 'token expired');
        $small->stop;
        error_log_clean($small);
        error_log_lacks($small, [ @t, @forged, $t ], "cache $size: no token in the log");
    }
};

sub get_from {
    my ($n, $token) = @_;
    return http_get($n->port, "$API/$ID", bearer($token));
}

######################################################################
# log hygiene

$ngx->stop;
error_log_clean($ngx);
my @personal = qw(John Doe 19900101 johndoe@example.com 123-456-7890);
my %seen;
my @secrets = grep { length >= 16 && !$seen{$_}++ }
              @TOKENS, map { parts($_) } @TOKENS;
error_log_lacks($ngx, [ @secrets, encode_base64url($SECRET) ],
                'no token, token part or key in the error log');
error_log_lacks($ngx, \@personal, 'no personal data in the error log');
like $ngx->error_log, qr/token expired/,
     'refusals are logged at info (with the reason)';

done_testing;
