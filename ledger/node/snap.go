package node

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/merkle"
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
	s := c.tree.Size()
	snap := &snapshot.Snapshot{Seqno: s, View: c.views[s-1], Voters: c.logVoters(s),
		Views: slices.Clone(c.views), Sigs: slices.Clone(c.sigs), State: c.kv.Dump()}
	snap.Leaves = make([]merkle.Hash, s)
	for i := range snap.Leaves {
		snap.Leaves[i], _ = c.tree.Leaf(uint64(i))
	}
	return snapshot.Encode(snap, c.cfg.Secret)
}

// applyEvidence checks a snapshot evidence transaction against the
// node's own state (after seqno−1) and keeps the snapshot, uncommitted.
func (c *Core) applyEvidence(e *entry.Entry) error {
	w := e.Writes[MapSnapshots]
	if len(w) != 1 {
		return fmt.Errorf("%w: snapshot evidence %s without evidence", ErrTampered, e.TxID)
	}
	ev, err := snapshot.ParseEvidence(w[0].Value)
	if err != nil || ev.Seqno != e.TxID.Seqno-1 || ev.Seqno != c.tree.Size() {
		return fmt.Errorf("%w: snapshot evidence %s is not for the state before it", ErrTampered, e.TxID)
	}
	b := c.snapCache
	if c.snapCacheSeqno != ev.Seqno || b == nil {
		if b, err = c.encodeSnapshot(); err != nil {
			return err
		}
	}
	c.snapCache = nil
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
		c.pending = append(c.pending, pendingSnap{ev.Seqno, e.TxID.Seqno})
	}
	c.lastSnap = ev.Seqno
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
		c.kv.Load(s, snap.State)
		for _, l := range snap.Leaves {
			c.tree.Append(l)
		}
		c.views, c.sigs = snap.Views, snap.Sigs
		c.confLog = []confAt{{seqno: s, voters: snap.Voters}}
		c.lastSnap = s
		c.restoredFrom = s
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
