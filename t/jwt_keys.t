# Key files and the authentication directives at configuration time
# (SPEC 5, key rules): what a key set holds that is not for us is skipped
# with a warn naming the file and the kid; every broken key fails nginx -t
# naming the file and the reason; the accepted forms (JWKS, single JWK, RSA,
# EC and Ed25519 PEM) load and verify tokens of every algorithm; key-file
# inheritance replaces, never merges.  Keys are made with the openssl
# command, tokens with Crypt::JWT.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use MIME::Base64 qw(encode_base64url decode_base64url);
use SessionTest;

BAIL_OUT('module not built: run make') unless have_module();
BAIL_OUT('Crypt::JWT missing: run scripts/deps.sh')
    unless eval { require Crypt::JWT; require Crypt::PK::RSA;
                  require Crypt::PK::ECC; require Crypt::PK::Ed25519; 1 };
Crypt::JWT->import('encode_jwt');

my $JS = JSON::PP->new->canonical;
my $TMP = tmpdir();


sub slurp { local (@ARGV, $/) = @_; <> }

genkey('rsa', '-algorithm RSA -pkeyopt rsa_keygen_bits:2048');
genkey('rsa2', '-algorithm RSA -pkeyopt rsa_keygen_bits:2048');
genkey('rsa1024', '-algorithm RSA -pkeyopt rsa_keygen_bits:1024');
genkey('ec256', '-algorithm EC -pkeyopt ec_paramgen_curve:P-256');
genkey('ec384', '-algorithm EC -pkeyopt ec_paramgen_curve:P-384');
genkey('ec521', '-algorithm EC -pkeyopt ec_paramgen_curve:P-521');
genkey('k1', '-algorithm EC -pkeyopt ec_paramgen_curve:secp256k1');
genkey('ed', '-algorithm ED25519');
genkey('ed448', '-algorithm ED448');
openssl("rsa -in $TMP/rsa.pem -RSAPublicKey_out -out $TMP/rsa-pkcs1.pem");
openssl("req -x509 -new -key $TMP/rsa.pem -subj /CN=test -days 1 -out $TMP/cert.pem");

my %PK = map { $_ => (/^ec/ ? 'Crypt::PK::ECC' : /^ed/ ? 'Crypt::PK::Ed25519'
                     : 'Crypt::PK::RSA')->new("$TMP/$_.pem") }
         qw(rsa rsa2 rsa1024 ec256 ec384 ec521 ed);
my $SECRET = join '', map { chr int rand 256 } 1 .. 32;
$PK{hs} = $SECRET;

sub jwk {
    my ($name, %extra) = @_;
    return { %{ $PK{$name}->export_key_jwk('public', 1) }, %extra };
}
sub oct_jwk { my ($bytes, %extra) = @_;
              { kty => 'oct', k => encode_base64url($bytes), %extra } }

sub token {
    my (%o) = @_;
    my $alg = $o{alg} || 'RS256';
    return encode_jwt(payload => $JS->encode({ sub => 'client-a',
                          exp => time + 300, %{ $o{claims} || {} } }),
        alg => $alg, key => $PK{ $o{key} },
        extra_headers => { defined $o{kid} ? (kid => $o{kid}) : (),
                           defined $o{typ} ? (typ => $o{typ}) : () });
}

######################################################################
# unusable key files: nginx -t fails, naming the file and the reason

my $ec_bad_point = jwk('ec256');
{
    my $y = decode_base64url($ec_bad_point->{y});
    substr($y, -1, 1) ^= "\x01";
    $ec_bad_point->{y} = encode_base64url($y);
}
my $rsa_no_n = jwk('rsa');
delete $rsa_no_n->{n};
my $ec_crv_mismatch = { %{ jwk('ec256') }, crv => 'P-384' };
my $okp_short = { %{ jwk('ed') }, x => encode_base64url('x' x 31) };

mkdir "$TMP/adir";

run_cases([
    { name => 'empty file', content => '', error => qr/empty/ },
    { name => 'missing file', path => "$TMP/no-such-file.jwks",
      error => qr/cannot open: No such file/ },
    { name => 'a directory', path => "$TMP/adir", error => qr/not a regular file/ },
    { name => 'neither JSON nor PEM', content => "hello world\n",
      error => qr/neither a JWK, a JWKS nor a PEM public key/ },
    { name => 'broken JSON', content => '{"keys": [',
      error => qr/invalid JSON/ },
    { name => 'JSON array', content => '[1, 2]', error => qr/neither a JWK/ },
    { name => 'JSON object that is no JWK', content => '{"hello": "world"}',
      error => qr/neither a JWK \("kty"\) nor a JWKS/ },
    { name => 'JWKS with an empty keys array', content => '{"keys": []}',
      error => qr/no usable key/ },
    { name => 'JWKS keys not an array', content => '{"keys": {}}',
      error => qr/"keys" is not an array/ },
    { name => 'JWKS key not an object', content => '{"keys": ["x"]}',
      error => qr/keys\[0\]: not a JSON object/ },
    { name => 'OKP Ed25519 with a 3-byte x', json => { keys => [
          { kty => 'OKP', crv => 'Ed25519', x => 'AAAA', kid => 'ed' } ] },
      error => qr/keys\[0\]: "x" has the wrong length for Ed25519/ },
    { name => 'OKP Ed25519 with a 31-byte x', json => { keys => [ jwk('rsa'), $okp_short ] },
      error => qr/keys\[1\]: "x" has the wrong length/ },
    { name => 'OKP Ed25519 with bad base64url in x',
      json => { %{ jwk('ed') }, x => 'a+b/' }, error => qr/bad base64url in "x"/ },
    { name => 'RSA JWK of 1024 bits', json => { keys => [ jwk('rsa'), jwk('rsa1024') ] },
      error => qr/keys\[1\]: RSA key shorter than 2048 bits/ },
    { name => 'EdDSA on an RSA key', json => jwk('rsa', alg => 'EdDSA'),
      error => qr/"alg" does not fit kty "RSA"/ },
    { name => 'PS256 on an EC key', json => jwk('ec256', alg => 'PS256'),
      error => qr/"alg" does not fit the EC/ },
    { name => 'RS256 on an OKP key', json => jwk('ed', alg => 'RS256'),
      error => qr/"alg" does not fit kty "OKP"/ },
    { name => 'oct key of 31 bytes without alg', json => oct_jwk('k' x 31),
      error => qr/HMAC key shorter than 32/ },
    { name => 'missing kty', json => { n => 'AAAA', e => 'AQAB' },
      error => qr/"kty"/ },
    { name => 'RSA JWK without n', json => { keys => [$rsa_no_n] },
      error => qr/missing "n"/ },
    { name => 'RSA JWK without e', json => do { my $j = jwk('rsa'); delete $j->{e}; $j },
      error => qr/missing "e"/ },
    { name => 'RSA JWK with bad base64url in n',
      json => { %{ jwk('rsa') }, n => 'not base64!' }, error => qr/bad base64url in "n"/ },
    { name => 'RS256 on an EC key', json => { keys => [ jwk('ec256', alg => 'RS256') ] },
      error => qr/"alg" does not fit the EC/ },
    { name => 'ES384 on a P-256 key', json => jwk('ec256', alg => 'ES384'),
      error => qr/"alg" does not fit the EC/ },
    { name => 'HS256 on an RSA key', json => jwk('rsa', alg => 'HS256'),
      error => qr/"alg" does not fit kty "RSA"/ },
    { name => 'alg none on a key', json => jwk('rsa', alg => 'none'),
      error => qr/unsupported "alg"/ },
    { name => 'unknown alg on a key', json => jwk('rsa', alg => 'RS999'),
      error => qr/unsupported "alg"/ },
    { name => 'HMAC key of 16 bytes', json => { keys => [ oct_jwk('k' x 16) ] },
      error => qr/HMAC key shorter than 32/ },
    { name => 'HMAC key of 31 bytes with alg HS256', json => oct_jwk('k' x 31, alg => 'HS256'),
      error => qr/shorter than 32/ },
    { name => 'HMAC key of 40 bytes with alg HS384', json => oct_jwk('k' x 40, alg => 'HS384'),
      error => qr/shorter than 48/ },
    { name => 'HMAC key of 48 bytes with alg HS512', json => oct_jwk('k' x 48, alg => 'HS512'),
      error => qr/shorter than 64/ },
    { name => 'oct JWK without k', json => { kty => 'oct', kid => 'x' },
      error => qr/missing "k"/ },
    { name => 'oct key with alg RS256', json => oct_jwk('k' x 64, alg => 'RS256'),
      error => qr/"alg" does not fit kty "oct"/ },
    { name => 'EC JWK crv P-384 with P-256 coordinates', json => $ec_crv_mismatch,
      error => qr/wrong length|not on the curve/ },
    { name => 'EC JWK point not on the curve', json => { keys => [$ec_bad_point] },
      error => qr/not on the curve/ },
    { name => 'only use=enc keys', json => { keys => [
          jwk('rsa', use => 'enc', kid => 'a'), jwk('ec256', use => 'enc', kid => 'b') ] },
      error => qr/no usable key \(2 skipped\)/ },
    { name => 'only keys of kinds not implemented', json => { keys => [
          { kty => 'OKP', crv => 'X25519', x => encode_base64url('x' x 32), kid => 'a' },
          { %{ jwk('ec256') }, crv => 'secp256k1', kid => 'b' },
          oct_jwk('k' x 16, alg => 'A128KW', kid => 'c') ] },
      error => qr/no usable key \(3 skipped\)/ },
    { name => 'a bad key beside good ones', json => { keys => [
          jwk('rsa', kid => 'good'), oct_jwk('k' x 16, kid => 'short') ] },
      error => qr/shorter than 32/ },
    { name => 'RSA private key PEM', content => slurp("$TMP/rsa.pem"),
      error => qr/not a "PUBLIC KEY"/ },
    { name => 'EC private key PEM', content => slurp("$TMP/ec256.pem"),
      error => qr/not a "PUBLIC KEY"/ },
    { name => 'certificate PEM', content => slurp("$TMP/cert.pem"),
      error => qr/not a "PUBLIC KEY"/ },
    { name => 'public key PEM followed by a private key',
      content => slurp("$TMP/rsa-pub.pem") . slurp("$TMP/rsa.pem"),
      error => qr/PEM block 2/ },
    { name => 'RSA key of 1024 bits', content => slurp("$TMP/rsa1024-pub.pem"),
      error => qr/2048/ },
    { name => 'EC PEM on secp256k1', content => slurp("$TMP/k1-pub.pem"),
      error => qr/EC curve is not P-256/ },
    { name => 'Ed448 PEM', content => slurp("$TMP/ed448-pub.pem"),
      error => qr/neither RSA, EC nor Ed25519/ },
    { name => 'PEM with a broken body',
      content => "-----BEGIN PUBLIC KEY-----\nnot*base64\n-----END PUBLIC KEY-----\n",
      error => qr/bad PEM/ },
], sub {
    my ($c) = @_;
    my $path = $c->{path} // write_file("bad-$c->{name}.key" =~ s/[^\w.-]+/_/gr,
        defined $c->{content} ? $c->{content} : $JS->encode($c->{json}));
    my ($rc, $out) = nginx_t(<<"EOF");
        location /a/ {
            session_jwt x;
            session_jwt_key_file $path;
        }
EOF
    isnt $rc, 0, 'nginx -t fails';
    like $out, qr/\[emerg\].*invalid key file "\Q$path\E": /, 'names the file'
        or diag $out;
    like $out, $c->{error}, 'with the reason' or diag $out;
    unlike $out, qr/\Q$SECRET\E/, 'no key material in the message';
});

######################################################################
# keys that are not for us: skipped with a warn naming the file and kid,
# the rest of the set loads (SPEC 5)

my %skip_base = (
    rsa => jwk('rsa'),
    k1 => { %{ jwk('ec256') }, crv => 'secp256k1' },
    oct => oct_jwk('k' x 16),
    x25519 => { kty => 'OKP', crv => 'X25519', x => encode_base64url('x' x 32) },
    ed448 => { kty => 'OKP', crv => 'Ed448', x => encode_base64url('x' x 57) },
);

run_cases([
    { name => 'use enc', key => 'rsa', extra => { use => 'enc' }, why => '"use" is "enc"' },
    { name => 'use enc on a broken key', key => 'rsa', extra => { use => 'enc', n => '!' },
      why => '"use" is "enc"' },
    { name => 'alg RSA-OAEP', key => 'rsa', extra => { alg => 'RSA-OAEP' },
      why => '"alg" is "RSA-OAEP"' },
    { name => 'alg RSA-OAEP-256', key => 'rsa', extra => { alg => 'RSA-OAEP-256' },
      why => '"alg" is "RSA-OAEP-256"' },
    { name => 'alg ES256K', key => 'k1', extra => { alg => 'ES256K' },
      why => '"alg" is "ES256K"' },
    { name => 'alg A128KW', key => 'oct', extra => { alg => 'A128KW' },
      why => '"alg" is "A128KW"' },
    { name => 'EC secp256k1', key => 'k1', why => '"crv" is "secp256k1"' },
    { name => 'OKP X25519', key => 'x25519', why => '"crv" is "X25519"' },
    { name => 'OKP Ed448', key => 'ed448', why => '"crv" is "Ed448"' },
], sub {
    my ($c) = @_;
    my $path = write_file("skip-$c->{name}.jwks" =~ s/[^\w.-]+/_/gr,
        $JS->encode({ keys => [ { %{ $skip_base{ $c->{key} } },
                                  %{ $c->{extra} || {} }, kid => 'row' },
                                jwk('rsa', kid => 'good') ] }));
    my ($rc, $out) = nginx_t(<<"EOF");
        location /a/ {
            session_jwt x;
            session_jwt_key_file $path;
        }
EOF
    is $rc, 0, 'nginx -t passes' or diag $out;
    like $out, qr/\[warn\].*key file "\Q$path\E": keys\[0\] \(kid "row"\) skipped: \Q$c->{why}\E/,
         'a warn names the file, the kid and why' or diag $out;
    is scalar(() = $out =~ /\[warn\]/g), 1, 'one warn, for the skipped key only';
});

######################################################################
# directives that cannot work

my $good_key = write_file('good.jwks', $JS->encode({ keys => [ jwk('rsa', kid => 'rsa') ] }));

run_cases([
    { name => 'session_jwt_algorithms none',
      conf => "location /a/ { session_jwt x; session_jwt_key_file $good_key; session_jwt_algorithms none; }",
      error => qr/algorithm "none" cannot be allowed/ },
    { name => 'session_jwt_algorithms HS256 none',
      conf => "location /a/ { session_jwt x; session_jwt_key_file $good_key; session_jwt_algorithms HS256 none; }",
      error => qr/algorithm "none" cannot be allowed/ },
    { name => 'session_jwt_algorithms none at server level, unused',
      conf => "session_jwt_algorithms none;",
      error => qr/algorithm "none" cannot be allowed/ },
    { name => 'unknown algorithm',
      conf => "location /a/ { session_jwt x; session_jwt_key_file $good_key; session_jwt_algorithms RS256 HS999; }",
      error => qr/algorithm "HS999" cannot be allowed/ },
    { name => 'algorithm names are case-sensitive',
      conf => "location /a/ { session_jwt x; session_jwt_key_file $good_key; session_jwt_algorithms rs256; }",
      error => qr/algorithm "rs256" cannot be allowed/ },
    { name => 'session_jwt without a key file',
      conf => 'location /a/ { session_jwt x; }',
      error => qr/"session_jwt" needs "session_jwt_key_file"/ },
    { name => 'session_jwt at server level without a key file',
      conf => 'session_jwt x; location /a/ { }',
      error => qr/"session_jwt" needs "session_jwt_key_file"/ },
    { name => 'owner claim without session_jwt',
      conf => 'location /a/ { session_result_pass 127.0.0.1:6379; session_result_owner_claim sub; }',
      error => qr/"session_result_owner_claim" needs/ },
    { name => 'owner claim where session_jwt is off',
      conf => "session_jwt x; session_jwt_key_file $good_key; location /a/ { session_jwt off; session_result_pass 127.0.0.1:6379; session_result_owner_claim sub; }",
      error => qr/"session_result_owner_claim" needs/ },
    { name => 'realm with a double quote',
      conf => qq{location /a/ { session_jwt 'a"b'; session_jwt_key_file $good_key; }},
      error => qr/"session_jwt" directive has a realm with a quote/ },
    { name => 'bad leeway',
      conf => "location /a/ { session_jwt x; session_jwt_key_file $good_key; session_jwt_leeway soon; }",
      error => qr/session_jwt_leeway/ },
    { name => 'session_jwt_cache outside http',
      conf => 'session_jwt_cache 10;',
      error => qr/"session_jwt_cache" directive is not allowed here/ },
    { name => 'bad session_jwt_cache',
      conf => 'location /a/ { }', http => 'session_jwt_cache many;',
      error => qr/session_jwt_cache/ },
], sub {
    my ($c) = @_;
    my ($rc, $out) = nginx_t($c->{conf}, http => $c->{http});
    isnt $rc, 0, 'nginx -t fails';
    like $out, $c->{error}, 'with a clear message' or diag $out;
});

subtest 'valid directive forms pass nginx -t' => sub {
    my ($rc, $out) = nginx_t(<<"EOF", http => "session_jwt_cache off; session_jwt_key_file $good_key;");
        location /a/ {
            session_jwt "my realm";
            session_jwt_algorithms RS256 RS384 ES256;
            session_jwt_issuer https://idp.example/;
            session_jwt_audience a b c;
            session_jwt_leeway 1m;
            session_jwt_token \$http_x_token;
            session_result_owner_claim sub;
            session_result_pass 127.0.0.1:6379;
        }
        location /b/ {
            session_jwt off;
            session_jwt_issuer off;
            session_jwt_audience off;
        }
EOF
    is $rc, 0, 'nginx -t passes (key file at http level)' or diag $out;
};

######################################################################
# accepted key-file forms, verified with real tokens

my %file = (
    jwks => write_file('all.jwks', $JS->encode({ keys => [
        jwk('rsa', kid => 'rsa', use => 'sig'),
        jwk('ec256', kid => 'ec'),
        oct_jwk($SECRET, kid => 'hs'),
    ] })),
    jwk => write_file('single.jwk', $JS->encode(jwk('ec384'))),
    rsapem => "$TMP/rsa-pub.pem",
    pkcs1 => "$TMP/rsa-pkcs1.pem",
    ecpem => "$TMP/ec521-pub.pem",
    twopem => write_file('two.pem', slurp("$TMP/rsa2-pub.pem") . slurp("$TMP/ec256-pub.pem")),
    enc => write_file('enc.jwks', $JS->encode({ keys => [
        jwk('rsa', kid => 'enc', use => 'enc'),
        jwk('ec256', kid => 'sig', use => 'sig'),
    ] })),
    alg => write_file('alg.jwk', $JS->encode(jwk('rsa', alg => 'RS384'))),
    idp => write_file('idp.jwks', $JS->encode({ keys => [
        jwk('rsa', kid => 'rs', use => 'sig', alg => 'RS256'),
        jwk('ec256', kid => 'es', use => 'sig', alg => 'ES256'),
        jwk('rsa2', kid => 'ps', use => 'sig', alg => 'PS256'),
        jwk('ed', kid => 'ed', use => 'sig', alg => 'EdDSA'),
        jwk('rsa', kid => 'enc', use => 'enc', alg => 'RSA-OAEP'),
        { kty => 'OKP', crv => 'X25519', kid => 'x', x => encode_base64url('x' x 32) },
    ] })),
    edpem => "$TMP/ed-pub.pem",
    oct32 => write_file('oct32.jwk', $JS->encode(oct_jwk($SECRET))),
    A => write_file('a.jwk', $JS->encode(jwk('rsa'))),
    B => write_file('b.jwk', $JS->encode(jwk('rsa2'))),
);

mkdir "$TMP/www";
for (qw(jwks jwk rsapem pkcs1 ecpem twopem enc alg idp edpem oct32 inherit own off realm iss-off)) {
    mkdir "$TMP/www/$_";
    write_file("www/$_/index.html", "$_\n");
}

my $loc = join '', map { "        location /$_/ { session_jwt_key_file $file{$_}; }\n" }
          qw(jwks jwk rsapem pkcs1 ecpem twopem enc alg idp edpem oct32);

my $ngx = start_nginx(<<"EOF");
        root $TMP/www;
        session_jwt srv;
        session_jwt_key_file $file{A};
        session_jwt_issuer https://idp.example/;
$loc
        location /inherit/ { }
        location /own/ { session_jwt_key_file $file{B}; }
        location /off/ { session_jwt off; }
        location /realm/ { session_jwt other; }
        location /iss-off/ { session_jwt_issuer off; }
EOF

my %iss = (claims => { iss => 'https://idp.example/' });

run_cases([
    { name => 'JWKS: RSA key', path => '/jwks/', token => token(key => 'rsa', kid => 'rsa', %iss) },
    { name => 'JWKS: EC key', path => '/jwks/', token => token(alg => 'ES256', key => 'ec256', kid => 'ec', %iss) },
    { name => 'JWKS: oct key', path => '/jwks/', token => token(alg => 'HS256', key => 'hs', kid => 'hs', %iss) },
    { name => 'JWKS: RSA key without kid', path => '/jwks/', token => token(key => 'rsa', %iss) },
    { name => 'single JWK (P-384, no kid)', path => '/jwk/', token => token(alg => 'ES384', key => 'ec384', %iss) },
    { name => 'single JWK: a kid it does not have', path => '/jwk/',
      token => token(alg => 'ES384', key => 'ec384', kid => 'x', %iss), error => 'unknown kid' },
    { name => 'RSA PEM (SubjectPublicKeyInfo)', path => '/rsapem/', token => token(alg => 'RS512', key => 'rsa', %iss) },
    { name => 'RSA PEM (PKCS#1 RSA PUBLIC KEY)', path => '/pkcs1/', token => token(key => 'rsa', %iss) },
    { name => 'EC PEM (P-521)', path => '/ecpem/', token => token(alg => 'ES512', key => 'ec521', %iss) },
    { name => 'two PEM blocks: the RSA one', path => '/twopem/', token => token(key => 'rsa2', %iss) },
    { name => 'two PEM blocks: the EC one', path => '/twopem/', token => token(alg => 'ES256', key => 'ec256', %iss) },
    { name => 'use=sig key beside a use=enc key', path => '/enc/',
      token => token(alg => 'ES256', key => 'ec256', kid => 'sig', %iss) },
    { name => 'the use=enc key is skipped (its kid)', path => '/enc/',
      token => token(key => 'rsa', kid => 'enc', %iss), error => 'unknown kid' },
    { name => 'the use=enc key is skipped (no kid)', path => '/enc/',
      token => token(key => 'rsa', %iss), error => 'no key for the algorithm' },
    { name => 'JWK alg RS384: RS384 accepted', path => '/alg/', token => token(alg => 'RS384', key => 'rsa', %iss) },
    { name => 'JWK alg RS384: RS256 refused', path => '/alg/',
      token => token(alg => 'RS256', key => 'rsa', %iss), error => 'no key for the algorithm' },
    { name => 'provider JWKS: RS256', path => '/idp/', token => token(key => 'rsa', kid => 'rs', %iss) },
    { name => 'provider JWKS: ES256', path => '/idp/',
      token => token(alg => 'ES256', key => 'ec256', kid => 'es', %iss) },
    { name => 'provider JWKS: PS256', path => '/idp/',
      token => token(alg => 'PS256', key => 'rsa2', kid => 'ps', %iss) },
    { name => 'provider JWKS: EdDSA', path => '/idp/',
      token => token(alg => 'EdDSA', key => 'ed', kid => 'ed', %iss) },
    { name => 'provider JWKS: at+jwt, PS256', path => '/idp/',
      token => token(alg => 'PS256', key => 'rsa2', kid => 'ps', typ => 'at+jwt', %iss) },
    { name => 'provider JWKS: the skipped RSA-OAEP key', path => '/idp/',
      token => token(key => 'rsa', kid => 'enc', %iss), error => 'unknown kid' },
    { name => 'provider JWKS: PS384 with the PS256 key', path => '/idp/',
      token => token(alg => 'PS384', key => 'rsa2', kid => 'ps', %iss),
      error => 'no key for the algorithm' },
    { name => 'Ed25519 PEM: EdDSA', path => '/edpem/', token => token(alg => 'EdDSA', key => 'ed', %iss) },
    { name => '32-byte oct key without alg: HS256', path => '/oct32/',
      token => token(alg => 'HS256', key => 'hs', %iss) },
    { name => '32-byte oct key without alg: not HS384 (RFC 7518 3.2)', path => '/oct32/',
      token => token(alg => 'HS384', key => 'hs', %iss), error => 'no key for the algorithm' },
    { name => 'inherited key file (server level)', path => '/inherit/',
      token => token(key => 'rsa', %iss) },
    { name => 'inherited: the other key is not there', path => '/inherit/',
      token => token(key => 'rsa2', %iss), error => 'signature verification failed' },
    { name => 'own key file replaces the server-level one: server key refused', path => '/own/',
      token => token(key => 'rsa', %iss), error => 'signature verification failed' },
    { name => 'own key file: its key accepted', path => '/own/',
      token => token(key => 'rsa2', %iss) },
    { name => 'session_jwt inherited from the server', path => '/inherit/',
      no_token => 'srv' },
    { name => 'session_jwt off in a location', path => '/off/' },
    { name => 'realm overridden, keys inherited', path => '/realm/', no_token => 'other' },
    { name => 'realm overridden, keys inherited: token', path => '/realm/',
      token => token(key => 'rsa', %iss) },
    { name => 'issuer inherited', path => '/inherit/', token => token(key => 'rsa'),
      error => 'issuer mismatch' },
    { name => 'issuer off in a location', path => '/iss-off/', token => token(key => 'rsa') },
], sub {
    my ($c) = @_;
    my $r = http_get($ngx->port, $c->{path},
                     $c->{token} ? (Authorization => "Bearer $c->{token}") : ());
    (my $dir = $c->{path}) =~ s{/}{}g;
    if ($c->{error}) {
        is $r->{status}, 401, 'status 401' or diag $r->{raw};
        my $realm = $c->{path} eq '/realm/' ? 'other' : 'srv';
        is $r->{headers}{'www-authenticate'},
           qq{Bearer realm="$realm", error="invalid_token", error_description="$c->{error}"},
           "refused: $c->{error}";
    } elsif ($c->{no_token}) {
        is $r->{status}, 401, 'status 401' or diag $r->{raw};
        is $r->{headers}{'www-authenticate'}, qq{Bearer realm="$c->{no_token}"},
           'realm';
    } else {
        is $r->{status}, 200, 'status 200' or diag $r->{raw};
        is $r->{body}, "$dir\n", 'the file';
    }
});

$ngx->stop;
error_log_clean($ngx);

done_testing;
