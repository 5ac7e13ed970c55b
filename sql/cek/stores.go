package cek

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/confide/confide/kms/api"
	kmsclient "github.com/confide/confide/kms/client"
)

// KeyFile is a CMK kept in a local PEM file (PKCS #1 or PKCS #8 RSA
// private key). Its key path is the file's path.
type KeyFile struct {
	key *rsa.PrivateKey //confide:secret
}

// LoadKeyFile reads a PEM RSA private key.
func LoadKeyFile(path string) (*KeyFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseKeyFile(b)
}

// ParseKeyFile parses a PEM RSA private key.
func ParseKeyFile(b []byte) (*KeyFile, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("cek: key file: no PEM block")
	}
	var k any
	var err error
	switch blk.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("cek: key file: PEM block %q is not a private key", blk.Type)
	}
	if err != nil {
		return nil, errors.New("cek: key file: malformed private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() < 2048 {
		return nil, errors.New("cek: key file: column master keys are RSA keys of at least 2048 bits")
	}
	return &KeyFile{key: rk}, nil
}

// NewKeyFile generates a CMK and returns it with its PEM (PKCS #8).
func NewKeyFile(bits int) (*KeyFile, []byte, error) {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return &KeyFile{key: k}, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func (f *KeyFile) Public(context.Context) (*rsa.PublicKey, error) { return &f.key.PublicKey, nil }

func (f *KeyFile) Unwrap(_ context.Context, ct []byte) ([]byte, error) {
	k, err := rsa.DecryptOAEP(sha1.New(), nil, f.key, ct, nil)
	if err != nil {
		return nil, errors.New("RSA-OAEP decryption failed")
	}
	return k, nil
}

func (f *KeyFile) Sign(_ context.Context, digest []byte) ([]byte, error) {
	return rsa.SignPKCS1v15(nil, f.key, crypto.SHA256, digest)
}

// KMS is a CMK held by confide's key broker: an RSA key that the caller's
// principal may get (for the public key), unwrapkey and, to make new CEK
// values, sign. The CMK never leaves the broker.
type KMS struct {
	Client *kmsclient.Client
	Name   string
	// Version pins a key version; 0 means the newest.
	Version int
}

func (k *KMS) Public(ctx context.Context) (*rsa.PublicKey, error) {
	info, err := k.Client.Get(ctx, k.Name)
	if err != nil {
		return nil, err
	}
	for i := len(info.Versions) - 1; i >= 0; i-- {
		v := info.Versions[i]
		if k.Version != 0 && v.Version != k.Version {
			continue
		}
		if v.Public == nil {
			continue
		}
		if pub, ok := v.Public.Key.(*rsa.PublicKey); ok {
			return pub, nil
		}
	}
	return nil, fmt.Errorf("cek: key broker key %q has no RSA version %d", k.Name, k.Version)
}

func (k *KMS) Unwrap(ctx context.Context, ct []byte) ([]byte, error) {
	return k.Client.UnwrapKey(ctx, k.Name, k.Version, "RSA-OAEP", ct)
}

func (k *KMS) Sign(ctx context.Context, digest []byte) ([]byte, error) {
	r, err := k.Client.Op(ctx, k.Name, api.OpSign, api.OpRequest{Alg: "RS256", Version: k.Version,
		Value: base64.RawURLEncoding.EncodeToString(digest)})
	if err != nil {
		return nil, err
	}
	return base64.RawURLEncoding.DecodeString(r.Value)
}
