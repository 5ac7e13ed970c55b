package attestsvc

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/confide/confide/attest/token"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/kvstore"
)

// Sealer seals the service's secrets to its enclave identity
// (*seal.Sealer).
type Sealer interface {
	Seal(ctx context.Context, policy enclave.SealPolicy, plaintext, aad []byte) ([]byte, error)
	Unseal(ctx context.Context, blob, aad []byte) ([]byte, error)
}

const (
	bucketMeta  = "meta"
	keySecrets  = "secrets"
	secretsAAD  = "confide attestsvc secrets v1"
	secretsVers = 1
)

// secrets is the sealed state: the token signing keys and the audit MAC
// key. It is sealed under the product policy, so an upgraded service
// (same signer and product, higher SVN) keeps it.
type secrets struct {
	Version  int          `json:"version"`
	AuditKey []byte       `json:"audit_key"` //confide:secret
	Signing  []sealedTKey `json:"signing"`
	keys     []*token.SigningKey
}

type sealedTKey struct {
	PKCS8   []byte    `json:"pkcs8"` //confide:secret
	Created time.Time `json:"created"`
	Retired time.Time `json:"retired,omitzero"`
}

func (s *secrets) encode() ([]byte, error) {
	s.Version = secretsVers
	s.Signing = s.Signing[:0]
	for _, k := range s.keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.Key)
		if err != nil {
			return nil, err
		}
		s.Signing = append(s.Signing, sealedTKey{der, k.Created, k.Retired})
	}
	return json.Marshal(s)
}

func decodeSecrets(b []byte) (*secrets, error) {
	var s secrets
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if s.Version != secretsVers || len(s.AuditKey) != 32 || len(s.Signing) == 0 {
		return nil, errors.New("attestsvc: sealed secrets of an unknown version or shape")
	}
	for _, sk := range s.Signing {
		k, err := x509.ParsePKCS8PrivateKey(sk.PKCS8)
		if err != nil {
			return nil, err
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, errors.New("attestsvc: sealed signing key is not ECDSA")
		}
		tk, err := token.KeyFromPrivate(ek, sk.Created)
		if err != nil {
			return nil, err
		}
		tk.Retired = sk.Retired
		s.keys = append(s.keys, tk)
	}
	return &s, nil
}

// loadSecrets unseals the stored secrets, or creates and stores them.
// Without a sealer they are created afresh and kept only in memory.
func loadSecrets(ctx context.Context, st kvstore.Store, sl Sealer, rnd io.Reader, now time.Time) (*secrets, error) {
	if sl != nil {
		var blob []byte
		if err := st.View(func(tx kvstore.Tx) error {
			blob = append([]byte(nil), tx.Get(bucketMeta, []byte(keySecrets))...)
			return nil
		}); err != nil {
			return nil, err
		}
		if len(blob) > 0 {
			pt, err := sl.Unseal(ctx, blob, []byte(secretsAAD))
			if err != nil {
				return nil, fmt.Errorf("attestsvc: unsealing the service's keys: %w", err)
			}
			return decodeSecrets(pt)
		}
	}
	s := &secrets{AuditKey: make([]byte, 32)}
	if _, err := io.ReadFull(rnd, s.AuditKey); err != nil {
		return nil, err
	}
	k, err := token.NewSigningKey(rnd, now)
	if err != nil {
		return nil, err
	}
	s.keys = []*token.SigningKey{k}
	return s, storeSecrets(ctx, st, sl, s)
}

func storeSecrets(ctx context.Context, st kvstore.Store, sl Sealer, s *secrets) error {
	if sl == nil {
		return nil
	}
	pt, err := s.encode()
	if err != nil {
		return err
	}
	blob, err := sl.Seal(ctx, enclave.SealProduct, pt, []byte(secretsAAD))
	clear(pt)
	if err != nil {
		return fmt.Errorf("attestsvc: sealing the service's keys: %w", err)
	}
	return st.Update(func(tx kvstore.Tx) error { return tx.Put(bucketMeta, []byte(keySecrets), blob) })
}
