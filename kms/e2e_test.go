package kms_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
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

	"github.com/go-jose/go-jose/v4"
	jwxjwa "github.com/lestrrat-go/jwx/v3/jwa"
	jwxjwe "github.com/lestrrat-go/jwx/v3/jwe"
	jwxjwk "github.com/lestrrat-go/jwx/v3/jwk"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/token"
	"github.com/confide/confide/attestsvc"
	attestclient "github.com/confide/confide/attestsvc/client"
	"github.com/confide/confide/audit"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/internal/auth"
	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/kms"
	"github.com/confide/confide/kms/api"
	kmsclient "github.com/confide/confide/kms/client"
	"github.com/confide/confide/kvstore"
	"github.com/confide/confide/seal"
)

// world is an attestation service and a key broker on a simulated
// platform, over loopback HTTP, as `confide dev` wires them.
type world struct {
	p      *simtest.Platform
	id     enclave.Identity
	as     *attestclient.Client
	asURL  string
	kms    *kmsclient.Client // authenticated as the admin
	user   *kmsclient.Client // authenticated as "sql"
	anon   *kmsclient.Client
	broker *kms.Broker
	store  *kvstore.Bolt
	now    *clock
}

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

func principals(t testing.TB) (*auth.Principals, string, string) {
	admin, ah, _ := auth.NewToken()
	user, uh, _ := auth.NewToken()
	p, err := auth.Parse(fmt.Appendf(nil, `{"version":1,"principals":[{"name":"owner","token_sha256":%q,"admin":true},{"name":"sql","token_sha256":%q}]}`, ah, uh))
	if err != nil {
		t.Fatal(err)
	}
	return p, admin, user
}

// startAS starts an attestation service and returns its client and URL.
func startAS(t testing.TB, p *simtest.Platform, now func() time.Time) (*attestsvc.Service, *attestclient.Client, string) {
	st, err := kvstore.OpenBolt(filepath.Join(t.TempDir(), "as.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := seal.New(p.Client, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	url := "http://" + ts.Listener.Addr().String()
	svc, err := attestsvc.New(context.Background(), attestsvc.Config{
		Verifier: &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSim: p.Verifier()}},
		Store:    st, Sealer: sealer, Issuer: url, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = svc.Handler(nil)
	ts.Start()
	t.Cleanup(ts.Close)
	return svc, attestclient.New(url, nil), url
}

func newWorld(t testing.TB) *world {
	w := &world{p: simtest.Start(t), now: &clock{t: time.Now()}}
	var err error
	if w.id, err = w.p.Client.Identity(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, w.as, w.asURL = startAS(t, w.p, w.now.Now)
	pr, admin, user := principals(t)
	if w.store, err = kvstore.OpenBolt(filepath.Join(t.TempDir(), "kms.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.store.Close() })
	sealer, err := seal.New(w.p.Client, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w.broker, err = kms.New(context.Background(), kms.Config{
		Store: w.store, Sealer: sealer, Principals: pr, Now: w.now.Now,
		Issuers: []*token.Verifier{{Issuer: w.asURL, Keys: &attestclient.KeySet{Client: w.as}, Now: w.now.Now}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(w.broker.Handler(nil))
	t.Cleanup(ts.Close)
	w.kms = kmsclient.New(ts.URL, nil)
	w.kms.Bearer = admin
	w.user = kmsclient.New(ts.URL, nil)
	w.user.Bearer = user
	w.anon = kmsclient.New(ts.URL, nil)
	return w
}

// policy is a release policy pinning our identity, with extra conditions.
func (w *world) policy(extra ...string) json.RawMessage {
	conds := []string{
		`{"claim":"platform","equals":"sim"}`,
		fmt.Sprintf(`{"claim":"unique_id","equals":%q}`, hex.EncodeToString(w.id.UniqueID)),
		fmt.Sprintf(`{"claim":"config_id","equals":%q}`, hex.EncodeToString(w.id.ConfigID)),
	}
	return json.RawMessage(fmt.Sprintf(`{"version":"1.0.0","anyOf":[{"authority":%q,"allOf":[%s]}]}`,
		w.asURL, strings.Join(append(conds, extra...), ",")))
}

func httpCode(err error) (int, string) {
	var e *httpx.Error
	if errors.As(err, &e) {
		return e.Status, e.Code
	}
	return 0, ""
}

func TestEndToEndRelease(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	secret := make([]byte, 32)
	rand.Read(secret)
	jwk, _ := jose.JSONWebKey{Key: secret}.MarshalJSON()
	if _, err := w.kms.Create(ctx, "k1", api.CreateKey{JWK: jwk, Exportable: true,
		ReleasePolicy: w.policy(`{"claim":"runtime.job","equals":"job-1"}`)}); err != nil {
		t.Fatal(err)
	}

	// challenge → evidence → token, the token checked by an independent
	// JOSE library with the service's JWKS.
	e, err := token.NewEphemeral(map[string]any{"job": "job-1"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := w.as.Token(ctx, w.p.Client, e.RuntimeData, "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(w.asURL + "/v1/certs")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	set, err := jwxjwk.Parse(jwks)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwxjwt.Parse([]byte(tok), jwxjwt.WithKeySet(set), jwxjwt.WithValidate(true), jwxjwt.WithIssuer(w.asURL))
	if err != nil {
		t.Fatalf("jwx rejects the token: %v", err)
	}
	for name, want := range map[string]any{
		"platform": "sim", "unique_id": hex.EncodeToString(w.id.UniqueID), "config_id": hex.EncodeToString(w.id.ConfigID),
		"debug": true, "verdict": "none", "eat_profile": token.Profile,
	} {
		var got any
		if err := parsed.Get(name, &got); err != nil || got != want {
			t.Errorf("token claim %s = %v, want %v (%v)", name, got, want, err)
		}
	}
	var rt map[string]any
	if err := parsed.Get("runtime", &rt); err != nil || rt["job"] != "job-1" {
		t.Errorf("runtime claims = %v (%v)", rt, err)
	}

	// The release, decrypted by the independent library too.
	var rr api.ReleaseResponse
	if _, err := w.anon.Do(ctx, http.MethodPost, "/v1/keys/k1/release", api.ReleaseRequest{Token: tok}, &rr); err != nil {
		t.Fatal(err)
	}
	pt, err := jwxjwe.Decrypt([]byte(rr.Key), jwxjwe.WithKey(jwxjwa.ECDH_ES(), e.Key))
	if err != nil {
		t.Fatalf("jwx cannot decrypt the released key: %v", err)
	}
	var got jose.JSONWebKey
	if err := got.UnmarshalJSON(pt); err != nil || !bytes.Equal(got.Key.([]byte), secret) {
		t.Fatalf("released key %v differs from the imported one (%v)", got.Key, err)
	}

	// And through the Go client, with an RSA key generated by the broker.
	if _, err := w.kms.Create(ctx, "rsa1", api.CreateKey{Kty: "RSA", Size: 2048, Exportable: true, ReleasePolicy: w.policy()}); err != nil {
		t.Fatal(err)
	}
	k, v, err := w.kms.ReleaseFor(ctx, w.as, w.p.Client, "rsa1", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k.Key.(*rsa.PrivateKey); !ok || v != 1 {
		t.Fatalf("released %T version %d", k.Key, v)
	}
}

func TestReleaseDenied(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	other := strings.Repeat("ab", 32)
	keys := map[string]json.RawMessage{
		"measurement": json.RawMessage(fmt.Sprintf(`{"version":"1.0.0","anyOf":[{"authority":%q,"allOf":[{"claim":"platform","equals":"sim"},{"claim":"unique_id","equals":%q}]}]}`, w.asURL, other)),
		"config":      json.RawMessage(fmt.Sprintf(`{"version":"1.0.0","anyOf":[{"authority":%q,"allOf":[{"claim":"platform","equals":"sim"},{"claim":"config_id","equals":%q}]}]}`, w.asURL, other)),
		"production":  w.policy(`{"claim":"debug","equals":false}`),
		"svn":         w.policy(`{"claim":"svn","greaterOrEquals":3}`),
		"runtime":     w.policy(`{"claim":"runtime.job","equals":"job-2"}`),
		"authority":   json.RawMessage(`{"version":"1.0.0","anyOf":[{"authority":"https://elsewhere","allOf":[{"claim":"platform","equals":"sim"}]}]}`),
		"nosim":       json.RawMessage(fmt.Sprintf(`{"version":"1.0.0","anyOf":[{"authority":%q,"allOf":[{"claim":"debug","equals":true}]}]}`, w.asURL)),
	}
	for name, pol := range keys {
		if _, err := w.kms.Create(ctx, name, api.CreateKey{Kty: "oct", Exportable: true, ReleasePolicy: pol}); err != nil {
			t.Fatal(name, err)
		}
	}
	if _, err := w.kms.Create(ctx, "sealed", api.CreateKey{Kty: "oct"}); err != nil {
		t.Fatal(err)
	}
	before := dump(t, w)
	for name := range keys {
		_, _, err := w.kms.ReleaseFor(ctx, w.as, w.p.Client, name, 0, map[string]any{"job": "job-1"})
		if st, code := httpCode(err); st != 403 || code != "release_denied" {
			t.Errorf("%s: got %v, want a 403 release_denied", name, err)
		}
	}
	_, _, err := w.kms.ReleaseFor(ctx, w.as, w.p.Client, "sealed", 0, nil)
	if st, _ := httpCode(err); st != 403 {
		t.Errorf("non-exportable key: %v", err)
	}

	// A good key, asked for badly.
	if _, err := w.kms.Create(ctx, "good", api.CreateKey{Kty: "EC", Curve: "P-384", Exportable: true, ReleasePolicy: w.policy()}); err != nil {
		t.Fatal(err)
	}
	before = dump(t, w)
	e, _ := token.NewEphemeral(nil)
	tok, err := w.as.Token(ctx, w.p.Client, e.RuntimeData, "")
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := token.NewEphemeral(nil)
	other2, _ := json.Marshal(jose.JSONWebKey{Key: e2.Key.Public()})
	noJWK, err := w.as.Token(ctx, w.p.Client, []byte(`{"job":"x"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	// A second, independent attestation service: its tokens are not trusted.
	_, as2, _ := startAS(t, w.p, nil)
	foreign, err := as2.Token(ctx, w.p.Client, e.RuntimeData, "")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		req    api.ReleaseRequest
		status int
		code   string
		later  time.Duration
	}{
		{"unbound jwk", api.ReleaseRequest{Token: tok, JWK: other2}, 403, "release_denied", 0},
		{"no jwk in runtime data", api.ReleaseRequest{Token: noJWK}, 403, "release_denied", 0},
		{"unknown issuer", api.ReleaseRequest{Token: foreign}, 401, "bad_token", 0},
		{"garbage token", api.ReleaseRequest{Token: "a.b.c"}, 401, "bad_token", 0},
		{"tampered token", api.ReleaseRequest{Token: tok[:len(tok)-4] + "AAAA"}, 401, "bad_token", 0},
		{"no token", api.ReleaseRequest{}, 400, "bad_request", 0},
		{"no such version", api.ReleaseRequest{Token: tok, Version: 7}, 404, "no_such_version", 0},
		{"expired token", api.ReleaseRequest{Token: tok}, 401, "bad_token", 2 * time.Hour},
	}
	for _, c := range cases {
		w.now.Add(c.later)
		var rr api.ReleaseResponse
		_, err := w.anon.Do(ctx, http.MethodPost, "/v1/keys/good/release", c.req, &rr)
		if st, code := httpCode(err); st != c.status || code != c.code {
			t.Errorf("%s: got %v (%d %s), want %d %s", c.name, err, st, code, c.status, c.code)
		}
	}
	if after := dump(t, w); after != before {
		t.Errorf("rejected releases changed the keys:\n%s\n%s", before, after)
	}
	// Every denial is in the audit log, which verifies.
	var buf bytes.Buffer
	head, err := w.kms.Audit(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	h, recs, err := audit.Verify(bytes.NewReader(buf.Bytes()))
	if err != nil || h != head {
		t.Fatalf("audit log: %v (head %v, service says %v)", err, h, head)
	}
	denied := 0
	for _, r := range recs {
		if r.Op == "release" && r.Outcome == audit.Denied {
			denied++
		}
	}
	if want := len(keys) + 1 + len(cases); denied != want {
		t.Errorf("%d release denials audited, want %d", denied, want)
	}
}

// dump lists the keys with their public parts and policies: what a
// rejected request must leave as it was.
func dump(t testing.TB, w *world) string {
	keys, err := w.kms.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(keys)
	return string(b)
}

func TestRotateOldVersionsReleasable(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if _, err := w.kms.Create(ctx, "k", api.CreateKey{Kty: "oct", Exportable: true, ReleasePolicy: w.policy()}); err != nil {
		t.Fatal(err)
	}
	v1, _, err := w.kms.ReleaseFor(ctx, w.as, w.p.Client, "k", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := w.kms.Rotate(ctx, "k")
	if err != nil || len(k.Versions) != 2 {
		t.Fatalf("rotate: %v %v", k, err)
	}
	v2, n, err := w.kms.ReleaseFor(ctx, w.as, w.p.Client, "k", 0, nil)
	if err != nil || n != 2 {
		t.Fatal(n, err)
	}
	old, n, err := w.kms.ReleaseFor(ctx, w.as, w.p.Client, "k", 1, nil)
	if err != nil || n != 1 {
		t.Fatal(n, err)
	}
	if !bytes.Equal(old.Key.([]byte), v1.Key.([]byte)) || bytes.Equal(v1.Key.([]byte), v2.Key.([]byte)) {
		t.Fatal("versions mixed up")
	}
}

func TestKeyOperations(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	k, err := w.kms.Create(ctx, "cmk", api.CreateKey{Kty: "RSA", Size: 2048,
		Access: map[string][]string{"sql": {"unwrapkey", "wrapkey", "get"}}})
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Versions[0].Public.Key.(*rsa.PublicKey)
	cek := make([]byte, 32)
	rand.Read(cek)
	// SQL Server wraps column encryption keys with RSA-OAEP (SHA-1).
	wrapped, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, cek, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.user.UnwrapKey(ctx, "cmk", 0, "RSA-OAEP", wrapped)
	if err != nil || !bytes.Equal(got, cek) {
		t.Fatalf("unwrapkey: %x %v", got, err)
	}
	r, err := w.user.Op(ctx, "cmk", "wrapkey", api.OpRequest{Alg: "RSA-OAEP-256", Value: b64(cek)})
	if err != nil {
		t.Fatal(err)
	}
	back, err := w.user.Op(ctx, "cmk", "unwrapkey", api.OpRequest{Alg: "RSA-OAEP-256", Value: r.Value})
	if err != nil || back.Value != b64(cek) {
		t.Fatalf("RSA-OAEP-256 round trip: %v", err)
	}
	// Not granted, not authenticated, wrong alg, tampered input.
	for _, c := range []struct {
		name   string
		cl     *kmsclient.Client
		op     string
		req    api.OpRequest
		status int
	}{
		{"not granted", w.user, "sign", api.OpRequest{Alg: "PS256", Value: b64(make([]byte, 32))}, 403},
		{"anonymous", w.anon, "unwrapkey", api.OpRequest{Alg: "RSA-OAEP", Value: b64(wrapped)}, 401},
		{"bad alg", w.user, "unwrapkey", api.OpRequest{Alg: "RSA1_5", Value: b64(wrapped)}, 400},
		{"tampered", w.user, "unwrapkey", api.OpRequest{Alg: "RSA-OAEP", Value: b64(append([]byte{1}, wrapped[1:]...))}, 400},
		{"bad base64", w.user, "unwrapkey", api.OpRequest{Alg: "RSA-OAEP", Value: "!!"}, 400},
		{"unknown op", w.user, "frobnicate", api.OpRequest{Alg: "RSA-OAEP", Value: ""}, 404},
		{"no key", w.user, "unwrapkey", api.OpRequest{Alg: "RSA-OAEP", Value: b64(wrapped)}, 404},
	} {
		name := "cmk"
		if c.name == "no key" {
			name = "nope"
		}
		_, err := c.cl.Op(ctx, name, c.op, c.req)
		if st, _ := httpCode(err); st != c.status {
			t.Errorf("%s: %v, want %d", c.name, err, c.status)
		}
	}

	// Sign and verify with every key type the broker holds.
	for _, spec := range []struct {
		kty, crv, alg string
		size          int
	}{{"EC", "P-256", "ES256", 0}, {"EC", "P-384", "ES384", 0}, {"RSA", "", "PS256", 2048}, {"RSA", "", "RS256", 2048}} {
		name := "sig-" + spec.alg
		if _, err := w.kms.Create(ctx, name, api.CreateKey{Kty: spec.kty, Curve: spec.crv, Size: spec.size}); err != nil {
			t.Fatal(err)
		}
		h, _, _ := digestFor(spec.alg)
		s, err := w.kms.Op(ctx, name, "sign", api.OpRequest{Alg: spec.alg, Value: b64(h)})
		if err != nil {
			t.Fatal(spec.alg, err)
		}
		v, err := w.kms.Op(ctx, name, "verify", api.OpRequest{Alg: spec.alg, Value: b64(h), Signature: s.Value})
		if err != nil || v.Valid == nil || !*v.Valid {
			t.Fatalf("%s verify: %v", spec.alg, err)
		}
		h[0] ^= 1
		v, err = w.kms.Op(ctx, name, "verify", api.OpRequest{Alg: spec.alg, Value: b64(h), Signature: s.Value})
		if err != nil || v.Valid == nil || *v.Valid {
			t.Fatalf("%s verify of another digest: %v %v", spec.alg, v.Valid, err)
		}
	}
	// Encrypt and decrypt with a non-exportable AES key.
	if _, err := w.kms.Create(ctx, "aes", api.CreateKey{Kty: "oct", Size: 256}); err != nil {
		t.Fatal(err)
	}
	ct, err := w.kms.Op(ctx, "aes", "encrypt", api.OpRequest{Alg: "A256GCM", Value: b64([]byte("patient 42")), AAD: b64([]byte("row 7"))})
	if err != nil {
		t.Fatal(err)
	}
	pt, err := w.kms.Op(ctx, "aes", "decrypt", api.OpRequest{Alg: "A256GCM", Value: ct.Value, AAD: b64([]byte("row 7"))})
	if err != nil || pt.Value != b64([]byte("patient 42")) {
		t.Fatalf("decrypt: %v", err)
	}
	_, err = w.kms.Op(ctx, "aes", "decrypt", api.OpRequest{Alg: "A256GCM", Value: ct.Value, AAD: b64([]byte("row 8"))})
	if st, _ := httpCode(err); st != 400 {
		t.Fatalf("decrypt with other aad: %v", err)
	}
}

func digestFor(alg string) ([]byte, int, error) {
	n := map[string]int{"256": 32, "384": 48, "512": 64}[alg[2:]]
	b := make([]byte, n)
	rand.Read(b)
	return b, n, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestOwnerOperations(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		req  api.CreateKey
		key  string
		want int
	}{
		{"bad kty", api.CreateKey{Kty: "DSA"}, "a", 400},
		{"bad size", api.CreateKey{Kty: "RSA", Size: 1024}, "a", 400},
		{"bad name", api.CreateKey{Kty: "oct"}, "-x", 400},
		{"policy on non-exportable", api.CreateKey{Kty: "oct", ReleasePolicy: w.policy()}, "a", 400},
		{"bad policy", api.CreateKey{Kty: "oct", Exportable: true, ReleasePolicy: json.RawMessage(`{"version":"1.0.0","anyOf":[]}`)}, "a", 400},
		{"bad access", api.CreateKey{Kty: "oct", Access: map[string][]string{"sql": {"everything"}}}, "a", 400},
		{"public jwk", api.CreateKey{JWK: mustJSON(jose.JSONWebKey{Key: &mustRSA(t).PublicKey})}, "a", 400},
		{"both", api.CreateKey{Kty: "oct", JWK: mustJSON(jose.JSONWebKey{Key: make([]byte, 32)})}, "a", 400},
	} {
		_, err := w.kms.Create(ctx, c.key, c.req)
		if st, _ := httpCode(err); st != c.want {
			t.Errorf("%s: %v, want %d", c.name, err, c.want)
		}
	}
	if _, err := w.user.Create(ctx, "mine", api.CreateKey{Kty: "oct"}); !isStatus(err, 403) {
		t.Errorf("non-admin create: %v", err)
	}
	if _, err := w.kms.Create(ctx, "k", api.CreateKey{Kty: "oct"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.kms.Create(ctx, "k", api.CreateKey{Kty: "oct"}); !isStatus(err, 409) {
		t.Errorf("duplicate create: %v", err)
	}
	if _, err := w.user.Get(ctx, "k"); !isStatus(err, 403) {
		t.Errorf("get without the right: %v", err)
	}
	if _, err := w.kms.Update(ctx, "k", api.UpdateKey{Access: map[string][]string{"sql": {"get"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.user.Get(ctx, "k"); err != nil {
		t.Errorf("get with the right: %v", err)
	}
	if err := w.kms.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.kms.Get(ctx, "k"); !isStatus(err, 404) {
		t.Errorf("get after delete: %v", err)
	}
	var buf bytes.Buffer
	if _, err := w.kms.Audit(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	if _, err := w.user.Audit(ctx, io.Discard); !isStatus(err, 403) {
		t.Errorf("audit as a non-admin: %v", err)
	}
	_, recs, err := audit.Verify(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, r := range recs {
		ops = append(ops, r.Op+":"+r.Outcome)
	}
	if got := strings.Join(ops, " "); got != "create:denied create:ok update:ok delete:ok" {
		t.Errorf("audit log: %s", got)
	}
}

func isStatus(err error, st int) bool { s, _ := httpCode(err); return s == st }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func mustRSA(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRestartAndTamper(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	k, err := w.kms.Create(ctx, "k", api.CreateKey{Kty: "EC", Curve: "P-256", Exportable: true, ReleasePolicy: w.policy()})
	if err != nil {
		t.Fatal(err)
	}
	path := w.store.Path()
	w.store.Close()
	st, err := kvstore.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sealer, _ := seal.New(w.p.Client, rand.Reader)
	b, err := kms.New(ctx, kms.Config{Store: st, Sealer: sealer})
	if err != nil {
		t.Fatalf("reopening the broker: %v", err)
	}
	owner := kms.Caller{Name: "owner", Admin: true}
	got, err := b.Get(owner, "k")
	if err != nil || got.Versions[0].Public.KeyID != k.Versions[0].Public.KeyID || !reflectEqualPub(got, k) {
		t.Fatalf("after restart: %v", err)
	}
	// A flipped byte in the stored record: a clear error, and the other
	// keys stay usable.
	if _, err := b.Create(owner, "other", api.CreateKey{Kty: "oct"}); err != nil {
		t.Fatal(err)
	}
	st.Update(func(tx kvstore.Tx) error {
		v := append([]byte(nil), tx.Get("keys", []byte("k"))...)
		v[len(v)-1] ^= 1
		return tx.Put("keys", []byte("k"), v)
	})
	if _, err := b.Get(owner, "k"); !errors.Is(err, kms.ErrStored) {
		t.Fatalf("tampered record: %v", err)
	}
	if _, err := b.Get(owner, "other"); err != nil {
		t.Fatalf("untouched record: %v", err)
	}
	// A record moved under another name does not open either.
	st.Update(func(tx kvstore.Tx) error {
		return tx.Put("keys", []byte("moved"), append([]byte(nil), tx.Get("keys", []byte("other"))...))
	})
	if _, err := b.Get(owner, "moved"); !errors.Is(err, kms.ErrStored) {
		t.Fatalf("moved record: %v", err)
	}
	// The same store on another platform: the master key does not unseal.
	other, _ := seal.New(simtest.Start(t).Client, rand.Reader)
	if _, err := kms.New(ctx, kms.Config{Store: st, Sealer: other}); err == nil || !strings.Contains(err.Error(), "unsealing the master key") {
		t.Fatalf("another platform opened the store: %v", err)
	}
}

func reflectEqualPub(a, b api.Key) bool {
	ja, _ := json.Marshal(a.Versions[0].Public)
	jb, _ := json.Marshal(b.Versions[0].Public)
	return string(ja) == string(jb)
}

func TestConcurrentReleasesAndOperations(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if _, err := w.kms.Create(ctx, "k", api.CreateKey{Kty: "oct", Exportable: true, ReleasePolicy: w.policy(),
		Access: map[string][]string{"sql": {"encrypt", "decrypt"}}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				var err error
				switch g % 3 {
				case 0:
					_, _, err = w.kms.ReleaseFor(ctx, w.as, w.p.Client, "k", 0, nil)
				case 1:
					var ct api.OpResponse
					if ct, err = w.user.Op(ctx, "k", "encrypt", api.OpRequest{Alg: "A256GCM", Value: b64([]byte{byte(i)})}); err == nil {
						_, err = w.user.Op(ctx, "k", "decrypt", api.OpRequest{Alg: "A256GCM", Value: ct.Value, Version: ct.Version})
					}
				case 2:
					_, err = w.kms.Rotate(ctx, "k")
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var buf bytes.Buffer
	if _, err := w.kms.Audit(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	if _, recs, err := audit.Verify(&buf); err != nil || len(recs) < 1+2*4+2*8+2*4 {
		t.Fatalf("audit after concurrent use: %d records, %v", len(recs), err)
	}
}

// A successor broker whose seal keys differ (an upgrade, or on SGX any
// microcode update) obtains the master key from its predecessor, opens
// the same store with every key, and seals the master key anew; an
// enclave the successor policy does not name, a predecessor without one,
// and a master key that does not open the store are refused.
func TestMigrate(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if _, err := w.kms.Create(ctx, "k", api.CreateKey{Kty: "EC", Curve: "P-256", Exportable: true, ReleasePolicy: w.policy()}); err != nil {
		t.Fatal(err)
	}
	// Without a successor policy, the running broker gives nothing.
	if _, err := w.anon.MigrateFor(ctx, w.as, w.p.Client); err == nil {
		t.Fatal("migrated without a successor policy")
	}
	// The predecessor, on the same store, now names its successors.
	succ, err := attest.ParsePolicy(w.policy())
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := seal.New(w.p.Client, rand.Reader)
	issuers := []*token.Verifier{{Issuer: w.asURL, Keys: &attestclient.KeySet{Client: w.as}, Now: w.now.Now}}
	pred, err := kms.New(ctx, kms.Config{Store: w.store, Sealer: sealer, Issuers: issuers, SuccessorPolicy: succ, Now: w.now.Now})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(pred.Handler(nil))
	t.Cleanup(ts.Close)
	predClient := kmsclient.New(ts.URL, nil)

	// The successor: the same store copied, a platform whose seal keys
	// differ.
	path := filepath.Join(t.TempDir(), "successor.db")
	if err := w.store.Backup(path); err != nil {
		t.Fatal(err)
	}
	st, err := kvstore.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	other, _ := seal.New(simtest.Start(t).Client, rand.Reader)
	if _, err := kms.New(ctx, kms.Config{Store: st, Sealer: other}); err == nil {
		t.Fatal("the master key unsealed on another platform")
	}
	var asked int
	b, err := kms.New(ctx, kms.Config{Store: st, Sealer: other, Predecessor: func(ctx context.Context) ([]byte, error) {
		asked++
		return kmsclient.Predecessor{Broker: predClient, Attest: w.as, Attester: w.p.Client}.Master(ctx)
	}})
	if err != nil {
		t.Fatalf("migrating: %v", err)
	}
	owner := kms.Caller{Name: "owner", Admin: true}
	if _, err := b.Get(owner, "k"); err != nil || asked != 1 {
		t.Fatalf("after migration: %v (asked %d)", err, asked)
	}
	// Sealed anew: the successor reopens without its predecessor.
	if _, err := kms.New(ctx, kms.Config{Store: st, Sealer: other}); err != nil {
		t.Fatalf("reopening the migrated store: %v", err)
	}
	// A master key that does not open the store (another broker's) is
	// refused, and the store keeps its own sealed key.
	path2 := filepath.Join(t.TempDir(), "third.db")
	if err := w.store.Backup(path2); err != nil {
		t.Fatal(err)
	}
	st2, err := kvstore.OpenBolt(path2)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	wrong := []byte(`{"version":1,"kek":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `","audit_key":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `"}`)
	if _, err := kms.New(ctx, kms.Config{Store: st2, Sealer: other, Predecessor: func(context.Context) ([]byte, error) { return wrong, nil }}); err == nil || !strings.Contains(err.Error(), "audit log") {
		t.Fatalf("a wrong master key: %v", err)
	}
	if _, err := kms.New(ctx, kms.Config{Store: st2, Sealer: sealer}); err != nil {
		t.Fatalf("the store lost its own sealed key: %v", err)
	}
	// A token the successor policy does not satisfy: refused, audited.
	strict, _ := attest.ParsePolicy(w.policy(`{"claim":"svn","equals":99}`))
	pred2, err := kms.New(ctx, kms.Config{Store: w.store, Sealer: sealer, Issuers: issuers, SuccessorPolicy: strict, Now: w.now.Now})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := token.NewEphemeral(nil)
	tok, err := w.as.Token(ctx, w.p.Client, e.RuntimeData, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pred2.Migrate(ctx, api.MigrateRequest{Token: tok}); err == nil || !strings.Contains(err.Error(), "successor policy") {
		t.Fatalf("a token the successor policy refuses: %v", err)
	}
}

// copyStore copies a Bolt store's buckets into a new one at path.
