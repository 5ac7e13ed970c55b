// Package client is the Go client of the attestation service. It imports
// the service's wire types, never the service.
package client

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/confide/confide/attest/token"
	"github.com/confide/confide/attestsvc/api"
	"github.com/confide/confide/audit"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/internal/httpx"
)

// Client talks to one attestation service; Bearer authenticates
// administrative calls.
type Client struct {
	httpx.Client
}

// New returns a client of the service at baseURL.
func New(baseURL string, hc *http.Client) *Client {
	return &Client{httpx.Client{BaseURL: baseURL, HTTP: hc}}
}

// Challenge asks for a nonce.
func (c *Client) Challenge(ctx context.Context) ([]byte, error) {
	var ch api.Challenge
	if _, err := c.Do(ctx, http.MethodPost, api.PathChallenge, nil, &ch); err != nil {
		return nil, err
	}
	n, err := hex.DecodeString(ch.Nonce)
	if err != nil || len(n) != 32 {
		return nil, errors.New("attestsvc client: malformed nonce in the reply")
	}
	return n, nil
}

// Attest exchanges evidence for a token.
func (c *Client) Attest(ctx context.Context, evidence, nonce, runtimeData []byte, policy string) (string, error) {
	var resp api.AttestResponse
	if _, err := c.Do(ctx, http.MethodPost, api.PathAttest, attestRequest(evidence, nonce, runtimeData, policy), &resp); err != nil {
		return "", err
	}
	return resp.Token, nil
}

func attestRequest(evidence, nonce, runtimeData []byte, policy string) api.AttestRequest {
	req := api.AttestRequest{
		Evidence: base64.StdEncoding.EncodeToString(evidence),
		Nonce:    hex.EncodeToString(nonce),
		Policy:   policy,
	}
	if runtimeData != nil {
		req.RuntimeData = base64.StdEncoding.EncodeToString(runtimeData)
	}
	return req
}

// evidenceFor asks for a nonce and returns the calling enclave's evidence
// binding it and the runtime data, as an attest request's body.
func (c *Client) evidenceFor(ctx context.Context, a enclave.Attester, runtimeData []byte, policy string) (api.AttestRequest, error) {
	nonce, err := c.Challenge(ctx)
	if err != nil {
		return api.AttestRequest{}, err
	}
	rd, err := enclave.NewReportData(nonce, runtimeData)
	if err != nil {
		return api.AttestRequest{}, err
	}
	ev, err := a.Evidence(ctx, rd)
	if err != nil {
		return api.AttestRequest{}, err
	}
	return attestRequest(ev, nonce, runtimeData, policy), nil
}

// Token runs the whole exchange for the calling enclave: a nonce, evidence
// binding it and the runtime data, and the token.
func (c *Client) Token(ctx context.Context, a enclave.Attester, runtimeData []byte, policy string) (string, error) {
	req, err := c.evidenceFor(ctx, a, runtimeData, policy)
	if err != nil {
		return "", err
	}
	var resp api.AttestResponse
	if _, err := c.Do(ctx, http.MethodPost, api.PathAttest, req, &resp); err != nil {
		return "", err
	}
	return resp.Token, nil
}

// Migrate obtains a predecessor service's secrets for the calling
// (successor) service: evidence for the predecessor's nonce binding a
// fresh ephemeral key, appraised by the predecessor's successor policy;
// the secrets' JSON, for attestsvc.Config.Predecessor.
func (c *Client) Migrate(ctx context.Context, a enclave.Attester) ([]byte, error) {
	e, err := token.NewEphemeral(nil)
	if err != nil {
		return nil, err
	}
	req, err := c.evidenceFor(ctx, a, e.RuntimeData, "")
	if err != nil {
		return nil, err
	}
	var resp api.MigrateResponse
	if _, err := c.Do(ctx, http.MethodPost, api.PathMigrate, req, &resp); err != nil {
		return nil, err
	}
	pt, err := e.Open(resp.Secrets)
	if err != nil {
		return nil, fmt.Errorf("attestsvc client: migrated secrets: %w", err)
	}
	return pt, nil
}

// Predecessor is a successor service's way to its predecessor: Secrets
// is what attestsvc.Config.Predecessor takes.
type Predecessor struct {
	Service  *Client          // the predecessor
	Attester enclave.Attester // this service's platform
}

// Secrets obtains the predecessor's secrets (Migrate).
func (p Predecessor) Secrets(ctx context.Context) ([]byte, error) {
	return p.Service.Migrate(ctx, p.Attester)
}

// Appraisals lists the service's latest appraisals, newest first (admin).
func (c *Client) Appraisals(ctx context.Context) ([]api.Appraisal, error) {
	var l api.AppraisalList
	_, err := c.Do(ctx, http.MethodGet, api.PathAppraisals, nil, &l)
	return l.Appraisals, err
}

// Certs fetches the JWKS that verifies tokens.
func (c *Client) Certs(ctx context.Context) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	_, err := c.Do(ctx, http.MethodGet, api.PathCerts, nil, &set)
	return set, err
}

// PutPolicy stores a new version of a policy (admin).
func (c *Client) PutPolicy(ctx context.Context, name string, policy []byte) (api.Policy, error) {
	var p api.Policy
	_, err := c.Do(ctx, http.MethodPut, api.PathPolicies+"/"+url.PathEscape(name), policy, &p)
	return p, err
}

// Policy fetches the current version of a policy (admin).
func (c *Client) Policy(ctx context.Context, name string) (api.Policy, error) {
	var p api.Policy
	_, err := c.Do(ctx, http.MethodGet, api.PathPolicies+"/"+url.PathEscape(name), nil, &p)
	return p, err
}

// Policies lists the policies (admin).
func (c *Client) Policies(ctx context.Context) ([]api.Policy, error) {
	var l api.PolicyList
	_, err := c.Do(ctx, http.MethodGet, api.PathPolicies, nil, &l)
	return l.Policies, err
}

// DeletePolicy deletes a policy (admin).
func (c *Client) DeletePolicy(ctx context.Context, name string) error {
	_, err := c.Do(ctx, http.MethodDelete, api.PathPolicies+"/"+url.PathEscape(name), nil, nil)
	return err
}

// Audit fetches the audit log (admin) into w and returns the head the
// service reported.
func (c *Client) Audit(ctx context.Context, w io.Writer) (audit.Head, error) {
	resp, err := c.Do(ctx, http.MethodGet, api.PathAudit, nil, w)
	if err != nil {
		return audit.Head{}, err
	}
	return ParseHead(resp.Header.Get(api.HeaderAuditHead))
}

// ParseHead parses a Confide-Audit-Head value.
func ParseHead(v string) (audit.Head, error) {
	seq, hash, ok := strings.Cut(v, " ")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || len(hash) != 64 {
		return audit.Head{}, fmt.Errorf("malformed audit head %q", v)
	}
	return audit.Head{Seq: n, Hash: hash}, nil
}

// KeySet is a token.KeySet that fetches the service's JWKS, caching it
// and fetching again, at most once per MinRefresh (default 10 s), when a
// token names a key it does not hold (after a rotation).
type KeySet struct {
	Client     *Client
	MinRefresh time.Duration
	Timeout    time.Duration

	mu      sync.Mutex
	set     jose.JSONWebKeySet
	fetched time.Time
}

func (k *KeySet) Keys(refresh bool) (jose.JSONWebKeySet, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	min := k.MinRefresh
	if min == 0 {
		min = 10 * time.Second
	}
	if !k.fetched.IsZero() && (!refresh || time.Since(k.fetched) < min) {
		return k.set, nil
	}
	to := k.Timeout
	if to == 0 {
		to = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), to)
	defer cancel()
	set, err := k.Client.Certs(ctx)
	if err != nil {
		if !k.fetched.IsZero() {
			return k.set, nil // keep serving the keys we have
		}
		return set, err
	}
	k.set, k.fetched = set, time.Now()
	return set, nil
}
