package gov

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"

	"github.com/confide/confide/ledger/kv"
)

// Recovery material (spec/ledger-governance.md §5): the ledger secret is
// wrapped (AES-256-GCM) by a fresh wrapping key, which is split k-of-n
// among the recovery members, each share encrypted to the member's
// encryption key with RSA-OAEP-SHA-256. The wrapped secret and the
// encrypted shares are public: only k members together can unwrap.
const (
	// MapRecoveryShares: member ID → the member's encrypted share,
	// base64.
	MapRecoveryShares = "public:confide.gov.recovery.shares"
	// MapWrappedSecret: "current" → WrappedSecret.
	MapWrappedSecret = "public:confide.gov.recovery.wrapped_secret"

	wrapAAD    = "confide-recovery-wrapped-secret-v1"
	shareLabel = "confide-recovery-share-v1"
)

// WrappedSecret is the ledger secret under the wrapping key.
type WrappedSecret struct {
	Version    int    `json:"version"`
	Threshold  int    `json:"threshold"`
	Shares     int    `json:"shares"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// ErrRecover reports shares that do not unwrap the secret: fewer than the
// threshold, or not of this wrapping.
var ErrRecover = errors.New("gov: the shares do not recover the ledger secret (too few, or not this service's)")

// Reshare makes new recovery material for secret in tx: a fresh wrapping
// key, shares for the current recovery members at the current threshold.
// Without recovery members it removes the material.
func Reshare(tx *kv.Tx, secret []byte) error {
	var members []string
	keys := map[string]*rsa.PublicKey{}
	var bad error
	tx.Range(MapMemberKeys, func(k, v []byte) bool {
		pub, err := parseRSAPublic(v)
		if err != nil {
			bad = fmt.Errorf("gov: member %s's encryption key: %w", k, err)
			return false
		}
		members = append(members, string(k))
		keys[string(k)] = pub
		return true
	})
	if bad != nil {
		return bad
	}
	var old [][]byte
	tx.Range(MapRecoveryShares, func(k, _ []byte) bool { old = append(old, append([]byte(nil), k...)); return true })
	for _, k := range old {
		tx.Delete(MapRecoveryShares, k)
	}
	if len(members) == 0 {
		tx.Delete(MapWrappedSecret, []byte("current"))
		return nil
	}
	sort.Strings(members)
	var cfg struct {
		Threshold int `json:"recovery_threshold"`
	}
	if _, err := getJSON(tx, MapConfig, "config", &cfg); err != nil {
		return err
	}
	k := max(cfg.Threshold, 1)
	if k > len(members) {
		return fmt.Errorf("gov: a recovery threshold of %d with %d recovery members", k, len(members))
	}
	wk := make([]byte, 32)
	if _, err := rand.Read(wk); err != nil {
		return err
	}
	defer clear(wk)
	gcm, err := newGCM(wk)
	if err != nil {
		return err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	ws := WrappedSecret{Version: 1, Threshold: k, Shares: len(members), Nonce: nonce, Ciphertext: gcm.Seal(nil, nonce, secret, []byte(wrapAAD))}
	shares, err := Split(wk, len(members), k)
	if err != nil {
		return err
	}
	for i, m := range members {
		enc, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, keys[m], shares[i], []byte(shareLabel))
		clear(shares[i])
		if err != nil {
			return fmt.Errorf("gov: encrypting member %s's share: %w", m, err)
		}
		tx.Put(MapRecoveryShares, []byte(m), []byte(base64.StdEncoding.EncodeToString(enc)))
	}
	putJSON(tx, MapWrappedSecret, "current", ws)
	return nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

func parseRSAPublic(b []byte) (*rsa.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("not PEM")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() < 2048 {
		return nil, fmt.Errorf("an RSA key of at least 2048 bits is needed")
	}
	return pub, nil
}

// DecryptShare opens a member's encrypted share (base64, as the map and
// the endpoint hold it) with the member's private encryption key.
func DecryptShare(priv *rsa.PrivateKey, enc string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("gov: an encrypted share is base64: %w", err)
	}
	share, err := rsa.DecryptOAEP(sha256.New(), nil, priv, b, []byte(shareLabel))
	if err != nil {
		return nil, errors.New("gov: the share does not decrypt with this key")
	}
	return share, nil
}

// Recover unwraps the ledger secret with decrypted shares.
func Recover(wrapped []byte, shares [][]byte) ([]byte, error) {
	var ws WrappedSecret
	if err := json.Unmarshal(wrapped, &ws); err != nil || ws.Version != 1 {
		return nil, fmt.Errorf("gov: not a wrapped ledger secret")
	}
	if len(shares) < ws.Threshold {
		return nil, fmt.Errorf("%w: %d of the %d needed", ErrRecover, len(shares), ws.Threshold)
	}
	wk, err := Combine(shares)
	if err != nil {
		return nil, err
	}
	defer clear(wk)
	gcm, err := newGCM(wk)
	if err != nil {
		return nil, ErrRecover
	}
	secret, err := gcm.Open(nil, ws.Nonce, ws.Ciphertext, []byte(wrapAAD))
	if err != nil {
		return nil, ErrRecover
	}
	return secret, nil
}
