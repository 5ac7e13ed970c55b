package node

import (
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/files"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/kv"
	"github.com/confide/confide/ledger/merkle"
	"github.com/confide/confide/ledger/receipt"
)

// Maps the node itself writes (spec/ledger-node.md). Apps may not write
// maps under ReservedPrefix.
const (
	ReservedPrefix = "public:confide."
	// GovernancePrefix is the part of the reserved namespace that the
	// governance app writes (package gov): its maps are governance's, and
	// the app framework keeps other apps out of them.
	GovernancePrefix = "public:confide.gov."
	// SnapshotRequests is where governance records a request for a
	// snapshot (the requesting proposal's ID under the key "snapshot",
	// spec/ledger-governance.md): the primary snapshots at its next
	// signature after the value changes.
	SnapshotRequests = "public:confide.gov.requests"
	MapSignatures    = "public:confide.signatures"
	// MapNodes holds the nodes' certificates (PEM) by node ID, written by
	// a node's first signature transaction.
	MapNodes = "public:confide.nodes"
	MapRaft  = "public:confide.raft"
	// MapSecrets holds a rekey's new ledger secret (private, so sealed
	// under the secret in effect at the rekey transaction): key the seqno
	// it takes effect from (decimal, the rekey's seqno + 1), value the
	// 32-byte secret.
	MapSecrets = "confide.secrets"
)

// Errors.
var (
	ErrNotPrimary = errors.New("node: not the primary")
	ErrNoWrites   = errors.New("node: the transaction writes nothing")
	ErrReserved   = errors.New("node: apps may not write the node's own maps")
	ErrNotYet     = errors.New("node: no committed signature covers the transaction yet")
	ErrTampered   = errors.New("node: the ledger does not verify")
)

// Status is a transaction's status.
type Status int

// Statuses, as CCF names them.
const (
	Unknown Status = iota
	Pending
	Committed
	Invalid
)

func (s Status) String() string {
	return [...]string{"Unknown", "Pending", "Committed", "Invalid"}[s]
}

// Config configures a node.
type Config struct {
	// ID is the node's raft ID, not 0.
	ID  uint64
	Dir string
	// Secret is the ledger secret (its keyring).
	Secret *entry.Secret
	// OnSecret, if set, is told of a secret a rekey adds, so that the
	// node can seal it with its other secrets.
	OnSecret func(entry.Epoch)
	// Endorsements, after a disaster recovery, chain the service to the
	// previous service identities (identity.EndorsePrevious, newest
	// first): signatures by their nodes verify, and receipts carry them.
	Endorsements []*x509.Certificate
	// Node is the node's identity, endorsed by Service.
	Node    *identity.Identity
	Service *x509.Certificate
	// Bootstrap, for a directory without a ledger, starts a new network
	// with these voters. Without it such a node waits to be added.
	Bootstrap []uint64
	// The primary signs after SignEvery transactions or SignInterval,
	// whichever comes first (defaults 5,000 and 50 ms), and when it has
	// nothing more to execute (see Core.Sign).
	SignEvery    int
	SignInterval time.Duration
	// SignMinGap is the least time between the signatures the loop
	// writes when it runs out of work (default 300 µs): under load, many
	// batches share one signature, which every backup verifies.
	SignMinGap time.Duration
	// ChunkBytes: the primary ends a chunk at the first signature after
	// the chunk reaches this size (default 4 MiB).
	ChunkBytes int64
	// SnapshotEvery: the primary snapshots the state after this many
	// transactions, or after a tenth of the ledger once that is more
	// (0: never). A snapshot ends a chunk and its evidence starts the
	// next.
	SnapshotEvery uint64
	// CompactKeep is how many entries before the newest committed
	// snapshot raft keeps in memory for backups that lag (default
	// 1,000); one further behind receives the snapshot.
	CompactKeep uint64
	// ElectionTicks and HeartbeatTicks are raft's (defaults 10 and 1).
	ElectionTicks, HeartbeatTicks int
	// Logger logs raft's messages (default: discard).
	Logger raft.Logger
}

func (c *Config) defaults() {
	if c.SignEvery == 0 {
		c.SignEvery = 5000
	}
	if c.SignInterval == 0 {
		c.SignInterval = 50 * time.Millisecond
	}
	if c.CompactKeep == 0 {
		c.CompactKeep = 1000
	}
	if c.SignMinGap == 0 {
		c.SignMinGap = 300 * time.Microsecond
	}
	if c.ChunkBytes == 0 {
		c.ChunkBytes = 4 << 20
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = 1
	}
	if c.Logger == nil {
		c.Logger = &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}
	}
}

// storage is raft's log: MemoryStorage with the configuration that
// replaying the ledger found, since no snapshot holds it.
type storage struct {
	*raft.MemoryStorage
	cs pb.ConfState
	// current is raft's configuration as the node last applied it.
	current *pb.ConfState
}

// Snapshot is the newest committed snapshot with the configuration as
// it is now, not as it was at the snapshot's seqno: a node added after
// the snapshot must find itself in it, or raft refuses it (etcd sends
// merged snapshots for the same reason). The configuration changes after
// the snapshot then apply again, which changes nothing.
func (s *storage) Snapshot() (pb.Snapshot, error) {
	snap, err := s.MemoryStorage.Snapshot()
	if err == nil && s.current != nil && !raft.IsEmptySnap(snap) {
		snap.Metadata.ConfState = *s.current
	}
	return snap, err
}

func (s *storage) InitialState() (pb.HardState, pb.ConfState, error) {
	hs, _, err := s.MemoryStorage.InitialState()
	return hs, s.cs, err
}

// Core is a ledger node's state machine: raft, the ledger files, the
// Merkle tree and the store, without goroutines, clocks or network (the
// caller ticks it, steps messages into it and sends what it returns), so
// that tests drive it deterministically. It is not safe for concurrent
// use; its Store is.
type Core struct {
	cfg   Config
	rn    *raft.RawNode
	ms    *storage
	files *files.Ledger
	tree  merkle.Tree
	views []uint64 // views[s-1]: the view of the entry at seqno s
	kv    *kv.Store
	hs    pb.HardState // as last written to disk

	sigs       []uint64 // seqnos of signature transactions
	commitSig  uint64   // the last raft-committed signature: the service's commit point
	raftCommit uint64
	lastSign   time.Time
	chunk      int64 // bytes in the current chunk
	out        []pb.Message
	// early, if set, takes a leader's messages before its entries are
	// durable (see Process).
	early func([]pb.Message)
	// certs caches node certificates already checked against the
	// service, by PEM: a backup checks every signature transaction.
	certs map[string]*ecdsa.PublicKey
	// leaderTerm is the term in which Process last ran as leader.
	leaderTerm uint64

	// Snapshots (snap.go).
	confLog        []confAt // the voters after each configuration change in the log
	lastSnap       uint64   // seqno of the newest snapshot
	snapRequest    string   // the snapshot request acted on last
	pending        []pendingSnap
	snapCache      []byte // the primary's snapshot, encoded when it wrote the evidence
	snapCacheSeqno uint64
	snapJobs       []*snapJob // snapshots being encoded off the loop, oldest first
	snapGen        uint64     // bumped by each rollback: older jobs are void
	restoredFrom   uint64     // the snapshot the node restarted from, if any
	basePayload    []byte     // the installed snapshot the files start after
	committedSnap  uint64     // the newest committed snapshot
	compacted      uint64     // the snapshot raft's log was last compacted to
}

// Open starts a node on its directory: a new network (cfg.Bootstrap), a
// node waiting to be added, or a restart that replays the ledger files,
// verifying every signature.
func Open(cfg Config) (*Core, error) {
	cfg.defaults()
	if cfg.ID == 0 || cfg.Secret == nil || cfg.Node == nil || cfg.Service == nil {
		return nil, errors.New("node: config needs an ID, the ledger secret and the node and service identities")
	}
	lf, err := files.Open(filepath.Join(cfg.Dir, "ledger"))
	if err != nil {
		return nil, err
	}
	c := &Core{cfg: cfg, files: lf, kv: kv.New(), ms: &storage{MemoryStorage: raft.NewMemoryStorage()}, certs: map[string]*ecdsa.PublicKey{}}
	if err := c.readHardState(); err != nil {
		lf.Close()
		return nil, err
	}
	if err := c.replay(); err != nil {
		lf.Close()
		return nil, err
	}
	rc := &raft.Config{
		ID:              cfg.ID,
		ElectionTick:    cfg.ElectionTicks,
		HeartbeatTick:   cfg.HeartbeatTicks,
		Storage:         c.ms,
		Applied:         c.raftCommit,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		CheckQuorum:     true,
		PreVote:         true,
		Logger:          cfg.Logger,
		// A backup forwards writes to the primary through the app's
		// endpoints, not through raft.
		DisableProposalForwarding: true,
	}
	if c.rn, err = raft.NewRawNode(rc); err != nil {
		lf.Close()
		return nil, err
	}
	if lf.Next() == 1 && len(cfg.Bootstrap) > 0 {
		peers := make([]raft.Peer, len(cfg.Bootstrap))
		for i, id := range cfg.Bootstrap {
			peers[i] = raft.Peer{ID: id}
		}
		if err := c.rn.Bootstrap(peers); err != nil {
			lf.Close()
			return nil, err
		}
	}
	return c, nil
}

// Close closes the files.
func (c *Core) Close() error { return c.files.Close() }

const hardStateFile = "raft_state"

func (c *Core) readHardState() error {
	b, err := os.ReadFile(filepath.Join(c.cfg.Dir, hardStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := c.hs.Unmarshal(b); err != nil {
		return fmt.Errorf("node: %s: %w", hardStateFile, err)
	}
	return nil
}

// writeHardState makes raft's term and vote durable (write, sync,
// rename, sync the directory) before any message that depends on them
// leaves. The commit index is written along, but only when term or vote
// change: the ledger's .committed chunks and the replicas hold the rest.
func (c *Core) writeHardState(hs pb.HardState) error {
	b, err := hs.Marshal()
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.cfg.Dir, hardStateFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	f.Close()
	if err := os.Rename(tmp, filepath.Join(c.cfg.Dir, hardStateFile)); err != nil {
		return err
	}
	d, err := os.Open(c.cfg.Dir)
	if err != nil {
		return err
	}
	defer d.Close()
	c.hs = hs
	return d.Sync()
}

// replay rebuilds the tree, the store and raft's log from the files.
func (c *Core) replay() error {
	var ents []pb.Entry
	var voters []uint64
	last := c.files.Next() - 1
	commit := max(min(c.hs.Commit, last), c.files.Committed())
	from, err := c.loadSnapshot(last)
	if err != nil {
		return err
	}
	if base := c.files.Base(); base > 0 {
		// Raft's log starts after the installed snapshot.
		voters = c.logVoters(base)
		if err := c.ms.ApplySnapshot(pb.Snapshot{Data: c.basePayload, Metadata: pb.SnapshotMetadata{
			Index: base, Term: c.views[base-1], ConfState: pb.ConfState{Voters: voters}}}); err != nil {
			return err
		}
		commit = max(commit, base)
	}
	for s := c.files.Base() + 1; s <= last; s++ {
		b, err := c.files.Read(s)
		if err != nil {
			return err
		}
		var re pb.Entry
		if s <= from {
			// Covered by the snapshot: raft's log needs the entry, the
			// state does not.
			if re, err = headerEntry(b); err != nil {
				return fmt.Errorf("%w: entry %d: %v", ErrTampered, s, err)
			}
		} else {
			e, err := c.cfg.Secret.Decode(b)
			if err != nil {
				return fmt.Errorf("%w: entry %d: %v", ErrTampered, s, err)
			}
			if err := c.apply(b, e); err != nil {
				return err
			}
			re = raftEntry(b, e)
		}
		if re.Type == pb.EntryConfChange && s <= commit {
			if voters, err = voterChange(voters, re.Data); err != nil {
				return fmt.Errorf("%w: entry %d: configuration change: %v", ErrTampered, s, err)
			}
		}
		ents = append(ents, re)
	}
	if err := c.ms.Append(ents); err != nil {
		return err
	}
	c.ms.cs = pb.ConfState{Voters: voters}
	cs := c.ms.cs
	c.ms.current = &cs
	hs := c.hs
	hs.Commit = commit
	if !raft.IsEmptyHardState(hs) {
		if err := c.ms.SetHardState(hs); err != nil {
			return err
		}
	}
	return c.commitTo(commit)
}

// RestoredFrom is the seqno of the snapshot the node restarted from (0:
// it replayed every transaction).
func (c *Core) RestoredFrom() uint64 { return c.restoredFrom }

// raftEntry is the raft entry a ledger entry records (the inverse of
// ledgerBytes).
func raftEntry(b []byte, e *entry.Entry) pb.Entry {
	re := pb.Entry{Term: e.TxID.View, Index: e.TxID.Seqno, Type: pb.EntryNormal}
	if ws := e.Writes[MapRaft]; len(e.Writes) == 1 && len(ws) == 1 {
		switch string(ws[0].Key) {
		case "conf_change":
			re.Type, re.Data = pb.EntryConfChange, ws[0].Value
			return re
		case "conf_change_v2":
			re.Type, re.Data = pb.EntryConfChangeV2, ws[0].Value
			return re
		}
	}
	if len(e.Writes) > 0 || e.Flags != 0 {
		re.Data = b
	}
	return re
}

// ledgerBytes is the ledger entry of a raft entry: the primary's
// encoded transaction, or for raft's own entries (a new term's empty
// entry, configuration changes) an entry every node builds alike.
func (c *Core) ledgerBytes(re pb.Entry) ([]byte, *entry.Entry, error) {
	id := entry.TxID{View: re.Term, Seqno: re.Index}
	e := &entry.Entry{TxID: id}
	switch {
	case re.Type == pb.EntryConfChange:
		e.Writes = entry.WriteSet{MapRaft: {{Key: []byte("conf_change"), Value: re.Data}}}
	case re.Type == pb.EntryConfChangeV2:
		e.Writes = entry.WriteSet{MapRaft: {{Key: []byte("conf_change_v2"), Value: re.Data}}}
	case len(re.Data) > 0:
		d, err := c.cfg.Secret.Decode(re.Data)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: replicated entry %s: %v", ErrTampered, id, err)
		}
		if d.TxID != id {
			return nil, nil, fmt.Errorf("%w: raft entry %s carries transaction %s", ErrTampered, id, d.TxID)
		}
		return re.Data, d, nil
	}
	b, err := c.cfg.Secret.Encode(e)
	return b, e, err
}

// apply adds the next transaction to the tree and the store, verifying
// it if it is a signature.
func (c *Core) apply(b []byte, e *entry.Entry) error { return c.applyChecked(b, e, true) }

// applyChecked is apply; check says whether to verify a signature (not
// the one this node just made).
func (c *Core) applyChecked(b []byte, e *entry.Entry, check bool) error {
	s := e.TxID.Seqno
	if s != c.tree.Size()+1 {
		return fmt.Errorf("node: entry %d after %d", s, c.tree.Size())
	}
	if e.Flags&entry.FlagSignature != 0 {
		if check {
			if err := c.checkSignature(e); err != nil {
				return err
			}
		}
		c.sigs = append(c.sigs, s)
	}
	if e.Flags&entry.FlagSnapshot != 0 {
		if err := c.applyEvidence(e); err != nil {
			return err
		}
	}
	if w := e.Writes[MapRaft]; len(w) == 1 && string(w[0].Key) == "conf_change" {
		v, err := voterChange(c.logVoters(s), w[0].Value)
		if err != nil {
			return fmt.Errorf("%w: entry %d: configuration change: %v", ErrTampered, s, err)
		}
		c.confLog = append(c.confLog, confAt{s, v})
	}
	// b was encoded here or decoded (its commit evidence digest checked).
	d := entry.Digest(b)
	c.tree.Append(entry.LeafOf(b, d))
	c.views = append(c.views, e.TxID.View)
	if err := c.kv.Apply(s, d, e.Writes); err != nil {
		return err
	}
	for _, w := range e.Writes[MapSecrets] {
		// A rekey: the next transactions are sealed under the new secret.
		from, err := strconv.ParseUint(string(w.Key), 10, 64)
		if err != nil || from != s+1 || w.Deleted {
			return fmt.Errorf("%w: entry %d: a rekey for seqno %q", ErrTampered, s, w.Key)
		}
		if err := c.cfg.Secret.Add(from, w.Value); err != nil {
			return fmt.Errorf("%w: entry %d: %v", ErrTampered, s, err)
		}
		if c.cfg.OnSecret != nil {
			c.cfg.OnSecret(entry.Epoch{From: from, Secret: append([]byte(nil), w.Value...)})
		}
	}
	c.chunk += int64(len(b))
	if e.Flags&entry.FlagChunkEnd != 0 {
		c.chunk = 0
	}
	return nil
}

func (c *Core) checkSignature(e *entry.Entry) error {
	w := e.Writes[MapSignatures]
	if len(w) != 1 {
		return fmt.Errorf("%w: signature transaction %s without a signature", ErrTampered, e.TxID)
	}
	sig, err := receipt.ParseSignature(w[0].Value)
	if err != nil {
		return fmt.Errorf("%w: signature transaction %s: %v", ErrTampered, e.TxID, err)
	}
	root, err := sig.RootHash()
	if err != nil || sig.View != e.TxID.View || sig.Seqno != e.TxID.Seqno || root != c.tree.Root() {
		return fmt.Errorf("%w: signature transaction %s does not sign the ledger before it", ErrTampered, e.TxID)
	}
	certPEM := c.nodeCert(sig.Node, e.Writes)
	if certPEM == nil {
		return fmt.Errorf("%w: signature transaction %s by node %s, whose certificate the ledger lacks", ErrTampered, e.TxID, sig.Node)
	}
	sig.Cert = string(certPEM)
	key := sig.Node + "\n" + sig.Cert
	if pub := c.certs[key]; pub != nil {
		err = sig.VerifyKey(pub)
	} else if err = sig.VerifyVia(c.cfg.Service, c.cfg.Endorsements); err == nil && len(c.certs) < 1024 {
		cert, _ := identity.ParseCert(certPEM)
		c.certs[key] = cert.PublicKey.(*ecdsa.PublicKey)
	}
	if err != nil {
		return fmt.Errorf("%w: signature transaction %s: %v", ErrTampered, e.TxID, err)
	}
	return nil
}

// nodeCert is a node's certificate from the nodes map, or from writes
// not applied yet.
func (c *Core) nodeCert(id string, pending entry.WriteSet) []byte {
	for _, w := range pending[MapNodes] {
		if string(w.Key) == id && !w.Deleted {
			return w.Value
		}
	}
	v, _ := c.kv.Get(MapNodes, []byte(id))
	return v
}

// rollback drops the tree and the store back to seqno.
func (c *Core) rollback(seqno uint64) error {
	if err := c.kv.Rollback(seqno); err != nil {
		return err
	}
	c.cfg.Secret.Truncate(seqno)
	if err := c.tree.Truncate(seqno); err != nil {
		return err
	}
	c.views = c.views[:seqno]
	i, _ := slices.BinarySearch(c.sigs, seqno+1)
	c.sigs = c.sigs[:i]
	c.confLog = slices.DeleteFunc(c.confLog, func(ch confAt) bool { return ch.seqno > seqno })
	c.dropSnapshots(seqno)
	c.snapCache = nil
	c.snapGen++ // snapshots still being encoded are of a state rolled back
	return nil
}

// Tick advances raft's clock by one tick.
func (c *Core) Tick() { c.rn.Tick() }

// Step hands the node a message from a peer.
func (c *Core) Step(m pb.Message) error { return c.rn.Step(m) }

// Campaign makes the node stand for election (tests, leadership transfer).
func (c *Core) Campaign() error { return c.rn.Campaign() }

// TransferLeader asks the primary to hand its office to node to (raft's
// leadership transfer: to catches up, then campaigns at once).
func (c *Core) TransferLeader(to uint64) { c.rn.TransferLeader(to) }

// Messages returns the messages to send, and forgets them.
func (c *Core) Messages() []pb.Message {
	m := c.out
	c.out = nil
	return m
}

// IsPrimary reports whether the node leads.
func (c *Core) IsPrimary() bool { return c.rn.BasicStatus().RaftState == raft.StateLeader }

// Primary is the raft ID of the primary the node knows, or 0.
func (c *Core) Primary() uint64 { return c.rn.BasicStatus().Lead }

// View is the current view (raft term).
func (c *Core) View() uint64 { return c.rn.BasicStatus().Term }

// Store is the node's key-value state (latest, including uncommitted
// transactions).
func (c *Core) Store() *kv.Store { return c.kv }

// Last is the last seqno the node holds.
func (c *Core) Last() uint64 { return c.tree.Size() }

// CommitSeqno is the service's commit point: the last signature raft
// committed.
func (c *Core) CommitSeqno() uint64 { return c.commitSig }

// Execute runs a transaction on the primary: fn reads and writes the
// store through tx and may return a claims digest for the leaf. The
// transaction is recorded (PENDING) and its ID returned.
func (c *Core) Execute(fn func(tx *kv.Tx, id entry.TxID) (*merkle.Hash, error)) (entry.TxID, error) {
	st, err := c.leading()
	if err != nil {
		return entry.TxID{}, err
	}
	if st.RaftState != raft.StateLeader {
		return entry.TxID{}, ErrNotPrimary
	}
	id := entry.TxID{View: st.Term, Seqno: c.tree.Size() + 1}
	tx := c.kv.Begin()
	claims, err := fn(tx, id)
	if err != nil {
		return entry.TxID{}, err
	}
	ws := tx.WriteSet()
	if ws == nil {
		return entry.TxID{}, ErrNoWrites
	}
	for m := range ws {
		if strings.HasPrefix(m, ReservedPrefix) && !strings.HasPrefix(m, GovernancePrefix) || m == MapSecrets {
			return entry.TxID{}, fmt.Errorf("%w (%s)", ErrReserved, m)
		}
	}
	e := &entry.Entry{TxID: id, Writes: ws}
	if claims != nil {
		e.Claims = *claims
	}
	return c.propose(e)
}

// leading returns raft's status, first processing what raft has ready
// if this node became leader since the last Process: raft then appended
// an entry of its own (the new term's empty entry), which must be in the
// tree before a seqno is assigned. Within a term only our proposals
// append, so the entries proposed in one batch go out in one Ready.
// (A configuration change proposed here would need a Process too.)
func (c *Core) leading() (raft.BasicStatus, error) {
	st := c.rn.BasicStatus()
	if st.RaftState == raft.StateLeader && st.Term == c.leaderTerm {
		return st, nil
	}
	if err := c.Process(); err != nil {
		return st, err
	}
	return c.rn.BasicStatus(), nil
}

// propose hands an entry to raft and applies it here at once, so that
// the next transaction reads its writes. Raft appends a proposal at the
// next index of the leader's log, which is the tree's next seqno because
// Process ran since raft last appended anything itself.
func (c *Core) propose(e *entry.Entry) (entry.TxID, error) {
	if c.Snapshotting() {
		return entry.TxID{}, ErrSnapshotting
	}
	b, err := c.cfg.Secret.Encode(e)
	if err != nil {
		return entry.TxID{}, err
	}
	if err := c.rn.Propose(b); err != nil {
		return entry.TxID{}, err
	}
	if err := c.applyChecked(b, e, false); err != nil {
		return entry.TxID{}, err
	}
	return e.TxID, nil
}

// SignAt is when the loop, out of work, should sign next: now, or at
// the end of the minimum gap after the last signature.
func (c *Core) SignAt(now time.Time) time.Time {
	if len(c.sigs) == 0 || c.sigs[len(c.sigs)-1] <= c.commitSig {
		return now // no signature in flight
	}
	if at := c.lastSign.Add(c.cfg.SignMinGap); at.After(now) {
		return at
	}
	return now
}

// Rekey proposes a rekey transaction on the primary: the new ledger
// secret, sealed under the current one, in effect from the next seqno.
func (c *Core) Rekey(secret []byte) (entry.TxID, error) {
	st, err := c.leading()
	if err != nil {
		return entry.TxID{}, err
	}
	if st.RaftState != raft.StateLeader {
		return entry.TxID{}, ErrNotPrimary
	}
	if len(secret) != 32 {
		return entry.TxID{}, fmt.Errorf("node: a ledger secret is 32 bytes")
	}
	id := entry.TxID{View: st.Term, Seqno: c.tree.Size() + 1}
	return c.propose(&entry.Entry{TxID: id, Writes: entry.WriteSet{
		MapSecrets: {{Key: []byte(strconv.FormatUint(id.Seqno+1, 10)), Value: secret}},
	}})
}

// Secret is the node's keyring of ledger secrets.
func (c *Core) Secret() *entry.Secret { return c.cfg.Secret }

// Voters are raft's voters as the node last applied its configuration.
func (c *Core) Voters() []uint64 {
	if c.ms.current == nil {
		return append([]uint64(nil), c.ms.cs.Voters...)
	}
	return append([]uint64(nil), c.ms.current.Voters...)
}

// ChangeVoters proposes adding (or removing) a voter, on the primary.
// A node added this way starts with an empty directory and no
// Bootstrap; the primary sends it what it needs (the newest committed
// snapshot when raft's log no longer holds the start). Which nodes may
// join is governance's decision (issue 18); a node whose disk was lost
// must join under a new ID, never its old one, since raft counts on its
// log having survived.
func (c *Core) ChangeVoters(id uint64, add bool) error {
	st, err := c.leading()
	if err != nil {
		return err
	}
	if st.RaftState != raft.StateLeader {
		return ErrNotPrimary
	}
	cc := pb.ConfChange{Type: pb.ConfChangeAddNode, NodeID: id}
	if !add {
		cc.Type = pb.ConfChangeRemoveNode
	}
	if err := c.rn.ProposeConfChange(cc); err != nil {
		return err
	}
	// Raft appended the change itself: into the tree before any seqno
	// is assigned again.
	c.leaderTerm = 0
	return c.Process()
}

// Unsigned is the number of transactions after the last signature.
func (c *Core) Unsigned() uint64 {
	if len(c.sigs) == 0 {
		return c.tree.Size()
	}
	return c.tree.Size() - c.sigs[len(c.sigs)-1]
}

// MaybeSign writes a signature transaction if the primary has signed
// nothing for SignEvery transactions or SignInterval.
func (c *Core) MaybeSign(now time.Time) error {
	n := c.Unsigned()
	if n == 0 || (n < uint64(c.cfg.SignEvery) && now.Sub(c.lastSign) < c.cfg.SignInterval) {
		return nil
	}
	return c.Sign(now)
}

// Sign writes a signature transaction over everything before it, if
// this node is the primary and anything is unsigned. The runner calls it
// when it has nothing more to execute, so that a lone client waits for
// one round of replication, not for the interval.
func (c *Core) Sign(now time.Time) error {
	st, err := c.leading()
	if err != nil {
		return err
	}
	if st.RaftState != raft.StateLeader || c.Unsigned() == 0 || c.Snapshotting() {
		return nil
	}
	id := entry.TxID{View: st.Term, Seqno: c.tree.Size() + 1}
	sig, err := receipt.Sign(c.cfg.Node, id, c.tree.Root())
	if err != nil {
		return err
	}
	cert := sig.Cert
	sig.Cert = ""
	js, err := jsonMarshal(sig)
	sig.Cert = cert
	if err != nil {
		return err
	}
	e := &entry.Entry{TxID: id, Flags: entry.FlagSignature, Writes: entry.WriteSet{
		MapSignatures: {{Key: []byte("signature"), Value: js}},
	}}
	if c.nodeCert(sig.Node, nil) == nil {
		e.Writes[MapNodes] = []entry.Write{{Key: []byte(sig.Node), Value: c.cfg.Node.CertPEM()}}
	}
	snap := c.cfg.SnapshotEvery > 0 && id.Seqno-c.lastSnap >= c.snapshotInterval()
	if req, ok := c.kv.Get(SnapshotRequests, []byte("snapshot")); ok && string(req) != c.snapRequest {
		// Governance asked for one (after a restart or a change of
		// primary, a request already served may be served again).
		snap, c.snapRequest = true, string(req)
	}
	if c.chunk >= c.cfg.ChunkBytes || snap {
		e.Flags |= entry.FlagChunkEnd
	}
	c.lastSign = now
	if _, err = c.propose(e); err != nil || !snap {
		return err
	}
	// The state after this signature, which ends the chunk; its
	// evidence starts the next, and the next signature covers it. The
	// snapshot is encoded off the node's loop (startSnapshot); nothing
	// else is proposed until its evidence is.
	c.startSnapshot(id.Seqno+1, st.Term, "")
	return nil
}

// snapshotGrowth: the primary waits for at least 1/snapshotGrowth of
// the ledger between snapshots.
const snapshotGrowth = 10

// snapshotInterval is how many transactions the primary writes between
// snapshots: SnapshotEvery, or a tenth of the ledger once that is more.
// A snapshot holds a leaf and a view for every transaction (40 bytes
// each), so snapshots at a fixed interval would cost each transaction
// work in proportion to the ledger's length (at a million transactions,
// every 10,000 transactions, 32 MB encoded, hashed and written by every
// node: 3 KB per transaction); growing the interval with the ledger
// keeps it at 400 bytes at most, and a restart replays at most a tenth
// of the ledger.
func (c *Core) snapshotInterval() uint64 {
	return max(c.cfg.SnapshotEvery, c.lastSnap/snapshotGrowth)
}

// Process handles what raft has ready: it writes new entries to the
// ledger files (rolling back an overwritten uncommitted tail), makes
// them and raft's state durable, queues the messages to send, and
// applies what raft committed.
func (c *Core) Process() error {
	for c.rn.HasReady() {
		rd := c.rn.Ready()
		if !raft.IsEmptySnap(rd.Snapshot) {
			if err := c.installSnapshot(rd.Snapshot); err != nil {
				return err
			}
			if err := c.ms.ApplySnapshot(rd.Snapshot); err != nil {
				return err
			}
		}
		// A leader may replicate entries before they are durable on its
		// own disk (Raft thesis §10.2.1; etcd does the same): its fsync
		// then overlaps the followers'. Its messages never acknowledge
		// its own log, so none depends on this write.
		if c.early != nil && c.rn.BasicStatus().RaftState == raft.StateLeader && len(rd.Messages) > 0 {
			c.early(rd.Messages)
			rd.Messages = nil
		}
		var applies []pending
		for _, re := range rd.Entries {
			var err error
			if applies, err = c.persist(re, applies); err != nil {
				return err
			}
		}
		if len(rd.Entries) > 0 {
			if err := c.syncApplying(applies); err != nil {
				return err
			}
			if err := c.ms.Append(rd.Entries); err != nil {
				return err
			}
		}
		if !raft.IsEmptyHardState(rd.HardState) {
			if rd.HardState.Term != c.hs.Term || rd.HardState.Vote != c.hs.Vote {
				if err := c.writeHardState(rd.HardState); err != nil {
					return err
				}
			}
			if err := c.ms.SetHardState(rd.HardState); err != nil {
				return err
			}
		}
		c.out = append(c.out, rd.Messages...)
		for _, re := range rd.CommittedEntries {
			if err := c.applyCommitted(re); err != nil {
				return err
			}
		}
		if n := len(rd.CommittedEntries); n > 0 {
			if err := c.commitTo(rd.CommittedEntries[n-1].Index); err != nil {
				return err
			}
		}
		c.rn.Advance(rd)
	}
	if st := c.rn.BasicStatus(); st.RaftState == raft.StateLeader {
		c.leaderTerm = st.Term
	} else {
		c.leaderTerm = 0
	}
	return nil
}

// persist writes one entry raft hands over to the files. An entry at a
// seqno the node already holds with other contents replaces the
// uncommitted tail from there. Entries not applied yet (a backup's) are
// added to applies, for syncApplying.
func (c *Core) persist(re pb.Entry, applies []pending) ([]pending, error) {
	s := re.Index
	var b []byte
	var e *entry.Entry
	own := false
	if s <= c.tree.Size() && s >= c.files.Next() && re.Type == pb.EntryNormal && len(re.Data) > 0 {
		// Proposed here and applied already: recognised by digest.
		if d, ok := c.kv.Digest(s); ok && d == entry.Digest(re.Data) {
			b, own = re.Data, true
		}
	}
	if !own {
		var err error
		if b, e, err = c.ledgerBytes(re); err != nil {
			return applies, err
		}
		// Entries of one Ready are consecutive, so only the first can
		// overwrite; the tree still ends before the entries queued.
		if s <= c.tree.Size() {
			if s <= c.kv.Committed() {
				return applies, fmt.Errorf("%w: raft overwrites committed seqno %d", ErrTampered, s)
			}
			if err := c.rollback(s - 1); err != nil {
				return applies, err
			}
		}
		applies = append(applies, pending{b, e})
		if len(e.Writes[MapSecrets]) > 0 {
			// A rekey: the entries after it decode under the secret it
			// adds when applied.
			if err := c.applyAll(applies); err != nil {
				return nil, err
			}
			applies = applies[:0]
		}
	}
	if s < c.files.Next() {
		if err := c.files.Truncate(s - 1); err != nil {
			return applies, err
		}
	}
	return applies, c.files.Append(b)
}

// pending is an entry written but not applied yet.
type pending struct {
	b []byte
	e *entry.Entry
}

// syncApplying makes the files durable while it applies the entries
// written since the last sync: a backup's acknowledgement waits for
// both, the fsync and its checks of the entries (signatures above all),
// and they overlap. Applying touches the tree and the store, never the
// files.
func (c *Core) syncApplying(applies []pending) error {
	if len(applies) == 0 {
		return c.files.Sync()
	}
	synced := make(chan error, 1)
	go func() { synced <- c.files.Sync() }()
	err := c.applyAll(applies)
	if serr := <-synced; err == nil {
		err = serr
	}
	return err
}

func (c *Core) applyAll(applies []pending) error {
	for _, p := range applies {
		if err := c.apply(p.b, p.e); err != nil {
			return err
		}
	}
	return nil
}

func (c *Core) applyCommitted(re pb.Entry) error {
	switch re.Type {
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := cc.Unmarshal(re.Data); err != nil {
			return err
		}
		c.ms.current = c.rn.ApplyConfChange(cc)
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := cc.Unmarshal(re.Data); err != nil {
			return err
		}
		c.ms.current = c.rn.ApplyConfChange(cc)
	}
	return nil
}

// commitTo records raft's commit index: chunks that end at or before it
// become .committed, the store's undo records go, and the service's
// commit point moves to the last signature at or before it.
func (c *Core) commitTo(index uint64) error {
	if index <= c.raftCommit {
		return nil
	}
	c.raftCommit = index
	if err := c.files.Commit(index); err != nil {
		return err
	}
	c.kv.Commit(index)
	if i, _ := slices.BinarySearch(c.sigs, index+1); i > 0 {
		c.commitSig = c.sigs[i-1]
	}
	if err := c.commitSnapshots(); err != nil {
		return err
	}
	if c.committedSnap > c.compacted {
		if err := c.compact(c.committedSnap); err != nil {
			return err
		}
		c.compacted = c.committedSnap
	}
	return nil
}

// Status is a transaction's status as this node knows it.
func (c *Core) Status(id entry.TxID) Status {
	if id.Seqno == 0 || id.View == 0 {
		return Invalid
	}
	if id.Seqno > c.tree.Size() {
		if id.Seqno <= c.commitSig || id.View < c.View() {
			// Seqnos up to the commit point are final, and a view that
			// has ended will assign no more.
			return Invalid
		}
		return Unknown
	}
	term := c.views[id.Seqno-1]
	switch {
	case term == id.View && id.Seqno <= c.commitSig:
		return Committed
	case term == id.View:
		return Pending
	case id.View < term || id.Seqno <= c.commitSig:
		return Invalid
	}
	return Unknown
}

// Entry reads a recorded transaction, decrypted.
func (c *Core) Entry(seqno uint64) (*entry.Entry, []byte, error) {
	var b []byte
	var err error
	if seqno <= c.files.Base() {
		b, err = c.readHistorical(seqno)
	} else {
		b, err = c.files.Read(seqno)
	}
	if err != nil {
		return nil, nil, err
	}
	e, err := c.cfg.Secret.Decode(b)
	return e, b, err
}

// Receipt proves a committed transaction with the first signature after
// it. A signature transaction's receipt comes with the next signature.
func (c *Core) Receipt(seqno uint64) (*receipt.Receipt, error) {
	if seqno == 0 || seqno > c.commitSig {
		return nil, ErrNotYet
	}
	i, _ := slices.BinarySearch(c.sigs, seqno+1)
	if i == len(c.sigs) || c.sigs[i] > c.commitSig {
		return nil, ErrNotYet
	}
	s := c.sigs[i]
	e, b, err := c.Entry(seqno)
	if err != nil {
		return nil, err
	}
	se, _, err := c.Entry(s)
	if err != nil {
		return nil, err
	}
	sig, err := receipt.ParseSignature(se.Writes[MapSignatures][0].Value)
	if err != nil {
		return nil, err
	}
	if sig.Cert == "" {
		sig.Cert = string(c.nodeCert(sig.Node, se.Writes))
	}
	proof, err := c.tree.InclusionProof(seqno-1, s-1)
	if err != nil {
		return nil, err
	}
	claims := e.Claims
	digest := entry.Digest(b)
	r := &receipt.Receipt{
		TxID: e.TxID.String(),
		LeafComponents: receipt.LeafComponents{
			WriteSetDigest: hexs(digest[:]),
			CommitEvidence: c.cfg.Secret.CommitEvidence(e.TxID),
			ClaimsDigest:   hexs(claims[:]),
		},
		Signature: *sig,
	}
	for _, p := range proof {
		r.Proof = append(r.Proof, hexs(p[:]))
	}
	if len(c.cfg.Endorsements) > 0 {
		// Only the receipts of an earlier service's nodes need the chain.
		if cert, err := identity.ParseCert([]byte(sig.Cert)); err == nil {
			if _, err := identity.CheckNode(cert, c.cfg.Service); err != nil {
				for _, e := range c.cfg.Endorsements {
					r.ServiceEndorsements = append(r.ServiceEndorsements, string(identity.EncodeCert(e)))
				}
			}
		}
	}
	return r, nil
}

// CommittedChunks lists the committed ledger files.
func (c *Core) CommittedChunks() []string { return c.files.CommittedChunks() }
