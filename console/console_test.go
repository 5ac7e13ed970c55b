package console_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/confide/confide/attest"
	attestclient "github.com/confide/confide/attestsvc/client"
	"github.com/confide/confide/console"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/kms/api"
	"github.com/confide/confide/kms/kmstest"
)

type env struct {
	t    *testing.T
	w    *kmstest.World
	p    *simtest.Platform
	srv  *httptest.Server
	base string
}

func start(t *testing.T) *env {
	p := simtest.Start(t)
	w := kmstest.Start(t, p)
	c, err := console.New(console.Config{
		Principals: w.Principals, Platform: "sim",
		Attest: console.Backend{URL: w.ASURL}, KMS: console.Backend{URL: w.KMSURL},
		Verifier: &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSim: p.Verifier()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, w: w, p: p, srv: srv, base: srv.URL}
}

// browser is a user agent with cookies that does not follow redirects.
type browser struct {
	e    *env
	c    *http.Client
	csrf string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(method, path string, form url.Values, hdr ...string) (int, string, http.Header) {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.e.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(out); m != nil {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, string(out), resp.Header
}

func (b *browser) signin(token string) int {
	b.do("GET", "/signin", nil)
	st, _, _ := b.do("POST", "/signin", url.Values{"csrf": {b.csrf}, "token": {token}, "next": {"/"}})
	if st == http.StatusSeeOther {
		b.do("GET", "/", nil) // picks up the session's CSRF token
	}
	return st
}

func TestHeadersAndSignIn(t *testing.T) {
	e := start(t)
	b := e.browser()
	st, _, h := b.do("GET", "/", nil)
	if st != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/signin") {
		t.Fatalf("unsigned GET /: %d %s", st, h.Get("Location"))
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") ||
		strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q", csp)
	}
	// The sign-in form's own CSRF token is required.
	b.do("GET", "/signin", nil)
	if st, _, _ := b.do("POST", "/signin", url.Values{"token": {e.w.AdminToken}}); st != http.StatusForbidden {
		t.Fatalf("sign-in without its CSRF token: %d", st)
	}
	if st := b.signin("not-a-token"); st != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d", st)
	}
	if st := b.signin(e.w.AdminToken); st != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", st)
	}
	u, _ := url.Parse(e.base)
	var sessionCookie *http.Cookie
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "confide_console" {
			sessionCookie = c
		}
	}
	if sessionCookie == nil || strings.Contains(sessionCookie.Value, e.w.AdminToken) {
		t.Fatal("no session cookie, or one that carries the token")
	}
	st, body, _ := b.do("GET", "/", nil)
	if st != 200 || !strings.Contains(body, "SIMULATED") || !strings.Contains(body, "Attestation service") || strings.Contains(body, e.w.AdminToken) {
		t.Fatalf("overview: %d\n%s", st, body)
	}
	// Signing out ends the session: the old cookie opens nothing.
	if st, _, _ := b.do("POST", "/signout", url.Values{"csrf": {b.csrf}}); st != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", st)
	}
	old := e.browser()
	old.c.Jar.SetCookies(u, []*http.Cookie{sessionCookie})
	if st, _, _ := old.do("GET", "/attestation", nil); st != http.StatusSeeOther {
		t.Fatalf("a signed-out session still opens pages: %d", st)
	}
	// Unknown pages and redirects off-site.
	if st, body, _ := b.do("GET", "/no/such/page", nil); st != 404 || strings.Contains(body, "goroutine") {
		t.Fatalf("404: %d", st)
	}
	b.do("GET", "/signin", nil)
	_, _, h = b.do("POST", "/signin", url.Values{"csrf": {b.csrf}, "token": {e.w.AdminToken}, "next": {"//evil.example/x"}})
	if h.Get("Location") != "/" {
		t.Fatalf("sign-in redirected to %q", h.Get("Location"))
	}
}

func TestPolicyEditAndCSRF(t *testing.T) {
	e := start(t)
	admin := e.browser()
	admin.signin(e.w.AdminToken)
	pol := `{"version":"1.0.0","anyOf":[{"claim":"platform","equals":"sim"}]}`
	// New policy: a preview, then the save.
	st, body, _ := admin.do("POST", "/attestation/new", url.Values{"csrf": {admin.csrf}, "name": {"web"}, "policy": {pol}})
	if st != 200 || !strings.Contains(body, `class="dadd"`) {
		t.Fatalf("preview: %d\n%s", st, body)
	}
	st, _, h := admin.do("POST", "/attestation/policies/web", url.Values{"csrf": {admin.csrf}, "policy": {pol}})
	if st != http.StatusSeeOther || h.Get("Location") != "/attestation/policies/web?saved=1" {
		t.Fatalf("save: %d %s", st, h.Get("Location"))
	}
	// An invalid edit is refused with the reason, nothing saved.
	st, body, _ = admin.do("POST", "/attestation/policies/web/preview", url.Values{"csrf": {admin.csrf}, "policy": {`{"version":"1.0.0","anyOf":[{"claim":"x"}]}`}})
	if st != 200 || !strings.Contains(body, "not valid") {
		t.Fatalf("invalid edit: %d\n%s", st, body)
	}
	// A change: the diff shows the removed and the added line.
	pol2 := strings.Replace(pol, `"sim"`, `"snp"`, 1)
	_, body, _ = admin.do("POST", "/attestation/policies/web/preview", url.Values{"csrf": {admin.csrf}, "policy": {pol2}})
	if !strings.Contains(body, `class="ddel"`) || !strings.Contains(body, `class="dadd"`) {
		t.Fatalf("diff:\n%s", body)
	}
	// Forged: no CSRF token, a wrong one, another origin.
	for name, try := range map[string]func() int{
		"no token": func() int {
			st, _, _ := admin.do("POST", "/attestation/policies/web", url.Values{"policy": {pol2}})
			return st
		},
		"wrong token": func() int {
			st, _, _ := admin.do("POST", "/attestation/policies/web", url.Values{"csrf": {"x"}, "policy": {pol2}})
			return st
		},
		"cross-site": func() int {
			st, _, _ := admin.do("POST", "/attestation/policies/web", url.Values{"csrf": {admin.csrf}, "policy": {pol2}}, "Sec-Fetch-Site", "cross-site")
			return st
		},
		"other origin": func() int {
			st, _, _ := admin.do("POST", "/attestation/policies/web", url.Values{"csrf": {admin.csrf}, "policy": {pol2}}, "Origin", "https://evil.example")
			return st
		},
	} {
		if st := try(); st != http.StatusForbidden {
			t.Errorf("%s: %d", name, st)
		}
	}
	asAdmin := attestclient.New(e.w.ASURL, nil)
	asAdmin.Bearer = e.w.AdminToken
	if p, err := asAdmin.Policy(context.Background(), "web"); err != nil || p.Version != 1 {
		t.Fatalf("after the forged requests: %v %v", p, err)
	}
	st, _, _ = admin.do("POST", "/attestation/policies/web", url.Values{"csrf": {admin.csrf}, "policy": {pol2}})
	if st != http.StatusSeeOther {
		t.Fatalf("second save: %d", st)
	}
	st, body, _ = admin.do("GET", "/attestation/policies/web", nil)
	if st != 200 || !strings.Contains(body, "version 2") || !strings.Contains(body, "Audit chain verified") ||
		strings.Count(body, "policy.put") != 2 || !strings.Contains(body, "policy/web/2") {
		t.Fatalf("policy page: %d\n%s", st, body)
	}

	// A reader: sees no policies, and the service refuses its save.
	reader := e.browser()
	reader.signin(e.w.ReaderToken)
	_, body, _ = reader.do("GET", "/attestation", nil)
	if !strings.Contains(body, "may not read") {
		t.Fatalf("reader's attestation page:\n%s", body)
	}
	st, body, _ = reader.do("POST", "/attestation/policies/web", url.Values{"csrf": {reader.csrf}, "policy": {pol}})
	if st != http.StatusForbidden || !strings.Contains(body, "The service refused") {
		t.Fatalf("reader's save: %d\n%s", st, body)
	}
	_, body, _ = admin.do("GET", "/attestation/policies/web", nil)
	if !strings.Contains(body, "version 2") {
		t.Fatal("the reader's save changed the policy")
	}
}

func TestTokenAndKeys(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	b := e.browser()
	b.signin(e.w.AdminToken)
	tok, err := e.w.AS.Token(ctx, e.p.Client, []byte(`{"job":"console"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := b.do("POST", "/attestation/token", url.Values{"csrf": {b.csrf}, "token": {tok}})
	if !strings.Contains(body, "Signature, issuer and validity verified") || !strings.Contains(body, "runtime") || !strings.Contains(body, "console") {
		t.Fatalf("token page:\n%s", body)
	}
	// The attestation service's appraisal of that token is listed.
	_, body, _ = b.do("GET", "/attestation", nil)
	if !strings.Contains(body, `id="appraisals"`) || !strings.Contains(body, ">token<") {
		t.Fatalf("appraisals:\n%s", body)
	}
	// Evidence, checked against the deployment's roots, with a nonce.
	rdata, _ := enclave.NewReportData([]byte{1, 2, 3}, nil)
	ev, err := e.p.Client.Evidence(ctx, rdata)
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ = b.do("POST", "/attestation/evidence", url.Values{"csrf": {b.csrf}, "evidence": {base64.StdEncoding.EncodeToString(ev)}, "nonce": {"010203"}})
	if !strings.Contains(body, "verifies against this deployment") || !strings.Contains(body, "unique_id") {
		t.Fatalf("evidence:\n%s", body)
	}
	for name, f := range map[string]url.Values{
		"wrong nonce": {"evidence": {base64.StdEncoding.EncodeToString(ev)}, "nonce": {"0102ff"}},
		"garbage":     {"evidence": {"bm90IGV2aWRlbmNl"}},
		"not base64":  {"evidence": {"%%%"}},
	} {
		f.Set("csrf", b.csrf)
		if _, body, _ := b.do("POST", "/attestation/evidence", f); !strings.Contains(body, "Not valid") {
			t.Errorf("%s:\n%s", name, body)
		}
	}
	bad := tok[:len(tok)-3] + "AAA"
	_, body, _ = b.do("POST", "/attestation/token", url.Values{"csrf": {b.csrf}, "token": {bad}})
	if !strings.Contains(body, "Not valid") {
		t.Fatalf("tampered token:\n%s", body)
	}

	rel, _ := json.Marshal(map[string]any{"version": "1.0.0", "anyOf": []any{map[string]any{"claim": "platform", "equals": "sim"}}})
	if _, err := e.w.Admin.Create(ctx, "k1", api.CreateKey{Kty: "EC", Curve: "P-256", Exportable: true, ReleasePolicy: rel,
		Access: map[string][]string{"reader": {"sign", "verify"}}}); err != nil {
		t.Fatal(err)
	}
	// A denial, for the audit page.
	if _, _, err := e.w.Anon.Release(ctx, "k1", 0, "not-a-token", nil); err == nil {
		t.Fatal("released with garbage")
	}
	_, body, _ = b.do("GET", "/keys", nil)
	if !strings.Contains(body, `href="/keys/k/k1"`) {
		t.Fatalf("keys:\n%s", body)
	}
	_, body, _ = b.do("GET", "/keys/k/k1", nil)
	if !strings.Contains(body, "sign, verify") || !strings.Contains(body, "platform") || strings.Contains(body, `"d"`) {
		t.Fatalf("key page:\n%s", body)
	}
	_, body, _ = b.do("GET", "/keys/audit", nil)
	if !strings.Contains(body, "Hash chain verified by the console") || !strings.Contains(body, "bad_token") && !strings.Contains(body, "denied") {
		t.Fatalf("audit page:\n%s", body)
	}
	st, raw, h := b.do("GET", "/keys/audit.jsonl", nil)
	if st != 200 || h.Get("Confide-Audit-Head") == "" || strings.Count(raw, "\n") < 2 {
		t.Fatalf("raw audit: %d %q", st, h.Get("Confide-Audit-Head"))
	}
	// The reader lists no keys (the broker refuses it) but is told so.
	r := e.browser()
	r.signin(e.w.ReaderToken)
	_, body, _ = r.do("GET", "/keys", nil)
	if !strings.Contains(body, "may not list") {
		t.Fatalf("reader's keys:\n%s", body)
	}
}

// The trainer's pages refuse a malformed job ID before asking it.
func TestMLBadInput(t *testing.T) {
	b, deadURL := deadBackend(t, func(e *env, url string) console.Config {
		return console.Config{Principals: e.w.Principals, ML: console.Backend{URL: url}}
	})
	for _, p := range []string{"/ml/jobs/x", "/ml/jobs/" + strings.Repeat("A", 64), "/ml/jobs/..%2f..%2fetc"} {
		if st, _, _ := b.do("GET", p, nil); st != http.StatusBadRequest && st != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, st)
		}
	}
	if st, body, _ := b.do("GET", "/ml", nil); st != http.StatusBadGateway || strings.Contains(body, deadURL) {
		t.Errorf("a trainer that does not answer: %d", st)
	}
}

// A service that does not answer: a clear page, no internals.
func TestBackendDown(t *testing.T) {
	e := start(t)
	dead := httptest.NewServer(nil)
	deadURL := dead.URL
	dead.Close()
	c, err := console.New(console.Config{Principals: e.w.Principals, Attest: console.Backend{URL: deadURL}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	e2 := &env{t: t, w: e.w, srv: srv, base: srv.URL}
	b := e2.browser()
	b.signin(e.w.AdminToken)
	st, body, _ := b.do("GET", "/attestation", nil)
	if st != http.StatusBadGateway || !strings.Contains(body, "did not answer") || strings.Contains(body, "127.0.0.1") || strings.Contains(body, "dial") {
		t.Fatalf("backend down: %d\n%s", st, body)
	}
	_, body, _ = b.do("GET", "/", nil)
	if !strings.Contains(body, "does not answer") {
		t.Fatalf("overview with a dead service:\n%s", body)
	}
}

// Bad input on the ledger pages is refused before anything reaches the
// ledger (here, one that does not answer).
func TestLedgerBadInput(t *testing.T) {
	b, deadURL := deadBackend(t, func(e *env, url string) console.Config {
		return console.Config{Principals: e.w.Principals, Ledger: console.LedgerBackend{URL: url, HTTP: http.DefaultClient}}
	})
	for _, p := range []string{"/ledger/tx/1", "/ledger/tx/a.b", "/ledger/proposals/xyz", "/ledger/transactions?collection_id=%3Cscript%3E",
		"/ledger/transactions?from=-1", "/ethereum/block/x", "/ethereum/block/-1", "/ethereum/tx/0x12", "/ethereum/tx/abc", "/ethereum?before=x"} {
		if st, body, _ := b.do("GET", p, nil); st != http.StatusBadRequest || strings.Contains(body, "<script>") {
			t.Errorf("GET %s: %d", p, st)
		}
	}
	id := strings.Repeat("ab", 32)
	for name, form := range map[string]url.Values{
		"no ballot":     {"csrf": {b.csrf}, "member": {id}},
		"not base64":    {"csrf": {b.csrf}, "member": {id}, "cose": {"%%%"}},
		"bad member ID": {"csrf": {b.csrf}, "member": {"x"}, "cose": {"AAAA"}},
	} {
		if st, _, _ := b.do("POST", "/ledger/proposals/"+id+"/ballots", form); st != http.StatusBadRequest {
			t.Errorf("%s: %d", name, st)
		}
	}
	if st, _, _ := b.do("POST", "/ledger/proposals/"+id+"/ballots", url.Values{"member": {id}, "cose": {"AAAA"}}); st != http.StatusForbidden {
		t.Errorf("a ballot without the CSRF token: %d", st)
	}
	// A well-formed request meets a ledger that does not answer: 502.
	if st, body, _ := b.do("GET", "/ledger/tx/2.5", nil); st != http.StatusBadGateway || strings.Contains(body, deadURL) {
		t.Errorf("dead ledger: %d", st)
	}
}

// deadBackend serves a console whose service (cfg's) does not answer, and
// returns a browser signed in as the administrator, and the dead URL.
func deadBackend(t *testing.T, cfg func(e *env, url string) console.Config) (*browser, string) {
	e := start(t)
	dead := httptest.NewServer(nil)
	deadURL := dead.URL
	dead.Close()
	c, err := console.New(cfg(e, deadURL))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	b := (&env{t: t, w: e.w, srv: srv, base: srv.URL}).browser()
	b.signin(e.w.AdminToken)
	return b, deadURL
}

// Demos: administrators run them; the figure is served as SVG; a reader
// and an unknown demo are refused.
func TestDemos(t *testing.T) {
	e := start(t)
	runs := 0
	c, err := console.New(console.Config{Principals: e.w.Principals, Demos: map[string]console.Demo{
		"square": {Title: "A square", About: "draws one", Run: func(ctx context.Context, bearer, dir string, w io.Writer) (string, error) {
			runs++
			if bearer != e.w.AdminToken {
				return "", fmt.Errorf("ran as someone else")
			}
			fmt.Fprintln(w, "drew a square")
			p := filepath.Join(dir, "sq.svg")
			return p, os.WriteFile(p, []byte(`<svg xmlns="http://www.w3.org/2000/svg"><rect width="9" height="9"/></svg>`), 0o600)
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	en := &env{t: t, w: e.w, srv: srv, base: srv.URL}
	admin, reader := en.browser(), en.browser()
	admin.signin(e.w.AdminToken)
	reader.signin(e.w.ReaderToken)
	if st, _, _ := admin.do("GET", "/demos/square/figure.svg", nil); st != 404 {
		t.Fatalf("a figure before any run: %d", st)
	}
	if st, _, _ := reader.do("POST", "/demos/square", url.Values{"csrf": {reader.csrf}}); st != http.StatusForbidden || runs != 0 {
		t.Fatalf("a reader ran a demo: %d", st)
	}
	if st, _, _ := admin.do("POST", "/demos/nope", url.Values{"csrf": {admin.csrf}}); st != 404 {
		t.Fatalf("an unknown demo: %d", st)
	}
	if st, _, _ := admin.do("POST", "/demos/square", url.Values{"csrf": {admin.csrf}}); st != http.StatusSeeOther || runs != 1 {
		t.Fatalf("run: %d", st)
	}
	_, body, _ := reader.do("GET", "/demos", nil)
	if !strings.Contains(body, "drew a square") || !strings.Contains(body, "by owner") {
		t.Fatalf("demos page:\n%s", body)
	}
	st, svg, h := reader.do("GET", "/demos/square/figure.svg", nil)
	if st != 200 || h.Get("Content-Type") != "image/svg+xml" || !strings.Contains(svg, "<rect") {
		t.Fatalf("figure: %d %s", st, h.Get("Content-Type"))
	}
}
