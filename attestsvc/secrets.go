package attestsvc

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/token"
	"github.com/confide/confide/attestsvc/api"
	"github.com/confide/confide/audit"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/internal/httpx"
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
// Without a sealer they are created afresh and kept only in memory. When
// the sealed secrets do not unseal here and a predecessor is configured,
// it asks the predecessor and reports migrated: New stores them sealed
// anew once their audit key has opened the store's audit log.
func loadSecrets(ctx context.Context, cfg Config) (s *secrets, migrated bool, err error) {
	if sl := cfg.Sealer; sl != nil {
		var blob []byte
		if err := cfg.Store.View(func(tx kvstore.Tx) error {
			blob = append([]byte(nil), tx.Get(bucketMeta, []byte(keySecrets))...)
			return nil
		}); err != nil {
			return nil, false, err
		}
		if len(blob) > 0 {
			pt, err := sl.Unseal(ctx, blob, []byte(secretsAAD))
			if err != nil && cfg.Predecessor != nil {
				if pt, err = cfg.Predecessor(ctx); err != nil {
					return nil, false, fmt.Errorf("attestsvc: the service's keys do not unseal here, and the predecessor: %w", err)
				}
				s, err := decodeSecrets(pt)
				clear(pt)
				if err != nil {
					return nil, false, fmt.Errorf("attestsvc: the predecessor's secrets: %w", err)
				}
				return s, true, nil
			}
			if err != nil {
				return nil, false, fmt.Errorf("attestsvc: unsealing the service's keys: %w", err)
			}
			s, err := decodeSecrets(pt)
			clear(pt)
			return s, false, err
		}
	}
	s = &secrets{AuditKey: make([]byte, 32)}
	if _, err := io.ReadFull(cfg.Rand, s.AuditKey); err != nil {
		return nil, false, err
	}
	k, err := token.NewSigningKey(cfg.Rand, cfg.Now())
	if err != nil {
		return nil, false, err
	}
	s.keys = []*token.SigningKey{k}
	return s, false, storeSecrets(ctx, cfg.Store, cfg.Sealer, s)
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

// Migrate gives the service's secrets — its token signing keys and audit
// key — to a successor service: one whose evidence, for a nonce of this
// service, satisfies the successor policy (Config.SuccessorPolicy),
// encrypted (JWE) to the ephemeral key its runtime data binds. The
// successor thus keeps the JWKS that relying parties trust and the audit
// log's chain. Migrations and policy denials are audited.
func (s *Service) Migrate(ctx context.Context, req api.AttestRequest) (api.MigrateResponse, error) {
	if s.cfg.SuccessorPolicy == nil {
		return api.MigrateResponse{}, httpx.Errorf(http.StatusForbidden, "migration_denied", "this service names no successor policy")
	}
	if req.Policy != "" {
		return api.MigrateResponse{}, httpx.BadRequest("a migration is appraised by the successor policy; name no policy")
	}
	c, _, err := s.appraise(ctx, req)
	if err != nil {
		return api.MigrateResponse{}, err
	}
	who := audit.EnclaveActor(c.UniqueID, c.ConfigID)
	deny := func(reason string) error {
		if err := s.cfg.Store.Update(func(tx kvstore.Tx) error {
			_, err := s.audit.Append(tx, audit.Record{Actor: who, Op: "secrets.migrate", Target: "secrets",
				Outcome: audit.Denied, Detail: reason})
			return err
		}); err != nil {
			return err
		}
		return httpx.Errorf(http.StatusForbidden, "migration_denied", "%s", reason)
	}
	if err := s.cfg.SuccessorPolicy.Evaluate(attest.Input{Claims: c.Map()}); err != nil {
		return api.MigrateResponse{}, deny(fmt.Sprintf("successor policy: %v", err))
	}
	epk, err := c.ReleaseKey()
	if err != nil {
		return api.MigrateResponse{}, deny(err.Error())
	}
	alg, err := token.KeyAlgorithm(epk)
	if err != nil {
		return api.MigrateResponse{}, deny(err.Error())
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: alg, Key: epk}, nil)
	if err != nil {
		return api.MigrateResponse{}, deny(err.Error())
	}
	s.rotateMu.Lock()
	defer s.rotateMu.Unlock()
	jwe, err := encryptSecrets(&secrets{AuditKey: s.audit.MACKey, keys: s.issuer.Keys()}, enc)
	if err != nil {
		return api.MigrateResponse{}, err
	}
	if err := s.cfg.Store.Update(func(tx kvstore.Tx) error {
		_, err := s.audit.Append(tx, audit.Record{Actor: who, Op: "secrets.migrate", Target: "secrets",
			Outcome: audit.OK, Detail: "jti " + c.ID})
		return err
	}); err != nil {
		return api.MigrateResponse{}, err
	}
	return api.MigrateResponse{Secrets: jwe}, nil
}

// encryptSecrets returns the secrets as a compact JWE for enc's
// recipient: the only form in which they leave the service.
//
//confide:declassify
func encryptSecrets(sec *secrets, enc jose.Encrypter) (string, error) {
	pt, err := sec.encode()
	if err != nil {
		return "", err
	}
	obj, err := enc.Encrypt(pt)
	clear(pt)
	if err != nil {
		return "", errors.New("attestsvc: encrypting the secrets")
	}
	return obj.CompactSerialize()
}
