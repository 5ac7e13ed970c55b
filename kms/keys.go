package kms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/confide/confide/kms/api"
)

// record is a key as the broker stores it (encrypted, spec/key-broker.md).
type record struct {
	Format        int                 `json:"format"`
	Name          string              `json:"name"`
	Kty           string              `json:"kty"`
	Exportable    bool                `json:"exportable"`
	ReleasePolicy json.RawMessage     `json:"release_policy,omitempty"`
	Access        map[string][]string `json:"access,omitempty"`
	Created       time.Time           `json:"created"`
	Updated       time.Time           `json:"updated"`
	Versions      []version           `json:"versions"`
}

type version struct {
	Version int             `json:"version"`
	Created time.Time       `json:"created"`
	JWK     json.RawMessage `json:"jwk"` // private JWK (not annotated: see doc.go)
}

const recordFormat = 1

// material is a decoded key version.
type material struct {
	version int
	created time.Time
	jwk     jose.JSONWebKey
}

// material decodes the private JWK. Its error is fixed: a decoder's
// message could quote the key.
func (v version) material() (*material, error) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(v.JWK); err != nil {
		return nil, ErrStored
	}
	return &material{version: v.Version, created: v.Created, jwk: k}, nil
}

// id returns the version number, which is public.
//
//confide:declassify
func (m *material) id() int { return m.version }

// size returns the key's size and curve, which are public.
//
//confide:declassify
func (m *material) size() (bits int, curve string) {
	switch k := m.jwk.Key.(type) {
	case []byte:
		return 8 * len(k), ""
	case *rsa.PrivateKey:
		return k.N.BitLen(), ""
	case *ecdsa.PrivateKey:
		return k.Curve.Params().BitSize, k.Curve.Params().Name
	}
	return 0, ""
}

// public returns the public half of an asymmetric key.
//
//confide:declassify
func (m *material) public() *jose.JSONWebKey {
	if _, ok := m.jwk.Key.([]byte); ok {
		return nil
	}
	pub := m.jwk.Public()
	return &pub
}

// newKey generates key material.
func newKey(rnd io.Reader, kty string, size int, curve string) (any, error) {
	switch kty {
	case api.KeyOct:
		if size == 0 {
			size = 256
		}
		if size != 128 && size != 192 && size != 256 {
			return nil, errors.New("oct keys are 128, 192 or 256 bits")
		}
		k := make([]byte, size/8)
		_, err := io.ReadFull(rnd, k)
		return k, err
	case api.KeyRSA:
		if size == 0 {
			size = 3072
		}
		if size != 2048 && size != 3072 && size != 4096 {
			return nil, errors.New("RSA keys are 2048, 3072 or 4096 bits")
		}
		return rsa.GenerateKey(rnd, size)
	case api.KeyEC:
		c, err := curveByName(curve)
		if err != nil {
			return nil, err
		}
		return ecdsa.GenerateKey(c, rnd)
	}
	return nil, fmt.Errorf("unknown kty %q (want oct, RSA or EC)", kty)
}

func curveByName(name string) (elliptic.Curve, error) {
	switch name {
	case "", "P-256":
		return elliptic.P256(), nil
	case "P-384":
		return elliptic.P384(), nil
	case "P-521":
		return elliptic.P521(), nil
	}
	return nil, fmt.Errorf("unknown curve %q (want P-256, P-384 or P-521)", name)
}

// importKey checks an imported private JWK and returns its kty.
func importKey(raw json.RawMessage) (string, any, error) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(raw); err != nil {
		return "", nil, fmt.Errorf("jwk: %v", err)
	}
	if _, oct := k.Key.([]byte); !oct && !k.Valid() {
		return "", nil, errors.New("jwk: invalid key")
	}
	switch key := k.Key.(type) {
	case []byte:
		if l := len(key); l != 16 && l != 24 && l != 32 {
			return "", nil, errors.New("jwk: oct keys are 128, 192 or 256 bits")
		}
		return api.KeyOct, key, nil
	case *rsa.PrivateKey:
		if b := key.N.BitLen(); b != 2048 && b != 3072 && b != 4096 {
			return "", nil, errors.New("jwk: RSA keys are 2048, 3072 or 4096 bits")
		}
		if err := key.Validate(); err != nil {
			return "", nil, fmt.Errorf("jwk: %v", err)
		}
		return api.KeyRSA, key, nil
	case *ecdsa.PrivateKey:
		if _, err := curveByName(key.Curve.Params().Name); err != nil {
			return "", nil, fmt.Errorf("jwk: %v", err)
		}
		return api.KeyEC, key, nil
	}
	return "", nil, errors.New("jwk: a private key is required (oct, RSA or EC)")
}

func marshalPrivate(key any) (json.RawMessage, error) {
	return jose.JSONWebKey{Key: key}.MarshalJSON()
}

var _ crypto.Signer = (*rsa.PrivateKey)(nil)

// meta returns the key's public metadata, without versions. A record
// comes out of the store's decryption, so all of it derives from the
// key-encryption key; these members are the public ones.
//
//confide:declassify
func (r *record) meta() api.Key {
	return api.Key{
		Name: r.Name, Kty: r.Kty, Exportable: r.Exportable, ReleasePolicy: r.ReleasePolicy, Access: r.Access,
		Created: r.Created.UTC().Format(time.RFC3339), Updated: r.Updated.UTC().Format(time.RFC3339),
	}
}

// info describes the key: its public metadata and, per version, the
// public key; never private material.
//
//confide:declassify
func (r *record) info() api.Key {
	k := r.meta()
	for _, v := range r.Versions {
		kv := api.KeyVersion{Version: v.Version, Created: v.Created.UTC().Format(time.RFC3339)}
		if m, err := v.material(); err == nil {
			kv.Size, kv.Curve = m.size()
			kv.Public = m.public()
		}
		k.Versions = append(k.Versions, kv)
	}
	return k
}

// version returns the material of version n (0: the newest).
func (r *record) material(n int) (*material, error) {
	if n == 0 {
		return r.Versions[len(r.Versions)-1].material()
	}
	for _, v := range r.Versions {
		if v.Version == n {
			return v.material()
		}
	}
	return nil, errNoVersion
}

var errNoVersion = errors.New("no such key version")
