package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/atls"
	"github.com/confide/confide/internal/auth"
	"github.com/confide/confide/internal/httpx"
)

//go:embed assets
var assets embed.FS

// Backend is a service the console reads: its base URL and the HTTP
// client that reaches it (attested TLS for https:// services, whose
// ATLS config then also reads the service's identity off the connection).
type Backend struct {
	URL  string
	HTTP *http.Client
	ATLS *atls.Config
}

func (b Backend) configured() bool { return b.URL != "" }

// Config configures a console.
type Config struct {
	// Principals are the identities users sign in with (required): the
	// principals file of the attestation service and the key broker.
	Principals *auth.Principals
	// Platform names the TEE the services run on (sim, snp, tdx, sgx).
	Platform string
	// The services; a zero Backend is a service this deployment lacks.
	Attest, KMS, ML Backend
	Ledger          LedgerBackend
	SQL             SQLBackend
	// Verifier checks evidence pasted on the attestation page (the trust
	// roots of the deployment's platforms); nil hides that form.
	Verifier *attest.Verifier
	// Demos run against the live deployment from the demos page.
	Demos map[string]Demo
	// SessionLifetime is how long a session lives unused; zero means 30m.
	SessionLifetime time.Duration
	// Secure marks cookies Secure: set it when the console is served over
	// TLS (browsers drop Secure cookies over plain HTTP, even on loopback).
	Secure bool
	Log    *slog.Logger
	Now    func() time.Time
}

// Server is the console.
type Server struct {
	cfg      Config
	pages    map[string]*template.Template
	sessions *sessions
	static   http.Handler
	demos    demos
}

// New returns a console for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Principals == nil {
		return nil, errors.New("console: Principals are required")
	}
	if cfg.SessionLifetime == 0 {
		cfg.SessionLifetime = 30 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg: cfg, pages: pages,
		sessions: &sessions{m: make(map[string]*session), lifetime: cfg.SessionLifetime, now: cfg.Now},
		static:   http.StripPrefix("/static/", http.FileServerFS(static)),
	}, nil
}

// contentSecurityPolicy allows the console's own scripts, styles and
// images and nothing else: no inline code, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Handler serves the console.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", s.static)
	mux.Handle("GET /signin", s.page(s.signinForm, false))
	mux.Handle("POST /signin", s.page(s.signin, false))
	mux.Handle("POST /signout", s.page(s.signout, true))
	mux.Handle("GET /{$}", s.page(s.overview, true))
	s.attestRoutes(mux)
	s.kmsRoutes(mux)
	s.ledgerRoutes(mux)
	s.ethRoutes(mux)
	s.sqlRoutes(mux)
	s.mlRoutes(mux)
	s.demoRoutes(mux)
	mux.Handle("/", s.page(func(w http.ResponseWriter, r *http.Request, _ *session) error {
		return pageError{http.StatusNotFound, "There is no such page."}
	}, false))
	return headers(mux)
}

// headers sets the security headers every response carries.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin") // "no-referrer" would make browsers send "Origin: null" on our own form posts
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// pageError is an error whose message is written for the user.
type pageError struct {
	status int
	msg    string
}

func (e pageError) Error() string { return e.msg }

// handlerFunc is a page handler; sess is nil on pages that need none.
type handlerFunc func(w http.ResponseWriter, r *http.Request, sess *session) error

// page wraps a handler: the session (required or not), the CSRF check on
// POST, and the error page.
func (s *Server) page(h handlerFunc, needSession bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := s.sessions.get(r)
		if needSession && sess == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.renderError(w, r, nil, pageError{http.StatusUnauthorized, "Sign in first."})
			return
		}
		if r.Method == http.MethodPost && r.URL.Path != "/signin" {
			if err := checkPost(r, sess); err != nil {
				s.renderError(w, r, sess, err)
				return
			}
		}
		if err := h(w, r, sess); err != nil {
			s.renderError(w, r, sess, err)
		}
	})
}

// checkPost refuses a request that changes something unless it comes
// from the console's origin with the session's CSRF token.
func checkPost(r *http.Request, sess *session) error {
	if !sameOrigin(r) {
		return pageError{http.StatusForbidden, "This request did not come from the console's own pages."}
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return pageError{http.StatusBadRequest, "The form could not be read."}
	}
	if sess == nil || !equalTokens(r.PostForm.Get("csrf"), sess.csrf) {
		return pageError{http.StatusForbidden, "The form's CSRF token is missing or wrong; reload the page and try again."}
	}
	return nil
}

// maxForm bounds a form (a policy is at most 64 KiB; a pasted token or
// evidence at most ~1.4 MiB).
const maxForm = 2 << 20

// sameOrigin accepts a request the browser marks same-origin, or whose
// Origin is this host; requests without either (non-browser clients)
// still need the CSRF token.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

func equalTokens(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// renderError writes the error page: what failed, in the request's
// terms, and a request ID; the details go to the log.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	id := randomToken()[:12]
	status, msg := http.StatusBadGateway, "A service did not answer as expected."
	var pe pageError
	var he *httpx.Error
	switch {
	case errors.As(err, &pe):
		status, msg = pe.status, pe.msg
	case errors.As(err, &he):
		// The services' messages describe the request, never their
		// internals (their API contract), so the user sees them.
		status, msg = he.Status, fmt.Sprintf("The service refused: %s (%s).", he.Message, he.Code)
		if he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden {
			status = http.StatusForbidden
		}
	case errors.Is(err, context.Canceled):
		return
	}
	s.cfg.Log.Warn("console: request failed", "id", id, "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	w.WriteHeader(status)
	s.render(w, r, sess, "error", map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": msg, "ID": id})
}

// render executes a page template with the common layout data.
func (s *Server) render(w http.ResponseWriter, r *http.Request, sess *session, name string, data map[string]any) {
	t := s.pages[name]
	if data == nil {
		data = map[string]any{}
	}
	data["Platform"] = s.cfg.Platform
	data["Simulated"] = s.cfg.Platform == "" || s.cfg.Platform == "sim"
	data["Attest"] = s.cfg.Attest.configured()
	data["KMS"] = s.cfg.KMS.configured()
	data["Ledger"] = s.cfg.Ledger.URL != ""
	data["SQL"] = s.cfg.SQL.DSN != ""
	data["ML"] = s.cfg.ML.configured()
	data["Demos"] = len(s.cfg.Demos) > 0
	data["Path"] = r.URL.Path
	if sess != nil {
		data["User"] = sess.name
		data["Admin"] = sess.admin
		data["CSRF"] = sess.csrf
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.ExecuteTemplate(w, "layout", data); err != nil {
		s.cfg.Log.Error("console: rendering", "page", name, "err", err)
	}
}

// sessions are the signed-in users, in memory only.
type sessions struct {
	mu       sync.Mutex
	m        map[string]*session
	lifetime time.Duration
	now      func() time.Time
}

type session struct {
	id    string
	name  string
	admin bool
	// token is the user's bearer token, sent to the services on the
	// user's behalf; never rendered or logged.
	token string
	csrf  string
	seen  time.Time
}

const sessionCookie = "confide_console"

func (ss *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	s := ss.m[c.Value]
	if s == nil {
		return nil
	}
	if now.Sub(s.seen) > ss.lifetime {
		delete(ss.m, c.Value)
		return nil
	}
	s.seen = now
	return s
}

// sweep drops idle sessions (at each sign-in, not on every request).
func (ss *sessions) sweep(now time.Time) {
	for id, s := range ss.m {
		if now.Sub(s.seen) > ss.lifetime {
			delete(ss.m, id)
		}
	}
}

func (ss *sessions) add(p auth.Principal, token string) *session {
	s := &session{id: randomToken(), name: p.Name, admin: p.Admin, token: token, csrf: randomToken(), seen: ss.now()}
	ss.mu.Lock()
	ss.sweep(s.seen)
	ss.m[s.id] = s
	ss.mu.Unlock()
	return s
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	delete(ss.m, id)
	ss.mu.Unlock()
}

func (s *Server) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode}
}

const signinCookie = "confide_signin"

// signinForm shows the sign-in form with a login-CSRF token bound to a
// cookie of its own.
func (s *Server) signinForm(w http.ResponseWriter, r *http.Request, sess *session) error {
	tok := randomToken()
	http.SetCookie(w, s.cookie(signinCookie, tok, 600))
	s.render(w, r, nil, "signin", map[string]any{"SigninCSRF": tok, "Next": safeNext(r.URL.Query().Get("next"))})
	return nil
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request, _ *session) error {
	if !sameOrigin(r) {
		return pageError{http.StatusForbidden, "This request did not come from the console's own pages."}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return pageError{http.StatusBadRequest, "The form could not be read."}
	}
	c, err := r.Cookie(signinCookie)
	if err != nil || !equalTokens(r.PostForm.Get("csrf"), c.Value) {
		return pageError{http.StatusForbidden, "The sign-in form expired or was not the console's; reload it and try again."}
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	p, err := s.cfg.Principals.Authenticate(req)
	if err != nil || tok == "" {
		w.WriteHeader(http.StatusUnauthorized)
		s.render(w, r, nil, "signin", map[string]any{"SigninCSRF": c.Value, "Next": safeNext(r.PostForm.Get("next")),
			"Failed": "That token is not one of this deployment's principals."})
		return nil
	}
	sess := s.sessions.add(p, tok)
	http.SetCookie(w, s.cookie(sessionCookie, sess.id, 0))
	http.SetCookie(w, s.cookie(signinCookie, "", -1))
	s.cfg.Log.Info("console: signed in", "principal", p.Name)
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
	return nil
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request, sess *session) error {
	s.sessions.remove(sess.id)
	http.SetCookie(w, s.cookie(sessionCookie, "", -1))
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-sign-in redirect on this site: a local path only.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}
