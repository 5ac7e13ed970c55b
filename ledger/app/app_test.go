package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/confide/confide/ledger/app"
	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/kv"
	"github.com/confide/confide/ledger/merkle"
	"github.com/confide/confide/ledger/node"
)

type nowhere struct{}

func (nowhere) Send([]pb.Message) {}

// counter is a test app: it declares one map but one endpoint writes
// another.
type counter struct{}

func (counter) Maps() []string { return []string{"counts"} }

func (counter) Endpoints() []app.Endpoint {
	return []app.Endpoint{
		{Pattern: "POST /app/count", Mode: app.ReadWrite, Role: app.Contributor, Handler: func(r *app.Request) (any, error) {
			r.Tx.Put("counts", []byte("n"), []byte("1"))
			return map[string]string{"transaction_id": r.ID.String()}, nil
		}},
		{Pattern: "POST /app/trespass", Mode: app.ReadWrite, Role: app.Contributor, Handler: func(r *app.Request) (any, error) {
			r.Tx.Put("someone.elses", []byte("n"), []byte("1"))
			return nil, nil
		}},
		{Pattern: "POST /app/set", Mode: app.ReadWrite, Role: app.Contributor, Prepare: func(r *app.Request) (any, error) {
			var v struct{ N string }
			if err := json.Unmarshal(r.Body, &v); err != nil || v.N == "" {
				return nil, app.Errorf(http.StatusBadRequest, "BadRequest", `the body is {"N": "…"}`)
			}
			return v.N, nil
		}, Handler: func(r *app.Request) (any, error) {
			r.Tx.Put("counts", []byte("n"), []byte(r.Prepared.(string)))
			return nil, nil
		}},
		{Pattern: "GET /app/count", Mode: app.ReadOnly, Role: app.Reader, Handler: func(r *app.Request) (any, error) {
			v, _ := r.Node.Store().Get("counts", []byte("n"))
			return map[string]string{"n": string(v)}, nil
		}},
	}
}

// framework is a one-node ledger serving counter through the framework,
// with a Reader and a Contributor.
type framework struct {
	n              *node.Node
	srv            *app.Server
	svc            *identity.Identity
	reader, writer *identity.Identity
}

func newFramework(t testing.TB) *framework {
	svc, _ := identity.NewService("t")
	self, _ := identity.NewNode(svc, "127.0.0.1")
	sec, _ := entry.NewSecret(bytes.Repeat([]byte{1}, 32))
	core, err := node.Open(node.Config{ID: 1, Dir: t.TempDir(), Secret: sec, Node: self, Service: svc.Cert, Bootstrap: []uint64{1}})
	if err != nil {
		t.Fatal(err)
	}
	core.Process()
	core.Campaign()
	core.Process()
	n := node.Start(core, nowhere{})
	t.Cleanup(func() { n.Stop() })
	reader, _ := identity.NewClient("reader")
	writer, _ := identity.NewClient("writer")
	if _, err := n.Execute(context.Background(), func(tx *kv.Tx, _ entry.TxID) (*merkle.Hash, error) {
		for c, role := range map[*identity.Identity]string{reader: "Reader", writer: "Contributor"} {
			b, _ := json.Marshal(app.User{ID: app.UserID(c.Cert), Role: role})
			tx.Put(app.MapUsers, []byte(app.UserID(c.Cert)), b)
		}
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	srv := app.NewServer(n, self, svc.Cert, func(uint64) string { return "" }, slog.New(slog.DiscardHandler), counter{})
	return &framework{n: n, srv: srv, svc: svc, reader: reader, writer: writer}
}

func TestFramework(t *testing.T) {
	fw := newFramework(t)
	n, srv, svc, reader, writer := fw.n, fw.srv, fw.svc, fw.reader, fw.writer
	hs := httptest.NewUnstartedServer(srv)
	hs.TLS = srv.TLSConfig()
	hs.StartTLS()
	defer hs.Close()
	pool := x509.NewCertPool()
	pool.AddCert(svc.Cert)
	call := func(who *identity.Identity, method, path string) (int, string) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool,
			Certificates: []tls.Certificate{{Certificate: [][]byte{who.Cert.Raw}, PrivateKey: who.Key}}}}}
		req, _ := http.NewRequest(method, hs.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := call(writer, "POST", "/app/count?wait=committed"); code != 200 {
		t.Fatalf("count: %d %s", code, body)
	}
	if code, body := call(reader, "GET", "/app/count"); code != 200 || body != "{\"n\":\"1\"}\n" {
		t.Fatalf("read: %d %s", code, body)
	}
	if code, _ := call(reader, "POST", "/app/count"); code != http.StatusForbidden {
		t.Fatalf("a Reader wrote: %d", code)
	}
	// Writing a map the app did not declare fails, and writes nothing.
	if code, body := call(writer, "POST", "/app/trespass"); code != http.StatusInternalServerError {
		t.Fatalf("trespass: %d %s", code, body)
	}
	if _, ok := n.Store().Get("someone.elses", []byte("n")); ok {
		t.Fatal("the undeclared write landed")
	}
	stranger, _ := identity.NewClient("stranger")
	if code, _ := call(stranger, "GET", "/app/count"); code != http.StatusUnauthorized {
		t.Fatalf("stranger: %d", code)
	}
}

// FuzzRequests sends arbitrary requests through the framework, as a
// user, a stranger or a user claiming to forward for another: none may
// panic, a stranger and a forged forward are refused, and a request a
// handler refuses leaves the state as it was.
func FuzzRequests(f *testing.F) {
	f.Add(byte(0), "/app/count", []byte(""), "", byte(0))
	f.Add(byte(1), "/app/set", []byte(`{"N":"7"}`), "", byte(1))
	f.Add(byte(1), "/app/set?wait=committed", []byte(`{"N":""}`), "", byte(1))
	f.Add(byte(1), "/app/count", []byte("x"), "ab12", byte(1))
	f.Add(byte(2), "/app/count/../count", []byte(`{`), "", byte(2))
	fw := newFramework(f)
	methods := []string{"GET", "POST", "PATCH", "DELETE"}
	f.Fuzz(func(t *testing.T, method byte, path string, body []byte, fwd string, who byte) {
		u, err := url.ParseRequestURI(path)
		if err != nil || !strings.HasPrefix(u.Path, "/") {
			return
		}
		caller := []*identity.Identity{fw.reader, fw.writer, nil}[int(who)%3]
		stranger := caller == nil
		if stranger {
			caller, _ = identity.NewClient("stranger")
		}
		r, err := http.NewRequest(methods[int(method)%len(methods)], "https://ledger"+u.RequestURI(), bytes.NewReader(body))
		if err != nil {
			return
		}
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{caller.Cert}}
		if fwd != "" {
			r.Header.Set(app.ForwardedUser, fwd)
		}
		before, _ := fw.n.Store().Get("counts", []byte("n"))
		w := httptest.NewRecorder()
		fw.srv.ServeHTTP(w, r)
		// The mux answers unknown routes (404, 405) and unclean paths
		// (a redirect) before anyone is authenticated.
		routed := w.Code/100 == 3 || w.Code == http.StatusNotFound || w.Code == http.StatusMethodNotAllowed
		if (stranger || fwd != "") && w.Code != http.StatusUnauthorized && !routed {
			t.Fatalf("%s %s as a stranger or forwarding %q: %d %s", r.Method, path, fwd, w.Code, w.Body)
		}
		if w.Code >= 400 {
			if after, _ := fw.n.Store().Get("counts", []byte("n")); !bytes.Equal(before, after) {
				t.Fatalf("refused (%d) but wrote %q over %q", w.Code, after, before)
			}
		}
	})
}
