package node

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/kv"
	"github.com/confide/confide/ledger/merkle"
)

// TickInterval is raft's tick: elections time out after ElectionTicks
// of them.
const TickInterval = 50 * time.Millisecond

// maxBatch bounds the transactions one turn of the loop executes, so
// that messages and ticks are not starved.
const maxBatch = 2048

// Sender delivers raft messages to peers; it must not block (it may drop:
// raft retransmits).
type Sender interface {
	Send(msgs []pb.Message)
}

// Node runs a Core: it ticks it, steps the messages peers send, executes
// transactions in batches (one raft round and one fsync for many), and
// tells waiting clients when their transactions commit.
type Node struct {
	mu      sync.Mutex
	core    *Core
	lastSig uint64
	last    uint64

	// wmu guards waiters; committed and tail are the commit point and
	// the last seqno as the loop last published them (see Wait).
	wmu             sync.Mutex
	waiters         []*waiter
	committed, tail atomic.Uint64

	historian func(seqno uint64)

	props  chan *proposal
	inbox  chan pb.Message
	snaps  chan snapReport
	sender Sender
	stop   chan struct{}
	done   chan struct{}
	err    error

	// lead is the primary's raft ID as the loop last saw it, and
	// leading whether that is this node: requests read them without
	// waiting for the lock the loop holds through its fsyncs.
	lead    atomic.Uint64
	leading atomic.Bool
}

type proposal struct {
	fn  func(tx *kv.Tx, id entry.TxID) (*merkle.Hash, error)
	id  entry.TxID
	err error
	ok  chan struct{}
}

// Start runs a node over an opened core until Stop.
func Start(core *Core, sender Sender) *Node {
	n := &Node{core: core, sender: sender,
		props: make(chan *proposal, 4096), inbox: make(chan pb.Message, 4096), snaps: make(chan snapReport, 64),
		stop: make(chan struct{}), done: make(chan struct{})}
	core.early = sender.Send
	n.publish()
	n.committed.Store(core.commitSig)
	n.tail.Store(core.Last())
	go n.run()
	return n
}

// Stop stops the loop and closes the core's files.
func (n *Node) Stop() error {
	select {
	case <-n.stop:
	default:
		close(n.stop)
	}
	<-n.done
	n.mu.Lock()
	defer n.mu.Unlock()
	n.core.Close()
	return n.err
}

type snapReport struct {
	to uint64
	ok bool
}

// SnapshotSent tells raft whether a snapshot message reached its peer
// (the transport's SnapshotSent).
func (n *Node) SnapshotSent(to uint64, ok bool) {
	select {
	case n.snaps <- snapReport{to, ok}:
	case <-n.done:
	}
}

// SetHistorian sets what fetches the committed chunk holding a seqno
// before the node's files (a node that joined from a snapshot).
func (n *Node) SetHistorian(fetch func(seqno uint64)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.historian = fetch
}

// WantHistorical asks for the chunk holding seqno to be fetched.
func (n *Node) WantHistorical(seqno uint64) {
	n.mu.Lock()
	h := n.historian
	n.mu.Unlock()
	if h != nil {
		h(seqno)
	}
}

// Receive hands the node a message from a peer (dropped if the node is
// too far behind: raft retransmits).
func (n *Node) Receive(m pb.Message) {
	select {
	case n.inbox <- m:
	default:
	}
}

// Execute runs fn as a transaction on this node, which must be the
// primary, and returns its ID once it is recorded (Pending).
func (n *Node) Execute(ctx context.Context, fn func(tx *kv.Tx, id entry.TxID) (*merkle.Hash, error)) (entry.TxID, error) {
	p := &proposal{fn: fn, ok: make(chan struct{})}
	select {
	case n.props <- p:
	case <-ctx.Done():
		return entry.TxID{}, ctx.Err()
	case <-n.done:
		return entry.TxID{}, errStopped
	}
	select {
	case <-p.ok:
		return p.id, p.err
	case <-n.done:
		return entry.TxID{}, errStopped
	}
}

var errStopped = errors.New("node: stopped")

// Wait blocks until a transaction is Committed or Invalid (or ctx ends)
// and returns its status. The loop resolves waiters as the commit point
// moves, so that a waiter needs no lock the loop holds through an fsync.
func (n *Node) Wait(ctx context.Context, id entry.TxID) (Status, error) {
	return n.WaitUntil(ctx, id, time.Time{})
}

// WaitUntil is Wait that gives up at deadline (zero: never) with
// ErrWaitExpired; the loop expires waiters at its ticks, which costs a
// request no timer of its own.
func (n *Node) WaitUntil(ctx context.Context, id entry.TxID, deadline time.Time) (Status, error) {
	w := &waiter{id: id, ch: make(chan Status, 1), deadline: deadline}
	// Registered first, then checked: notify publishes the commit point
	// and a shrunk tail under wmu before it resolves waiters, so either
	// it sees this waiter or this sees what it published. Only a
	// transaction at or before the commit point or past the tail (not
	// one just written) needs the loop's lock for its status.
	n.wmu.Lock()
	n.waiters = append(n.waiters, w)
	n.wmu.Unlock()
	if id.Seqno <= n.committed.Load() || id.Seqno > n.tail.Load() {
		n.mu.Lock()
		s := n.core.Status(id)
		n.mu.Unlock()
		if s == Committed || s == Invalid {
			n.forget(w)
			return s, nil
		}
	}
	select {
	case s := <-w.ch:
		if s == Pending {
			return s, ErrWaitExpired
		}
		return s, nil
	case <-ctx.Done():
		n.forget(w)
		return Pending, ctx.Err()
	case <-n.done:
		return Unknown, errStopped
	}
}

func (n *Node) forget(w *waiter) {
	n.wmu.Lock()
	n.waiters = slices.DeleteFunc(n.waiters, func(x *waiter) bool { return x == w })
	n.wmu.Unlock()
}

type waiter struct {
	id       entry.TxID
	ch       chan Status
	deadline time.Time
}

// ErrWaitExpired: WaitUntil's deadline passed first.
var ErrWaitExpired = errors.New("node: the transaction did not commit in time")

// expire answers the waiters whose deadline passed.
func (n *Node) expire(now time.Time) {
	n.wmu.Lock()
	defer n.wmu.Unlock()
	n.waiters = slices.DeleteFunc(n.waiters, func(w *waiter) bool {
		if !w.deadline.IsZero() && now.After(w.deadline) {
			w.ch <- Pending
			return true
		}
		return false
	})
}

// With runs fn with the core locked, for reads (status, receipts,
// entries).
func (n *Node) With(fn func(c *Core)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fn(n.core)
}

// Store is the node's state; reads need no lock.
func (n *Node) Store() *kv.Store { return n.core.kv }

// Err is the error that stopped the loop, if any.
func (n *Node) Err() error {
	select {
	case <-n.done:
		return n.err
	default:
		return nil
	}
}

func (n *Node) run() {
	defer close(n.done)
	tick := time.NewTicker(TickInterval)
	defer tick.Stop()
	signTimer := time.NewTimer(time.Hour)
	signTimer.Stop()
	signPending := false
	for {
		var err error
		executed := false
		// While the primary encodes a snapshot, whose evidence comes
		// next, transactions wait; raft's messages and ticks do not.
		n.mu.Lock()
		props, snapDone := n.props, n.core.SnapshotDone()
		if n.core.Snapshotting() {
			props = nil
		}
		n.mu.Unlock()
		select {
		case <-n.stop:
			return
		case <-snapDone:
			n.mu.Lock()
			err = n.core.FinishSnapshot()
		case <-signTimer.C:
			signPending = false
			n.mu.Lock()
		case r := <-n.snaps:
			n.mu.Lock()
			status := raft.SnapshotFinish
			if !r.ok {
				status = raft.SnapshotFailure
			}
			n.core.rn.ReportSnapshot(r.to, status)
		case now := <-tick.C:
			n.expire(now)
			n.mu.Lock()
			n.core.Tick()
			err = n.core.MaybeSign(time.Now())
		case m := <-n.inbox:
			n.mu.Lock()
			n.core.Step(m)
			for more := true; more; {
				select {
				case m := <-n.inbox:
					n.core.Step(m)
				default:
					more = false
				}
			}
		case p := <-props:
			n.mu.Lock()
			executed = true
			n.execute(p)
			for i := 1; i < maxBatch; i++ {
				select {
				case p := <-n.props:
					n.execute(p)
					continue
				default:
				}
				break
			}
		}
		// Raft's news first (a commit may end a signature's flight),
		// but a batch just executed goes out in one Ready with its
		// signature.
		if err == nil && !executed {
			err = n.core.Process()
		}
		// Out of work with transactions unsigned: sign now rather than
		// at the interval, so that they commit in one round — unless a
		// signature is still in flight and went out less than
		// SignMinGap ago: then when it commits or the gap ends, so that
		// batches under load share one signature.
		if err == nil && len(n.props) == 0 && n.core.Unsigned() > 0 && n.core.IsPrimary() {
			now := time.Now()
			if at := n.core.SignAt(now); !at.After(now) {
				err = n.core.Sign(now)
			} else if !signPending {
				signPending = true
				signTimer.Reset(at.Sub(now))
			}
		}
		if err == nil {
			err = n.core.Process()
		}
		msgs := n.core.Messages()
		n.notify()
		n.publish()
		n.mu.Unlock()
		if err != nil {
			n.err = err
			return
		}
		if len(msgs) > 0 {
			n.sender.Send(msgs)
		}
	}
}

// publish records who leads, for Primary.
func (n *Node) publish() {
	st := n.core.rn.BasicStatus()
	n.lead.Store(st.Lead)
	n.leading.Store(st.RaftState == raft.StateLeader)
}

// Primary is the raft ID of the primary as this node last knew it (0:
// none known) and whether it is this node. It may be a moment out of
// date; Execute refuses a transaction on a node that is not primary.
func (n *Node) Primary() (id uint64, self bool) {
	return n.lead.Load(), n.leading.Load()
}

func (n *Node) execute(p *proposal) {
	p.id, p.err = n.core.Execute(p.fn)
	n.tail.Store(n.core.Last())
	close(p.ok)
}

// notify resolves waiters when the commit point moved or the tail
// shrank (a rollback).
func (n *Node) notify() {
	last := n.core.Last()
	n.tail.Store(last)
	if n.core.commitSig != n.lastSig || last < n.last {
		n.wmu.Lock()
		defer n.wmu.Unlock()
		n.committed.Store(n.core.commitSig)
		n.tail.Store(last)
		n.waiters = slices.DeleteFunc(n.waiters, func(w *waiter) bool {
			if s := n.core.Status(w.id); s == Committed || s == Invalid {
				w.ch <- s
				return true
			}
			return false
		})
	}
	n.lastSig, n.last = n.core.commitSig, n.core.Last()
}
