package node

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/files"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/kv"
	"github.com/confide/confide/ledger/merkle"
)

// cluster is a deterministic network of cores: messages are delivered
// when the test says so, and dropped to or from nodes that are down or
// cut off.
type cluster struct {
	t       *testing.T
	dir     string
	secret  *entry.Secret
	service *identity.Identity
	ids     map[uint64]*identity.Identity
	cores   map[uint64]*Core
	cut     map[uint64]bool
	queue   []pb.Message
	now     time.Time
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	svc, err := identity.NewService("test")
	if err != nil {
		t.Fatal(err)
	}
	sec, _ := entry.NewSecret(bytes.Repeat([]byte{3}, 32))
	c := &cluster{t: t, dir: t.TempDir(), secret: sec, service: svc, ids: map[uint64]*identity.Identity{},
		cores: map[uint64]*Core{}, cut: map[uint64]bool{}, now: time.Unix(1e9, 0)}
	var peers []uint64
	for i := 1; i <= n; i++ {
		peers = append(peers, uint64(i))
	}
	for _, id := range peers {
		if c.ids[id], err = identity.NewNode(svc); err != nil {
			t.Fatal(err)
		}
		c.start(id, peers)
	}
	t.Cleanup(func() {
		for _, core := range c.cores {
			core.Close()
		}
	})
	return c
}

func (c *cluster) config(id uint64, peers []uint64) Config {
	// Each node its own keyring (a rekey adds to it), from the first secret.
	sec, err := entry.NewKeyring(c.secret.Epochs()[:1])
	if err != nil {
		c.t.Fatal(err)
	}
	return Config{ID: id, Dir: filepath.Join(c.dir, fmt.Sprint(id)), Secret: sec, Node: c.ids[id],
		Service: c.service.Cert, Bootstrap: peers, SignEvery: 1 << 30, SignInterval: time.Hour}
}

func (c *cluster) start(id uint64, peers []uint64) {
	c.t.Helper()
	os.MkdirAll(filepath.Join(c.dir, fmt.Sprint(id)), 0o700)
	core, err := Open(c.config(id, peers))
	if err != nil {
		c.t.Fatalf("start %d: %v", id, err)
	}
	c.cores[id] = core
}

// kill stops a node as kill -9 would: nothing more is written.
func (c *cluster) kill(id uint64) {
	c.cores[id].Close()
	delete(c.cores, id)
}

// settle processes and delivers messages until the network is quiet.
func (c *cluster) settle() {
	c.t.Helper()
	for range 1000 {
		for _, id := range c.order() {
			// Snapshots encoded off the loop, finished as the node's
			// loop would.
			if err := c.cores[id].FinishSnapshots(); err != nil {
				c.t.Fatalf("node %d: %v", id, err)
			}
			if err := c.cores[id].Process(); err != nil {
				c.t.Fatalf("node %d: %v", id, err)
			}
			c.queue = append(c.queue, c.cores[id].Messages()...)
		}
		if len(c.queue) == 0 {
			return
		}
		q := c.queue
		c.queue = nil
		for _, m := range q {
			to := c.cores[m.To]
			if to == nil || c.cut[m.To] || c.cut[m.From] {
				if m.Type == pb.MsgSnap && c.cores[m.From] != nil {
					c.cores[m.From].rn.ReportSnapshot(m.To, raft.SnapshotFailure)
				}
				continue
			}
			to.Step(m)
			if m.Type == pb.MsgSnap && c.cores[m.From] != nil {
				// The transport reports a snapshot sent, as the real one does.
				c.cores[m.From].rn.ReportSnapshot(m.To, raft.SnapshotFinish)
			}
		}
	}
	c.t.Fatal("the network does not settle")
}

func (c *cluster) order() []uint64 {
	var ids []uint64
	for id := uint64(1); id <= uint64(len(c.ids)); id++ {
		if c.cores[id] != nil && c.ids[id] != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// elect makes id the primary.
func (c *cluster) elect(id uint64) {
	c.t.Helper()
	c.settle()
	if c.cores[id].IsPrimary() {
		return
	}
	// Let every reachable node's leader lease run out without ticking
	// (which would start elections at random), so that they vote.
	for _, n := range c.order() {
		if !c.cut[n] {
			for range c.cores[n].cfg.ElectionTicks {
				c.cores[n].rn.TickQuiesced()
			}
		}
	}
	if err := c.cores[id].Campaign(); err != nil {
		c.t.Fatal(err)
	}
	c.settle()
	if !c.cores[id].IsPrimary() {
		c.t.Fatalf("node %d did not become primary", id)
	}
}

func (c *cluster) put(id uint64, k, v string) entry.TxID {
	c.t.Helper()
	tx, err := c.cores[id].Execute(func(tx *kv.Tx, _ entry.TxID) (*merkle.Hash, error) {
		tx.Put("records", []byte(k), []byte(v))
		tx.Put("public:index", []byte(k), []byte("set"))
		return nil, nil
	})
	if err != nil {
		c.t.Fatalf("put on %d: %v", id, err)
	}
	return tx
}

func (c *cluster) sign(id uint64) {
	c.t.Helper()
	c.now = c.now.Add(time.Millisecond)
	if err := c.cores[id].Sign(c.now); err != nil {
		c.t.Fatal(err)
	}
	// A snapshot's evidence follows its signature, once encoded.
	if err := c.cores[id].FinishSnapshots(); err != nil {
		c.t.Fatal(err)
	}
}

func frameDataEnd(b []byte) int { _, end := files.FrameOffsets(b); return int(end) }

func get(core *Core, k string) string {
	v, _ := core.Store().Get("records", []byte(k))
	return string(v)
}

func TestCommitAndReceipts(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		t.Run(fmt.Sprint(n, " nodes"), func(t *testing.T) {
			c := newCluster(t, n)
			c.elect(1)
			var txs []entry.TxID
			for i := range 10 {
				txs = append(txs, c.put(1, fmt.Sprint("k", i), fmt.Sprint("v", i)))
			}
			c.settle()
			// Replicated and committed by raft, but no signature yet.
			if s := c.cores[1].Status(txs[0]); s != Pending {
				t.Fatalf("before a signature: %v", s)
			}
			if _, err := c.cores[1].Receipt(txs[0].Seqno); !errors.Is(err, ErrNotYet) {
				t.Fatalf("receipt before a signature: %v", err)
			}
			c.sign(1)
			c.settle()
			for _, id := range c.order() {
				core := c.cores[id]
				if get(core, "k7") != "v7" {
					t.Fatalf("node %d misses a write", id)
				}
				for _, tx := range txs {
					if s := core.Status(tx); s != Committed {
						t.Fatalf("node %d: %s is %v", id, tx, s)
					}
					r, err := core.Receipt(tx.Seqno)
					if err != nil {
						t.Fatal(err)
					}
					if err := r.Verify(c.service.Cert); err != nil {
						t.Fatalf("node %d: receipt of %s: %v", id, tx, err)
					}
				}
			}
			// A view or seqno that never held the transaction.
			if s := c.cores[1].Status(entry.TxID{View: txs[0].View + 1, Seqno: txs[0].Seqno}); s != Unknown && s != Invalid {
				t.Fatalf("unknown transaction: %v", s)
			}
			if s := c.cores[1].Status(entry.TxID{View: txs[0].View - 1, Seqno: txs[0].Seqno}); s != Invalid {
				t.Fatalf("earlier view: %v", s)
			}
			// The committed chunk files are byte-identical on every node.
			if n > 1 {
				c.put(1, "x", "y")
				c.cores[1].cfg.ChunkBytes = 1
				c.sign(1)
				c.settle()
				c.put(1, "z", "w")
				c.sign(1)
				c.settle()
				first := c.cores[1].CommittedChunks()
				if len(first) == 0 {
					t.Fatal("no committed chunk")
				}
				want, _ := os.ReadFile(first[0])
				for _, id := range c.order()[1:] {
					got := c.cores[id].CommittedChunks()
					if len(got) != len(first) {
						t.Fatalf("node %d has %d committed chunks, node 1 %d", id, len(got), len(first))
					}
					b, _ := os.ReadFile(got[0])
					if filepath.Base(got[0]) != filepath.Base(first[0]) || !bytes.Equal(b, want) {
						t.Fatalf("node %d's %s differs", id, filepath.Base(got[0]))
					}
				}
			}
		})
	}
}

// TestRollbackOnNewPrimary: a primary cut off with uncommitted writes is
// replaced; when it returns, its tail is overwritten, its store rolled
// back, and its transactions become Invalid.
func TestRollbackOnNewPrimary(t *testing.T) {
	c := newCluster(t, 3)
	c.elect(1)
	committed := c.put(1, "a", "1")
	c.sign(1)
	c.settle()
	c.cut[1] = true
	lost := c.put(1, "a", "lost")
	c.put(1, "b", "lost")
	c.sign(1)
	c.settle()
	if s := c.cores[1].Status(lost); s != Pending {
		t.Fatalf("isolated primary's write: %v", s)
	}
	// Nodes 2 and 3 stop hearing from the primary and elect one of them.
	p := uint64(0)
	for range 100 {
		c.cores[2].Tick()
		c.cores[3].Tick()
		c.settle()
		if c.cores[2].IsPrimary() {
			p = 2
		} else if c.cores[3].IsPrimary() {
			p = 3
		}
		if p != 0 {
			break
		}
	}
	if p == 0 {
		t.Fatal("no new primary")
	}
	kept := c.put(p, "a", "2")
	c.sign(p)
	c.settle()
	delete(c.cut, 1)
	c.settle()
	// Heartbeats bring node 1 back as a follower.
	for range 3 {
		c.cores[p].Tick()
		c.settle()
	}
	for _, id := range c.order() {
		core := c.cores[id]
		if get(core, "a") != "2" || get(core, "b") != "" {
			t.Fatalf("node %d: a=%q b=%q", id, get(core, "a"), get(core, "b"))
		}
		if s := core.Status(lost); s != Invalid {
			t.Fatalf("node %d: lost write is %v", id, s)
		}
		if s := core.Status(committed); s != Committed {
			t.Fatalf("node %d: committed write is %v", id, s)
		}
		if s := core.Status(kept); s != Committed {
			t.Fatalf("node %d: new primary's write is %v", id, s)
		}
		r, err := core.Receipt(kept.Seqno)
		if err != nil || r.Verify(c.service.Cert) != nil {
			t.Fatalf("node %d: receipt: %v", id, err)
		}
	}
	if c.cores[1].Last() != c.cores[p].Last() {
		t.Fatalf("node 1 holds %d entries, node %d %d", c.cores[1].Last(), p, c.cores[p].Last())
	}
}

// TestRestart: a node killed and restarted replays its files and
// catches up, and a tampered file stops it.
func TestRestart(t *testing.T) {
	c := newCluster(t, 3)
	c.elect(1)
	for i := range 20 {
		c.put(1, fmt.Sprint("k", i), fmt.Sprint(i))
		if i%5 == 4 {
			c.sign(1)
		}
	}
	c.settle()
	c.kill(3)
	var txs []entry.TxID
	for i := range 10 {
		txs = append(txs, c.put(1, fmt.Sprint("later", i), "x"))
	}
	c.sign(1)
	c.settle()
	c.start(3, nil)
	c.settle()
	for range 3 {
		c.cores[1].Tick()
		c.settle()
	}
	if get(c.cores[3], "later9") != "x" || c.cores[3].Status(txs[9]) != Committed {
		t.Fatalf("restarted node did not catch up: %v", c.cores[3].Status(txs[9]))
	}
	r, err := c.cores[3].Receipt(txs[3].Seqno)
	if err != nil || r.Verify(c.service.Cert) != nil {
		t.Fatalf("receipt from the restarted node: %v", err)
	}

	// Restarting the primary too: the network elects again and goes on.
	c.kill(1)
	c.start(1, nil)
	c.elect(2)
	tx := c.put(2, "after", "restart")
	c.sign(2)
	c.settle()
	if c.cores[1].Status(tx) != Committed || get(c.cores[1], "k3") != "3" {
		t.Fatal("restarted primary lost state")
	}

	// A flipped byte in a committed chunk stops the node's restart.
	c.kill(3)
	dir := filepath.Join(c.dir, "3", "ledger")
	es, _ := os.ReadDir(dir)
	p := filepath.Join(dir, es[0].Name())
	b, _ := os.ReadFile(p)
	b[frameDataEnd(b)-5] ^= 1
	os.WriteFile(p, b, 0o600)
	if _, err := Open(c.config(3, nil)); !errors.Is(err, ErrTampered) && !errors.Is(err, files.ErrCorrupt) {
		t.Fatalf("restart on a tampered file: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	c := newCluster(t, 3)
	c.elect(1)
	if _, err := c.cores[2].Execute(func(tx *kv.Tx, _ entry.TxID) (*merkle.Hash, error) {
		tx.Put("m", []byte("k"), []byte("v"))
		return nil, nil
	}); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("backup executed: %v", err)
	}
	if _, err := c.cores[1].Execute(func(tx *kv.Tx, _ entry.TxID) (*merkle.Hash, error) { return nil, nil }); !errors.Is(err, ErrNoWrites) {
		t.Fatalf("empty transaction: %v", err)
	}
	if _, err := c.cores[1].Execute(func(tx *kv.Tx, _ entry.TxID) (*merkle.Hash, error) {
		tx.Put(MapSignatures, []byte("k"), []byte("v"))
		return nil, nil
	}); !errors.Is(err, ErrReserved) {
		t.Fatalf("write to a reserved map: %v", err)
	}
	// Claims digests enter the leaf and the receipt.
	claims := merkle.Hash{1, 2, 3}
	tx, err := c.cores[1].Execute(func(tx *kv.Tx, _ entry.TxID) (*merkle.Hash, error) {
		tx.Put("m", []byte("k"), []byte("v"))
		return &claims, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.sign(1)
	c.settle()
	r, err := c.cores[2].Receipt(tx.Seqno)
	if err != nil || r.Verify(c.service.Cert) != nil || r.LeafComponents.ClaimsDigest[:6] != "010203" {
		t.Fatalf("receipt with claims: %v %+v", err, r)
	}
}

// Snapshots come every SnapshotEvery transactions until a tenth of the
// ledger is more: their size grows with the ledger, their cost per
// transaction must not.
func TestSnapshotInterval(t *testing.T) {
	c := &Core{cfg: Config{SnapshotEvery: 100}}
	for _, x := range []struct{ last, want uint64 }{{0, 100}, {999, 100}, {1000, 100}, {5000, 500}, {1_000_000, 100_000}} {
		c.lastSnap = x.last
		if got := c.snapshotInterval(); got != x.want {
			t.Errorf("after a snapshot at %d: every %d, want %d", x.last, got, x.want)
		}
	}
}
