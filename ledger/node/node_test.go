package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/atls"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/kv"
	"github.com/confide/confide/ledger/merkle"
)

// netCluster runs nodes with their loops and TLS transports on loopback.
type netCluster struct {
	*cluster
	atls  func(id uint64) *atls.Config
	nodes map[uint64]*Node
	trs   map[uint64]*Transport
	addrs map[uint64]string
}

func newNetCluster(t *testing.T, n int, link ...func(uint64) *atls.Config) *netCluster {
	c := newCluster(t, 0)
	nc := &netCluster{cluster: c, nodes: map[uint64]*Node{}, trs: map[uint64]*Transport{}, addrs: map[uint64]string{}}
	if len(link) > 0 {
		nc.atls = link[0]
	}
	var peers []uint64
	for i := 1; i <= n; i++ {
		peers = append(peers, uint64(i))
		id, err := identity.NewNode(c.service)
		if err != nil {
			t.Fatal(err)
		}
		c.ids[uint64(i)] = id
	}
	for _, id := range peers {
		nc.startNode(id, peers)
	}
	t.Cleanup(func() {
		for id := range nc.nodes {
			nc.stopNode(id)
		}
	})
	return nc
}

func (nc *netCluster) startNode(id uint64, peers []uint64) {
	t := nc.t
	t.Helper()
	dir := filepath.Join(nc.dir, fmt.Sprint(id))
	os.MkdirAll(dir, 0o700)
	cfg := nc.config(id, peers)
	cfg.SignInterval = 20 * time.Millisecond
	cfg.SignEvery = 1000
	core, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var node *Node
	ready := make(chan struct{})
	addr := nc.addrs[id]
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	link := &Link{Self: nc.ids[id], Service: nc.service.Cert}
	if nc.atls != nil {
		link.ATLS = nc.atls(id)
	}
	tr, err := Listen(addr, link, func(m pb.Message) {
		<-ready
		node.Receive(m)
	})
	if err != nil {
		t.Fatal(err)
	}
	nc.addrs[id] = tr.Addr()
	node = Start(core, tr)
	close(ready)
	nc.nodes[id], nc.trs[id] = node, tr
	for other, a := range nc.addrs {
		if other != id {
			tr.SetPeer(other, a)
			if ot := nc.trs[other]; ot != nil {
				ot.SetPeer(id, tr.Addr())
			}
		}
	}
}

func (nc *netCluster) stopNode(id uint64) {
	nc.trs[id].Close()
	if err := nc.nodes[id].Stop(); err != nil {
		nc.t.Errorf("node %d: %v", id, err)
	}
	delete(nc.nodes, id)
	delete(nc.trs, id)
}

func (nc *netCluster) primary() uint64 {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for id, n := range nc.nodes {
			var p bool
			n.With(func(c *Core) { p = c.IsPrimary() })
			if p {
				return id
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	nc.t.Fatal("no primary")
	return 0
}

func TestNetwork(t *testing.T) { testNetwork(t, newNetCluster(t, 3)) }

// TestAttestedNetwork: the same over attested TLS, every node an enclave
// of the in-test simulated platform checked against a same-code policy.
func TestAttestedNetwork(t *testing.T) {
	p := simtest.Start(t)
	v := &attest.Verifier{Backends: map[string]enclave.Verifier{"sim": p.Verifier()}}
	id, err := p.Client.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pol, err := SameCodePolicy(id)
	if err != nil {
		t.Fatal(err)
	}
	testNetwork(t, newNetCluster(t, 3, func(uint64) *atls.Config {
		return &atls.Config{Attester: p.Client, Verifier: v, Policy: pol}
	}))
}

func testNetwork(t *testing.T, nc *netCluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	write := func(p uint64, k string) (entry.TxID, error) {
		return nc.nodes[p].Execute(ctx, func(tx *kv.Tx, id entry.TxID) (*merkle.Hash, error) {
			tx.Put("records", []byte(k), []byte(id.String()))
			return nil, nil
		})
	}
	p := nc.primary()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var done []entry.TxID
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				id, err := write(p, fmt.Sprint(w, "-", i))
				if err != nil {
					t.Error(err)
					return
				}
				if s, err := nc.nodes[p].Wait(ctx, id); err != nil || s != Committed {
					t.Errorf("%s: %v %v", id, s, err)
					return
				}
				mu.Lock()
				done = append(done, id)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(done) != 320 {
		t.Fatalf("%d committed", len(done))
	}

	// The primary goes; another is elected and writes continue; nothing
	// committed is lost.
	nc.stopNode(p)
	if _, err := write(p%3+1, "x"); err != nil && !errors.Is(err, ErrNotPrimary) {
		t.Fatal(err)
	}
	q := nc.primary()
	id, err := write(q, "after")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := nc.nodes[q].Wait(ctx, id); s != Committed {
		t.Fatalf("after failover: %v %v", s, err)
	}
	for _, tx := range done {
		var s Status
		nc.nodes[q].With(func(c *Core) { s = c.Status(tx) })
		if s != Committed {
			t.Fatalf("%s is %v after failover", tx, s)
		}
	}
	nc.startNode(p, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var s Status
		nc.nodes[p].With(func(c *Core) { s = c.Status(id) })
		if s == Committed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("restarted node does not catch up")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A waiter whose transaction does not commit (here one the ledger will
// not reach) is answered at its deadline, at the loop's next tick, not
// before.
func TestWaitExpires(t *testing.T) {
	nc := newNetCluster(t, 3)
	p := nc.primary()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var view uint64
	nc.nodes[p].With(func(c *Core) { view = c.View() })
	deadline := time.Now().Add(100 * time.Millisecond)
	s, err := nc.nodes[p].WaitUntil(ctx, entry.TxID{View: view, Seqno: 1 << 40}, deadline)
	if !errors.Is(err, ErrWaitExpired) || s != Pending {
		t.Fatalf("%v %v, want Pending and ErrWaitExpired", s, err)
	}
	if time.Now().Before(deadline) {
		t.Fatal("answered before its deadline")
	}
	// No waiter is left behind.
	nc.nodes[p].wmu.Lock()
	defer nc.nodes[p].wmu.Unlock()
	if len(nc.nodes[p].waiters) != 0 {
		t.Fatalf("%d waiters left", len(nc.nodes[p].waiters))
	}
}
