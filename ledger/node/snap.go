package node

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/files"
	"github.com/confide/confide/ledger/merkle"
	"github.com/confide/confide/ledger/receipt"
	"github.com/confide/confide/ledger/snapshot"
)

// MapSnapshots holds snapshot evidence: key "evidence", value
// snapshot.Evidence as JSON.
const MapSnapshots = "public:confide.snapshots"

// pendingSnap is a snapshot whose evidence is not covered by a committed
// signature yet.
type pendingSnap struct{ seqno, evidence uint64 }

func (c *Core) snapDir() string { return filepath.Join(c.cfg.Dir, "snapshots") }

func snapName(seqno uint64, committed bool) string {
	n := "snapshot_" + strconv.FormatUint(seqno, 10)
	if committed {
		n += ".committed"
	}
	return n
}

// voterChange applies a raft configuration change recorded in the log to
// the voters the log implies (deterministic on every node, unlike raft's
// applied configuration, which follows commits).
func voterChange(voters []uint64, data []byte) ([]uint64, error) {
	var cc pb.ConfChange
	if err := cc.Unmarshal(data); err != nil {
		return voters, err
	}
	voters = slices.Clone(voters)
	switch cc.Type {
	case pb.ConfChangeAddNode:
		if !slices.Contains(voters, cc.NodeID) {
			voters = append(voters, cc.NodeID)
		}
	case pb.ConfChangeRemoveNode:
		voters = slices.DeleteFunc(voters, func(v uint64) bool { return v == cc.NodeID })
	}
	return voters, nil
}

// logVoters is the voters after the configuration changes the node
// holds up to seqno.
func (c *Core) logVoters(seqno uint64) []uint64 {
	var v []uint64
	for _, ch := range c.confLog {
		if ch.seqno <= seqno {
			v = ch.voters
		}
	}
	return v
}

type confAt struct {
	seqno  uint64
	voters []uint64
}

// encodeSnapshot encodes the node's state after its last seqno.
func (c *Core) encodeSnapshot() ([]byte, error) {
	return snapshot.Encode(c.snapshotState(), c.cfg.Secret)
}

// snapshotState copies what a snapshot holds of the node after its last
// seqno (the state's values are shared, not copied: they are never
// changed in place).
func (c *Core) snapshotState() *snapshot.Snapshot {
	s := c.tree.Size()
	snap := &snapshot.Snapshot{Seqno: s, View: c.views[s-1], Voters: c.logVoters(s),
		Views: slices.Clone(c.views), Sigs: slices.Clone(c.sigs), State: c.kv.Dump()}
	snap.Leaves = make([]merkle.Hash, s)
	for i := range snap.Leaves {
		snap.Leaves[i], _ = c.tree.Leaf(uint64(i))
	}
	return snap
}

// applyEvidence checks a snapshot evidence transaction against the
// node's own state (after seqno−1) and keeps the snapshot, uncommitted.
// A backup encodes its own state off its loop (startSnapshot) and
// compares the digests when that is done; a difference then stops the
// node, as one found at once would.
func (c *Core) applyEvidence(e *entry.Entry) error {
	w := e.Writes[MapSnapshots]
	if len(w) != 1 {
		return fmt.Errorf("%w: snapshot evidence %s without evidence", ErrTampered, e.TxID)
	}
	ev, err := snapshot.ParseEvidence(w[0].Value)
	if err != nil || ev.Seqno != e.TxID.Seqno-1 || ev.Seqno != c.tree.Size() {
		return fmt.Errorf("%w: snapshot evidence %s is not for the state before it", ErrTampered, e.TxID)
	}
	c.lastSnap = ev.Seqno
	if b := c.snapCache; b != nil && c.snapCacheSeqno == ev.Seqno {
		// The primary's own, encoded before it proposed the evidence.
		c.snapCache = nil
		return c.keepSnapshot(*ev, e.TxID.Seqno, b)
	}
	c.startSnapshot(e.TxID.Seqno, e.TxID.View, ev.Digest)
	return nil
}

// keepSnapshot checks an encoded snapshot against its evidence and
// writes it, uncommitted.
func (c *Core) keepSnapshot(ev snapshot.Evidence, evidence uint64, b []byte) error {
	d := snapshot.Digest(b)
	if hex.EncodeToString(d[:]) != ev.Digest {
		return fmt.Errorf("%w: snapshot at %d: this node's state differs from the primary's", ErrTampered, ev.Seqno)
	}
	if _, err := os.Stat(filepath.Join(c.snapDir(), snapName(ev.Seqno, true))); err != nil {
		if err := os.MkdirAll(c.snapDir(), 0o700); err != nil {
			return err
		}
		tmp := filepath.Join(c.snapDir(), snapName(ev.Seqno, false)+".tmp")
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(c.snapDir(), snapName(ev.Seqno, false))); err != nil {
			return err
		}
		c.pending = append(c.pending, pendingSnap{ev.Seqno, evidence})
	}
	return c.commitSnapshots()
}

// snapJob is a snapshot being encoded off the node's loop: encoding and
// sealing a large state takes long enough (hundreds of milliseconds for
// tens of megabytes) that a node doing it on its loop would miss
// heartbeats, and a primary doing so would lose its office.
type snapJob struct {
	evidence uint64 // the evidence transaction's seqno; the snapshot's is one less
	view     uint64
	want     string // a backup's: the digest the evidence names ("": the primary's own)
	gen      uint64
	done     chan struct{}
	b        []byte
	err      error
}

// ErrSnapshotting: the primary proposes nothing while it encodes a
// snapshot, whose evidence must come next.
var ErrSnapshotting = errors.New("node: a snapshot is being taken; retry")

// startSnapshot copies the state after evidence−1 (snapshotState) and
// encodes it in a goroutine.
func (c *Core) startSnapshot(evidence, view uint64, want string) {
	snap := c.snapshotState()
	j := &snapJob{evidence: evidence, view: view, want: want, gen: c.snapGen, done: make(chan struct{})}
	secret := c.cfg.Secret
	go func() {
		j.b, j.err = snapshot.Encode(snap, secret)
		close(j.done)
	}()
	c.snapJobs = append(c.snapJobs, j)
}

// Snapshotting reports whether the primary is encoding a snapshot whose
// evidence it has yet to propose: it proposes nothing else meanwhile.
func (c *Core) Snapshotting() bool {
	return len(c.snapJobs) > 0 && c.snapJobs[len(c.snapJobs)-1].want == ""
}

// SnapshotDone is closed when the oldest snapshot being encoded is
// ready for FinishSnapshot; nil when none is.
func (c *Core) SnapshotDone() <-chan struct{} {
	if len(c.snapJobs) == 0 {
		return nil
	}
	return c.snapJobs[0].done
}

// FinishSnapshot completes the oldest snapshot encoded (SnapshotDone):
// the primary proposes its evidence, a backup checks it against the
// evidence it holds; either keeps the file. A snapshot whose state was
// rolled back meanwhile, or a primary's that lost its office, is
// dropped.
func (c *Core) FinishSnapshot() error {
	j := c.snapJobs[0]
	<-j.done
	c.snapJobs = c.snapJobs[1:]
	if j.gen != c.snapGen {
		return nil
	}
	if j.err != nil {
		return j.err
	}
	seqno := j.evidence - 1
	if j.want != "" {
		return c.keepSnapshot(snapshot.Evidence{Seqno: seqno, Digest: j.want}, j.evidence, j.b)
	}
	st, err := c.leading()
	if err != nil || st.RaftState != raft.StateLeader || st.Term != j.view || c.tree.Size() != seqno {
		return nil
	}
	d := snapshot.Digest(j.b)
	c.snapCache, c.snapCacheSeqno = j.b, seqno
	_, err = c.propose(&entry.Entry{TxID: entry.TxID{View: j.view, Seqno: j.evidence}, Flags: entry.FlagSnapshot, Writes: entry.WriteSet{
		MapSnapshots: {{Key: []byte("evidence"), Value: snapshot.MarshalEvidence(snapshot.Evidence{Seqno: seqno, Digest: hex.EncodeToString(d[:])})}},
	}})
	return err
}

// FinishSnapshots waits for every snapshot being encoded and finishes
// it (tests drive a Core without its Node).
func (c *Core) FinishSnapshots() error {
	for len(c.snapJobs) > 0 {
		if err := c.FinishSnapshot(); err != nil {
			return err
		}
	}
	return nil
}

// commitSnapshots marks snapshots whose evidence a committed signature
// covers; they alone are ever used. The newest two are kept.
func (c *Core) commitSnapshots() error {
	done := 0
	for _, p := range c.pending {
		if p.evidence >= c.commitSig {
			break
		}
		if err := os.Rename(filepath.Join(c.snapDir(), snapName(p.seqno, false)), filepath.Join(c.snapDir(), snapName(p.seqno, true))); err != nil {
			return err
		}
		c.committedSnap = p.seqno
		done++
	}
	if done == 0 {
		return nil
	}
	c.pending = c.pending[done:]
	committed := committedSnapshots(c.snapDir())
	for _, s := range committed[:max(0, len(committed)-2)] {
		os.Remove(filepath.Join(c.snapDir(), snapName(s, true)))
	}
	return syncDir(c.snapDir())
}

// dropSnapshots forgets uncommitted snapshots whose evidence is rolled
// back.
func (c *Core) dropSnapshots(seqno uint64) {
	for len(c.pending) > 0 && c.pending[len(c.pending)-1].evidence > seqno {
		p := c.pending[len(c.pending)-1]
		os.Remove(filepath.Join(c.snapDir(), snapName(p.seqno, false)))
		c.pending = c.pending[:len(c.pending)-1]
	}
	if c.lastSnap >= seqno {
		c.lastSnap = 0
		if len(c.pending) > 0 {
			c.lastSnap = c.pending[len(c.pending)-1].seqno
		} else if cs := committedSnapshots(c.snapDir()); len(cs) > 0 {
			c.lastSnap = cs[len(cs)-1]
		}
	}
}

// committedSnapshots lists the seqnos of committed snapshot files, in
// order.
func committedSnapshots(dir string) []uint64 {
	es, _ := os.ReadDir(dir)
	var out []uint64
	for _, e := range es {
		r, ok := strings.CutPrefix(e.Name(), "snapshot_")
		if !ok {
			continue
		}
		r, ok = strings.CutSuffix(r, ".committed")
		if n, err := strconv.ParseUint(r, 10, 64); ok && err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// loadSnapshot restores the newest committed snapshot the ledger files
// vouch for: the evidence transaction right after it must be in the
// files with the snapshot's digest (signatures after it are then
// verified as the rest is replayed). It returns the snapshot's seqno, or
// 0 without a usable snapshot.
func (c *Core) loadSnapshot(last uint64) (uint64, error) {
	if base := c.files.Base(); base > 0 {
		// Installed from the primary: the files start after it, and the
		// receipt that came with it vouches for it.
		payload, err := os.ReadFile(filepath.Join(c.snapDir(), snapName(base, false)+".payload"))
		if err != nil {
			return 0, err
		}
		snap, _, err := c.verifyPayload(payload, base)
		if err != nil {
			return 0, err
		}
		c.restore(snap)
		c.restoredFrom, c.basePayload, c.committedSnap, c.compacted = base, payload, base, base
		return base, nil
	}
	cs := committedSnapshots(c.snapDir())
	for i := len(cs) - 1; i >= 0; i-- {
		s := cs[i]
		if s+1 > last {
			continue
		}
		b, err := os.ReadFile(filepath.Join(c.snapDir(), snapName(s, true)))
		if err != nil {
			return 0, err
		}
		eb, err := c.files.Read(s + 1)
		if err != nil {
			return 0, err
		}
		h, err := entry.ParseHeader(eb)
		if err != nil || h.Flags&entry.FlagSnapshot == 0 || len(h.Public[MapSnapshots]) != 1 {
			return 0, fmt.Errorf("%w: no evidence at %d for snapshot %d", ErrTampered, s+1, s)
		}
		ev, err := snapshot.ParseEvidence(h.Public[MapSnapshots][0].Value)
		d := snapshot.Digest(b)
		if err != nil || ev.Seqno != s || ev.Digest != hex.EncodeToString(d[:]) {
			return 0, fmt.Errorf("%w: snapshot %d does not match its evidence", ErrTampered, s)
		}
		snap, err := snapshot.Decode(b, c.cfg.Secret)
		if err != nil {
			return 0, fmt.Errorf("%w: snapshot %d: %v", ErrTampered, s, err)
		}
		c.restore(snap)
		c.restoredFrom, c.committedSnap = s, s
		return s, nil
	}
	return 0, nil
}

// headerEntry is the raft entry of a ledger entry known from its public
// part only (entries before a snapshot are not decrypted on restart). An
// entry with no public writes, no flags and an empty private write set
// (4 bytes sealed) is raft's empty entry: apps never write nothing.
func headerEntry(b []byte) (pb.Entry, error) {
	h, err := entry.ParseHeader(b)
	if err != nil {
		return pb.Entry{}, err
	}
	re := pb.Entry{Term: h.TxID.View, Index: h.TxID.Seqno, Type: pb.EntryNormal, Data: b}
	if ws := h.Public[MapRaft]; len(h.Public) == 1 && len(ws) == 1 {
		switch string(ws[0].Key) {
		case "conf_change":
			re.Type, re.Data = pb.EntryConfChange, ws[0].Value
		case "conf_change_v2":
			re.Type, re.Data = pb.EntryConfChangeV2, ws[0].Value
		}
		return re, nil
	}
	if len(h.Public) == 0 && h.Flags == 0 && len(h.Private) == 4+16 {
		re.Data = nil
	}
	return re, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// The payload raft carries for a snapshot: the snapshot file, its
// evidence transaction and a receipt for the evidence, so that a node
// that holds nothing of the ledger can check it against the service
// certificate alone. Each part is length (4) ‖ bytes.
func snapPayload(snap, evidence, rcpt []byte) []byte {
	var out []byte
	for _, p := range [][]byte{snap, evidence, rcpt} {
		out = binary.BigEndian.AppendUint32(out, uint32(len(p)))
		out = append(out, p...)
	}
	return out
}

func splitPayload(b []byte) (snap, evidence, rcpt []byte, err error) {
	var parts [3][]byte
	for i := range parts {
		if len(b) < 4 || uint64(len(b)-4) < uint64(binary.BigEndian.Uint32(b)) {
			return nil, nil, nil, fmt.Errorf("%w: snapshot payload", ErrTampered)
		}
		n := binary.BigEndian.Uint32(b)
		parts[i], b = b[4:4+n], b[4+n:]
	}
	if len(b) != 0 {
		return nil, nil, nil, fmt.Errorf("%w: snapshot payload", ErrTampered)
	}
	return parts[0], parts[1], parts[2], nil
}

// verifyPayload checks a snapshot payload: the receipt verifies against
// the service certificate, proves the evidence transaction's bytes, and
// the evidence records this snapshot's digest at seqno.
func (c *Core) verifyPayload(payload []byte, seqno uint64) (*snapshot.Snapshot, []byte, error) {
	sb, eb, rb, err := splitPayload(payload)
	if err != nil {
		return nil, nil, err
	}
	r, err := receipt.Parse(rb)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: snapshot receipt: %v", ErrTampered, err)
	}
	if err := r.Verify(c.cfg.Service); err != nil {
		return nil, nil, fmt.Errorf("%w: snapshot receipt: %v", ErrTampered, err)
	}
	d := entry.Digest(eb)
	if r.LeafComponents.WriteSetDigest != hex.EncodeToString(d[:]) {
		return nil, nil, fmt.Errorf("%w: the receipt is not the evidence's", ErrTampered)
	}
	e, err := c.cfg.Secret.Decode(eb)
	if err != nil || e.TxID.String() != r.TxID || e.Flags&entry.FlagSnapshot == 0 || len(e.Writes[MapSnapshots]) != 1 {
		return nil, nil, fmt.Errorf("%w: snapshot evidence", ErrTampered)
	}
	ev, err := snapshot.ParseEvidence(e.Writes[MapSnapshots][0].Value)
	sd := snapshot.Digest(sb)
	if err != nil || ev.Seqno != seqno || e.TxID.Seqno != seqno+1 || ev.Digest != hex.EncodeToString(sd[:]) {
		return nil, nil, fmt.Errorf("%w: the evidence is not this snapshot's", ErrTampered)
	}
	snap, err := snapshot.Decode(sb, c.cfg.Secret)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: snapshot: %v", ErrTampered, err)
	}
	return snap, sb, nil
}

// compact gives raft the newest committed snapshot S, so that it can
// send it to a node that needs entries it no longer keeps, and drops
// raft's in-memory log up to S − CompactKeep.
func (c *Core) compact(s uint64) error {
	if s <= c.files.Base() {
		return nil // the installed snapshot: raft has it already
	}
	if snap, err := c.ms.Snapshot(); err == nil && snap.Metadata.Index >= s {
		return nil
	}
	sb, err := os.ReadFile(filepath.Join(c.snapDir(), snapName(s, true)))
	if err != nil {
		return err
	}
	eb, err := c.files.Read(s + 1)
	if err != nil {
		return err
	}
	r, err := c.Receipt(s + 1)
	if err != nil {
		return nil // not provable yet; the next commit tries again
	}
	rb, err := json.Marshal(r)
	if err != nil {
		return err
	}
	cs := pb.ConfState{Voters: c.logVoters(s)}
	if _, err := c.ms.CreateSnapshot(s, &cs, snapPayload(sb, eb, rb)); err != nil {
		return nil // raft's log moved past it
	}
	if s > c.cfg.CompactKeep {
		if err := c.ms.Compact(s - c.cfg.CompactKeep); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return err
		}
	}
	return nil
}

// installSnapshot takes the snapshot raft received from the primary:
// checked against the service certificate, it replaces the node's state,
// and the ledger files start over after it (those held so far are moved
// aside).
func (c *Core) installSnapshot(rs pb.Snapshot) error {
	s := rs.Metadata.Index
	snap, sb, err := c.verifyPayload(rs.Data, s)
	if err != nil {
		return err
	}
	if err := c.files.Reset(s); err != nil {
		return err
	}
	if err := os.MkdirAll(c.snapDir(), 0o700); err != nil {
		return err
	}
	for name, b := range map[string][]byte{snapName(s, true): sb, snapName(s, false) + ".payload": rs.Data} {
		if err := os.WriteFile(filepath.Join(c.snapDir(), name), b, 0o600); err != nil {
			return err
		}
	}
	if err := syncDir(c.snapDir()); err != nil {
		return err
	}
	c.restore(snap)
	c.raftCommit, c.commitSig, c.pending = s, s, nil
	c.committedSnap, c.compacted, c.basePayload = s, s, rs.Data
	return nil
}

// restore replaces the state, tree, views and signatures with a
// snapshot's.
func (c *Core) restore(snap *snapshot.Snapshot) {
	c.kv.Load(snap.Seqno, snap.State)
	c.tree = merkle.Tree{}
	for _, l := range snap.Leaves {
		c.tree.Append(l)
	}
	c.views, c.sigs = snap.Views, snap.Sigs
	c.confLog = []confAt{{seqno: snap.Seqno, voters: snap.Voters}}
	c.lastSnap, c.chunk = snap.Seqno, 0
}

// ErrHistorical: the transaction precedes the node's ledger files (it
// joined from a snapshot) and the chunk holding it has not been fetched
// from a peer yet.
var ErrHistorical = errors.New("node: the transaction precedes this node's ledger files; its chunk is not here yet")

func (c *Core) histDir() string { return filepath.Join(c.cfg.Dir, "historical") }

// readHistorical reads an entry before the files' base from the chunks
// fetched from peers.
func (c *Core) readHistorical(seqno uint64) ([]byte, error) {
	es, _ := os.ReadDir(c.histDir())
	for _, e := range es {
		start, end, committed, ok := files.ParseName(e.Name())
		if !ok || !committed || seqno < start || seqno > end {
			continue
		}
		b, err := os.ReadFile(filepath.Join(c.histDir(), e.Name()))
		if err != nil {
			return nil, err
		}
		_, entries, err := files.ParseChunk(e.Name(), b)
		if err != nil {
			return nil, err
		}
		return entries[seqno-start], nil
	}
	return nil, ErrHistorical
}

// HistoricalBase is the seqno the node's own files start after (0: it
// holds every entry).
func (c *Core) HistoricalBase() uint64 { return c.files.Base() }

// AddHistorical keeps a committed chunk fetched from a peer, after
// checking every entry's leaf against the node's Merkle tree (restored
// from the snapshot, itself proven by a receipt): a peer cannot pass
// off other bytes.
func (c *Core) AddHistorical(name string, b []byte) error {
	start, entries, err := files.ParseChunk(name, b)
	if err != nil {
		return err
	}
	for i, eb := range entries {
		s := start + uint64(i)
		h, err := entry.ParseHeader(eb)
		if err != nil {
			return err
		}
		leaf, err := c.tree.Leaf(s - 1)
		if err != nil || h.Leaf(eb) != leaf {
			return fmt.Errorf("%w: %s: entry %d is not the ledger's", ErrTampered, name, s)
		}
	}
	if err := os.MkdirAll(c.histDir(), 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(c.histDir(), name+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.histDir(), name))
}
