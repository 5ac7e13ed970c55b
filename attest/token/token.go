// Package token defines confide's attestation token (spec/attestation-token.md):
// a JWT, signed ES256 by an attestation service, that carries the claims
// of evidence the service verified, the runtime data the evidence bound,
// and the appraisal policy applied. Relying parties verify it with the
// service's JWKS (Verifier); the key broker evaluates release policies on
// its claims.
package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	_ "crypto/sha256" // the thumbprint hash
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/confide/confide/enclave"
)

// Profile is the eat_profile of version 1 tokens.
const Profile = "urn:confide:attestation-token:v1"

// Verdicts.
const (
	// Affirming: the named policy accepted the claims.
	Affirming = "affirming"
	// None: no policy was named; the evidence is genuine and bound to the
	// nonce, and the relying party appraises the claims itself.
	None = "none"
)

// Claims are a token's payload.
type Claims struct {
	Issuer    string `json:"iss"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expiry    int64  `json:"exp"`
	ID        string `json:"jti"`
	Profile   string `json:"eat_profile"`
	// Nonce is the challenge's nonce, hex.
	Nonce string `json:"eat_nonce"`

	// The evidence's claims, named as `confide attest verify` prints them.
	Platform   string `json:"platform"`
	UniqueID   string `json:"unique_id"`
	ConfigID   string `json:"config_id"`
	SignerID   string `json:"signer_id"`
	ProductID  uint16 `json:"product_id"`
	SVN        uint16 `json:"svn"`
	Debug      bool   `json:"debug"`
	TCBStatus  string `json:"tcb_status"`
	ReportData string `json:"report_data"`
	// Ext holds the evidence's extra claims (enclave.Claims.Extra: names
	// "x-…"), each a claim of its own to policies.
	Ext map[string]any `json:"ext,omitempty"`

	// RuntimeData is the runtime data (base64url, unpadded) whose SHA-256
	// the report data's second half is; empty when none was sent.
	RuntimeData string `json:"runtime_data,omitempty"`
	// Runtime holds the runtime data's members when it is a JSON object.
	Runtime map[string]any `json:"runtime,omitempty"`

	// Policy is the appraisal policy applied, when one was named.
	Policy  *PolicyRef `json:"policy,omitempty"`
	Verdict string     `json:"verdict"`
}

// PolicyRef names a version of a stored policy.
type PolicyRef struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
}

// FromEvidence fills the evidence claims.
func (c *Claims) FromEvidence(e enclave.Claims) {
	c.Platform, c.ProductID, c.SVN, c.Debug, c.TCBStatus = e.Platform, e.ProductID, e.SVN, e.Debug, e.TCBStatus
	c.UniqueID = hex.EncodeToString(e.UniqueID)
	c.ConfigID = hex.EncodeToString(e.ConfigID)
	c.SignerID = hex.EncodeToString(e.SignerID)
	c.ReportData = hex.EncodeToString(e.ReportData[:])
	c.Ext = nil
	for k, v := range e.Extra {
		if enclave.ValidExtraClaim(k, v) {
			if c.Ext == nil {
				c.Ext = map[string]any{}
			}
			c.Ext[k] = v
		}
	}
}

// SetRuntimeData records the runtime data and, when it is a JSON object,
// its members.
func (c *Claims) SetRuntimeData(rd []byte) {
	c.RuntimeData = base64.RawURLEncoding.EncodeToString(rd)
	c.Runtime = nil
	var m map[string]any
	if json.Unmarshal(rd, &m) == nil && m != nil {
		c.Runtime = m
	}
}

// RawRuntimeData decodes RuntimeData.
func (c *Claims) RawRuntimeData() ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(c.RuntimeData)
}

// Map returns the claims as a policy sees them: the evidence claims by
// name (the extra ones too), "runtime_data", and each runtime member as "runtime.<name>",
// nested objects as "runtime.<name>.<member>" (arrays are not
// addressable). Numbers are float64, as encoding/json decodes them.
func (c *Claims) Map() map[string]any {
	m := map[string]any{
		"platform":    c.Platform,
		"unique_id":   c.UniqueID,
		"config_id":   c.ConfigID,
		"signer_id":   c.SignerID,
		"product_id":  float64(c.ProductID),
		"svn":         float64(c.SVN),
		"debug":       c.Debug,
		"tcb_status":  c.TCBStatus,
		"report_data": c.ReportData,
		"verdict":     c.Verdict,
	}
	if c.RuntimeData != "" {
		m["runtime_data"] = c.RuntimeData
	}
	for k, v := range c.Ext {
		if enclave.ValidExtraClaim(k, v) {
			m[k] = v
		}
	}
	flatten(m, "runtime", c.Runtime, 0)
	return m
}

func flatten(dst map[string]any, prefix string, obj map[string]any, depth int) {
	if depth > 8 {
		return
	}
	for k, v := range obj {
		name := prefix + "." + k
		switch v := v.(type) {
		case map[string]any:
			flatten(dst, name, v, depth+1)
		case string, float64, bool:
			dst[name] = v
		}
	}
}

// ReleaseKey returns the JWK in the runtime data's "jwk" member: the
// public key a key broker encrypts released keys to.
func (c *Claims) ReleaseKey() (*jose.JSONWebKey, error) {
	raw, ok := c.Runtime["jwk"]
	if !ok {
		return nil, errors.New("token: the runtime data carries no \"jwk\"")
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("token: runtime jwk: %w", err)
	}
	if !k.Valid() || !k.IsPublic() {
		return nil, errors.New("token: runtime jwk must be a valid public key")
	}
	return &k, nil
}

// SigningKey is one of an issuer's keys.
type SigningKey struct {
	ID      string
	Key     *ecdsa.PrivateKey //confide:secret
	Created time.Time
	// Retired is when the key stopped signing (zero while it signs); it is
	// published until Retired plus the token lifetime.
	Retired time.Time
}

// NewSigningKey generates a P-256 key whose ID is its RFC 7638 thumbprint.
func NewSigningKey(rnd io.Reader, now time.Time) (*SigningKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, err
	}
	return KeyFromPrivate(k, now)
}

// KeyFromPrivate wraps an existing P-256 key.
func KeyFromPrivate(k *ecdsa.PrivateKey, created time.Time) (*SigningKey, error) {
	if k.Curve != elliptic.P256() {
		return nil, errors.New("token: signing keys are P-256")
	}
	id, err := keyID(k)
	if err != nil {
		return nil, err
	}
	return &SigningKey{ID: id, Key: k, Created: created}, nil
}

// keyID is the RFC 7638 thumbprint of the public key.
//
//confide:declassify
func keyID(k *ecdsa.PrivateKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: k.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", errors.New("token: thumbprint of the signing key")
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// Issuer signs tokens with the newest key of its ring and publishes the
// ring's public keys. It is safe for concurrent use.
type Issuer struct {
	Name     string
	Lifetime time.Duration

	mu      sync.RWMutex
	keys    []*SigningKey // oldest first; the last one signs
	signer  jose.Signer
	current *SigningKey
}

// NewIssuer returns an issuer over keys (oldest first, at least one).
func NewIssuer(name string, lifetime time.Duration, keys []*SigningKey) (*Issuer, error) {
	i := &Issuer{Name: name, Lifetime: lifetime}
	if err := i.SetKeys(keys); err != nil {
		return nil, err
	}
	return i, nil
}

// SetKeys replaces the ring (after a rotation).
func (i *Issuer) SetKeys(keys []*SigningKey) error {
	if len(keys) == 0 {
		return errors.New("token: an issuer needs a key")
	}
	cur := keys[len(keys)-1]
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: cur.Key, KeyID: cur.ID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return err
	}
	i.mu.Lock()
	i.keys, i.signer, i.current = slices.Clone(keys), s, cur
	i.mu.Unlock()
	return nil
}

// Keys returns the ring.
func (i *Issuer) Keys() []*SigningKey {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return slices.Clone(i.keys)
}

// Issue fills the registered claims (iss, iat, nbf, exp, eat_profile) and
// signs. jti must be set by the caller.
func (i *Issuer) Issue(c *Claims, now time.Time) (string, error) {
	c.Issuer, c.Profile = i.Name, Profile
	c.IssuedAt, c.NotBefore = now.Unix(), now.Unix()
	c.Expiry = now.Add(i.Lifetime).Unix()
	i.mu.RLock()
	s := i.signer
	i.mu.RUnlock()
	return jwt.Signed(s).Claims(c).Serialize()
}

// JWKS returns the public keys that verify tokens not yet expired at now.
//
//confide:declassify
func (i *Issuer) JWKS(now time.Time) jose.JSONWebKeySet {
	i.mu.RLock()
	defer i.mu.RUnlock()
	var set jose.JSONWebKeySet
	for j := len(i.keys) - 1; j >= 0; j-- {
		k := i.keys[j]
		if !k.Retired.IsZero() && now.After(k.Retired.Add(i.Lifetime)) {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Key.Public(), KeyID: k.ID, Algorithm: string(jose.ES256), Use: "sig"})
	}
	return set
}

// Errors a Verifier returns.
var (
	ErrMalformed = errors.New("token: malformed")
	ErrSignature = errors.New("token: signature does not verify with the issuer's keys")
	ErrExpired   = errors.New("token: expired or not yet valid")
	ErrIssuer    = errors.New("token: unknown issuer")
)

// KeySet returns the keys of an issuer; refresh asks for a fresh copy
// (a key ID was not found), which an implementation may rate-limit.
type KeySet interface {
	Keys(refresh bool) (jose.JSONWebKeySet, error)
}

// StaticKeys is a fixed KeySet.
type StaticKeys struct{ Set jose.JSONWebKeySet }

func (s StaticKeys) Keys(bool) (jose.JSONWebKeySet, error) { return s.Set, nil }

// IssuerKeys adapts an in-process Issuer.
type IssuerKeys struct {
	Issuer *Issuer
	Now    func() time.Time
}

func (k IssuerKeys) Keys(bool) (jose.JSONWebKeySet, error) {
	now := time.Now()
	if k.Now != nil {
		now = k.Now()
	}
	return k.Issuer.JWKS(now), nil
}

// Verifier verifies tokens of one issuer.
type Verifier struct {
	Issuer string
	Keys   KeySet
	// Leeway tolerates clock skew on iat/nbf/exp; zero means 30 s.
	Leeway time.Duration
	Now    func() time.Time
}

// MaxToken bounds the size of a token a Verifier parses.
const MaxToken = 64 << 10

// Verify checks the signature, issuer, profile and validity window, and
// returns the claims.
func (v *Verifier) Verify(tok string) (*Claims, error) {
	if len(tok) > MaxToken {
		return nil, fmt.Errorf("%w: over %d bytes", ErrMalformed, MaxToken)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(parsed.Headers) != 1 || parsed.Headers[0].KeyID == "" {
		return nil, fmt.Errorf("%w: one signature with a key ID expected", ErrMalformed)
	}
	kid := parsed.Headers[0].KeyID
	key, err := v.key(kid)
	if err != nil {
		return nil, err
	}
	var c Claims
	if err := parsed.Claims(key, &c); err != nil {
		return nil, ErrSignature
	}
	if c.Issuer != v.Issuer {
		return nil, ErrIssuer
	}
	if c.Profile != Profile {
		return nil, fmt.Errorf("%w: eat_profile %q", ErrMalformed, c.Profile)
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	leeway := v.Leeway
	if leeway == 0 {
		leeway = 30 * time.Second
	}
	t := now.Unix()
	l := int64(leeway / time.Second)
	if c.Expiry == 0 || t > c.Expiry+l || t+l < c.NotBefore || t+l < c.IssuedAt || c.Expiry > math.MaxInt64/2 {
		return nil, ErrExpired
	}
	return &c, nil
}

func (v *Verifier) key(kid string) (*jose.JSONWebKey, error) {
	for _, refresh := range []bool{false, true} {
		set, err := v.Keys.Keys(refresh)
		if err != nil {
			return nil, fmt.Errorf("token: fetching the issuer's keys: %w", err)
		}
		if ks := set.Key(kid); len(ks) == 1 && ks[0].Valid() && ks[0].IsPublic() {
			return &ks[0], nil
		}
	}
	return nil, ErrSignature
}
