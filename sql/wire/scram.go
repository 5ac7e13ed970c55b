package wire

import (
	"crypto/hmac"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"

	"github.com/xdg-go/scram"
)

// DefaultIterations is the PBKDF2 iteration count of new verifiers,
// PostgreSQL's default (scram_iterations).
const DefaultIterations = 4096

const (
	mechSCRAM     = "SCRAM-SHA-256"
	mechSCRAMPlus = "SCRAM-SHA-256-PLUS"
	saltLen       = 16
)

// Verifier is a SCRAM-SHA-256 password verifier (RFC 5802, RFC 7677): what
// the server stores instead of a password. It cannot be used to log in,
// but it lets whoever holds it impersonate the server and, with one
// observed exchange, the client: keep it as secret as the password.
type Verifier struct {
	Iterations int
	Salt       []byte
	StoredKey  []byte //confide:secret
	ServerKey  []byte //confide:secret
}

// ErrBadVerifier is returned by ParseVerifier for anything that is not a
// well-formed SCRAM-SHA-256 verifier.
var ErrBadVerifier = errors.New("wire: malformed SCRAM-SHA-256 verifier")

// NewVerifier derives a verifier from a password with a fresh random salt
// read from rand (nil: crypto/rand) and DefaultIterations. The password is
// normalized with SASLprep, or used as it is where SASLprep rejects it,
// as PostgreSQL does.
//
//confide:secret password
func NewVerifier(rand io.Reader, password string) (Verifier, error) {
	salt := make([]byte, saltLen)
	if rand == nil {
		rand = cryptorand.Reader
	}
	if _, err := io.ReadFull(rand, salt); err != nil {
		return Verifier{}, fmt.Errorf("wire: reading salt: %w", err)
	}
	return deriveVerifier(password, salt, DefaultIterations)
}

//confide:secret password
func deriveVerifier(password string, salt []byte, iterations int) (Verifier, error) {
	c, err := scram.SHA256.NewClient("", password, "")
	if err != nil {
		c, err = scram.SHA256.NewClientUnprepped("", password, "")
		if err != nil {
			return Verifier{}, fmt.Errorf("wire: preparing password: %w", err)
		}
	}
	sc, err := c.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: iterations})
	if err != nil {
		return Verifier{}, fmt.Errorf("wire: deriving verifier: %w", err)
	}
	return Verifier{Iterations: iterations, Salt: salt, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}, nil
}

// ParseVerifier parses a verifier in PostgreSQL's form (pg_authid's
// rolpassword): SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>,
// base64 throughout.
func ParseVerifier(s string) (Verifier, error) {
	rest, ok := strings.CutPrefix(s, mechSCRAM+"$")
	if !ok {
		return Verifier{}, ErrBadVerifier
	}
	params, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return Verifier{}, ErrBadVerifier
	}
	iter, salt64, ok1 := strings.Cut(params, ":")
	stored64, server64, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return Verifier{}, ErrBadVerifier
	}
	n, err := strconv.Atoi(iter)
	if err != nil || n < 1 || iter != strconv.Itoa(n) {
		return Verifier{}, ErrBadVerifier
	}
	enc := base64.StdEncoding.Strict()
	salt, err1 := enc.DecodeString(salt64)
	stored, err2 := enc.DecodeString(stored64)
	server, err3 := enc.DecodeString(server64)
	if err1 != nil || err2 != nil || err3 != nil || len(salt) == 0 ||
		len(stored) != sha256.Size || len(server) != sha256.Size {
		return Verifier{}, ErrBadVerifier
	}
	return Verifier{Iterations: n, Salt: salt, StoredKey: stored, ServerKey: server}, nil
}

// String formats v as ParseVerifier reads it. The result is as secret as v.
func (v Verifier) String() string {
	enc := base64.StdEncoding
	return fmt.Sprintf("%s$%d:%s$%s:%s", mechSCRAM, v.Iterations,
		enc.EncodeToString(v.Salt), enc.EncodeToString(v.StoredKey), enc.EncodeToString(v.ServerKey))
}

func (v Verifier) valid() bool {
	return v.Iterations > 0 && len(v.Salt) > 0 && len(v.StoredKey) == sha256.Size && len(v.ServerKey) == sha256.Size
}

// mockVerifier stands in for a user who does not exist, so that the
// exchange fails only at the proof, as for a wrong password, and does not
// tell who exists (PostgreSQL's scram_mock_salt). The salt is stable per
// user name and server; the keys match no password.
//
//confide:secret mockKey
func mockVerifier(mockKey []byte, user string) Verifier {
	m := hmac.New(sha256.New, mockKey)
	m.Write([]byte("salt\x00" + user))
	salt := m.Sum(nil)[:saltLen]
	m.Reset()
	m.Write([]byte("key\x00" + user))
	key := m.Sum(nil)
	return Verifier{Iterations: DefaultIterations, Salt: salt, StoredKey: key, ServerKey: key}
}

// scramExchange is one SCRAM-SHA-256 server conversation.
type scramExchange struct {
	conv *scram.ServerConversation
}

// newSCRAM starts a conversation checking the client against v. cb is
// the connection's tls-server-end-point channel binding when
// SCRAM-SHA-256-PLUS was offered, nil otherwise; plus says the client
// chose it.
func newSCRAM(v Verifier, nonce func() string, cb *scram.ChannelBinding, plus bool) (*scramExchange, error) {
	creds := scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(v.Salt), Iters: v.Iterations},
		StoredKey:  v.StoredKey,
		ServerKey:  v.ServerKey,
	}
	// The user name in the SCRAM messages is ignored: the startup
	// message's is the one that counts, as in PostgreSQL (libpq sends an
	// empty one).
	srv, err := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) { return creds, nil })
	if err != nil {
		return nil, err
	}
	srv.WithNonceGenerator(nonce)
	switch {
	case cb != nil && plus:
		return &scramExchange{conv: srv.NewConversationWithChannelBindingRequired(*cb)}, nil
	case cb != nil:
		// PLUS was offered: a client that could bind but says it saw
		// no PLUS ("y") is the victim of a downgrade and is refused.
		return &scramExchange{conv: srv.NewConversationWithChannelBinding(*cb)}, nil
	default:
		return &scramExchange{conv: srv.NewConversation()}, nil
	}
}

// endpointBinding returns the tls-server-end-point channel binding (RFC
// 5929) of the server's certificate: its hash with the hash function of
// its signature algorithm, SHA-256 for MD5 and SHA-1. It returns nil for a
// certificate it cannot bind (Ed25519, as PostgreSQL), and SCRAM-SHA-256-PLUS
// is then not offered.
func endpointBinding(cert *tls.Certificate) *scram.ChannelBinding {
	if cert == nil || len(cert.Certificate) == 0 {
		return nil
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil
		}
	}
	var h hash.Hash
	switch leaf.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256:
		h = sha256.New()
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = sha512.New()
	default:
		return nil
	}
	h.Write(leaf.Raw)
	return &scram.ChannelBinding{Type: scram.ChannelBindingTLSServerEndpoint, Data: h.Sum(nil)}
}

// tlsConfig returns the server's TLS configuration for one connection,
// which records in *chosen the certificate it presents (crypto/tls does
// not report it), choosing as crypto/tls does.
func tlsConfig(base *tls.Config, chosen **tls.Certificate) *tls.Config {
	cfg := base.Clone()
	get := base.GetCertificate
	certs := base.Certificates
	cfg.Certificates = nil // else crypto/tls skips GetCertificate without SNI
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if get != nil {
			cert, err := get(hello)
			if err != nil || cert != nil {
				*chosen = cert
				return cert, err
			}
		}
		if len(certs) == 0 {
			return nil, errors.New("wire: no TLS certificate configured")
		}
		*chosen = &certs[0]
		if len(certs) > 1 {
			for i := range certs {
				if hello.SupportsCertificate(&certs[i]) == nil {
					*chosen = &certs[i]
					break
				}
			}
		}
		return *chosen, nil
	}
	return cfg
}

// step advances the conversation. Its output — the salt, iteration count
// and nonces of server-first, the server signature of server-final — is
// what SCRAM sends in the clear by design; the signature is an HMAC that
// proves knowledge of ServerKey without revealing it.
//
//confide:declassify
func (x *scramExchange) step(in []byte) (out []byte, ok bool) {
	resp, err := x.conv.Step(string(in))
	if err != nil {
		return nil, false
	}
	return []byte(resp), true
}

func (x *scramExchange) valid() bool { return x.conv.Done() && x.conv.Valid() }
