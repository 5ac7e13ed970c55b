package network_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/gov"
	"github.com/confide/confide/ledger/node"
	"github.com/confide/confide/ledger/sandbox"
)

// TestRekey: governance asks for a rekey; every node then seals new
// transactions under the new secret (entries after it do not open with
// the first secret alone), a node restarts with it, and the recovery
// material wraps both secrets.
func TestRekey(t *testing.T) {
	tn := startOpts(t, sandbox.Options{Nodes: 3, SignIntervalMS: 10})
	svcPEM, _ := os.ReadFile(filepath.Join(tn.dir, sandbox.ServiceCert))
	user := client(t, tn.dir, "user0", svcPEM)
	base := "https://" + tn.config(1).RPCAddr
	write := func(i int) string {
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, out := do(t, user, "POST", base+"/app/transactions?collection_id=k", fmt.Sprintf(`{"contents":"secret report %d"}`, i))
			if code == 200 {
				return out["transaction_id"].(string)
			}
			if time.Now().After(deadline) {
				t.Fatalf("write: %d %v", code, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	write(0)
	m := memberSigner(t, tn)
	prop := m.propose(t, "member0", `{"actions": [{"name": "trigger_ledger_rekey"}]}`)
	m.vote(t, "member1", prop)
	if st := m.vote(t, "member2", prop); st != "Accepted" {
		t.Fatalf("rekey proposal: %s", st)
	}
	epochs := func(id uint64) []entry.Epoch {
		var es []entry.Epoch
		tn.running[id].Node.With(func(c *node.Core) { es = c.Secret().Epochs() })
		return es
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(epochs(1)) < 2 || len(epochs(2)) < 2 || len(epochs(3)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("not rekeyed: %d %d %d secrets", len(epochs(1)), len(epochs(2)), len(epochs(3)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	es := epochs(1)
	if string(es[0].Secret) == string(es[1].Secret) || string(epochs(3)[1].Secret) != string(es[1].Secret) {
		t.Fatal("the nodes do not share one new secret")
	}
	after := write(1)
	// The entry after the rekey opens with the keyring, not with the first
	// secret alone.
	var b []byte
	id := mustTxID(t, after)
	deadline = time.Now().Add(5 * time.Second)
	for b == nil && time.Now().Before(deadline) {
		tn.running[2].Node.With(func(c *node.Core) { _, b, _ = c.Entry(id.Seqno) })
		time.Sleep(20 * time.Millisecond)
	}
	if b == nil {
		t.Fatal("no entry bytes")
	}
	first, _ := entry.NewSecret(es[0].Secret)
	if _, err := first.Decode(b); !errors.Is(err, entry.ErrAuth) {
		t.Fatalf("the first secret opened a rekeyed entry: %v", err)
	}
	ring, _ := entry.NewKeyring(es)
	if e, err := ring.Decode(b); err != nil || e.TxID.Seqno < es[1].From {
		t.Fatalf("the keyring: %v", err)
	}
	// A node restarts with both secrets (they were sealed).
	tn.running[3].Stop()
	delete(tn.running, 3)
	tn.startNode(3)
	if len(epochs(3)) != 2 {
		t.Fatalf("the restarted node holds %d secrets", len(epochs(3)))
	}
	// The recovery material wraps the keyring.
	var wrapped []byte
	deadline = time.Now().Add(5 * time.Second)
	for {
		var ws gov.WrappedSecret
		w, ok := tn.running[1].Node.Store().Get(gov.MapWrappedSecret, []byte("current"))
		if ok && json.Unmarshal(w, &ws) == nil {
			if plain := recoverWith(t, tn, w, "member0"); plain != nil {
				var ring []entry.Epoch
				json.Unmarshal(plain, &ring)
				if len(ring) == 2 {
					wrapped = w
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the recovery material does not wrap both secrets")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = wrapped
}

// recoverWith recovers the wrapped secrets with members' shares (the
// sandbox's threshold is 1).
func recoverWith(t *testing.T, tn *testNet, wrapped []byte, members ...string) []byte {
	var shares [][]byte
	for _, name := range members {
		keyPEM, _ := os.ReadFile(filepath.Join(tn.dir, name+"_enc_privk.pem"))
		blk, _ := pem.Decode(keyPEM)
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certPEM, _ := os.ReadFile(filepath.Join(tn.dir, name+"_cert.pem"))
		blk, _ = pem.Decode(certPEM)
		cert, _ := x509.ParseCertificate(blk.Bytes)
		enc, ok := tn.running[1].Node.Store().Get(gov.MapRecoveryShares, []byte(gov.MemberID(cert)))
		if !ok {
			return nil
		}
		share, err := gov.DecryptShare(k.(*rsa.PrivateKey), string(enc))
		if err != nil {
			return nil
		}
		shares = append(shares, share)
	}
	plain, err := gov.Recover(wrapped, shares)
	if err != nil {
		return nil
	}
	return plain
}

func mustTxID(t *testing.T, s string) entry.TxID {
	id, err := entry.ParseTxID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
