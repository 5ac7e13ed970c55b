package files

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/confide/confide/ledger/entry"
)

// File format (spec/ledger-files.md): "CFLF" ‖ version 0x01 ‖ first seqno
// (8), then per entry a frame: length (4) ‖ CRC-32C of the entry (4) ‖
// the entry (package entry).
const (
	magic   = "CFLF"
	version = 1
	// HeaderSize is the size of a file's header.
	HeaderSize = 4 + 1 + 8
	// FrameHeader is the size of a frame's header: length and CRC-32C.
	FrameHeader     = 4 + 4
	prefix          = "ledger_"
	committedSuffix = ".committed"
)

// Errors.
var (
	ErrSeqno   = errors.New("files: entries must be appended in seqno order")
	ErrCorrupt = errors.New("files: corrupt ledger file")
)

// chunk is one ledger file.
type chunk struct {
	start, end uint64 // seqnos [start, end]; end < start: empty
	committed  bool
	ended      bool // its last entry ends the chunk (FlagChunkEnd)
	path       string
	offsets    []int64 // file offset of each entry's frame
	dataEnd    int64   // where the frames end (space may be reserved after)
}

// Ledger is a directory of ledger files: committed chunks, immutable and
// named ledger_<start>-<end>.committed, and the uncommitted tail, named
// ledger_<start>. The primary decides where a chunk ends (the entry's
// FlagChunkEnd); a chunk becomes committed when its last entry is, and
// raft may truncate only the uncommitted tail. It is not safe for
// concurrent use.
type Ledger struct {
	dir    string
	base   uint64 // the files start after this seqno (a node that installed a snapshot)
	chunks []*chunk
	tail   *tailFile // the open uncommitted chunk, or nil
	next   uint64    // the next seqno
	commit uint64    // the highest committed seqno
}

// Open reads a ledger directory (creating it if needed). A torn last
// frame of the uncommitted tail — a crash mid-write — is cut off; any
// other damage is ErrCorrupt.
func Open(dir string) (*Ledger, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Ledger{dir: dir, next: 1}
	if b, err := os.ReadFile(filepath.Join(dir, baseFile)); err == nil {
		if l.base, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, baseFile, err)
		}
		l.next, l.commit = l.base+1, l.base
	}
	for _, n := range names {
		c, ok := parseName(n.Name())
		if !ok {
			continue
		}
		c.path = filepath.Join(dir, n.Name())
		l.chunks = append(l.chunks, c)
	}
	slices.SortFunc(l.chunks, func(a, b *chunk) int { return cmp.Compare(a.start, b.start) })
	for i, c := range l.chunks {
		last := i == len(l.chunks)-1
		if c.start != l.next {
			return nil, fmt.Errorf("%w: %s does not follow seqno %d", ErrCorrupt, filepath.Base(c.path), l.next-1)
		}
		if c.committed && i > 0 && !l.chunks[i-1].committed {
			return nil, fmt.Errorf("%w: committed %s follows an uncommitted chunk", ErrCorrupt, filepath.Base(c.path))
		}
		if err := c.scan(!c.committed && last); err != nil {
			return nil, err
		}
		if c.committed && c.end < c.start {
			return nil, fmt.Errorf("%w: empty committed chunk %s", ErrCorrupt, filepath.Base(c.path))
		}
		c.ended = c.committed || l.closed(c)
		if !c.committed && !last && !c.ended {
			return nil, fmt.Errorf("%w: %s is followed by another chunk but does not end one", ErrCorrupt, filepath.Base(c.path))
		}
		l.next = c.end + 1
		if c.committed {
			l.commit = c.end
		}
	}
	return l, nil
}

func parseName(name string) (*chunk, bool) {
	start, end, committed, ok := ParseName(name)
	if !ok {
		return nil, false
	}
	return &chunk{start: start, end: end, committed: committed}, true
}

// ParseName reads a chunk file's name: ledger_<start> (end = start − 1,
// not known from the name) or ledger_<start>-<end>.committed.
func ParseName(name string) (start, end uint64, committed, ok bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, 0, false, false
	}
	if r, ok := strings.CutSuffix(rest, committedSuffix); ok {
		s, e, ok := strings.Cut(r, "-")
		start, err1 := strconv.ParseUint(s, 10, 64)
		end, err2 := strconv.ParseUint(e, 10, 64)
		if !ok || err1 != nil || err2 != nil || start == 0 || end < start {
			return 0, 0, false, false
		}
		return start, end, true, true
	}
	start, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || start == 0 {
		return 0, 0, false, false
	}
	return start, start - 1, false, true
}

// scan reads a chunk's frames; repair allows cutting a torn last frame.
func (c *chunk) scan(repair bool) error {
	b, err := os.ReadFile(c.path)
	if err != nil {
		return err
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: %s: %s", ErrCorrupt, filepath.Base(c.path), why)
	}
	if len(b) < HeaderSize || string(b[:4]) != magic || b[4] != version || binary.BigEndian.Uint64(b[5:]) != c.start {
		return bad("header")
	}
	off := int64(HeaderSize)
	seq := c.start
	c.offsets = nil
	for off < int64(len(b)) {
		n, ok := frameAt(b, off)
		if !ok {
			// Space reserved ahead, or a frame whose write a crash tore:
			// the data ends here (only in the chunk being written, and
			// only if the frame shows the marks of a torn write).
			if !c.committed && torn(b, off) {
				return c.torn(repair, off, bad(fmt.Sprintf("torn frame at offset %d", off)))
			}
			return bad(fmt.Sprintf("frame at offset %d (seqno %d)", off, seq))
		}
		h, err := entry.ParseHeader(b[off+FrameHeader : off+FrameHeader+n])
		if err != nil || h.TxID.Seqno != seq {
			return bad(fmt.Sprintf("entry at offset %d (seqno %d)", off, seq))
		}
		c.offsets = append(c.offsets, off)
		off += FrameHeader + n
		seq++
	}
	if c.committed && seq-1 != c.end {
		return bad(fmt.Sprintf("holds seqnos to %d, its name says %d", seq-1, c.end))
	}
	c.end = seq - 1
	c.dataEnd = off
	return nil
}

// FrameAt reads the frame at off in a chunk file's bytes: its entry's
// length, if the frame is whole and its checksum holds.
func FrameAt(b []byte, off int64) (int64, bool) { return frameAt(b, off) }

func frameAt(b []byte, off int64) (int64, bool) {
	if int64(len(b))-off < FrameHeader {
		return 0, false
	}
	n := int64(binary.BigEndian.Uint32(b[off:]))
	if n == 0 || n > entry.MaxEntry || off+FrameHeader+n > int64(len(b)) {
		return 0, false
	}
	sum := binary.BigEndian.Uint32(b[off+4:])
	return n, crc32.Checksum(b[off+FrameHeader:off+FrameHeader+n], crcTable) == sum
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// torn reports whether the bad frame at off looks like a write a crash
// cut short rather than damage: it runs past the end of the file, or its
// length is zero (space reserved ahead), or one of its pieces between
// 512-byte sector boundaries is all zeros (a sector never written), as
// etcd recognises torn WAL records.
func torn(b []byte, off int64) bool {
	if int64(len(b))-off < FrameHeader {
		return true
	}
	n := int64(binary.BigEndian.Uint32(b[off:]))
	end := off + FrameHeader + n
	if n == 0 || end > int64(len(b)) {
		return true
	}
	for lo := off; lo < end; {
		hi := min((lo/512+1)*512, end)
		if allZero(b[lo:hi]) {
			return true
		}
		lo = hi
	}
	return false
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func (c *chunk) torn(repair bool, off int64, err error) error {
	if !repair {
		return err
	}
	c.end = c.start + uint64(len(c.offsets)) - 1
	c.dataEnd = off
	return os.Truncate(c.path, off)
}

// baseFile names the seqno the files start after, when they do not
// start at 1.
const baseFile = "base"

// ErrBefore reports a seqno before the files' base.
var ErrBefore = errors.New("files: the seqno precedes this node's ledger files (it started from a snapshot)")

// Base is the seqno the files start after (0: they hold every entry).
func (l *Ledger) Base() uint64 { return l.base }

// Reset starts the files over after seqno base, as when a node installs
// a snapshot: the chunks held so far are moved, not deleted, to a
// directory beside this one, ledger.before-<base>.
func (l *Ledger) Reset(base uint64) error {
	if l.tail != nil {
		l.tail.close()
		l.tail = nil
	}
	if len(l.chunks) > 0 {
		aside := filepath.Join(filepath.Dir(l.dir), filepath.Base(l.dir)+".before-"+strconv.FormatUint(base, 10))
		if err := os.MkdirAll(aside, 0o700); err != nil {
			return err
		}
		for _, c := range l.chunks {
			if err := os.Rename(c.path, filepath.Join(aside, filepath.Base(c.path))); err != nil {
				return err
			}
		}
	}
	tmp := filepath.Join(l.dir, baseFile+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(base, 10)+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(l.dir, baseFile)); err != nil {
		return err
	}
	l.chunks, l.base, l.next, l.commit = nil, base, base+1, base
	return syncDir(l.dir)
}

// Next is the seqno the next Append takes.
func (l *Ledger) Next() uint64 { return l.next }

// Committed is the highest committed seqno.
func (l *Ledger) Committed() uint64 { return l.commit }

// Append writes an encoded entry, which must carry the next seqno. An
// entry flagged FlagChunkEnd closes its chunk.
func (l *Ledger) Append(encoded []byte) error {
	h, err := entry.ParseHeader(encoded)
	if err != nil {
		return err
	}
	if h.TxID.Seqno != l.next {
		return fmt.Errorf("%w: %d, want %d", ErrSeqno, h.TxID.Seqno, l.next)
	}
	if l.tail == nil {
		if err := l.openTail(); err != nil {
			return err
		}
	}
	c := l.chunks[len(l.chunks)-1]
	c.offsets = append(c.offsets, l.tail.end())
	l.tail.buf = binary.BigEndian.AppendUint32(l.tail.buf, uint32(len(encoded)))
	l.tail.buf = binary.BigEndian.AppendUint32(l.tail.buf, crc32.Checksum(encoded, crcTable))
	l.tail.buf = append(l.tail.buf, encoded...)
	c.end = l.next
	c.dataEnd = l.tail.end()
	l.next++
	if h.Flags&entry.FlagChunkEnd != 0 {
		c.ended = true
		if err := l.tail.finish(); err != nil {
			return err
		}
		l.tail = nil
	}
	return nil
}

// Prealloc is the space reserved ahead of an open chunk's frames (as
// etcd's WAL does), so that appending does not change the file's size
// and fdatasync need not write its metadata. Reading stops at the zeros.
const Prealloc = 16 << 20

// tailFile is the open chunk: frames are buffered until Sync, written in
// one call into space reserved ahead, and made durable with fdatasync.
type tailFile struct {
	f     *os.File
	buf   []byte // frames not written yet
	woff  int64  // where buf goes
	alloc int64  // the file's size
}

func openTailFile(path string, flag int, woff int64) (*tailFile, error) {
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &tailFile{f: f, woff: woff, alloc: fi.Size()}, nil
}

func (t *tailFile) end() int64 { return t.woff + int64(len(t.buf)) }

// flush writes the buffered frames, reserving space when needed.
func (t *tailFile) flush() error {
	if len(t.buf) == 0 {
		return nil
	}
	if need := t.end(); need > t.alloc {
		grow := max(int64(Prealloc), need-t.alloc)
		// Where fallocate is not supported the file simply grows.
		if unix.Fallocate(int(t.f.Fd()), 0, t.alloc, grow) == nil {
			t.alloc += grow
		}
	}
	if _, err := t.f.WriteAt(t.buf, t.woff); err != nil {
		return err
	}
	t.woff += int64(len(t.buf))
	t.buf = t.buf[:0]
	return nil
}

func (t *tailFile) sync() error {
	if err := t.flush(); err != nil {
		return err
	}
	return unix.Fdatasync(int(t.f.Fd()))
}

// finish ends the chunk: the reserved space is cut off, so that the
// file holds exactly its frames (committed chunks are byte-identical on
// every node), and it is synced and closed.
func (t *tailFile) finish() error {
	if err := t.flush(); err != nil {
		t.f.Close()
		return err
	}
	if err := t.f.Truncate(t.woff); err != nil {
		t.f.Close()
		return err
	}
	if err := t.f.Sync(); err != nil {
		t.f.Close()
		return err
	}
	return t.f.Close()
}

func (t *tailFile) close() error {
	err := t.flush()
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// openTail starts a new uncommitted chunk at the next seqno, or reopens
// the one the directory holds.
func (l *Ledger) openTail() error {
	if n := len(l.chunks); n > 0 && !l.chunks[n-1].committed && !l.chunks[n-1].ended {
		c := l.chunks[n-1]
		t, err := openTailFile(c.path, os.O_RDWR, c.dataEnd)
		if err != nil {
			return err
		}
		l.tail = t
		return nil
	}
	c := &chunk{start: l.next, end: l.next - 1, path: filepath.Join(l.dir, prefix+strconv.FormatUint(l.next, 10)), dataEnd: HeaderSize}
	t, err := openTailFile(c.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0)
	if err != nil {
		return err
	}
	hdr := append([]byte(magic), version)
	t.buf = binary.BigEndian.AppendUint64(hdr, c.start)
	l.chunks = append(l.chunks, c)
	l.tail = t
	return nil
}

// closed reports whether an uncommitted chunk ended on a chunk-end entry.
func (l *Ledger) closed(c *chunk) bool {
	if c.end < c.start {
		return false
	}
	b, err := l.readAt(c, c.end)
	if err != nil {
		return false
	}
	h, err := entry.ParseHeader(b)
	return err == nil && h.Flags&entry.FlagChunkEnd != 0
}

// Sync makes appended entries durable.
func (l *Ledger) Sync() error {
	if l.tail == nil {
		return nil
	}
	return l.tail.sync()
}

// Commit records that every entry up to seqno is committed: chunks that
// end at or before it become immutable, renamed .committed.
func (l *Ledger) Commit(seqno uint64) error {
	if seqno >= l.next {
		return fmt.Errorf("files: commit of %d beyond the last entry %d", seqno, l.next-1)
	}
	if seqno <= l.commit {
		return nil
	}
	l.commit = seqno
	renamed := false
	for _, c := range l.chunks {
		if c.committed || c.end > seqno || !c.ended {
			continue
		}
		renamed = true
		name := filepath.Join(l.dir, fmt.Sprintf("%s%d-%d%s", prefix, c.start, c.end, committedSuffix))
		if err := os.Rename(c.path, name); err != nil {
			return err
		}
		c.path, c.committed = name, true
	}
	if !renamed {
		return nil
	}
	return syncDir(l.dir)
}

// Truncate drops every entry after seqno, which raft may ask of a
// follower's uncommitted tail; committed entries cannot be dropped.
func (l *Ledger) Truncate(seqno uint64) error {
	if seqno < l.commit || seqno < l.base {
		return fmt.Errorf("files: truncation to %d below the committed %d", seqno, l.commit)
	}
	if seqno+1 >= l.next {
		return nil
	}
	if l.tail != nil {
		if err := l.tail.close(); err != nil {
			return err
		}
		l.tail = nil
	}
	for len(l.chunks) > 0 {
		c := l.chunks[len(l.chunks)-1]
		if c.start > seqno {
			if err := os.Remove(c.path); err != nil {
				return err
			}
			l.chunks = l.chunks[:len(l.chunks)-1]
			continue
		}
		keep := seqno - c.start + 1
		if keep < uint64(len(c.offsets)) {
			cut := c.offsets[keep]
			if err := os.Truncate(c.path, cut); err != nil {
				return err
			}
			c.offsets = c.offsets[:keep]
			c.dataEnd = cut
			c.ended = false
		}
		c.end = seqno
		break
	}
	l.next = seqno + 1
	return nil
}

// Read returns the encoded entry at seqno.
func (l *Ledger) Read(seqno uint64) ([]byte, error) {
	if seqno <= l.base {
		return nil, ErrBefore
	}
	for _, c := range l.chunks {
		if seqno >= c.start && seqno <= c.end {
			return l.readAt(c, seqno)
		}
	}
	return nil, fmt.Errorf("files: no entry %d", seqno)
}

func (l *Ledger) readAt(c *chunk, seqno uint64) ([]byte, error) {
	if l.tail != nil && c == l.chunks[len(l.chunks)-1] {
		if err := l.tail.flush(); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(c.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	off := c.offsets[seqno-c.start]
	var n [4]byte
	if _, err := f.ReadAt(n[:], off); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := f.ReadAt(b, off+FrameHeader); err != nil {
		return nil, err
	}
	return b, nil
}

// Close closes the open chunk.
func (l *Ledger) Close() error {
	if l.tail == nil {
		return nil
	}
	err := l.tail.close()
	l.tail = nil
	return err
}

// CommittedChunks lists the committed chunk files, for backup and audit.
func (l *Ledger) CommittedChunks() []string {
	var out []string
	for _, c := range l.chunks {
		if c.committed {
			out = append(out, c.path)
		}
	}
	return out
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ParseChunk reads a committed chunk file from elsewhere (a peer, a
// backup): its name, header and frames must agree, and every frame must
// hold an entry header with the next seqno. Whether the entries are the
// ledger's is for the caller to check (against the Merkle tree).
func ParseChunk(name string, b []byte) (start uint64, entries [][]byte, err error) {
	start, end, committed, ok := ParseName(name)
	if !ok || !committed {
		return 0, nil, fmt.Errorf("%w: %q is not a committed chunk's name", ErrCorrupt, name)
	}
	if len(b) < HeaderSize || string(b[:4]) != magic || b[4] != version || binary.BigEndian.Uint64(b[5:]) != start {
		return 0, nil, fmt.Errorf("%w: %s: header", ErrCorrupt, name)
	}
	off := int64(HeaderSize)
	for seq := start; off < int64(len(b)); seq++ {
		n, ok := frameAt(b, off)
		if !ok {
			return 0, nil, fmt.Errorf("%w: %s: frame at offset %d", ErrCorrupt, name, off)
		}
		e := b[off+FrameHeader : off+FrameHeader+n]
		h, err := entry.ParseHeader(e)
		if err != nil || h.TxID.Seqno != seq {
			return 0, nil, fmt.Errorf("%w: %s: entry at offset %d", ErrCorrupt, name, off)
		}
		entries = append(entries, e)
		off += FrameHeader + n
	}
	if uint64(len(entries)) != end-start+1 {
		return 0, nil, fmt.Errorf("%w: %s holds %d entries", ErrCorrupt, name, len(entries))
	}
	return start, entries, nil
}

// FrameOffsets lists where a chunk file's frames start, as far as their
// lengths lead, and where they end (space may be reserved after); the
// frames' checksums are not checked. For tools and tests that take files
// apart.
func FrameOffsets(b []byte) (offsets []int64, end int64) {
	off := int64(HeaderSize)
	for off+FrameHeader <= int64(len(b)) {
		n := int64(binary.BigEndian.Uint32(b[off:]))
		if n == 0 || off+FrameHeader+n > int64(len(b)) {
			break
		}
		offsets = append(offsets, off)
		off += FrameHeader + n
	}
	return offsets, off
}
