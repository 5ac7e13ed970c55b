package attestsvc_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/token"
	"github.com/confide/confide/attestsvc"
	"github.com/confide/confide/attestsvc/api"
	"github.com/confide/confide/attestsvc/client"
	"github.com/confide/confide/audit"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/internal/auth"
	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/kvstore"
	"github.com/confide/confide/seal"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	p      *simtest.Platform
	dir    string
	url    string
	svc    *attestsvc.Service
	admin  *client.Client
	anon   *client.Client
	user   *client.Client
	now    *clock
	tokens *auth.Principals
	ts     *httptest.Server
	store  *kvstore.Bolt
}

func start(t testing.TB) *env {
	e := &env{p: simtest.Start(t), dir: t.TempDir(), now: &clock{t: time.Now()}}
	admin, ah, _ := auth.NewToken()
	user, uh, _ := auth.NewToken()
	var err error
	e.tokens, err = auth.Parse(fmt.Appendf(nil, `{"version":1,"principals":[{"name":"owner","token_sha256":%q,"admin":true},{"name":"app","token_sha256":%q}]}`, ah, uh))
	if err != nil {
		t.Fatal(err)
	}
	e.open(t)
	e.admin, e.anon, e.user = client.New(e.url, nil), client.New(e.url, nil), client.New(e.url, nil)
	e.admin.Bearer, e.user.Bearer = admin, user
	return e
}

// open (re)starts the service over the same store file.
func (e *env) open(t testing.TB) {
	t.Helper()
	var err error
	if e.store, err = kvstore.OpenBolt(filepath.Join(e.dir, "as.db")); err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.New(e.p.Client, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if e.ts == nil {
		e.ts = httptest.NewUnstartedServer(nil)
		e.url = "http://" + e.ts.Listener.Addr().String()
		e.ts.Start()
		t.Cleanup(e.ts.Close)
	}
	e.svc, err = attestsvc.New(context.Background(), attestsvc.Config{
		Verifier: &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSim: e.p.Verifier()}},
		Store:    e.store, Sealer: sealer, Issuer: e.url, Admins: e.tokens, Now: e.now.Now,
		NonceLifetime: time.Minute, MaxNonces: 1000,
	})
	if err != nil {
		e.store.Close()
		t.Fatal(err)
	}
	e.ts.Config.Handler = e.svc.Handler(nil)
	t.Cleanup(func() { e.store.Close() })
}

func (e *env) close() { e.store.Close() }

func (e *env) verifier() *token.Verifier {
	return &token.Verifier{Issuer: e.url, Keys: &client.KeySet{Client: e.anon}, Now: e.now.Now}
}

func status(err error) (int, string) {
	var he *httpx.Error
	if errors.As(err, &he) {
		return he.Status, he.Code
	}
	return 0, ""
}

func TestAttestAndVerify(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	rd := []byte(`{"job":"j-1","n":3,"nested":{"ok":true}}`)
	tok, err := e.anon.Token(ctx, e.p.Client, rd, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.verifier().Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := e.p.Client.Identity(ctx)
	if c.Platform != "sim" || c.UniqueID != hex.EncodeToString(id.UniqueID) || !c.Debug || c.Verdict != token.None || c.Policy != nil {
		t.Errorf("claims: %+v", c)
	}
	m := c.Map()
	if m["runtime.job"] != "j-1" || m["runtime.n"] != 3.0 || m["runtime.nested.ok"] != true {
		t.Errorf("runtime claims: %v", m)
	}
	raw, _ := c.RawRuntimeData()
	if !bytes.Equal(raw, rd) || c.Expiry-c.IssuedAt != 3600 {
		t.Errorf("runtime data %q, lifetime %d", raw, c.Expiry-c.IssuedAt)
	}
	// A named policy: applied, named in the token, or a 403 with the reason.
	pol := fmt.Sprintf(`{"version":"1.0.0","anyOf":[{"allOf":[{"claim":"platform","equals":"sim"},{"claim":"runtime.job","equals":"j-1"},{"claim":"unique_id","equals":%q}]}]}`, c.UniqueID)
	p, err := e.admin.PutPolicy(ctx, "jobs", []byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	tok, err = e.anon.Token(ctx, e.p.Client, rd, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if c, err = e.verifier().Verify(tok); err != nil || c.Verdict != token.Affirming || *c.Policy != (token.PolicyRef{Name: "jobs", Version: 1, SHA256: p.SHA256}) {
		t.Fatalf("policy token: %+v %v", c, err)
	}
	_, err = e.anon.Token(ctx, e.p.Client, []byte(`{"job":"j-2"}`), "jobs")
	if st, code := status(err); st != 403 || code != "policy_denied" {
		t.Fatalf("policy denial: %v", err)
	}
	// Verifier errors.
	v := e.verifier()
	if _, err := v.Verify(tok[:len(tok)-3] + "AAA"); !errors.Is(err, token.ErrSignature) {
		t.Errorf("tampered: %v", err)
	}
	if _, err := v.Verify("not.a.token"); !errors.Is(err, token.ErrMalformed) {
		t.Errorf("garbage: %v", err)
	}
	v.Issuer = "https://other"
	if _, err := v.Verify(tok); !errors.Is(err, token.ErrIssuer) {
		t.Errorf("issuer: %v", err)
	}
	e.now.Add(2 * time.Hour)
	if _, err := e.verifier().Verify(tok); !errors.Is(err, token.ErrExpired) {
		t.Errorf("expired: %v", err)
	}
}

// post sends a raw body to a path and returns the status and error code.
func (e *env) post(t *testing.T, path, ct string, body []byte) (int, string) {
	req, _ := http.NewRequest(http.MethodPost, e.url+path, bytes.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b struct {
		Error struct{ Code, Message string }
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		if err := json.Unmarshal(raw, &b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
			t.Errorf("%s: status %d with a body that is not a JSON error: %q", path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, b.Error.Code
}

func TestBadRequests(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	evidenceFor := func(nonce []byte, rd []byte) string {
		r, err := enclave.NewReportData(nonce, rd)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := e.p.Client.Evidence(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(ev)
	}
	nonce := func() []byte {
		n, err := e.anon.Challenge(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	req := func(r api.AttestRequest) []byte { b, _ := json.Marshal(r); return b }

	used := nonce()
	good := api.AttestRequest{Evidence: evidenceFor(used, nil), Nonce: hex.EncodeToString(used)}
	if st, _ := e.post(t, api.PathAttest, "application/json", req(good)); st != 200 {
		t.Fatalf("good request: %d", st)
	}
	expiring := nonce()
	expReq := req(api.AttestRequest{Evidence: evidenceFor(expiring, nil), Nonce: hex.EncodeToString(expiring)})
	n1, n2 := nonce(), nonce()
	rdNonce := nonce()
	cases := []struct {
		name   string
		ct     string
		body   []byte
		status int
		code   string
		later  time.Duration
	}{
		{"empty body", "", nil, 400, "bad_request", 0},
		{"not JSON", "", []byte("evidence please"), 400, "bad_request", 0},
		{"wrong content type", "text/plain", req(good), 415, "unsupported_media_type", 0},
		{"unknown field", "", []byte(`{"evidence":"AA==","nonce":"00","x":1}`), 400, "bad_request", 0},
		{"trailing data", "", append(req(good), []byte(`{}`)...), 400, "bad_request", 0},
		{"oversized", "", bytes.Repeat([]byte("A"), api.MaxAttestRequest+10), 413, "too_large", 0},
		{"wrong type", "", []byte(`{"evidence":1,"nonce":"00"}`), 400, "bad_request", 0},
		{"short nonce", "", req(api.AttestRequest{Evidence: good.Evidence, Nonce: "abcd"}), 400, "bad_request", 0},
		{"bad base64", "", req(api.AttestRequest{Evidence: "!!!", Nonce: good.Nonce}), 400, "bad_request", 0},
		{"replayed nonce", "", req(good), 400, "bad_nonce", 0},
		{"unknown nonce", "", req(api.AttestRequest{Evidence: good.Evidence, Nonce: strings.Repeat("00", 32)}), 400, "bad_nonce", 0},
		{"evidence for another nonce", "", req(api.AttestRequest{Evidence: evidenceFor(n1, nil), Nonce: hex.EncodeToString(n2)}), 400, "evidence_rejected", 0},
		{"garbage evidence", "", req(api.AttestRequest{Evidence: base64.StdEncoding.EncodeToString([]byte("CFEV garbage")), Nonce: hex.EncodeToString(n1)}), 400, "evidence_rejected", 0},
		{"unbound runtime data", "", req(api.AttestRequest{Evidence: evidenceFor(rdNonce, []byte("a")), Nonce: hex.EncodeToString(rdNonce), RuntimeData: base64.StdEncoding.EncodeToString([]byte("b"))}), 400, "evidence_rejected", 0},
		{"unknown policy", "", req(api.AttestRequest{Evidence: good.Evidence, Nonce: good.Nonce, Policy: "nope"}), 404, "no_such_policy", 0},
		{"expired nonce", "", expReq, 400, "bad_nonce", 2 * time.Minute},
		{"unknown endpoint", "", nil, 404, "not_found", 0},
	}
	for _, c := range cases {
		e.now.Add(c.later)
		path := api.PathAttest
		if c.name == "unknown endpoint" {
			path = "/v1/nothing"
		}
		st, code := e.post(t, path, c.ct, c.body)
		if st != c.status || code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, st, code, c.status, c.code)
		}
	}
}

func TestPoliciesAndRestart(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	pol := []byte(`{"version":"1.0.0","anyOf":[{"claim":"platform","equals":"sim"}]}`)
	if _, err := e.anon.PutPolicy(ctx, "p", pol); !isStatus(err, 401) {
		t.Errorf("anonymous put: %v", err)
	}
	if _, err := e.user.PutPolicy(ctx, "p", pol); !isStatus(err, 403) {
		t.Errorf("non-admin put: %v", err)
	}
	for _, bad := range []string{`{}`, `not json`, `{"version":"1.0.0","anyOf":[{"claim":"x","equals":1,"equals":2}]}`} {
		if _, err := e.admin.PutPolicy(ctx, "p", []byte(bad)); !isStatus(err, 400) {
			t.Errorf("bad policy %s: %v", bad, err)
		}
	}
	if _, err := e.admin.PutPolicy(ctx, "Bad Name", pol); !isStatus(err, 400) {
		t.Errorf("bad name: %v", err)
	}
	p1, err := e.admin.PutPolicy(ctx, "p", pol)
	if err != nil || p1.Version != 1 {
		t.Fatal(p1, err)
	}
	p2, err := e.admin.PutPolicy(ctx, "p", []byte(`{"version":"1.0.0","anyOf":[{"claim":"platform","equals":"snp"}]}`))
	if err != nil || p2.Version != 2 || p2.By != "owner" {
		t.Fatal(p2, err)
	}
	got, err := e.admin.Policy(ctx, "p")
	if err != nil || got.Version != 2 || !strings.Contains(string(got.Policy), "snp") {
		t.Fatal(got, err)
	}
	kid := e.svc.Issuer().Keys()[0].ID

	// Restart over the same store: policies, signing key and audit log
	// survive.
	e.close()
	e.open(t)
	if got, err := e.admin.Policy(ctx, "p"); err != nil || got.Version != 2 {
		t.Fatalf("after restart: %v %v", got, err)
	}
	if k := e.svc.Issuer().Keys(); k[len(k)-1].ID != kid {
		t.Error("the signing key changed across a restart")
	}
	if err := e.admin.DeletePolicy(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.Policy(ctx, "p"); !isStatus(err, 404) {
		t.Errorf("after delete: %v", err)
	}
	if err := e.admin.DeletePolicy(ctx, "p"); !isStatus(err, 404) {
		t.Errorf("second delete: %v", err)
	}
	p3, err := e.admin.PutPolicy(ctx, "p", pol)
	if err != nil || p3.Version != 4 {
		t.Fatalf("re-create continues the versions: %v %v", p3, err)
	}
	var buf bytes.Buffer
	head, err := e.admin.Audit(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	h, recs, err := audit.Verify(bytes.NewReader(buf.Bytes()))
	if err != nil || h != head || len(recs) != 4 {
		t.Fatalf("audit: %v, %d records, head %v vs %v", err, len(recs), h, head)
	}
	if recs[2].Op != "policy.delete" || recs[2].Actor != "owner" || recs[2].Target != "policy/p/3" {
		t.Errorf("record 3: %+v", recs[2])
	}

	// Tampering with a stored audit record is caught at the next start.
	e.close()
	st, err := kvstore.OpenBolt(filepath.Join(e.dir, "as.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.Update(func(tx kvstore.Tx) error {
		k := []byte{0, 0, 0, 0, 0, 0, 0, 2}
		v := bytes.Replace(tx.Get("audit", k), []byte("owner"), []byte("eve!!"), 1)
		return tx.Put("audit", k, v)
	})
	st.Close()
	st, _ = kvstore.OpenBolt(filepath.Join(e.dir, "as.db"))
	defer st.Close()
	sealer, _ := seal.New(e.p.Client, rand.Reader)
	_, err = attestsvc.New(ctx, attestsvc.Config{Verifier: &attest.Verifier{}, Store: st, Sealer: sealer, Issuer: e.url})
	if !errors.Is(err, audit.ErrBroken) {
		t.Fatalf("a tampered audit log was accepted: %v", err)
	}
}

func isStatus(err error, st int) bool { s, _ := status(err); return s == st }

func TestRotation(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	old, err := e.anon.Token(ctx, e.p.Client, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := e.svc.Rotate(ctx, true); !ok || err != nil {
		t.Fatal(ok, err)
	}
	set, err := e.anon.Certs(ctx)
	if err != nil || len(set.Keys) != 2 {
		t.Fatalf("JWKS after rotation: %d keys, %v", len(set.Keys), err)
	}
	fresh, err := e.anon.Token(ctx, e.p.Client, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	v := e.verifier()
	for _, tok := range []string{old, fresh} {
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("token across a rotation: %v", err)
		}
	}
	// Once the old key's last tokens have expired, it leaves the JWKS.
	e.now.Add(61 * time.Minute)
	if ok, err := e.svc.Rotate(ctx, true); !ok || err != nil {
		t.Fatal(ok, err)
	}
	set, _ = e.anon.Certs(ctx)
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS keeps %d keys, want 2 (the previous and the current)", len(set.Keys))
	}
	if ok, _ := e.svc.Rotate(ctx, false); ok {
		t.Error("rotated a key younger than its lifetime")
	}
}

func TestConcurrentAttestations(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				tok, err := e.anon.Token(ctx, e.p.Client, []byte(fmt.Sprint(g, i)), "")
				if err == nil {
					_, err = e.verifier().Verify(tok)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 5; i++ {
			if _, err := e.admin.PutPolicy(ctx, "p", []byte(`{"version":"1.0.0","anyOf":[{"claim":"platform","equals":"sim"}]}`)); err != nil {
				errs <- err
			}
			if _, err := e.svc.Rotate(ctx, true); err != nil {
				errs <- err
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNonceLimit(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		if _, err := e.anon.Challenge(ctx); err != nil {
			t.Fatal(i, err)
		}
	}
	if _, err := e.anon.Challenge(ctx); !isStatus(err, 503) {
		t.Fatalf("challenge over the limit: %v", err)
	}
	e.now.Add(2 * time.Minute) // all expire
	if _, err := e.anon.Challenge(ctx); err != nil {
		t.Fatalf("challenge after expiry: %v", err)
	}
}

// TestMigrate moves the service's secrets to a successor whose seal keys
// differ (an upgrade; on SGX, a microcode update): the successor keeps
// the signing keys relying parties trust and the audit log's chain.
func TestMigrate(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	if _, err := e.admin.PutPolicy(ctx, "p", []byte(`{"version":"1.0.0","anyOf":[{"claim":"platform","equals":"sim"}]}`)); err != nil {
		t.Fatal(err)
	}
	// Without a successor policy, the running service gives nothing.
	if _, err := e.anon.Migrate(ctx, e.p.Client); !isStatus(err, 403) {
		t.Fatalf("migrated without a successor policy: %v", err)
	}
	// The predecessor, on the same store, now names its successors.
	predecessor := func(policy string) *client.Client {
		sealer, _ := seal.New(e.p.Client, rand.Reader)
		svc, err := attestsvc.New(ctx, attestsvc.Config{
			Verifier: &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSim: e.p.Verifier()}},
			Store:    e.store, Sealer: sealer, Issuer: e.url, Now: e.now.Now, SuccessorPolicy: mustPolicy(t, policy),
		})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(svc.Handler(nil))
		t.Cleanup(ts.Close)
		return client.New(ts.URL, nil)
	}
	pred := predecessor(`{"version":"1.0.0","anyOf":[{"claim":"platform","equals":"sim"}]}`)

	// The successor: a copy of the store, a platform whose seal keys
	// differ.
	path := filepath.Join(t.TempDir(), "successor.db")
	if err := e.store.Backup(path); err != nil {
		t.Fatal(err)
	}
	st, err := kvstore.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	other, _ := seal.New(simtest.Start(t).Client, rand.Reader)
	cfg := attestsvc.Config{Verifier: &attest.Verifier{}, Store: st, Sealer: other, Issuer: e.url, Now: e.now.Now}
	if _, err := attestsvc.New(ctx, cfg); err == nil {
		t.Fatal("the secrets unsealed on another platform")
	}
	asked := 0
	withPred := cfg
	withPred.Predecessor = func(ctx context.Context) ([]byte, error) {
		asked++
		return pred.Migrate(ctx, e.p.Client)
	}
	succ, err := attestsvc.New(ctx, withPred)
	if err != nil {
		t.Fatalf("migrating: %v", err)
	}
	want := e.svc.Issuer().Keys()
	got := succ.Issuer().Keys()
	if asked != 1 || len(got) != len(want) || got[len(got)-1].ID != want[len(want)-1].ID {
		t.Fatalf("the successor signs with other keys (asked %d)", asked)
	}
	if p, err := succ.Policy("p"); err != nil || p.Version != 1 {
		t.Fatalf("the successor's policies: %v %v", p, err)
	}
	var buf bytes.Buffer
	if _, err := succ.ExportAudit(&buf); err != nil {
		t.Fatal(err)
	}
	_, recs, err := audit.Verify(&buf)
	if err != nil || recs[len(recs)-1].Op != "secrets.migrate" || recs[len(recs)-1].Outcome != audit.OK {
		t.Fatalf("the successor's audit log: %v %+v", err, recs)
	}
	// Sealed anew: the successor reopens without its predecessor.
	if _, err := attestsvc.New(ctx, cfg); err != nil {
		t.Fatalf("reopening the migrated store: %v", err)
	}

	// Secrets that do not open the store (another service's) are refused,
	// and the store keeps its own sealed secrets.
	path2 := filepath.Join(t.TempDir(), "third.db")
	if err := e.store.Backup(path2); err != nil {
		t.Fatal(err)
	}
	st2, err := kvstore.OpenBolt(path2)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	stranger, err := kvstore.OpenBolt(filepath.Join(t.TempDir(), "stranger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	strangerSealer, _ := seal.New(simtest.Start(t).Client, rand.Reader)
	ssvc, err := attestsvc.New(ctx, attestsvc.Config{
		Verifier: &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSim: e.p.Verifier()}},
		Store:    stranger, Sealer: strangerSealer, Issuer: "https://stranger",
		SuccessorPolicy: mustPolicy(t, `{"version":"1.0.0","anyOf":[{"claim":"platform","equals":"sim"}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(ssvc.Handler(nil))
	defer ts.Close()
	wrong := cfg
	wrong.Store = st2
	wrong.Predecessor = func(ctx context.Context) ([]byte, error) { return client.New(ts.URL, nil).Migrate(ctx, e.p.Client) }
	if _, err := attestsvc.New(ctx, wrong); err == nil || !strings.Contains(err.Error(), "audit log") {
		t.Fatalf("another service's secrets: %v", err)
	}
	ownSealer, _ := seal.New(e.p.Client, rand.Reader)
	if _, err := attestsvc.New(ctx, attestsvc.Config{Verifier: &attest.Verifier{}, Store: st2, Sealer: ownSealer, Issuer: e.url}); err != nil {
		t.Fatalf("the store lost its own sealed secrets: %v", err)
	}
	// A predecessor that cannot be reached: a clear error, nothing lost.
	unreachable := cfg
	unreachable.Store = st2
	unreachable.Predecessor = func(ctx context.Context) ([]byte, error) {
		return client.New("http://127.0.0.1:1", nil).Migrate(ctx, e.p.Client)
	}
	if _, err := attestsvc.New(ctx, unreachable); err == nil || !strings.Contains(err.Error(), "predecessor") {
		t.Fatalf("an unreachable predecessor: %v", err)
	}

	// Evidence the successor policy does not satisfy: refused, audited.
	strict := predecessor(`{"version":"1.0.0","anyOf":[{"claim":"svn","equals":99}]}`)
	if _, err := strict.Migrate(ctx, e.p.Client); !isStatus(err, 403) {
		t.Fatalf("a successor outside the policy: %v", err)
	}
	buf.Reset()
	if _, err := e.svc.ExportAudit(&buf); err != nil {
		t.Fatal(err)
	}
	_, recs, err = audit.Verify(&buf)
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if last.Op != "secrets.migrate" || last.Outcome != audit.Denied || !strings.Contains(last.Detail, "successor policy") {
		t.Fatalf("the denial was not audited: %+v", last)
	}
	// Garbage: a named policy, evidence that is not evidence, a spent nonce.
	nonce, _ := pred.Challenge(ctx)
	for name, req := range map[string]api.AttestRequest{
		"policy":   {Nonce: hex.EncodeToString(nonce), Evidence: "AAAA", Policy: "p"},
		"evidence": {Nonce: hex.EncodeToString(nonce), Evidence: base64.StdEncoding.EncodeToString([]byte("not evidence"))},
		"nonce":    {Nonce: hex.EncodeToString(nonce), Evidence: base64.StdEncoding.EncodeToString([]byte("not evidence"))},
	} {
		var resp api.MigrateResponse
		if _, err := pred.Do(ctx, http.MethodPost, api.PathMigrate, req, &resp); !isStatus(err, 400) || resp.Secrets != "" {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Evidence without a "jwk" in its runtime data: nothing to encrypt to.
	nonce, _ = pred.Challenge(ctx)
	rd, _ := enclave.NewReportData(nonce, []byte(`{"x":1}`))
	ev, _ := e.p.Client.Evidence(ctx, rd)
	var resp api.MigrateResponse
	_, err = pred.Do(ctx, http.MethodPost, api.PathMigrate, api.AttestRequest{
		Nonce: hex.EncodeToString(nonce), Evidence: base64.StdEncoding.EncodeToString(ev),
		RuntimeData: base64.StdEncoding.EncodeToString([]byte(`{"x":1}`)),
	}, &resp)
	if !isStatus(err, 403) || resp.Secrets != "" {
		t.Errorf("no jwk: %v", err)
	}
}

func mustPolicy(t *testing.T, text string) *attest.Policy {
	t.Helper()
	p, err := attest.ParsePolicy([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The latest appraisals, newest first, for administrators: the verdict,
// the identity when the evidence verified, and a refusal's reason.
func TestAppraisals(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	if _, err := e.admin.PutPolicy(ctx, "snp-only", []byte(`{"version":"1.0.0","anyOf":[{"claim":"platform","equals":"snp"}]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.anon.Token(ctx, e.p.Client, nil, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.anon.Token(ctx, e.p.Client, nil, "snp-only"); !isStatus(err, 403) {
		t.Fatalf("policy: %v", err)
	}
	if _, err := e.anon.Attest(ctx, []byte("garbage"), make([]byte, 32), nil, ""); err == nil {
		t.Fatal("garbage attested")
	}
	if _, err := e.user.Appraisals(ctx); !isStatus(err, 403) {
		t.Fatalf("a non-admin read the appraisals: %v", err)
	}
	got, err := e.admin.Appraisals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Outcome != "nonce" || got[1].Outcome != "policy" || got[2].Outcome != "token" {
		t.Fatalf("appraisals %+v", got)
	}
	if got[1].Platform != "sim" || got[1].Policy != "snp-only" || !strings.Contains(got[1].Reason, "snp-only") || got[2].UniqueID == "" || got[2].Reason != "" {
		t.Fatalf("appraisals %+v", got)
	}
	// The service keeps the latest 256.
	for range 300 {
		e.anon.Attest(ctx, []byte("x"), make([]byte, 32), nil, "")
	}
	if got, _ := e.admin.Appraisals(ctx); len(got) != 256 || got[255].Outcome != "nonce" {
		t.Fatalf("after 303 appraisals: %d kept", len(got))
	}
}
