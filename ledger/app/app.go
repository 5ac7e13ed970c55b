// Package app is the ledger's application framework: an app declares
// its endpoints — read-only (served by any node from its state),
// read-write (executed as a transaction on the primary; a backup
// forwards them) or historical (served from the ledger files) — each
// with the least role its callers need. The framework authenticates
// users by their TLS client certificates against the users map, runs
// handlers, and answers JSON. The primary executes transactions one at
// a time, in its node's loop: a read-write endpoint should parse and
// check its request in Prepare, which runs in the request's goroutine,
// and leave its handler only the transaction's reads and writes.
package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/kv"
	"github.com/confide/confide/ledger/merkle"
	"github.com/confide/confide/ledger/node"
)

// Mode says how an endpoint runs.
type Mode int

// Modes.
const (
	ReadOnly Mode = iota
	ReadWrite
	Historical
)

// Role is a user's role; each includes the ones before it.
type Role int

// Roles, as Azure Confidential Ledger names them.
const (
	NoRole Role = iota
	Reader
	Contributor
	Administrator
)

var roleNames = []string{"", "Reader", "Contributor", "Administrator"}

func (r Role) String() string { return roleNames[r] }

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	for i, n := range roleNames[1:] {
		if n == s {
			return Role(i + 1), nil
		}
	}
	return NoRole, fmt.Errorf("unknown role %q (Reader, Contributor or Administrator)", s)
}

// MapUsers holds users: key the user ID (hex SHA-256 of the certificate,
// DER), value User as JSON.
const MapUsers = "public:app.users"

// User is a users map record.
type User struct {
	ID   string `json:"user_id"`
	Role string `json:"assigned_role"`
	Cert string `json:"cert,omitempty"`
}

// UserID is a certificate's user ID.
func UserID(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// Endpoint is one of an app's endpoints.
type Endpoint struct {
	// Pattern is an http.ServeMux pattern with its method,
	// "GET /app/transactions/{id}".
	Pattern string
	Mode    Mode
	Role    Role
	// NodeOnly endpoints serve the service's nodes (authenticated by
	// their service-endorsed certificates), not users.
	NodeOnly bool
	// Unauthenticated endpoints skip the users map: their handlers
	// authenticate the request themselves (governance's signed member
	// requests) or serve public state. Role is then ignored.
	Unauthenticated bool
	Handler         func(*Request) (any, error)
	// Prepare, for a read-write endpoint, runs before its transaction in
	// the request's own goroutine (on a backup, before forwarding): it
	// parses and checks the request, so that the primary's one
	// transaction loop spends its time on reads and writes alone. Its
	// result is Request.Prepared.
	Prepare func(*Request) (any, error)
	// Serve, instead of Handler, answers an authenticated request itself
	// (a protocol with its own framing: JSON-RPC, WebSocket); the body is
	// left unread for it.
	Serve func(http.ResponseWriter, *Request)
}

// Request is what a handler gets.
type Request struct {
	HTTP *http.Request
	Body []byte
	User User
	Node *node.Node
	// Tx and ID are the transaction of a read-write endpoint.
	Tx *kv.Tx
	ID entry.TxID
	// Prepared is what the endpoint's Prepare returned.
	Prepared any
	// Claims, set by a read-write handler, enter the transaction's leaf.
	Claims *merkle.Hash
	header http.Header
}

// Header is the response's header, for handlers to add to.
func (r *Request) Header() http.Header { return r.header }

// Error is an error with its HTTP status and a code, as CCF answers
// {"error": {"code", "message"}}.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, for 202 and 503: seconds.
	RetryAfter int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf makes an Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Accepted answers 202 with Retry-After: the node is still loading what
// a historical request needs, or the transaction is not committed yet.
func Accepted(format string, args ...any) *Error {
	return &Error{Status: http.StatusAccepted, Code: "TransactionPendingOrUnknown", Message: fmt.Sprintf(format, args...), RetryAfter: 1}
}

// Raw is a response body sent as it is.
type Raw struct {
	ContentType string
	Body        []byte
}

// App is a ledger application.
type App interface {
	// Maps lists the maps the app writes (public:… ones in clear in the
	// ledger, the others encrypted). A read-write endpoint that writes
	// any other map fails: one app cannot write another's state.
	Maps() []string
	Endpoints() []Endpoint
}

// ErrUndeclaredMap reports a write to a map the app did not declare.
var ErrUndeclaredMap = errors.New("app: write to a map the app did not declare")

// Server serves apps' endpoints over HTTPS on one node.
type Server struct {
	node    *node.Node
	service *x509.Certificate
	self    *identity.Identity
	// Primary gives the RPC address of a node by raft ID, for forwarding.
	addr   func(id uint64) string
	mux    *http.ServeMux
	client *http.Client
	log    *slog.Logger
	// users caches parsed user records by ID (authenticate).
	users     sync.Map
	userCount atomic.Int64
}

// ForwardedUser carries the caller's user ID from a backup to the
// primary; the primary believes it only from a node of the service.
const ForwardedUser = "X-Confide-Forwarded-User"

// NewServer builds the handler for a node's apps.
func NewServer(n *node.Node, self *identity.Identity, service *x509.Certificate, addr func(uint64) string, log *slog.Logger, apps ...App) *Server {
	tc := node.TLSConfig(self, service)
	s := &Server{node: n, service: service, self: self, addr: addr, mux: http.NewServeMux(), log: log,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 64}}}
	for _, a := range apps {
		maps := map[string]bool{}
		for _, m := range a.Maps() {
			maps[m] = true
		}
		for _, ep := range a.Endpoints() {
			s.mux.HandleFunc(ep.Pattern, func(w http.ResponseWriter, r *http.Request) { s.serve(ep, maps, w, r) })
		}
	}
	return s
}

// TLSConfig is the server's TLS configuration: the node's certificate
// (endorsed by the service, which clients trust) and client
// certificates requested, checked against the users map per request.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{s.self.Cert.Raw}, PrivateKey: s.self.Key, Leaf: s.self.Cert}},
		ClientAuth:   tls.RequireAnyClientCert,
	}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// maxBody bounds a request body.
const maxBody = 1 << 20

func (s *Server) serve(ep Endpoint, maps map[string]bool, w http.ResponseWriter, r *http.Request) {
	req := &Request{HTTP: r, Node: s.node, header: w.Header()}
	if ep.NodeOnly {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			s.fail(w, Errorf(http.StatusUnauthorized, "Unauthorized", "a node certificate is required"))
			return
		}
		if _, err := identity.CheckNode(r.TLS.PeerCertificates[0], s.service); err != nil {
			s.fail(w, Errorf(http.StatusForbidden, "Forbidden", "for the service's nodes only"))
			return
		}
		out, err := ep.Handler(req)
		if err != nil {
			s.fail(w, err)
			return
		}
		s.reply(w, out)
		return
	}
	var err error
	if !ep.Unauthenticated {
		user, err := s.authenticate(r)
		if err != nil {
			s.fail(w, err)
			return
		}
		req.User = user
		role, _ := ParseRole(user.Role)
		if role < ep.Role {
			s.fail(w, Errorf(http.StatusForbidden, "Forbidden", "this needs the %s role", ep.Role))
			return
		}
	}
	if ep.Serve != nil {
		ep.Serve(w, req)
		return
	}
	if req.Body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody)); err != nil {
		s.fail(w, Errorf(http.StatusRequestEntityTooLarge, "RequestTooLarge", "the body is over %d bytes", maxBody))
		return
	}
	var out any
	switch ep.Mode {
	case ReadWrite:
		if ep.Prepare != nil {
			if req.Prepared, err = ep.Prepare(req); err != nil {
				s.fail(w, err)
				return
			}
		}
		primary, isPrimary := s.node.Primary()
		if !isPrimary {
			s.forward(w, r, req, primary)
			return
		}
		var id entry.TxID
		id, err = s.node.Execute(r.Context(), func(tx *kv.Tx, tid entry.TxID) (*merkle.Hash, error) {
			req.Tx, req.ID = tx, tid
			var herr error
			if out, herr = ep.Handler(req); herr != nil {
				return nil, herr
			}
			for m := range tx.WriteSet() {
				if !maps[m] {
					return nil, fmt.Errorf("%w: %s", ErrUndeclaredMap, m)
				}
			}
			return req.Claims, nil
		})
		if errors.Is(err, node.ErrNoWrites) {
			err = nil // the handler decided nothing was to be written
		} else if err == nil {
			w.Header().Set("X-Ms-Ccf-Transaction-Id", id.String())
			if r.URL.Query().Get("wait") == "committed" {
				err = s.waitCommitted(r.Context(), id)
			}
		}
	default:
		out, err = ep.Handler(req)
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	s.reply(w, out)
}

func (s *Server) reply(w http.ResponseWriter, out any) {
	switch v := out.(type) {
	case nil:
		w.WriteHeader(http.StatusNoContent)
	case Raw:
		w.Header().Set("Content-Type", v.ContentType)
		w.Write(v.Body)
	default:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
}

// waitCommitted holds a write's answer until a committed signature
// covers it (?wait=committed), so that a client needs one round trip to
// know its write is final.
func (s *Server) waitCommitted(ctx context.Context, id entry.TxID) error {
	st, err := s.node.WaitUntil(ctx, id, time.Now().Add(30*time.Second))
	switch {
	case st == node.Committed:
		return nil
	case st == node.Invalid:
		return Errorf(http.StatusConflict, "TransactionInvalid", "transaction %s was rolled back by a change of primary; write it again", id)
	case err != nil:
		return &Error{Status: http.StatusAccepted, Code: "TransactionPending", Message: fmt.Sprintf("transaction %s is recorded but not committed yet", id), RetryAfter: 1}
	}
	return nil
}

func (s *Server) authenticate(r *http.Request) (User, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return User{}, Errorf(http.StatusUnauthorized, "Unauthorized", "a client certificate is required")
	}
	cert := r.TLS.PeerCertificates[0]
	id := UserID(cert)
	if fwd := r.Header.Get(ForwardedUser); fwd != "" {
		// Only a node of this service may speak for a user.
		if _, err := identity.CheckNode(cert, s.service); err != nil {
			return User{}, Errorf(http.StatusUnauthorized, "Unauthorized", "forwarded requests come from nodes only")
		}
		id = fwd
	}
	b, ok := s.node.Store().Get(MapUsers, []byte(id))
	if !ok {
		return User{}, Errorf(http.StatusUnauthorized, "Unauthorized", "unknown user %s", id)
	}
	// Every request needs its user: parse a record once, and again only
	// when the stored bytes change (values are replaced, never changed
	// in place).
	if c, ok := s.users.Load(id); ok && bytes.Equal(c.(*cachedUser).raw, b) {
		return c.(*cachedUser).user, nil
	}
	var u User
	if err := json.Unmarshal(b, &u); err != nil {
		return User{}, err
	}
	if s.userCount.Add(1) > maxCachedUsers {
		s.users.Clear()
		s.userCount.Store(0)
	}
	s.users.Store(id, &cachedUser{raw: b, user: u})
	return u, nil
}

// maxCachedUsers bounds the parsed user records a server keeps.
const maxCachedUsers = 4096

type cachedUser struct {
	raw  []byte
	user User
}

// forward sends a write to the primary with the caller's identity.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, req *Request, primary uint64) {
	addr := ""
	if primary != 0 {
		addr = s.addr(primary)
	}
	if addr == "" {
		s.fail(w, &Error{Status: http.StatusServiceUnavailable, Code: "NoPrimary", Message: "no primary is known; retry", RetryAfter: 1})
		return
	}
	if r.Header.Get(ForwardedUser) != "" {
		s.fail(w, &Error{Status: http.StatusServiceUnavailable, Code: "NotPrimary", Message: "forwarded to a node that is no longer primary; retry", RetryAfter: 1})
		return
	}
	fr, err := http.NewRequestWithContext(r.Context(), r.Method, "https://"+addr+r.URL.RequestURI(), bytes.NewReader(req.Body))
	if err != nil {
		s.fail(w, err)
		return
	}
	fr.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	fwd := req.User.ID
	if fwd == "" {
		fwd = "-" // an unauthenticated endpoint's request: forwarded once, still
	}
	fr.Header.Set(ForwardedUser, fwd)
	resp, err := s.client.Do(fr)
	if err != nil {
		s.fail(w, &Error{Status: http.StatusServiceUnavailable, Code: "PrimaryUnreachable", Message: "the primary did not answer; retry", RetryAfter: 1})
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, node.ErrNotPrimary):
		e = &Error{Status: http.StatusServiceUnavailable, Code: "NotPrimary", Message: "this node stopped being primary; retry", RetryAfter: 1}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e = Errorf(http.StatusServiceUnavailable, "Timeout", "the request was cancelled")
	default:
		// Internal errors are logged, not sent: they may name state.
		s.log.Error("ledger request failed", "err", err)
		e = Errorf(http.StatusInternalServerError, "InternalError", "the node could not complete the request")
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
}
