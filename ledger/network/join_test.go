package network_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confide/confide/ledger/network"
	"github.com/confide/confide/ledger/node"
	"github.com/confide/confide/ledger/receipt"
	"github.com/confide/confide/ledger/sandbox"
)

// TestJoinFromSnapshot: a node added to a running network with an empty
// directory receives the newest committed snapshot (the primary keeps
// only a few entries before it in memory), catches up, and answers
// historical reads of transactions before its snapshot by fetching the
// committed chunk from a peer (202 until then), checked against its tree.
func TestJoinFromSnapshot(t *testing.T) {
	tn := startOpts(t, sandbox.Options{Nodes: 3, Spares: 1, SignIntervalMS: 10, SnapshotEvery: 20, CompactKeep: 5})
	svcPEM, _ := os.ReadFile(filepath.Join(tn.dir, sandbox.ServiceCert))
	user := client(t, tn.dir, "user0", svcPEM)
	addr := func(id uint64) string { return "https://" + tn.config(id).RPCAddr }
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 20 s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	eventually("users", func() bool { code, _ := do(t, user, "GET", addr(1)+"/app/collections", ""); return code == 200 })
	var first string
	for i := range 60 {
		code, out := do(t, user, "POST", addr(1)+"/app/transactions?wait=committed", fmt.Sprintf(`{"contents":"early %d"}`, i))
		if code != 200 {
			t.Fatalf("post: %d %v", code, out)
		}
		if i == 0 {
			first = out["transaction_id"].(string)
		}
	}
	eventually("a committed snapshot", func() bool {
		ss, _ := filepath.Glob(filepath.Join(tn.dir, "nodes", "*", "snapshots", "snapshot_*.committed"))
		return len(ss) >= 3
	})

	// Node 4 starts empty and the primary adds it.
	tn.startNode(4)
	var primary *network.Running
	eventually("a primary", func() bool {
		for _, id := range []uint64{1, 2, 3} {
			var p bool
			tn.running[id].Node.With(func(c *node.Core) { p = c.IsPrimary() })
			if p {
				primary = tn.running[id]
				return true
			}
		}
		return false
	})
	var err error
	primary.Node.With(func(c *node.Core) { err = c.ChangeVoters(4, true) })
	if err != nil {
		t.Fatal(err)
	}
	code, out := do(t, user, "POST", addr(1)+"/app/transactions?wait=committed", `{"contents":"after the join"}`)
	if code != 200 {
		t.Fatalf("post: %d %v", code, out)
	}
	late := out["transaction_id"].(string)
	eventually("node 4 catches up", func() bool {
		_, st := do(t, user, "GET", addr(4)+"/app/tx?transaction_id="+late, "")
		return st["status"] == "Committed"
	})
	var base uint64
	tn.running[4].Node.With(func(c *node.Core) { base = c.HistoricalBase() })
	if base == 0 {
		t.Fatal("node 4 replayed the whole ledger instead of taking a snapshot")
	}
	// The first transaction precedes node 4's snapshot: 202 while the
	// chunk is fetched, then the entry and a verifying receipt.
	code, _ = do(t, user, "GET", addr(4)+"/app/transactions/"+first, "")
	if code != http.StatusAccepted && code != 200 {
		t.Fatalf("historical read: %d", code)
	}
	var got map[string]any
	eventually("the historical entry", func() bool {
		code, got = do(t, user, "GET", addr(4)+"/app/transactions/"+first, "")
		return code == 200
	})
	if c := got["entry"].(map[string]any)["contents"]; c != "early 0" {
		t.Fatalf("historical entry: %v", c)
	}
	eventually("the historical receipt", func() bool {
		code, got = do(t, user, "GET", addr(4)+"/app/transactions/"+first+"/receipt", "")
		return code == 200
	})
	rb, _ := json.Marshal(got["receipt"])
	r, err := receipt.Parse(rb)
	if err != nil || r.Verify(tn.svc) != nil {
		t.Fatalf("historical receipt: %v", err)
	}
	// Users cannot use the nodes' chunk endpoints.
	if code, _ := do(t, user, "GET", addr(1)+"/node/chunks", ""); code != http.StatusForbidden {
		t.Fatalf("a user on /node/chunks: %d", code)
	}
}
