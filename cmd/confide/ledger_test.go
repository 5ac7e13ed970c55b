package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/confide/confide/ledger/identity"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ledgerfiles "github.com/confide/confide/ledger/files"
)

// ledgerNet is a sandbox started through the binary, and a user0 client.
type ledgerNet struct {
	extra  []string // more sandbox flags
	t      testing.TB
	dir    string
	env    []string
	cmd    *exec.Cmd
	client *http.Client
}

func startLedger(t testing.TB, nodes int, extra ...string) *ledgerNet {
	home := t.TempDir()
	env := append(os.Environ(), "CONFIDE_HOME="+home)
	init := exec.Command(filepath.Join(binDir, "confide"), "platform", "init")
	init.Env = env
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("platform init: %v\n%s", err, out)
	}
	l := &ledgerNet{t: t, dir: t.TempDir(), env: env, extra: extra}
	l.start(nodes)
	t.Cleanup(l.stop)
	return l
}

// connect makes user0's client once the sandbox wrote the identities.
func (l *ledgerNet) connect() bool {
	svc, err := os.ReadFile(filepath.Join(l.dir, "service_cert.pem"))
	if err != nil {
		return false
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(svc)
	cert, err := tls.LoadX509KeyPair(filepath.Join(l.dir, "user0_cert.pem"), filepath.Join(l.dir, "user0_privk.pem"))
	if err != nil {
		return false
	}
	l.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}, MaxIdleConnsPerHost: 32}}
	return true
}

func (l *ledgerNet) start(nodes int) {
	l.cmd = exec.Command(filepath.Join(binDir, "confide"), append([]string{"ledger", "sandbox", "--nodes", fmt.Sprint(nodes), "--dir", l.dir, "--sign-interval-ms", "20"}, l.extra...)...)
	l.cmd.Env = l.env
	var out bytes.Buffer
	l.cmd.Stdout, l.cmd.Stderr = &out, &out
	if err := l.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ns := l.nodes(); len(ns) == nodes && (l.client != nil || l.connect()) && l.primary() != "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.t.Fatalf("the network did not start:\n%s", out.String())
}

func (l *ledgerNet) stop() {
	if l.cmd != nil && l.cmd.Process != nil {
		l.cmd.Process.Signal(os.Interrupt)
		l.cmd.Wait()
		l.cmd = nil
	}
}

type nodeRec struct {
	RaftID     uint64 `json:"raft_id"`
	RPCAddress string `json:"rpc_address"`
	PID        int    `json:"pid"`
}

func (l *ledgerNet) nodes() []nodeRec {
	b, err := os.ReadFile(filepath.Join(l.dir, "nodes.json"))
	if err != nil {
		return nil
	}
	var ns []nodeRec
	json.Unmarshal(b, &ns)
	return ns
}

// call makes a request and decodes the JSON answer.
func (l *ledgerNet) call(method, addr, path, body string, out any) (int, error) {
	req, _ := http.NewRequest(method, "https://"+addr+path, strings.NewReader(body))
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s: %v", b, err)
		}
	}
	return resp.StatusCode, nil
}

// primary is the RPC address of the node that says it is primary.
func (l *ledgerNet) primary() string {
	for _, n := range l.nodes() {
		var st struct {
			Primary bool `json:"primary"`
		}
		if code, err := l.call("GET", n.RPCAddress, "/node/state", "", &st); err == nil && code == 200 && st.Primary {
			return n.RPCAddress
		}
	}
	return ""
}

// TestLedgerKills writes under load from several clients through every
// node while a minority node is killed (kill -9) again and again and the
// sandbox restarts it; with 3 and 5 nodes the primary is killed too.
// Every transaction reported Committed must stay committed, with its
// contents, on every node; the restarted nodes catch up.
func TestLedgerKills(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		t.Run(fmt.Sprint(n, "nodes"), func(t *testing.T) {
			l := startLedger(t, n)
			ctx, cancel := context.WithCancel(context.Background())
			var mu sync.Mutex
			committed := map[string]string{} // tx ID → contents
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ctx.Err() == nil; i++ {
						ns := l.nodes()
						addr := ns[(w+i)%len(ns)].RPCAddress
						contents := fmt.Sprintf("w%d-%d", w, i)
						var res struct {
							TxID string `json:"transaction_id"`
						}
						if code, err := l.call("POST", addr, "/app/transactions", `{"contents":"`+contents+`"}`, &res); err != nil || code != 200 {
							time.Sleep(50 * time.Millisecond)
							continue // a node down or no primary: the client retries elsewhere
						}
						for range 100 {
							var st struct {
								Status string `json:"status"`
							}
							l.call("GET", addr, "/app/tx?transaction_id="+res.TxID, "", &st)
							if st.Status == "Committed" {
								mu.Lock()
								committed[res.TxID] = contents
								mu.Unlock()
								break
							}
							if st.Status == "Invalid" {
								break
							}
							time.Sleep(20 * time.Millisecond)
						}
					}
				}()
			}
			kills := 0
			for round := range 4 {
				time.Sleep(700 * time.Millisecond)
				ns := l.nodes()
				victim := ns[len(ns)-1]
				if n > 1 && round == 2 {
					// The primary this time.
					p := l.primary()
					for _, x := range ns {
						if x.RPCAddress == p {
							victim = x
						}
					}
				}
				if n == 1 && round > 1 {
					break // killing the only node stops writes; twice is enough
				}
				syscall.Kill(victim.PID, syscall.SIGKILL)
				kills++
			}
			time.Sleep(1500 * time.Millisecond)
			cancel()
			wg.Wait()
			if len(committed) < 20 {
				t.Fatalf("only %d transactions committed under %d kills", len(committed), kills)
			}
			// Every node, restarted ones included, holds every committed
			// transaction with its contents.
			deadline := time.Now().Add(20 * time.Second)
			for _, node := range l.nodes() {
				for id, want := range committed {
					for {
						var got struct {
							Entry struct {
								Contents string `json:"contents"`
							} `json:"entry"`
						}
						code, err := l.call("GET", node.RPCAddress, "/app/transactions/"+id, "", &got)
						if err == nil && code == 200 {
							if got.Entry.Contents != want {
								t.Fatalf("node %d: %s holds %q, committed %q", node.RaftID, id, got.Entry.Contents, want)
							}
							break
						}
						if time.Now().After(deadline) {
							t.Fatalf("node %d: %s: %d %v", node.RaftID, id, code, err)
						}
						time.Sleep(100 * time.Millisecond)
					}
				}
			}
			t.Logf("%d nodes: %d transactions committed, %d kills", n, len(committed), kills)
		})
	}
}

// TestLedgerTamper: a changed byte in a committed ledger file is found
// by `confide ledger audit` and stops the node's restart.
func TestLedgerTamper(t *testing.T) {
	l := startLedger(t, 1)
	addr := l.nodes()[0].RPCAddress
	for i := range 30 {
		if code, err := l.call("POST", addr, "/app/transactions", fmt.Sprintf(`{"contents":"entry %d"}`, i), nil); err != nil || code != 200 {
			t.Fatal(code, err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	l.stop()
	nodeDir := filepath.Join(l.dir, "nodes", "1")
	confide := func(args ...string) (string, error) {
		c := exec.Command(filepath.Join(binDir, "confide"), args...)
		c.Env = l.env
		out, err := c.CombinedOutput()
		return string(out), err
	}
	svc := filepath.Join(l.dir, "service_cert.pem")
	if out, err := confide("ledger", "audit", "--service-cert", svc, nodeDir); err != nil || !strings.Contains(out, "ok:") {
		t.Fatalf("audit of the clean ledger: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(nodeDir, "ledger", "ledger_*"))
	b, _ := os.ReadFile(files[0])
	_, end := ledgerfiles.FrameOffsets(b) // the frames, not the space reserved after them
	b[end/2] ^= 0x10
	os.WriteFile(files[0], b, 0o600)
	out, err := confide("ledger", "audit", "--service-cert", svc, nodeDir)
	if err == nil || !strings.Contains(out, "CORRUPT") || !strings.Contains(out, filepath.Base(files[0])) {
		t.Fatalf("audit of a tampered ledger: %v\n%s", err, out)
	}
	out, err = confide("ledger", "node", "--config", filepath.Join(nodeDir, "config.json"))
	if err == nil || !strings.Contains(out, "does not verify") && !strings.Contains(out, "corrupt ledger file") {
		t.Fatalf("restart on a tampered ledger: %v\n%s", err, out)
	}
}

// TestLedgerGov runs the members' CLI against a sandbox: a proposal, two
// votes that pass it, the new user admitted; a withdrawal; refusals.
func TestLedgerGov(t *testing.T) {
	l := startLedger(t, 1)
	gov := func(member string, args ...string) (map[string]any, string, error) {
		c := exec.Command(filepath.Join(binDir, "confide"), append([]string{"ledger", "gov", "--sandbox", l.dir, "--member", member}, args...)...)
		c.Env = l.env
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		err := c.Run()
		var out map[string]any
		json.Unmarshal(stdout.Bytes(), &out)
		return out, stdout.String() + stderr.String(), err
	}
	carol, err := identity.NewClient("carol")
	if err != nil {
		t.Fatal(err)
	}
	certJSON, _ := json.Marshal(string(carol.CertPEM()))
	file := filepath.Join(t.TempDir(), "proposal.json")
	os.WriteFile(file, []byte(`{"actions": [{"name": "set_user", "args": {"cert": `+string(certJSON)+`, "role": "Reader"}}]}`), 0o600)
	var out map[string]any
	var text string
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Governance's genesis follows the node's start closely.
		if out, text, err = gov("member0", "propose", file); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || out["proposalState"] != "Open" {
		t.Fatalf("propose: %v\n%s", err, text)
	}
	id := out["proposalId"].(string)
	if out, text, err = gov("member1", "vote", id, "--yes"); err != nil || out["proposalState"] != "Open" {
		t.Fatalf("vote 1: %v\n%s", err, text)
	}
	if out, text, err = gov("member2", "vote", id, "--yes"); err != nil || out["proposalState"] != "Accepted" {
		t.Fatalf("vote 2: %v\n%s", err, text)
	}
	if out, text, err = gov("member0", "show", id); err != nil || out["proposalState"] != "Accepted" || out["ballotCount"] != float64(2) {
		t.Fatalf("show: %v\n%s", err, text)
	}
	if out, text, err = gov("member0", "show", "members"); err != nil || len(out["value"].([]any)) != 3 {
		t.Fatalf("members: %v\n%s", err, text)
	}
	// A withdrawn proposal takes no more votes.
	if out, text, err = gov("member1", "propose", file); err != nil {
		t.Fatalf("propose 2: %v\n%s", err, text)
	}
	id2 := out["proposalId"].(string)
	if _, text, err = gov("member0", "withdraw", id2); err == nil || !strings.Contains(text, "only the proposer") {
		t.Fatalf("withdraw by another member: %v\n%s", err, text)
	}
	if out, text, err = gov("member1", "withdraw", id2); err != nil || out["proposalState"] != "Withdrawn" {
		t.Fatalf("withdraw: %v\n%s", err, text)
	}
	if _, text, err = gov("member2", "vote", id2, "--no"); err == nil || !strings.Contains(text, "not open") {
		t.Fatalf("vote on a withdrawn proposal: %v\n%s", err, text)
	}
	if _, text, err = gov("member2", "vote", id2); err == nil || !strings.Contains(text, "--yes, --no or --ballot") {
		t.Fatalf("vote without a choice: %v\n%s", err, text)
	}
	if out, text, err = gov("member0", "list"); err != nil || len(out["value"].([]any)) != 2 {
		t.Fatalf("list: %v\n%s", err, text)
	}
	// Each member opens its own recovery share, no other's.
	if _, text, err = gov("member2", "share"); err != nil {
		t.Fatalf("share: %v\n%s", err, text)
	}
	if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text)); err != nil || len(b) != 33 {
		t.Fatalf("share: %q", text)
	}
	if _, text, err = gov("member2", "share", "--enc-key", filepath.Join(l.dir, "member1_enc_privk.pem")); err == nil || !strings.Contains(text, "does not decrypt") {
		t.Fatalf("share with another member's key: %v\n%s", err, text)
	}
}

// TestLedgerRecover: a sandbox's node files, its service gone: `ledger
// recover` takes two members' shares (`gov share --submit`; one is not
// enough) and starts a new network with the old transactions.
func TestLedgerRecover(t *testing.T) {
	l := startLedger(t, 1, "--recovery-threshold", "2")
	addr := l.nodes()[0].RPCAddress
	var ids []string
	for i := range 5 {
		var out struct {
			ID string `json:"transaction_id"`
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, err := l.call("POST", addr, "/app/transactions?wait=committed", fmt.Sprintf(`{"contents":"before the disaster %d"}`, i), &out)
			if err == nil && code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal(code, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		ids = append(ids, out.ID)
	}
	l.stop()
	newDir := t.TempDir()
	rec := exec.Command(filepath.Join(binDir, "confide"), "ledger", "recover", "--from", filepath.Join(l.dir, "nodes", "1"),
		"--service-cert", filepath.Join(l.dir, "service_cert.pem"), "--dir", newDir, "--nodes", "1")
	rec.Env = l.env
	var recOut bytes.Buffer
	rec.Stdout, rec.Stderr = &recOut, &recOut
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		rec.Process.Signal(os.Interrupt)
		rec.Wait()
	}()
	var where struct {
		Address string `json:"address"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for where.Address == "" {
		b, _ := os.ReadFile(filepath.Join(newDir, "recovery.json"))
		json.Unmarshal(b, &where)
		if time.Now().After(deadline) {
			t.Fatalf("no recovery service:\n%s", recOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The members trust the recovery service for the code it proves it
	// runs, not for a certificate the operator hands them.
	idc := exec.Command(filepath.Join(binDir, "confide"), "enclave", "identity")
	idc.Env = l.env
	idOut, err := idc.Output()
	if err != nil {
		t.Fatal(err)
	}
	var uniqueID string
	for _, line := range strings.Split(string(idOut), "\n") {
		if v, ok := strings.CutPrefix(line, "unique_id "); ok {
			uniqueID = v
		}
	}
	policy := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(policy, []byte(fmt.Sprintf(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"unique_id","equals":%q}]}`, uniqueID)), 0o600)
	wrong := filepath.Join(t.TempDir(), "wrong.json")
	os.WriteFile(wrong, []byte(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"unique_id","equals":"00"}]}`), 0o600)
	govWith := func(pol, member string, args ...string) (map[string]any, string, error) {
		c := exec.Command(filepath.Join(binDir, "confide"), append([]string{"ledger", "gov", "--sandbox", l.dir, "--member", member,
			"--node", where.Address, "--policy", pol}, args...)...)
		c.Env = l.env
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		err := c.Run()
		var out map[string]any
		json.Unmarshal(stdout.Bytes(), &out)
		return out, stdout.String() + stderr.String(), err
	}
	gov := func(member string, args ...string) (map[string]any, string, error) {
		return govWith(policy, member, args...)
	}
	if _, text, err := govWith(wrong, "member0", "list"); err == nil || !strings.Contains(text, "policy not satisfied") {
		t.Fatalf("a recovery service that does not meet the policy was trusted:\n%s", text)
	}
	// The members vote the recovered service open, then hand in shares.
	if _, text, err := gov("member0", "share", "--submit"); err == nil || !strings.Contains(text, "not voted to open") {
		t.Fatalf("a share before the vote: %v\n%s", err, text)
	}
	file := filepath.Join(t.TempDir(), "open.json")
	os.WriteFile(file, []byte(`{"actions": [{"name": "transition_service_to_open"}]}`), 0o600)
	out, text, err := gov("member0", "propose", file)
	if err != nil {
		t.Fatalf("propose: %v\n%s", err, text)
	}
	id, _ := out["proposalId"].(string)
	for _, m := range []string{"member1", "member2"} {
		if out, text, err = gov(m, "vote", id, "--yes"); err != nil {
			t.Fatalf("vote: %v\n%s", err, text)
		}
	}
	if out["proposalState"] != "Accepted" {
		t.Fatalf("the vote to open: %v", out)
	}
	if out, text, err := gov("member0", "share", "--submit"); err != nil || out["shares"] != float64(1) || out["recovered"] != nil {
		t.Fatalf("share 1: %v\n%s", err, text)
	}
	if out, text, err := gov("member1", "share", "--submit"); err != nil || out["recovered"] != true {
		t.Fatalf("share 2: %v\n%s", err, text)
	}
	// The recovered network serves the old transactions to the old users,
	// under the new service certificate.
	svc, _ := os.ReadFile(filepath.Join(newDir, "service_cert.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(svc)
	cert, err := tls.LoadX509KeyPair(filepath.Join(l.dir, "user0_cert.pem"), filepath.Join(l.dir, "user0_privk.pem"))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	deadline = time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(newDir, "nodes.json"))
		var ns []nodeRec
		json.Unmarshal(b, &ns)
		if len(ns) == 1 {
			resp, err := client.Get("https://" + ns[0].RPCAddress + "/app/transactions/" + ids[4])
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 && strings.Contains(string(body), "before the disaster 4") {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recovered network does not serve the old transactions:\n%s", recOut.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
