package network_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/ledger/gov"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/network"
	"github.com/confide/confide/ledger/node"
	"github.com/confide/confide/ledger/sandbox"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestAttestedJoin: a node with an empty directory joins a running
// network by attestation (asking a backup first, which sends it to the
// primary), becomes a voter and catches up; once governance removes its
// code, or refuses simulated evidence, another node is refused.
func TestAttestedJoin(t *testing.T) {
	tn := startOpts(t, sandbox.Options{Nodes: 3, SignIntervalMS: 10, SnapshotEvery: 20, CompactKeep: 5})
	svcPEM, _ := os.ReadFile(filepath.Join(tn.dir, sandbox.ServiceCert))
	user := client(t, tn.dir, "user0", svcPEM)
	base := "https://" + tn.config(1).RPCAddr
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out := do(t, user, "GET", base+"/gov/service/info", "")
		if code == 200 && out["status"] == "Opening" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no governance: %d %v", code, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var last string
	for i := range 30 {
		code, out := do(t, user, "POST", base+"/app/transactions?collection_id=j", fmt.Sprintf(`{"contents":"before join %d"}`, i))
		if code != 200 {
			t.Fatalf("write: %d %v", code, out)
		}
		last = out["transaction_id"].(string)
	}
	joiner := func(target uint64) network.Config {
		return network.Config{Dir: t.TempDir(), RaftAddr: freeAddr(t), RPCAddr: freeAddr(t), SignIntervalMS: 10, SnapshotEvery: 20, CompactKeep: 5,
			Join: &network.JoinConfig{Target: tn.config(target).RPCAddr, ServiceCert: string(svcPEM)}}
	}
	// Ask a backup: it names the primary.
	var backup uint64
	for id, r := range tn.running {
		var primary bool
		r.Node.With(func(c *node.Core) { primary = c.IsPrimary() })
		if !primary {
			backup = id
			break
		}
	}
	cfg4 := joiner(backup)
	ctx := context.Background()
	r4, err := network.Start(ctx, cfg4, tn.env, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer r4.Stop()
	// It catches up: the last write's entry is readable on it.
	n4 := "https://" + cfg4.RPCAddr
	deadline = time.Now().Add(15 * time.Second)
	for {
		code, out := do(t, user, "GET", n4+"/app/transactions/"+last, "")
		if code == 200 {
			if e, _ := out["entry"].(map[string]any); e["contents"] != "before join 29" {
				t.Fatalf("the joined node's entry: %v", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the joined node did not catch up: %d %v", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Recorded as a trusted node, and a voter on the primary.
	rec := 0
	tn.running[1].Node.Store().Range(gov.MapNodeInfo, func(_, v []byte) bool {
		var nr network.NodeRecord
		json.Unmarshal(v, &nr)
		if nr.Status == "Trusted" && nr.RaftID == 4 {
			rec++
		}
		return true
	})
	if rec != 1 {
		t.Fatal("no trusted record of node 4")
	}
	// Governance: simulated evidence no longer admitted.
	m := memberSigner(t, tn)
	prop := m.propose(t, "member0", `{"actions": [{"name": "set_join_policy", "args": {"allow_simulated": false}}]}`)
	m.vote(t, "member1", prop)
	if st := m.vote(t, "member2", prop); st != "Accepted" {
		t.Fatalf("set_join_policy: %s", st)
	}
	_, err = network.Start(ctx, joiner(1), tn.env, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !errors.Is(err, network.ErrJoinRefused) || !strings.Contains(err.Error(), "not admitted") {
		t.Fatalf("a simulated node under a strict configuration: %v", err)
	}
	// Simulation allowed again, but the code removed: refused.
	prop = m.propose(t, "member0", `{"actions": [{"name": "set_join_policy", "args": {"allow_simulated": true}}, {"name": "remove_node_code", "args": {"code_id": "`+m.codeID(t, tn)+`"}}]}`)
	m.vote(t, "member1", prop)
	m.vote(t, "member2", prop)
	_, err = network.Start(ctx, joiner(1), tn.env, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !errors.Is(err, network.ErrJoinRefused) || !strings.Contains(err.Error(), "allows no node code") {
		t.Fatalf("a node whose code governance removed: %v", err)
	}
	// Once the service is open, an admitted node waits, Pending, until a
	// proposal trusts it.
	prop = m.propose(t, "member0", `{"actions": [{"name": "add_node_code", "args": {"code_id": "`+m.codeID(t, tn)+`"}}, {"name": "transition_service_to_open"}]}`)
	m.vote(t, "member1", prop)
	if st := m.vote(t, "member2", prop); st != "Accepted" {
		t.Fatalf("open: %s", st)
	}
	cfg5 := joiner(1)
	started := make(chan error, 1)
	var r5 *network.Running
	go func() {
		var err error
		r5, err = network.Start(ctx, cfg5, tn.env, slog.New(slog.NewTextHandler(io.Discard, nil)))
		started <- err
	}()
	var pending string
	deadline = time.Now().Add(10 * time.Second)
	for pending == "" && time.Now().Before(deadline) {
		tn.running[1].Node.Store().Range(gov.MapNodeInfo, func(k, v []byte) bool {
			var nr network.NodeRecord
			if json.Unmarshal(v, &nr) == nil && nr.Status == "Pending" {
				pending = string(k)
			}
			return true
		})
		time.Sleep(50 * time.Millisecond)
	}
	if pending == "" {
		t.Fatal("no pending node")
	}
	select {
	case err := <-started:
		t.Fatalf("a pending node started: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
	prop = m.propose(t, "member0", `{"actions": [{"name": "transition_node_to_trusted", "args": {"node_id": "`+pending+`"}}]}`)
	m.vote(t, "member1", prop)
	m.vote(t, "member2", prop)
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("the trusted node: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the trusted node did not start")
	}
	defer r5.Stop()
	n5 := "https://" + cfg5.RPCAddr
	deadline = time.Now().Add(15 * time.Second)
	for {
		if code, _ := do(t, user, "GET", n5+"/app/transactions/"+last, ""); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the trusted node did not catch up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// remove_node retires node 5: out of raft's configuration.
	prop = m.propose(t, "member0", `{"actions": [{"name": "remove_node", "args": {"node_id": "`+pending+`"}}]}`)
	m.vote(t, "member1", prop)
	m.vote(t, "member2", prop)
	deadline = time.Now().Add(10 * time.Second)
	for {
		var voters []uint64
		var primary bool
		for _, r := range tn.running {
			r.Node.With(func(c *node.Core) {
				if c.IsPrimary() {
					primary, voters = true, c.Voters()
				}
			})
		}
		if primary && !slices.Contains(voters, 5) && slices.Contains(voters, 4) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 5 still a voter: %v", voters)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// members signs and sends members' governance requests to a node.
type members struct {
	dir  string
	base string
	http *http.Client
}

func memberSigner(t *testing.T, tn *testNet) *members {
	svcPEM, _ := os.ReadFile(filepath.Join(tn.dir, sandbox.ServiceCert))
	return &members{dir: tn.dir, base: "https://" + tn.config(1).RPCAddr, http: client(t, tn.dir, "member0", svcPEM)}
}

// signAs signs a governance request as a sandbox member.
func signAs(t *testing.T, dir, member, typ, proposal string, body []byte) []byte {
	certPEM, _ := os.ReadFile(filepath.Join(dir, member+"_cert.pem"))
	keyPEM, _ := os.ReadFile(filepath.Join(dir, member+"_privk.pem"))
	cert, err := identity.ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.ParseKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := gov.Sign(key, cert, typ, proposal, time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (m *members) send(t *testing.T, member, typ, proposal, path string, body []byte) map[string]any {
	raw := signAs(t, m.dir, member, typ, proposal, body)
	resp, err := m.http.Post(m.base+path+"?wait=committed", "application/cose", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %v", path, resp.StatusCode, out)
	}
	return out
}

func (m *members) propose(t *testing.T, member, body string) string {
	return m.send(t, member, gov.TypeProposal, "", "/gov/members/proposals:create", []byte(body))["proposalId"].(string)
}

func (m *members) vote(t *testing.T, member, id string) string {
	certPEM, _ := os.ReadFile(filepath.Join(m.dir, member+"_cert.pem"))
	cert, _ := identity.ParseCert(certPEM)
	out := m.send(t, member, gov.TypeBallot, id, "/gov/members/proposals/"+id+"/ballots/"+gov.MemberID(cert)+":submit",
		[]byte(`{"ballot": "export function vote() { return true }"}`))
	return out["proposalState"].(string)
}

func (m *members) codeID(t *testing.T, tn *testNet) string {
	id, err := tn.env.Platform.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", id.UniqueID)
}
