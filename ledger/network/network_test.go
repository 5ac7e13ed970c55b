package network_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/ledger/app"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/network"
	"github.com/confide/confide/ledger/receipt"
	"github.com/confide/confide/ledger/sandbox"
	"github.com/confide/confide/seal"
)

type testNet struct {
	t       testing.TB
	dir     string
	running map[uint64]*network.Running
	sealer  *seal.Sealer
	env     network.Enclave
	svc     *x509.Certificate
}

func client(t *testing.T, dir, name string, svc []byte) *http.Client {
	return clientB(t, dir, name, svc)
}

func clientB(t testing.TB, dir, name string, svc []byte) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(svc)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, name+"_cert.pem"), filepath.Join(dir, name+"_privk.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
}

func start(t *testing.T, n int) *testNet { return startB(t, n) }

// startB runs the nodes of a sandbox directory in this process.
func startB(t testing.TB, n int) *testNet {
	return startOpts(t, sandbox.Options{Nodes: n, SignIntervalMS: 10})
}

func startOpts(t testing.TB, opts sandbox.Options) *testNet {
	n := opts.Nodes
	p := simtest.Start(t)
	s, err := seal.New(p.Client, nil)
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNet{t: t, dir: t.TempDir(), running: map[uint64]*network.Running{}, sealer: s,
		env: network.Enclave{Sealer: s, Platform: p.Client, Verifier: &attest.Verifier{Backends: map[string]enclave.Verifier{"sim": p.Verifier()}}}}
	opts.Dir = tn.dir
	if err := sandbox.Prepare(opts); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(tn.dir, sandbox.ServiceCert))
	tn.svc, _ = identity.ParseCert(b)
	for id := 1; id <= n; id++ {
		tn.startNode(uint64(id))
	}
	t.Cleanup(func() {
		for _, r := range tn.running {
			r.Stop()
		}
	})
	return tn
}

func (tn *testNet) config(id uint64) network.Config {
	b, err := os.ReadFile(filepath.Join(tn.dir, "nodes", fmt.Sprint(id), "config.json"))
	if err != nil {
		tn.t.Fatal(err)
	}
	var cfg network.Config
	json.Unmarshal(b, &cfg)
	return cfg
}

func (tn *testNet) startNode(id uint64) {
	r, err := network.Start(context.Background(), tn.config(id), tn.env, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tn.t.Fatal(err)
	}
	if !r.Attested {
		tn.t.Fatal("node-to-node TLS is not attested")
	}
	tn.running[id] = r
}

func do(t *testing.T, c *http.Client, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestAPI(t *testing.T) {
	tn := start(t, 3)
	svcPEM, _ := os.ReadFile(filepath.Join(tn.dir, sandbox.ServiceCert))
	user := client(t, tn.dir, "user0", svcPEM)
	admin := client(t, tn.dir, "member0", svcPEM)
	// Wait for a primary and the genesis users.
	var base []string
	for _, id := range []uint64{1, 2, 3} {
		base = append(base, "https://"+tn.config(id).RPCAddr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := do(t, user, "GET", base[0]+"/app/collections", "")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no users after 10 s (%d)", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Writes through every node: backups forward to the primary.
	var ids []string
	for i, b := range base {
		code, out := do(t, user, "POST", b+"/app/transactions?collection_id=trials", fmt.Sprintf(`{"contents":"result %d"}`, i))
		if code != 200 {
			t.Fatalf("post via node %d: %d %v", i+1, code, out)
		}
		ids = append(ids, out["transaction_id"].(string))
	}
	// Committed as every node sees it: the reads below go to each of
	// them, and a backup applies what the primary committed a moment
	// later.
	last := ids[len(ids)-1]
	for _, b := range base {
		for {
			_, out := do(t, user, "GET", b+"/app/tx?transaction_id="+last, "")
			if out["status"] == "Committed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not committed at %s: %v", b, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	code, out := do(t, user, "GET", base[2]+"/app/transactions/"+ids[0], "")
	if code != 200 || out["entry"].(map[string]any)["contents"] != "result 0" {
		t.Fatalf("historical read: %d %v", code, out)
	}
	code, out = do(t, user, "GET", base[0]+"/app/transactions/current?collection_id=trials", "")
	if code != 200 || out["contents"] != "result 2" {
		t.Fatalf("current: %d %v", code, out)
	}
	code, out = do(t, user, "GET", base[0]+"/app/transactions?collection_id=trials", "")
	if code != 200 || len(out["entries"].([]any)) != 3 {
		t.Fatalf("range: %d %v", code, out)
	}
	// A receipt verifies offline.
	code, out = do(t, user, "GET", base[1]+"/app/transactions/"+ids[1]+"/receipt", "")
	if code != 200 {
		t.Fatalf("receipt: %d %v", code, out)
	}
	rb, _ := json.Marshal(out["receipt"])
	r, err := receipt.Parse(rb)
	if err != nil || r.Verify(tn.svc) != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
	// ?wait=committed answers once the write is committed (as the
	// primary knows it; backups learn it with the next message), via a
	// backup too.
	primary, backup := "", ""
	for _, b := range base {
		if _, st := do(t, user, "GET", b+"/node/state", ""); st["primary"] == true {
			primary = b
		} else {
			backup = b
		}
	}
	code, out = do(t, user, "POST", backup+"/app/transactions?wait=committed", `{"contents":"final"}`)
	if code != 200 {
		t.Fatalf("post and wait: %d %v", code, out)
	}
	if _, st := do(t, user, "GET", primary+"/app/tx?transaction_id="+out["transaction_id"].(string), ""); st["status"] != "Committed" {
		t.Fatalf("after wait=committed: %v", st)
	}
	// Bad input gets clear errors.
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/app/transactions", `{"contents": 5}`, 400},
		{"POST", "/app/transactions", `{"content":"x"}`, 400},
		{"POST", "/app/transactions", `not json`, 400},
		{"POST", "/app/transactions?collection_id=" + strings.Repeat("c", 300), `{"contents":"x"}`, 400},
		{"GET", "/app/transactions/7", "", 400},
		{"GET", "/app/transactions/1.99999", "", 404},
		{"GET", "/app/tx?transaction_id=abc", "", 400},
		{"GET", "/app/users", "", 403}, // user0 is a Contributor
		{"PATCH", "/app/users/" + strings.Repeat("a", 64), `{"assigned_role":"Reader"}`, 403},
	} {
		if code, out := do(t, user, c.method, base[0]+c.path, c.body); code != c.want {
			t.Errorf("%s %s: %d %v, want %d", c.method, c.path, code, out, c.want)
		}
	}
	// Administrators manage users; a Reader cannot write.
	readerCert, _ := identity.NewClient("reader")
	rid := app.UserID(readerCert.Cert)
	if code, out := do(t, admin, "PATCH", base[1]+"/app/users/"+rid, `{"assigned_role":"Reader"}`); code != 200 {
		t.Fatalf("add a reader: %d %v", code, out)
	}
	if code, _ := do(t, admin, "PATCH", base[1]+"/app/users/"+rid, `{"assigned_role":"Owner"}`); code != 400 {
		t.Fatalf("unknown role: %d", code)
	}
	// A role change holds at once where the old record was parsed and
	// cached (user0 has written through the primary).
	u0PEM, _ := os.ReadFile(filepath.Join(tn.dir, "user0_cert.pem"))
	u0, err := identity.ParseCert(u0PEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		role string
		want int
	}{{"Reader", 403}, {"Contributor", 200}} {
		if code, out := do(t, admin, "PATCH", primary+"/app/users/"+app.UserID(u0), `{"assigned_role":"`+c.role+`"}`); code != 200 {
			t.Fatalf("user0 to %s: %d %v", c.role, code, out)
		}
		if code, out := do(t, user, "POST", primary+"/app/transactions", `{"contents":"as `+c.role+`"}`); code != c.want {
			t.Fatalf("user0 as %s writes: %d %v, want %d", c.role, code, out, c.want)
		}
	}
	adminID := ""
	_, users := do(t, admin, "GET", base[0]+"/app/users", "")
	for _, u := range users["ledger_users"].([]any) {
		if m := u.(map[string]any); m["assigned_role"] == "Administrator" {
			adminID = m["user_id"].(string)
		}
	}
	if code, _ := do(t, admin, "DELETE", base[0]+"/app/users/"+adminID, ""); code != 409 {
		t.Fatalf("deleting the last Administrator: %d", code)
	}
	// An unknown certificate is refused.
	stranger, _ := identity.NewClient("stranger")
	sc := client(t, tn.dir, "user0", svcPEM)
	sc.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{stranger.Cert.Raw}, PrivateKey: stranger.Key}}
	if code, _ := do(t, sc, "GET", base[0]+"/app/collections", ""); code != 401 {
		t.Fatalf("stranger: %d", code)
	}

	// Committed chunks can be downloaded and are identical on every node.
	code, out = do(t, user, "GET", base[0]+"/app/chunks", "")
	if code != 200 {
		t.Fatal(code)
	}

	// A node restarted from its files unseals its secrets; one whose
	// sealed secrets are not its own cannot.
	tn.running[3].Stop()
	delete(tn.running, 3)
	tn.startNode(3)
	b, _ := os.ReadFile(filepath.Join(tn.dir, "nodes", "2", network.SealedFile))
	b[len(b)-1] ^= 1
	os.WriteFile(filepath.Join(tn.dir, "nodes", "2", network.SealedFile), b, 0o600)
	tn.running[2].Stop()
	delete(tn.running, 2)
	if _, err := network.Start(context.Background(), tn.config(2), tn.env, slog.New(slog.NewTextHandler(io.Discard, nil))); !errors.Is(err, network.ErrCannotUnseal) {
		t.Fatalf("start with foreign sealed secrets: %v", err)
	}
}
