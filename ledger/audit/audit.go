// Package audit checks a directory of ledger files without the ledger
// secret: the framing, every entry's header, the Merkle tree recomputed
// from the entries' bytes, and every signature transaction against the
// service certificate. It reports the first corrupt byte range. It
// never writes: a torn tail that a node would cut is reported, not cut.
package audit

import (
	"cmp"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/files"
	"github.com/confide/confide/ledger/merkle"
	"github.com/confide/confide/ledger/receipt"
)

// Report is what an audit found.
type Report struct {
	Transactions uint64
	Signatures   int
	// LastSigned is the seqno of the last verified signature: every
	// transaction up to it is proven.
	LastSigned uint64
	// Unsigned counts transactions after the last signature (not
	// covered yet; normal in an uncommitted tail).
	Unsigned uint64
	// Corrupt, if set, is the first damage found.
	Corrupt *Damage
}

// Damage locates corruption: a byte range of one file (or of several
// when a signature fails: the damage lies somewhere in the entries the
// signature covers since the previous one).
type Damage struct {
	File       string
	Start, End int64 // [Start, End)
	EndFile    string
	Seqno      uint64
	Reason     string
}

func (d *Damage) String() string {
	if d.EndFile != "" && d.EndFile != d.File {
		return fmt.Sprintf("%s byte %d to %s byte %d (seqno %d): %s", d.File, d.Start, d.EndFile, d.End, d.Seqno, d.Reason)
	}
	return fmt.Sprintf("%s bytes [%d, %d) (seqno %d): %s", d.File, d.Start, d.End, d.Seqno, d.Reason)
}

type chunk struct {
	name       string
	start, end uint64
	committed  bool
}

// proven is an entry waiting for a signature to cover it.
type proven struct {
	h   *entry.Header
	enc []byte
}

// pos is where an entry is.
type pos struct {
	file     string
	off, end int64
}

// Dir audits the ledger files in dir against the service certificate.
func Dir(dir string, service *x509.Certificate) (*Report, error) {
	return Walk(dir, service, nil)
}

// Walk is Dir that also hands each entry the audit proved — those up to
// a verified signature, in seqno order, once that signature verifies —
// to visit with its parsed header and bytes. Disaster recovery reads the
// public state this way (package recovery).
func Walk(dir string, service *x509.Certificate, visit func(h *entry.Header, encoded []byte)) (*Report, error) {
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var chunks []chunk
	for _, n := range names {
		if c, ok := parseName(n.Name()); ok {
			chunks = append(chunks, c)
		}
	}
	if len(chunks) == 0 {
		return nil, fmt.Errorf("audit: no ledger files in %s", dir)
	}
	slices.SortFunc(chunks, func(a, b chunk) int { return cmp.Compare(a.start, b.start) })
	r := &Report{}
	var tree merkle.Tree
	var where []pos // where[s-1]: the entry at seqno s
	lastSig := uint64(0)
	next := uint64(1)
	// Entries since the last signature: visited once one covers them.
	var pending []proven
	certs := map[string]string{} // node ID → certificate, from the nodes map
	fail := func(d Damage) (*Report, error) {
		r.Corrupt = &d
		return r, nil
	}
	for _, c := range chunks {
		b, err := os.ReadFile(filepath.Join(dir, c.name))
		if err != nil {
			return nil, err
		}
		if c.start != next {
			return fail(Damage{File: c.name, Start: 0, End: 0, Seqno: next, Reason: fmt.Sprintf("starts at seqno %d; seqno %d is missing", c.start, next)})
		}
		if len(b) < files.HeaderSize || string(b[:4]) != "CFLF" || b[4] != 1 || binary.BigEndian.Uint64(b[5:]) != c.start {
			return fail(Damage{File: c.name, Start: 0, End: min(files.HeaderSize, int64(len(b))), Seqno: next, Reason: "bad file header"})
		}
		off := int64(files.HeaderSize)
		for off < int64(len(b)) {
			if !c.committed && (int64(len(b))-off < files.FrameHeader || binary.BigEndian.Uint32(b[off:]) == 0) {
				break // the space reserved ahead of the chunk being written
			}
			n, ok := files.FrameAt(b, off)
			if !ok {
				end := min(int64(len(b)), off+files.FrameHeader+int64(binary.BigEndian.Uint32(b[off:])))
				return fail(Damage{File: c.name, Start: off, End: end, Seqno: next, Reason: "frame fails its checksum or runs past the end of the file"})
			}
			end := off + files.FrameHeader + n
			enc := b[off+files.FrameHeader : end]
			h, err := entry.ParseHeader(enc)
			if err != nil {
				return fail(Damage{File: c.name, Start: off, End: end, Seqno: next, Reason: err.Error()})
			}
			if h.TxID.Seqno != next {
				return fail(Damage{File: c.name, Start: off, End: end, Seqno: next, Reason: fmt.Sprintf("holds seqno %d", h.TxID.Seqno)})
			}
			where = append(where, pos{c.name, off, end})
			for _, w := range h.Public["public:confide.nodes"] {
				if !w.Deleted {
					certs[string(w.Key)] = string(w.Value)
				}
			}
			if h.Flags&entry.FlagSignature != 0 {
				if reason := checkSignature(h, tree.Root(), service, certs); reason != "" {
					// Something between the last good signature and this
					// one (inclusive) was changed.
					from := pos{file: c.name, off: off}
					if lastSig < next-1 {
						from = where[lastSig]
					}
					return fail(Damage{File: from.file, Start: from.off, EndFile: c.name, End: end, Seqno: next, Reason: reason})
				}
				r.Signatures++
				lastSig = next
				if visit != nil {
					pending = append(pending, proven{h, enc})
					for _, p := range pending {
						visit(p.h, p.enc)
					}
					pending = pending[:0]
				}
			} else if visit != nil {
				pending = append(pending, proven{h, enc})
			}
			tree.Append(h.Leaf(enc))
			off = end
			next++
		}
		if c.committed && next-1 != c.end {
			return fail(Damage{File: c.name, Start: off, End: off, Seqno: next, Reason: fmt.Sprintf("holds seqnos to %d; its name says %d", next-1, c.end)})
		}
	}
	r.Transactions = next - 1
	r.LastSigned = lastSig
	r.Unsigned = r.Transactions - lastSig
	return r, nil
}

func checkSignature(h *entry.Header, root merkle.Hash, service *x509.Certificate, certs map[string]string) string {
	w := h.Public["public:confide.signatures"]
	if len(w) != 1 {
		return "signature transaction without a signature"
	}
	sig, err := receipt.ParseSignature(w[0].Value)
	if err != nil {
		return err.Error()
	}
	if sig.Cert == "" {
		if sig.Cert = certs[sig.Node]; sig.Cert == "" {
			return "signed by node " + sig.Node + ", whose certificate the ledger does not hold"
		}
	}
	got, err := sig.RootHash()
	if err != nil {
		return err.Error()
	}
	if sig.Seqno != h.TxID.Seqno || sig.View != h.TxID.View {
		return "the signature names another transaction"
	}
	if got != root {
		return "the signed root is not the root of the entries before it"
	}
	if err := sig.Verify(service); err != nil {
		return err.Error()
	}
	return ""
}

func parseName(name string) (chunk, bool) {
	start, end, committed, ok := files.ParseName(name)
	return chunk{name: name, start: start, end: end, committed: committed}, ok
}
