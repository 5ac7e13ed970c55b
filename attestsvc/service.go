package attestsvc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/token"
	"github.com/confide/confide/attestsvc/api"
	"github.com/confide/confide/audit"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/internal/auth"
	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/kvstore"
)

// Config configures a Service.
type Config struct {
	// Verifier verifies evidence (required).
	Verifier *attest.Verifier
	// Store keeps policies, the audit log and the sealed keys (required).
	Store kvstore.Store
	// Sealer seals the signing keys to the service's enclave identity;
	// nil keeps them in memory only (they change at every start).
	Sealer Sealer
	// Issuer is the tokens' "iss", normally the service's URL (required).
	Issuer string
	// Admins authenticate policy management; nil disables it.
	Admins *auth.Principals
	// TokenLifetime is how long tokens are valid; zero means 1h.
	TokenLifetime time.Duration
	// KeyLifetime is how long a signing key signs before the next one
	// takes over; zero means 24h.
	KeyLifetime time.Duration
	// NonceLifetime is how long a challenge stays usable; zero means 5m.
	NonceLifetime time.Duration
	// MaxNonces bounds the outstanding challenges; zero means 1,000,000.
	MaxNonces int
	// Registerer receives the service's metrics; nil registers none.
	Registerer prometheus.Registerer
	Log        *slog.Logger
	Now        func() time.Time
	Rand       io.Reader

	// SuccessorPolicy, when set, lets a successor service — an upgraded
	// one, or on SGX the same one after a microcode update — whose
	// evidence satisfies it obtain this service's secrets (Migrate).
	// Without one, Migrate refuses.
	SuccessorPolicy *attest.Policy
	// Predecessor, when set, is asked for the secrets (their JSON) when
	// the sealed ones do not unseal here: a running predecessor's
	// Migrate, through attestsvc/client.Migrate. The audit key must open
	// the store's audit log before the secrets are sealed anew.
	Predecessor func(ctx context.Context) ([]byte, error)
}

// Service is the attestation service core.
type Service struct {
	cfg    Config
	issuer *token.Issuer
	nonces *nonces
	audit  *audit.Log

	rotateMu sync.Mutex

	mu       sync.RWMutex
	policies map[string]*storedPolicy

	attests *prometheus.CounterVec
	recent  *appraisals
}

// Errors of Attest that callers may test.
var (
	ErrNonce        = errors.New("attestsvc: unknown, used or expired nonce")
	ErrNoSuchPolicy = errors.New("attestsvc: no such policy")
)

// New opens the service over its store: it unseals (or creates) its
// signing keys, checks its audit log and loads its policies.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Verifier == nil || cfg.Store == nil || cfg.Issuer == "" {
		return nil, errors.New("attestsvc: Verifier, Store and Issuer are required")
	}
	if cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = time.Hour
	}
	if cfg.KeyLifetime == 0 {
		cfg.KeyLifetime = 24 * time.Hour
	}
	if cfg.NonceLifetime == 0 {
		cfg.NonceLifetime = 5 * time.Minute
	}
	if cfg.MaxNonces == 0 {
		cfg.MaxNonces = 1_000_000
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
	sec, migrated, err := loadSecrets(ctx, cfg)
	if err != nil {
		return nil, err
	}
	iss, err := token.NewIssuer(cfg.Issuer, cfg.TokenLifetime, sec.keys)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, issuer: iss, nonces: newNonces(cfg.MaxNonces),
		audit:    &audit.Log{Bucket: "audit", MACKey: sec.AuditKey, Now: cfg.Now},
		policies: make(map[string]*storedPolicy),
		attests:  attestCounter(),
		recent:   &appraisals{max: 256},
	}
	if err := cfg.Store.View(func(tx kvstore.Tx) error {
		if _, err := s.audit.Check(tx); err != nil {
			if migrated {
				return fmt.Errorf("attestsvc: the predecessor's audit key does not open this store's audit log: %w", err)
			}
			return err
		}
		return s.loadPolicies(tx)
	}); err != nil {
		return nil, err
	}
	if migrated {
		// The predecessor's secrets open this store: keep them sealed here,
		// and say so in the audit log (not in the log: the leak checker
		// cannot tell the Config's logger from its sealer).
		if err := storeSecrets(ctx, cfg.Store, cfg.Sealer, sec); err != nil {
			return nil, err
		}
		if err := cfg.Store.Update(func(tx kvstore.Tx) error {
			_, err := s.audit.Append(tx, audit.Record{Actor: "self", Op: "secrets.migrate", Target: "secrets",
				Outcome: audit.OK, Detail: "obtained from the predecessor and sealed anew"})
			return err
		}); err != nil {
			return nil, err
		}
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.attests, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "confide_attest", Name: "outstanding_nonces",
			Help: "Challenges issued and not yet used or expired.",
		}, func() float64 { return float64(s.nonces.outstanding()) }))
	}
	if _, err := s.Rotate(ctx, false); err != nil {
		return nil, err
	}
	return s, nil
}

func attestCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "confide_attest", Name: "attestations_total",
		Help: "Attestation requests by outcome (token, bad_request, nonce, evidence, policy).",
	}, []string{"outcome"})
}

// Issuer returns the token issuer (its JWKS verifies the tokens).
func (s *Service) Issuer() *token.Issuer { return s.issuer }

// Rotate starts signing with a new key when the current one is older
// than KeyLifetime (or always, with force), and drops retired keys whose
// last tokens have expired. It reports whether it rotated.
func (s *Service) Rotate(ctx context.Context, force bool) (bool, error) {
	s.rotateMu.Lock()
	defer s.rotateMu.Unlock()
	now := s.cfg.Now()
	keys := s.issuer.Keys()
	cur := keys[len(keys)-1]
	if !force && now.Sub(cur.Created) < s.cfg.KeyLifetime {
		return false, nil
	}
	nk, err := token.NewSigningKey(s.cfg.Rand, now)
	if err != nil {
		return false, err
	}
	var kept []*token.SigningKey
	for _, k := range keys {
		k := *k
		if k.Retired.IsZero() {
			k.Retired = now
		}
		if now.Sub(k.Retired) <= s.cfg.TokenLifetime {
			kept = append(kept, &k)
		}
	}
	kept = append(kept, nk)
	next := secrets{AuditKey: s.audit.MACKey, keys: kept}
	if err := storeSecrets(ctx, s.cfg.Store, s.cfg.Sealer, &next); err != nil {
		return false, err
	}
	if err := s.issuer.SetKeys(kept); err != nil {
		return false, err
	}
	return true, nil
}

// Challenge issues a nonce.
func (s *Service) Challenge() (api.Challenge, error) {
	var n [32]byte
	if _, err := io.ReadFull(s.cfg.Rand, n[:]); err != nil {
		return api.Challenge{}, err
	}
	now := s.cfg.Now()
	exp := now.Add(s.cfg.NonceLifetime)
	if !s.nonces.add(n, exp, now) {
		return api.Challenge{}, httpx.Errorf(http.StatusServiceUnavailable, "busy", "too many outstanding challenges; retry later")
	}
	return api.Challenge{Nonce: hex.EncodeToString(n[:]), Expires: exp.UTC().Format(time.RFC3339)}, nil
}

// Attest verifies evidence for an outstanding nonce and, if it is genuine,
// binds the runtime data and passes the named policy, returns a token.
// Errors are *httpx.Error values with the reason.
func (s *Service) Attest(ctx context.Context, req api.AttestRequest) (string, error) {
	tok, outcome, c, err := s.attest(ctx, req)
	s.attests.WithLabelValues(outcome).Inc()
	s.recent.add(s.cfg.Now(), req.Policy, outcome, c, err)
	return tok, err
}

func (s *Service) attest(ctx context.Context, req api.AttestRequest) (string, string, *token.Claims, error) {
	var pol *storedPolicy
	if req.Policy != "" {
		if pol = s.policy(req.Policy); pol == nil {
			return "", "bad_request", nil, httpx.Errorf(http.StatusNotFound, "no_such_policy", "no policy named %q", req.Policy)
		}
	}
	c, outcome, err := s.appraise(ctx, req)
	if err != nil {
		return "", outcome, nil, err
	}
	if pol != nil {
		if err := pol.parsed.Evaluate(attest.Input{Claims: c.Map()}); err != nil {
			return "", "policy", c, httpx.Errorf(http.StatusForbidden, "policy_denied", "policy %q version %d: %v", pol.Name, pol.Version, err)
		}
		c.Policy = &token.PolicyRef{Name: pol.Name, Version: pol.Version, SHA256: pol.SHA256}
		c.Verdict = token.Affirming
	}
	t, err := s.issuer.Issue(c, s.cfg.Now())
	if err != nil {
		return "", "error", c, err
	}
	return t, "token", c, nil
}

// appraise spends the request's nonce and verifies its evidence and
// runtime data: the claims a token would carry, or the outcome label and
// the reason.
func (s *Service) appraise(ctx context.Context, req api.AttestRequest) (*token.Claims, string, error) {
	nonce, err := hex.DecodeString(req.Nonce)
	if err != nil || len(nonce) != 32 {
		return nil, "bad_request", httpx.BadRequest("nonce must be 64 hex digits")
	}
	evidence, err := base64.StdEncoding.DecodeString(req.Evidence)
	if err != nil || len(evidence) == 0 {
		return nil, "bad_request", httpx.BadRequest("evidence must be non-empty standard base64")
	}
	if len(evidence) > enclave.MaxEvidence {
		return nil, "bad_request", httpx.BadRequest("evidence over %d bytes", enclave.MaxEvidence)
	}
	var rd []byte
	if req.RuntimeData != "" {
		if rd, err = base64.StdEncoding.DecodeString(req.RuntimeData); err != nil {
			return nil, "bad_request", httpx.BadRequest("runtime_data must be standard base64")
		}
		if len(rd) > api.MaxRuntimeData {
			return nil, "bad_request", httpx.BadRequest("runtime_data over %d bytes", api.MaxRuntimeData)
		}
	}
	// The nonce is spent before the evidence is looked at: a captured
	// nonce gives one try, not many.
	if !s.nonces.take([32]byte(nonce), s.cfg.Now()) {
		return nil, "nonce", httpx.Errorf(http.StatusBadRequest, "bad_nonce", "%v", ErrNonce)
	}
	want := attest.Expect{Nonce: nonce}
	if rd != nil {
		want.RuntimeData = rd
	}
	ec, err := s.cfg.Verifier.Verify(ctx, evidence, want)
	if err != nil {
		return nil, "evidence", httpx.Errorf(http.StatusBadRequest, "evidence_rejected", "%v", err)
	}
	var jti [16]byte
	if _, err := io.ReadFull(s.cfg.Rand, jti[:]); err != nil {
		return nil, "error", err
	}
	c := &token.Claims{ID: hex.EncodeToString(jti[:]), Nonce: req.Nonce, Verdict: token.None}
	c.FromEvidence(ec)
	if rd != nil {
		c.SetRuntimeData(rd)
	}
	return c, "", nil
}

// storedPolicy is a policy version as the store keeps it.
type storedPolicy struct {
	api.Policy
	Deleted bool `json:"deleted,omitempty"`
	parsed  *attest.Policy
}

const (
	bucketPolicies = "policies"
	bucketVersions = "policy-versions"
)

var policyNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

func (s *Service) loadPolicies(tx kvstore.Tx) error {
	return tx.ForEach(bucketPolicies, nil, func(k, v []byte) error {
		var p storedPolicy
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("attestsvc: stored policy %q: %w", k, err)
		}
		if p.Deleted {
			s.policies[p.Name] = &p
			return nil
		}
		parsed, err := attest.ParsePolicy(p.Policy.Policy)
		if err != nil {
			return fmt.Errorf("attestsvc: stored policy %q: %w", k, err)
		}
		p.parsed = parsed
		s.policies[p.Name] = &p
		return nil
	})
}

func (s *Service) policy(name string) *storedPolicy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p := s.policies[name]
	if p == nil || p.Deleted {
		return nil
	}
	return p
}

// Policies lists the current policies.
func (s *Service) Policies() []api.Policy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []api.Policy
	for _, p := range s.policies {
		if !p.Deleted {
			q := p.Policy
			q.Policy = nil
			out = append(out, q)
		}
	}
	sortPolicies(out)
	return out
}

// Policy returns the current version of a policy.
func (s *Service) Policy(name string) (api.Policy, error) {
	p := s.policy(name)
	if p == nil {
		return api.Policy{}, ErrNoSuchPolicy
	}
	return p.Policy, nil
}

// PutPolicy stores a new version of a policy and audits the change.
func (s *Service) PutPolicy(name, by string, text []byte) (api.Policy, error) {
	if !policyNameRE.MatchString(name) {
		return api.Policy{}, httpx.BadRequest("policy names are 1–64 of a-z 0-9 . _ -, starting with a letter or digit")
	}
	parsed, err := attest.ParsePolicy(text)
	if err != nil {
		return api.Policy{}, httpx.BadRequest("invalid policy: %v", err)
	}
	sum := sha256.Sum256(text)
	s.mu.Lock()
	defer s.mu.Unlock()
	version := 1
	if old := s.policies[name]; old != nil {
		version = old.Version + 1
	}
	p := &storedPolicy{Policy: api.Policy{
		Name: name, Version: version, SHA256: hex.EncodeToString(sum[:]),
		Updated: s.cfg.Now().UTC().Format(time.RFC3339), By: by, Policy: json.RawMessage(text),
	}, parsed: parsed}
	if err := s.writePolicy(p, "policy.put"); err != nil {
		return api.Policy{}, err
	}
	s.policies[name] = p
	return p.Policy, nil
}

// DeletePolicy removes a policy (its history stays in the store).
func (s *Service) DeletePolicy(name, by string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.policies[name]
	if old == nil || old.Deleted {
		return ErrNoSuchPolicy
	}
	p := &storedPolicy{Policy: api.Policy{
		Name: name, Version: old.Version + 1, Updated: s.cfg.Now().UTC().Format(time.RFC3339), By: by,
	}, Deleted: true}
	if err := s.writePolicy(p, "policy.delete"); err != nil {
		return err
	}
	s.policies[name] = p
	return nil
}

func (s *Service) writePolicy(p *storedPolicy, op string) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.cfg.Store.Update(func(tx kvstore.Tx) error {
		if err := tx.Put(bucketPolicies, []byte(p.Name), b); err != nil {
			return err
		}
		vk := fmt.Appendf(nil, "%s\x00%08d", p.Name, p.Version)
		if err := tx.Put(bucketVersions, vk, b); err != nil {
			return err
		}
		_, err := s.audit.Append(tx, audit.Record{
			Actor: p.By, Op: op, Target: fmt.Sprintf("policy/%s/%d", p.Name, p.Version),
			Outcome: audit.OK, Detail: p.SHA256,
		})
		return err
	})
}

// ExportAudit writes the audit log (one record per line) and returns its
// head.
func (s *Service) ExportAudit(w io.Writer) (audit.Head, error) {
	var h audit.Head
	err := s.cfg.Store.View(func(tx kvstore.Tx) error {
		var err error
		h, err = s.audit.Export(tx, w)
		return err
	})
	return h, err
}
