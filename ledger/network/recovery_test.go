package network_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/gov"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/network"
	"github.com/confide/confide/ledger/node"
	"github.com/confide/confide/ledger/receipt"
	"github.com/confide/confide/ledger/recovery"
	"github.com/confide/confide/ledger/sandbox"
)

// TestRecoverySession: every node stopped, only a node's ledger files
// left: the recovery reopens their public state, takes 2 of the 3
// members' shares (as signed requests), unwraps both secrets of a rekeyed
// ledger and opens every transaction; one share is not enough, a replayed
// or forged request is refused, a damaged share fails cleanly.
func TestRecoverySession(t *testing.T) {
	tn := startOpts(t, sandbox.Options{Nodes: 3, SignIntervalMS: 10, RecoveryThreshold: 2})
	svcPEM, _ := os.ReadFile(filepath.Join(tn.dir, sandbox.ServiceCert))
	user := client(t, tn.dir, "user0", svcPEM)
	base := "https://" + tn.config(1).RPCAddr
	write := func(i int) string {
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, out := do(t, user, "POST", base+"/app/transactions?collection_id=r&wait=committed", fmt.Sprintf(`{"contents":"record %d"}`, i))
			if code == 200 {
				return out["transaction_id"].(string)
			}
			if time.Now().After(deadline) {
				t.Fatalf("write: %d %v", code, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	first := write(0)
	m := memberSigner(t, tn)
	prop := m.propose(t, "member0", `{"actions": [{"name": "trigger_ledger_rekey"}]}`)
	m.vote(t, "member1", prop)
	m.vote(t, "member2", prop)
	var ring []entry.Epoch
	deadline := time.Now().Add(10 * time.Second)
	for {
		tn.running[1].Node.With(func(c *node.Core) { ring = c.Secret().Epochs() })
		done, _ := tn.running[1].Node.Store().Get(gov.MapRequests, []byte("rekey_done"))
		if len(ring) == 2 && done != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no rekey")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ids := []string{first}
	for i := 1; i <= 5; i++ {
		ids = append(ids, write(i))
	}
	for id, r := range tn.running {
		r.Stop()
		delete(tn.running, id)
	}
	svc, _ := identity.ParseCert(svcPEM)
	s, err := recovery.Open(filepath.Join(tn.dir, "nodes", "1"), svc)
	if err != nil {
		t.Fatal(err)
	}
	if s.Threshold != 2 || s.Transactions() < 10 {
		t.Fatalf("threshold %d, %d transactions", s.Threshold, s.Transactions())
	}
	share := func(member string) []byte {
		certPEM, _ := os.ReadFile(filepath.Join(tn.dir, member+"_cert.pem"))
		cert, _ := identity.ParseCert(certPEM)
		enc, ok := s.EncryptedShare(gov.MemberID(cert))
		if !ok {
			t.Fatalf("no share for %s", member)
		}
		keyPEM, _ := os.ReadFile(filepath.Join(tn.dir, member+"_enc_privk.pem"))
		blk, _ := pem.Decode(keyPEM)
		k, _ := x509.ParsePKCS8PrivateKey(blk.Bytes)
		sh, err := gov.DecryptShare(k.(*rsa.PrivateKey), enc)
		if err != nil {
			t.Fatal(err)
		}
		return sh
	}
	request := func(member string, sh []byte) []byte {
		body, _ := json.Marshal(recovery.ShareBody{Share: base64.StdEncoding.EncodeToString(sh)})
		return signAs(t, tn.dir, member, gov.TypeShare, "", body)
	}
	r0 := request("member0", share("member0"))
	// Shares only once the members voted the recovered service open.
	if _, err := s.Submit(r0, time.Now()); !errors.Is(err, recovery.ErrNotOpened) {
		t.Fatalf("a share before the vote: %v", err)
	}
	if _, _, err := s.Propose(signAs(t, tn.dir, "member0", gov.TypeProposal, "", []byte(`{"actions": [{"name": "set_user", "args": {}}]}`)), time.Now()); !errors.Is(err, gov.ErrInvalid) {
		t.Fatalf("another proposal during recovery: %v", err)
	}
	pid, _, err := s.Propose(signAs(t, tn.dir, "member0", gov.TypeProposal, "", []byte(`{"actions": [{"name": "transition_service_to_open"}]}`)), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	yes := []byte(`{"ballot": "export function vote() { return true }"}`)
	if _, err := s.Vote(signAs(t, tn.dir, "member1", gov.TypeBallot, pid, yes), time.Now()); err != nil {
		t.Fatal(err)
	}
	if info, err := s.Vote(signAs(t, tn.dir, "member2", gov.TypeBallot, pid, yes), time.Now()); err != nil || info.State != gov.Accepted {
		t.Fatalf("the vote to open: %v %v", info.State, err)
	}
	if n, err := s.Submit(r0, time.Now()); err != nil || n != 1 {
		t.Fatalf("share 1: %d %v", n, err)
	}
	if _, err := s.Recover(); !errors.Is(err, gov.ErrRecover) {
		t.Fatalf("one share of two: %v", err)
	}
	if _, err := s.Submit(r0, time.Now()); !errors.Is(err, recovery.ErrReplay) {
		t.Fatalf("a replayed share: %v", err)
	}
	// member2's share under member1's name: the signature fails.
	forged := request("member2", share("member1"))
	forged = bytes.Replace(forged, []byte(memberIDOf(t, tn.dir, "member2")), []byte(memberIDOf(t, tn.dir, "member1")), 1)
	if _, err := s.Submit(forged, time.Now()); !errors.Is(err, gov.ErrSignature) {
		t.Fatalf("a forged share: %v", err)
	}
	// A damaged share: the secrets do not unwrap.
	bad := share("member1")
	bad[5] ^= 1
	if _, err := s.Submit(request("member1", bad), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recover(); !errors.Is(err, gov.ErrRecover) {
		t.Fatalf("a damaged share: %v", err)
	}
	// member1's real share replaces it.
	if n, err := s.Submit(request("member1", share("member1")), time.Now()); err != nil || n != 2 {
		t.Fatalf("share 2: %d %v", n, err)
	}
	got, err := s.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[0].Secret, ring[0].Secret) || !bytes.Equal(got[1].Secret, ring[1].Secret) || got[1].From != ring[1].From {
		t.Fatalf("recovered %d secrets, not the ledger's", len(got))
	}

	// The service goes on, on three fresh nodes under a new service
	// identity, with its history.
	newDir := t.TempDir()
	if err := sandbox.Prepare(sandbox.Options{Nodes: 3, Dir: newDir, SignIntervalMS: 10}); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for i := 1; i <= 3; i++ {
		dirs = append(dirs, filepath.Join(newDir, "nodes", fmt.Sprint(i)))
	}
	if err := s.Continue(got, filepath.Join(tn.dir, "nodes", "1"), svc, dirs); err != nil {
		t.Fatal(err)
	}
	newSvcPEM, _ := os.ReadFile(filepath.Join(newDir, sandbox.ServiceCert))
	newSvc, _ := identity.ParseCert(newSvcPEM)
	var addrs []string
	var recovered []*network.Running
	for i := 1; i <= 3; i++ {
		b, _ := os.ReadFile(filepath.Join(dirs[i-1], "config.json"))
		var cfg network.Config
		json.Unmarshal(b, &cfg)
		r, err := network.Start(context.Background(), cfg, tn.env, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatalf("recovered node %d: %v", i, err)
		}
		defer r.Stop()
		recovered = append(recovered, r)
		addrs = append(addrs, "https://"+cfg.RPCAddr)
	}
	// The old users, the old transactions, their receipts against the new
	// certificate, and new writes.
	u := client(t, tn.dir, "user0", newSvcPEM)
	deadline = time.Now().Add(15 * time.Second)
	for {
		code, out := do(t, u, "GET", addrs[1]+"/app/transactions/"+first, "")
		if code == 200 {
			if e, _ := out["entry"].(map[string]any); e["contents"] != "record 0" {
				t.Fatalf("an old transaction after recovery: %v", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recovered network serves no old transaction: %d %v", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, id := range ids {
		// A node learns how far the log is committed from the primary's
		// messages: until then it answers 202.
		for {
			code, out := do(t, u, "GET", addrs[i%3]+"/app/transactions/"+id, "")
			if code == 200 {
				if e, _ := out["entry"].(map[string]any); e["contents"] != fmt.Sprintf("record %d", i) {
					t.Fatalf("transaction %s after recovery: %v", id, out)
				}
				break
			}
			if code != 202 || time.Now().After(deadline) {
				t.Fatalf("transaction %s after recovery: %d %v", id, code, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var newID string
	for {
		code, out := do(t, u, "POST", addrs[0]+"/app/transactions?collection_id=r&wait=committed", `{"contents":"after recovery"}`)
		if code == 200 {
			newID = out["transaction_id"].(string)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write after recovery: %d %v", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The new ledger records the recovery, and the service is open.
	deadline = time.Now().Add(10 * time.Second)
	for {
		history := 0
		for _, r := range recovered {
			r.Node.Store().Range(network.MapRecoveryHistory, func(_, v []byte) bool {
				var rec network.RecoveryRecord
				if json.Unmarshal(v, &rec) == nil && len(rec.Requests) == 3 && rec.Transactions == uint64(s.LastSigned()) {
					history++
				}
				return true
			})
		}
		code, out := do(t, u, "GET", addrs[0]+"/gov/service/info", "")
		if history == 3 && code == 200 && out["status"] == "Open" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recovery record on %d nodes; the service: %d %v", history, code, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, id := range []string{first, newID} {
		code, out := do(t, u, "GET", addrs[2]+"/app/transactions/"+id+"/receipt", "")
		if code != 200 {
			t.Fatalf("receipt of %s: %d %v", id, code, out)
		}
		rb, _ := json.Marshal(out["receipt"])
		r, err := receipt.Parse(rb)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Verify(newSvc); err != nil {
			t.Fatalf("the receipt of %s against the new service certificate: %v", id, err)
		}
	}
}

func memberIDOf(t *testing.T, dir, member string) string {
	certPEM, _ := os.ReadFile(filepath.Join(dir, member+"_cert.pem"))
	cert, err := identity.ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return gov.MemberID(cert)
}
