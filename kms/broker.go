package kms

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/token"
	"github.com/confide/confide/audit"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/internal/auth"
	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/kms/api"
	"github.com/confide/confide/kvstore"
)

// Sealer seals the broker's master key to its enclave identity
// (*seal.Sealer).
type Sealer interface {
	Seal(ctx context.Context, policy enclave.SealPolicy, plaintext, aad []byte) ([]byte, error)
	Unseal(ctx context.Context, blob, aad []byte) ([]byte, error)
}

// Config configures a Broker.
type Config struct {
	// Store holds the encrypted keys and the audit log (required).
	Store kvstore.Store
	// Sealer seals the master key (required: keys at rest must not be
	// readable outside the broker's enclave).
	Sealer Sealer
	// Issuers are the attestation services whose tokens release keys,
	// each verified with its own keys (at least one for releases).
	Issuers []*token.Verifier
	// Principals authenticate owners (admins) and key users.
	Principals *auth.Principals
	Registerer prometheus.Registerer
	Log        *slog.Logger
	Now        func() time.Time
	Rand       io.Reader

	// SuccessorPolicy, when set, lets a successor broker — an upgraded
	// one, or one on a platform whose seal keys changed, as every SGX
	// update does — obtain this broker's master key (Migrate) with an
	// attestation token that satisfies it. Without one, Migrate refuses.
	SuccessorPolicy *attest.Policy
	// Predecessor, when set, is asked for the master key (its JSON) when
	// the sealed one does not unseal here: a running predecessor's
	// Migrate, through kms/client.MigrateFor. The key is checked against
	// the store's audit log before it is sealed anew.
	Predecessor func(ctx context.Context) ([]byte, error)
}

// Broker is the key broker core.
type Broker struct {
	cfg    settings
	aead   cipher.AEAD
	audit  *audit.Log
	events *prometheus.CounterVec
	// successor and master are kept only when a successor policy is set:
	// the master key's JSON, for Migrate.
	successor *attest.Policy
	master    []byte //confide:secret
}

const (
	bucketMeta = "meta"
	bucketKeys = "keys"
	keyMaster  = "master"
	masterAAD  = "confide kms master v1"
)

// settings is the Config without the Sealer, which only New needs: the
// broker keeps no path to the sealing keys once the master key is open.
type settings struct {
	Store      kvstore.Store
	Issuers    []*token.Verifier
	Principals *auth.Principals
	Registerer prometheus.Registerer
	Log        *slog.Logger
	Now        func() time.Time
	Rand       io.Reader
}

// master is the sealed secret: the key encrypting key records, and the
// audit head's MAC key. It is sealed under the product policy so that an
// upgraded broker keeps its keys.
type master struct {
	Version  int    `json:"version"`
	KEK      []byte `json:"kek"`       //confide:secret
	AuditKey []byte `json:"audit_key"` //confide:secret
}

// New opens the broker: it unseals (or creates) its master key and checks
// its audit log.
func New(ctx context.Context, cfg Config) (*Broker, error) {
	if cfg.Store == nil || cfg.Sealer == nil {
		return nil, errors.New("kms: Store and Sealer are required")
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	m, resealed, err := loadMaster(ctx, cfg)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(m.KEK)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	b := &Broker{
		cfg: settings{Store: cfg.Store, Issuers: cfg.Issuers, Principals: cfg.Principals,
			Registerer: cfg.Registerer, Log: cfg.Log, Now: cfg.Now, Rand: cfg.Rand},
		aead:  aead,
		audit: &audit.Log{Bucket: "audit", MACKey: m.AuditKey, Now: cfg.Now},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "confide_kms", Name: "operations_total",
			Help: "Key broker operations by operation and outcome.",
		}, []string{"op", "outcome"}),
	}
	if cfg.SuccessorPolicy != nil {
		b.successor = cfg.SuccessorPolicy
		b.master, _ = json.Marshal(m)
	}
	clear(m.KEK)
	if err := cfg.Store.View(func(tx kvstore.Tx) error {
		_, err := b.audit.Check(tx)
		return err
	}); err != nil {
		if resealed != nil {
			return nil, fmt.Errorf("kms: the predecessor's master key does not open this store's audit log: %w", err)
		}
		return nil, err
	}
	if resealed != nil {
		// The predecessor's key opens this store: keep it sealed here.
		if err := cfg.Store.Update(func(tx kvstore.Tx) error {
			return tx.Put(bucketMeta, []byte(keyMaster), resealed)
		}); err != nil {
			return nil, err
		}
		b.logger().Info("kms: master key obtained from the predecessor and sealed anew")
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(b.events)
	}
	return b, nil
}

// loadMaster unseals the master key, or creates it for an empty store.
// When the sealed key does not unseal and a predecessor is configured, it
// asks the predecessor and returns the key sealed anew, for New to store
// once the key has opened the audit log.
func loadMaster(ctx context.Context, cfg Config) (m *master, resealed []byte, err error) {
	var blob []byte
	if err := cfg.Store.View(func(tx kvstore.Tx) error {
		blob = slices.Clone(tx.Get(bucketMeta, []byte(keyMaster)))
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if blob != nil {
		pt, err := cfg.Sealer.Unseal(ctx, blob, []byte(masterAAD))
		if err != nil && cfg.Predecessor != nil {
			if pt, err = cfg.Predecessor(ctx); err != nil {
				return nil, nil, fmt.Errorf("kms: the master key does not unseal here, and the predecessor: %w", err)
			}
			if m, err = parseMaster(pt); err != nil {
				return nil, nil, fmt.Errorf("kms: the predecessor's master key: %w", err)
			}
			resealed, err = cfg.Sealer.Seal(ctx, enclave.SealProduct, pt, []byte(masterAAD))
			clear(pt)
			if err != nil {
				return nil, nil, fmt.Errorf("kms: sealing the master key: %w", err)
			}
			return m, resealed, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("kms: unsealing the master key: %w", err)
		}
		m, err = parseMaster(pt)
		clear(pt)
		return m, nil, err
	}
	m, err = newMaster(ctx, cfg)
	return m, nil, err
}

// parseMaster reads the master key's JSON.
func parseMaster(pt []byte) (*master, error) {
	var m master
	if err := json.Unmarshal(pt, &m); err != nil || m.Version != 1 || len(m.KEK) != 32 || len(m.AuditKey) != 32 {
		return nil, errors.New("kms: the master key has an unknown format")
	}
	return &m, nil
}

// newMaster makes and stores the master key of an empty store.
func newMaster(ctx context.Context, cfg Config) (*master, error) {
	var m master
	m = master{Version: 1, KEK: make([]byte, 32), AuditKey: make([]byte, 32)}
	if _, err := io.ReadFull(cfg.Rand, m.KEK); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(cfg.Rand, m.AuditKey); err != nil {
		return nil, err
	}
	pt, _ := json.Marshal(m)
	blob, err := cfg.Sealer.Seal(ctx, enclave.SealProduct, pt, []byte(masterAAD))
	clear(pt)
	if err != nil {
		return nil, fmt.Errorf("kms: sealing the master key: %w", err)
	}
	err = cfg.Store.Update(func(tx kvstore.Tx) error {
		if tx.Get(bucketMeta, []byte(keyMaster)) != nil {
			return errors.New("kms: another broker initialised the store concurrently")
		}
		return tx.Put(bucketMeta, []byte(keyMaster), blob)
	})
	return &m, err
}

// Stored record encryption: "CFKR", version 1, a 12-byte nonce, then
// AES-256-GCM of the record's JSON with the key name in the additional
// data, so records cannot be swapped between names.
const recordMagic = "CFKR\x01"

func recordAAD(name string) []byte { return []byte("confide kms key v1\x00" + name) }

// seal encrypts a record for the store.
//
//confide:declassify
func (b *Broker) seal(r *record) ([]byte, error) {
	pt, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(recordMagic)+12, len(recordMagic)+12+len(pt)+16)
	copy(out, recordMagic)
	if _, err := io.ReadFull(b.cfg.Rand, out[len(recordMagic):]); err != nil {
		return nil, err
	}
	out = b.aead.Seal(out, out[len(recordMagic):], pt, recordAAD(r.Name))
	clear(pt)
	return out, nil
}

// ErrStored reports a stored key record that does not authenticate: the
// store was tampered with, or holds another broker's records. It is a
// 500, since the request was fine, with a message that says so.
var ErrStored = &httpx.Error{Status: http.StatusInternalServerError, Code: "store_corrupt",
	Message: "a stored key record does not authenticate (tampered with, or written by another broker)"}

func (b *Broker) open(name string, blob []byte) (*record, error) {
	if len(blob) < len(recordMagic)+12+16 || string(blob[:len(recordMagic)]) != recordMagic {
		return nil, ErrStored
	}
	n := blob[len(recordMagic) : len(recordMagic)+12]
	pt, err := b.aead.Open(nil, n, blob[len(recordMagic)+12:], recordAAD(name))
	if err != nil {
		return nil, ErrStored
	}
	defer clear(pt)
	var r record
	if err := json.Unmarshal(pt, &r); err != nil || r.Format != recordFormat || r.Name != name || len(r.Versions) == 0 {
		return nil, ErrStored
	}
	return &r, nil
}

// Errors.
var (
	ErrNoKey  = &httpx.Error{Status: http.StatusNotFound, Code: "no_such_key", Message: "no such key"}
	ErrExists = &httpx.Error{Status: http.StatusConflict, Code: "exists", Message: "a key of that name exists"}
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return httpx.BadRequest("key names are 1–128 of A-Z a-z 0-9 . _ -, starting with a letter or digit")
	}
	return nil
}

// get reads and decrypts a key within tx.
func (b *Broker) get(tx kvstore.Tx, name string) (*record, error) {
	blob := tx.Get(bucketKeys, []byte(name))
	if blob == nil {
		return nil, ErrNoKey
	}
	return b.open(name, blob)
}

// Caller identifies who asks: a principal, or an enclave by its token.
type Caller struct {
	Name  string
	Admin bool
}

// update runs fn on the key inside a write transaction with an audit
// record; if fn fails nothing but a denial record (when deny is set) is
// written.
func (b *Broker) record(tx kvstore.Tx, who, op, target, outcome, detail string) error {
	_, err := b.audit.Append(tx, audit.Record{Actor: who, Op: op, Target: target, Outcome: outcome, Detail: detail})
	return err
}

// deny audits a refusal in its own transaction and returns err.
func (b *Broker) deny(who, op, target string, err error) error {
	b.events.WithLabelValues(op, "denied").Inc()
	detail := err.Error()
	var he *httpx.Error
	if errors.As(err, &he) {
		detail = he.Message
	}
	if aerr := b.cfg.Store.Update(func(tx kvstore.Tx) error {
		return b.record(tx, who, op, target, audit.Denied, detail)
	}); aerr != nil {
		return aerr
	}
	return err
}

func checkAccess(access map[string][]string) error {
	for who, ops := range access {
		if !nameRE.MatchString(who) {
			return httpx.BadRequest("access: bad principal name %q", who)
		}
		for _, op := range ops {
			if !slices.Contains(api.Ops, op) {
				return httpx.BadRequest("access: unknown operation %q (want one of %v)", op, api.Ops)
			}
		}
	}
	return nil
}

func checkPolicy(raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	if _, err := attest.ParsePolicy(raw); err != nil {
		return httpx.BadRequest("release_policy: %v", err)
	}
	return nil
}

// Create generates or imports a key.
func (b *Broker) Create(c Caller, name string, req api.CreateKey) (api.Key, error) {
	if !c.Admin {
		return api.Key{}, b.deny(c.Name, "create", "key/"+name, auth.ErrForbidden)
	}
	if err := checkName(name); err != nil {
		return api.Key{}, err
	}
	if err := checkAccess(req.Access); err != nil {
		return api.Key{}, err
	}
	if err := checkPolicy(req.ReleasePolicy); err != nil {
		return api.Key{}, err
	}
	if len(req.ReleasePolicy) > 0 && !req.Exportable {
		return api.Key{}, httpx.BadRequest("a release policy needs an exportable key")
	}
	var (
		kty string
		key any
		err error
		op  = "create"
	)
	if len(req.JWK) > 0 {
		if req.Kty != "" || req.Size != 0 || req.Curve != "" {
			return api.Key{}, httpx.BadRequest("give either jwk (import) or kty/size/crv (generate)")
		}
		op = "import"
		kty, key, err = importKey(req.JWK)
	} else {
		kty = req.Kty
		key, err = newKey(b.cfg.Rand, req.Kty, req.Size, req.Curve)
	}
	if err != nil {
		return api.Key{}, httpx.BadRequest("%v", err)
	}
	priv, err := marshalPrivate(key)
	if err != nil {
		return api.Key{}, err
	}
	now := b.cfg.Now()
	r := &record{
		Format: recordFormat, Name: name, Kty: kty, Exportable: req.Exportable,
		ReleasePolicy: compact(req.ReleasePolicy), Access: req.Access, Created: now, Updated: now,
		Versions: []version{{Version: 1, Created: now, JWK: priv}},
	}
	blob, err := b.seal(r)
	if err != nil {
		return api.Key{}, err
	}
	err = b.cfg.Store.Update(func(tx kvstore.Tx) error {
		if tx.Get(bucketKeys, []byte(name)) != nil {
			return ErrExists
		}
		if err := tx.Put(bucketKeys, []byte(name), blob); err != nil {
			return err
		}
		return b.record(tx, c.Name, op, "key/"+name+"/1", audit.OK, kty)
	})
	if err != nil {
		return api.Key{}, err
	}
	b.events.WithLabelValues(op, "ok").Inc()
	return r.info(), nil
}

func compact(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

// change applies fn to a stored key in one audited transaction.
func (b *Broker) change(c Caller, name, op string, fn func(r *record) (string, error)) (api.Key, error) {
	if !c.Admin {
		return api.Key{}, b.deny(c.Name, op, "key/"+name, auth.ErrForbidden)
	}
	var info api.Key
	err := b.cfg.Store.Update(func(tx kvstore.Tx) error {
		r, err := b.get(tx, name)
		if err != nil {
			return err
		}
		target, err := fn(r)
		if err != nil {
			return err
		}
		r.Updated = b.cfg.Now()
		blob, err := b.seal(r)
		if err != nil {
			return err
		}
		if err := tx.Put(bucketKeys, []byte(name), blob); err != nil {
			return err
		}
		info = r.info()
		return b.record(tx, c.Name, op, target, audit.OK, "")
	})
	if err == nil {
		b.events.WithLabelValues(op, "ok").Inc()
	}
	return info, err
}

// Rotate adds a new version of the same type and size; old versions stay
// usable and releasable.
func (b *Broker) Rotate(c Caller, name string) (api.Key, error) {
	return b.change(c, name, "rotate", func(r *record) (string, error) {
		last, err := r.material(0)
		if err != nil {
			return "", err
		}
		size, curve := last.size()
		key, err := newKey(b.cfg.Rand, r.Kty, size, curve)
		if err != nil {
			return "", err
		}
		priv, err := marshalPrivate(key)
		if err != nil {
			return "", err
		}
		n := r.Versions[len(r.Versions)-1].Version + 1
		r.Versions = append(r.Versions, version{Version: n, Created: b.cfg.Now(), JWK: priv})
		return fmt.Sprintf("key/%s/%d", name, n), nil
	})
}

// Update sets a key's release policy and access list.
func (b *Broker) Update(c Caller, name string, req api.UpdateKey) (api.Key, error) {
	if err := checkAccess(req.Access); err != nil {
		return api.Key{}, err
	}
	if err := checkPolicy(req.ReleasePolicy); err != nil {
		return api.Key{}, err
	}
	return b.change(c, name, "update", func(r *record) (string, error) {
		if req.ReleasePolicy != nil {
			if !r.Exportable {
				return "", httpx.BadRequest("a release policy needs an exportable key")
			}
			r.ReleasePolicy = compact(req.ReleasePolicy)
		}
		if req.Access != nil {
			r.Access = req.Access
		}
		return "key/" + name, nil
	})
}

// Delete removes a key and all its versions.
func (b *Broker) Delete(c Caller, name string) error {
	if !c.Admin {
		return b.deny(c.Name, "delete", "key/"+name, auth.ErrForbidden)
	}
	err := b.cfg.Store.Update(func(tx kvstore.Tx) error {
		if tx.Get(bucketKeys, []byte(name)) == nil {
			return ErrNoKey
		}
		if err := tx.Delete(bucketKeys, []byte(name)); err != nil {
			return err
		}
		return b.record(tx, c.Name, "delete", "key/"+name, audit.OK, "")
	})
	if err == nil {
		b.events.WithLabelValues("delete", "ok").Inc()
	}
	return err
}

// Get describes a key to an admin or a principal granted "get".
func (b *Broker) Get(c Caller, name string) (api.Key, error) {
	var info api.Key
	err := b.cfg.Store.View(func(tx kvstore.Tx) error {
		r, err := b.get(tx, name)
		if err != nil {
			return err
		}
		if !c.Admin && !slices.Contains(r.meta().Access[c.Name], api.OpGet) {
			return auth.ErrForbidden
		}
		info = r.info()
		return nil
	})
	return info, err
}

// List describes every key (admin).
func (b *Broker) List(c Caller) ([]api.Key, error) {
	if !c.Admin {
		return nil, auth.ErrForbidden
	}
	var out []api.Key
	err := b.cfg.Store.View(func(tx kvstore.Tx) error {
		return tx.ForEach(bucketKeys, nil, func(k, v []byte) error {
			r, err := b.open(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, r.info())
			return nil
		})
	})
	return out, err
}

// ExportAudit writes the audit log and returns its head.
func (b *Broker) ExportAudit(c Caller, w io.Writer) (audit.Head, error) {
	if !c.Admin {
		return audit.Head{}, auth.ErrForbidden
	}
	var h audit.Head
	err := b.cfg.Store.View(func(tx kvstore.Tx) error {
		var err error
		h, err = b.audit.Export(tx, w)
		return err
	})
	return h, err
}
