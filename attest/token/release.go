package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"

	"github.com/go-jose/go-jose/v4"
)

// Secure key release, both sides: the enclave that wants a secret binds a
// fresh public key into its evidence's runtime data ({"jwk": …}); the
// holder of the secret, once the token or evidence satisfies its policy,
// encrypts the secret to that key (a compact JWE, A256GCM) and nothing
// else ever sees it. The key broker's releases and migrations and the
// attestation service's migration use these.

// Ephemeral is a fresh key pair for one release, and the runtime data
// that carries its public key ({"jwk": …} plus extra members).
type Ephemeral struct {
	Key         *ecdsa.PrivateKey
	RuntimeData []byte
}

// NewEphemeral generates a P-256 key and its runtime data; extra members
// (a job manifest's hash, …) join the JSON object for release policies.
func NewEphemeral(extra map[string]any) (*Ephemeral, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{}
	for n, v := range extra {
		doc[n] = v
	}
	if _, ok := doc["jwk"]; ok {
		return nil, errors.New("token: \"jwk\" is reserved for the ephemeral key")
	}
	doc["jwk"] = jose.JSONWebKey{Key: k.Public()}
	rd, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return &Ephemeral{Key: k, RuntimeData: rd}, nil
}

// Open decrypts a compact JWE sent to the ephemeral key.
func (e *Ephemeral) Open(compact string) ([]byte, error) {
	return OpenJWE(compact, e.Key)
}

// OpenJWE decrypts a compact JWE made by an Encrypter for key's public
// half; only the algorithms Encrypter chooses are accepted.
func OpenJWE(compact string, key crypto.PrivateKey) ([]byte, error) {
	obj, err := jose.ParseEncryptedCompact(compact,
		[]jose.KeyAlgorithm{jose.ECDH_ES, jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		return nil, err
	}
	return obj.Decrypt(key)
}

// KeyAlgorithm picks the JWE key management algorithm for a release
// key: ECDH-ES for EC keys, RSA-OAEP-256 for RSA keys of 2048 bits or
// more. The content is always A256GCM. (Each caller builds its own
// jose.Encrypter: the leak checker follows a shared constructor's result
// into every caller, as if one enclave's plaintext met another's key.)
func KeyAlgorithm(k *jose.JSONWebKey) (jose.KeyAlgorithm, error) {
	switch pk := k.Key.(type) {
	case *rsa.PublicKey:
		if pk.N.BitLen() < 2048 {
			return "", errors.New("ephemeral RSA keys must have at least 2048 bits")
		}
		return jose.RSA_OAEP_256, nil
	case *ecdsa.PublicKey:
		return jose.ECDH_ES, nil
	}
	return "", errors.New("the ephemeral key must be RSA or EC")
}
