package entry

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/confide/confide/ledger/merkle"
)

// Format constants (spec/ledger-entry.md).
const (
	magic   = "CFLE"
	Version = 1
	// headerSize: magic, version, flags, view, seqno, commit evidence
	// digest, claims digest, public and private lengths.
	headerSize = 4 + 1 + 1 + 8 + 8 + 32 + 32 + 4 + 4
	// Offsets of the header's commit evidence digest and claims digest.
	ceAt, claimsAt = 4 + 1 + 1 + 8 + 8, 4 + 1 + 1 + 8 + 8 + 32
	// MaxEntry bounds an entry's size (and each part's).
	MaxEntry = 64 << 20
	// maxField bounds a map name, key or value.
	maxField = 16 << 20

	publicPrefix = "public:"
)

// Flags of an entry.
const (
	// FlagChunkEnd: the primary ends a ledger chunk after this entry.
	FlagChunkEnd = 1 << iota
	// FlagSignature: a signature transaction.
	FlagSignature
	// FlagSnapshot: the entry records a snapshot's digest.
	FlagSnapshot
	knownFlags = FlagChunkEnd | FlagSignature | FlagSnapshot
)

// Errors.
var (
	ErrFormat = errors.New("entry: malformed ledger entry")
	ErrAuth   = errors.New("entry: the private write set does not authenticate (tampered, or another ledger secret)")
)

// TxID is a transaction ID, view.seqno.
type TxID struct{ View, Seqno uint64 }

func (t TxID) String() string {
	return strconv.FormatUint(t.View, 10) + "." + strconv.FormatUint(t.Seqno, 10)
}

// ParseTxID reads "view.seqno".
func ParseTxID(s string) (TxID, error) {
	v, q, ok := strings.Cut(s, ".")
	view, err1 := strconv.ParseUint(v, 10, 64)
	seq, err2 := strconv.ParseUint(q, 10, 64)
	if !ok || err1 != nil || err2 != nil || view == 0 || seq == 0 {
		return TxID{}, fmt.Errorf("entry: transaction ID %q: want view.seqno, both from 1", s)
	}
	return TxID{view, seq}, nil
}

// Write is one key's new value in a map, or its deletion.
type Write struct {
	Key, Value []byte
	Deleted    bool
}

// WriteSet maps a map's name to its writes.
type WriteSet map[string][]Write

// Entry is a transaction as the ledger records it.
type Entry struct {
	TxID  TxID
	Flags uint8
	// Writes holds every map's writes; Encode puts maps named public:…
	// in clear and the others in the encrypted part.
	Writes WriteSet
	// Claims is the digest an app attaches to the leaf (zero: none).
	Claims merkle.Hash
}

// Secret is the ledger's secrets: the keys of private write sets and the
// roots of commit evidence. A rekey adds a secret for the transactions
// from a seqno on (spec/ledger-entry.md); each operation takes the
// secret in effect at its transaction's seqno.
type Secret struct {
	mu     sync.RWMutex
	epochs []epoch // ascending by from; the first from 1
}

type epoch struct {
	from uint64
	raw  []byte
	keys *keys
}

type keys struct {
	aead   cipher.AEAD
	snap   cipher.AEAD // seals snapshots' private state
	commit []byte      // HMAC key of commit evidence
	// macs holds keyed HMACs of commit: Reset brings one back to its
	// keyed state, saving the two key blocks New hashes every time.
	macs sync.Pool
}

// Epoch is one ledger secret and the first seqno it encrypts.
type Epoch struct {
	From   uint64 `json:"from"`
	Secret []byte `json:"secret"`
}

// NewSecret derives the ledger's keys from a 32-byte ledger secret, in
// effect from seqno 1.
func NewSecret(s []byte) (*Secret, error) {
	k, err := deriveKeys(s)
	if err != nil {
		return nil, err
	}
	return &Secret{epochs: []epoch{{from: 1, raw: append([]byte(nil), s...), keys: k}}}, nil
}

// NewKeyring is NewSecret for several epochs (Epochs' output).
func NewKeyring(es []Epoch) (*Secret, error) {
	if len(es) == 0 || es[0].From != 1 {
		return nil, fmt.Errorf("entry: a keyring starts at seqno 1")
	}
	s, err := NewSecret(es[0].Secret)
	if err != nil {
		return nil, err
	}
	for _, e := range es[1:] {
		if err := s.Add(e.From, e.Secret); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Add puts a secret in effect from seqno from, which must follow every
// epoch's start (a rekey transaction at seqno from−1 adds it).
func (s *Secret) Add(from uint64, secret []byte) error {
	k, err := deriveKeys(secret)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if last := s.epochs[len(s.epochs)-1]; from <= last.from {
		if from == last.from && bytes.Equal(last.raw, secret) {
			return nil // the same rekey applied again
		}
		return fmt.Errorf("entry: a secret from seqno %d after one from %d", from, last.from)
	}
	s.epochs = append(s.epochs, epoch{from: from, raw: append([]byte(nil), secret...), keys: k})
	return nil
}

// Truncate forgets the secrets of epochs starting after seqno last+1:
// their rekey transactions were rolled back.
func (s *Secret) Truncate(last uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.epochs) > 1 && s.epochs[len(s.epochs)-1].from > last+1 {
		s.epochs = s.epochs[:len(s.epochs)-1]
	}
}

// Epochs lists the secrets, for sealing, recovery and joining nodes.
func (s *Secret) Epochs() []Epoch {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Epoch, len(s.epochs))
	for i, e := range s.epochs {
		out[i] = Epoch{From: e.from, Secret: append([]byte(nil), e.raw...)}
	}
	return out
}

// at is the keys in effect at seqno.
func (s *Secret) at(seqno uint64) *keys {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k := s.epochs[0].keys
	for _, e := range s.epochs[1:] {
		if e.from <= seqno {
			k = e.keys
		}
	}
	return k
}

func deriveKeys(s []byte) (*keys, error) {
	if len(s) != 32 {
		return nil, fmt.Errorf("entry: a ledger secret is 32 bytes, not %d", len(s))
	}
	enc, err := hkdf.Key(sha256.New, s, nil, "confide-ledger-v1 write sets", 32)
	if err != nil {
		return nil, err
	}
	commit, err := hkdf.Key(sha256.New, s, nil, "confide-ledger-v1 commit evidence", 32)
	if err != nil {
		return nil, err
	}
	snapKey, err := hkdf.Key(sha256.New, s, nil, "confide-ledger-v1 snapshots", 32)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(enc)
	if err != nil {
		return nil, err
	}
	snap, err := newGCM(snapKey)
	if err != nil {
		return nil, err
	}
	k := &keys{aead: aead, snap: snap, commit: commit}
	k.macs.New = func() any { return hmac.New(sha256.New, commit) }
	return k, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// SealState encodes a snapshot's state: the public maps in clear, the
// others sealed under the snapshot key (its own, so that no nonce is
// shared with transactions) with the nonce seqno (8) ‖ view (4); aad
// binds what precedes the sealed part in the snapshot.
func (s *Secret) SealState(seqno, view uint64, ws WriteSet, aad func(public []byte) []byte) (public, sealed []byte) {
	public = encodeWrites(ws, true)
	return public, s.at(seqno).snap.Seal(nil, iv(TxID{View: view, Seqno: seqno}), encodeWrites(ws, false), aad(public))
}

// OpenState decodes a snapshot's state.
func (s *Secret) OpenState(seqno, view uint64, public, sealed, aad []byte) (WriteSet, error) {
	priv, err := s.at(seqno).snap.Open(nil, iv(TxID{View: view, Seqno: seqno}), sealed, aad)
	if err != nil {
		return nil, ErrAuth
	}
	ws := WriteSet{}
	if err := decodeWrites(public, true, ws); err != nil {
		return nil, err
	}
	if err := decodeWrites(priv, false, ws); err != nil {
		return nil, err
	}
	return ws, nil
}

// iv is the GCM nonce of a transaction: its seqno and view, so that a
// seqno reused after a rollback (in a later view) never reuses an IV.
func iv(id TxID) []byte {
	out := binary.BigEndian.AppendUint64(nil, id.Seqno)
	return binary.BigEndian.AppendUint32(out, uint32(id.View))
}

// encodeWrites serializes maps in name order, writes in key order:
//
//	count (4) ‖ per map: name length (4) ‖ name ‖ writes (4) ‖ per write:
//	key length (4) ‖ key ‖ kind (1: 0 value, 1 deleted) ‖ [value length (4) ‖ value]
func encodeWrites(ws WriteSet, public bool) []byte {
	var names []string
	for n := range ws {
		if strings.HasPrefix(n, publicPrefix) == public {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	size := 4
	for _, n := range names {
		size += 8 + len(n)
		for _, w := range ws[n] {
			size += 9 + len(w.Key) + len(w.Value)
		}
	}
	out := make([]byte, 0, size)
	out = binary.BigEndian.AppendUint32(out, uint32(len(names)))
	for _, n := range names {
		out = binary.BigEndian.AppendUint32(out, uint32(len(n)))
		out = append(out, n...)
		writes := slices.Clone(ws[n])
		// Keys are unique in a write set (decodeWrites refuses repeats):
		// an unstable sort gives the one order.
		slices.SortFunc(writes, func(a, b Write) int { return bytes.Compare(a.Key, b.Key) })
		out = binary.BigEndian.AppendUint32(out, uint32(len(writes)))
		for _, w := range writes {
			out = binary.BigEndian.AppendUint32(out, uint32(len(w.Key)))
			out = append(out, w.Key...)
			if w.Deleted {
				out = append(out, 1)
				continue
			}
			out = append(out, 0)
			out = binary.BigEndian.AppendUint32(out, uint32(len(w.Value)))
			out = append(out, w.Value...)
		}
	}
	return out
}

// decodeWrites reads encodeWrites's form strictly: names and keys in
// order without repeats, public names only in the public part.
func decodeWrites(b []byte, public bool, into WriteSet) error {
	r := reader{b: b}
	n := r.u32()
	prevName := ""
	for i := uint32(0); i < n && r.err == nil; i++ {
		name := string(r.bytes())
		if r.err == nil && (name == "" || (i > 0 && name <= prevName) || strings.HasPrefix(name, publicPrefix) != public) {
			return fmt.Errorf("%w: map %q out of order or in the wrong part", ErrFormat, name)
		}
		prevName = name
		count := r.u32()
		var writes []Write
		var prevKey []byte
		for j := uint32(0); j < count && r.err == nil; j++ {
			key := r.bytes()
			if j > 0 && bytes.Compare(key, prevKey) <= 0 {
				return fmt.Errorf("%w: keys of map %q out of order", ErrFormat, name)
			}
			prevKey = key
			switch r.byte1() {
			case 0:
				writes = append(writes, Write{Key: key, Value: r.bytes()})
			case 1:
				writes = append(writes, Write{Key: key, Deleted: true})
			default:
				return fmt.Errorf("%w: write kind", ErrFormat)
			}
		}
		if r.err == nil {
			into[name] = writes
		}
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d bytes after the write set", ErrFormat, len(r.b))
	}
	return nil
}

// Encode serializes an entry, encrypting its private writes.
func (s *Secret) Encode(e *Entry) ([]byte, error) {
	if e.TxID.View == 0 || e.TxID.Seqno == 0 || e.TxID.View > 1<<32-1 {
		return nil, fmt.Errorf("entry: transaction ID %s out of range", e.TxID)
	}
	if e.Flags&^knownFlags != 0 {
		return nil, fmt.Errorf("entry: unknown flags %#x", e.Flags)
	}
	for name, ws := range e.Writes {
		if name == "" || len(name) > maxField {
			return nil, fmt.Errorf("entry: map name of %d bytes", len(name))
		}
		keys := make([][]byte, len(ws))
		for i, w := range ws {
			if len(w.Key) > maxField || len(w.Value) > maxField {
				return nil, fmt.Errorf("entry: a key or value over %d bytes in map %q", maxField, name)
			}
			keys[i] = w.Key
		}
		slices.SortFunc(keys, bytes.Compare)
		for i := 1; i < len(keys); i++ {
			if bytes.Equal(keys[i], keys[i-1]) {
				return nil, fmt.Errorf("entry: map %q has two writes to one key", name)
			}
		}
	}
	pub := encodeWrites(e.Writes, true)
	priv := encodeWrites(e.Writes, false)
	k := s.at(e.TxID.Seqno)
	sealedLen := len(priv) + k.aead.Overhead()
	if headerSize+len(pub)+sealedLen > MaxEntry {
		return nil, fmt.Errorf("entry: over %d bytes", MaxEntry)
	}
	out := make([]byte, 0, headerSize+len(pub)+sealedLen)
	out = append(out, magic...)
	out = append(out, Version, e.Flags)
	out = binary.BigEndian.AppendUint64(out, e.TxID.View)
	out = binary.BigEndian.AppendUint64(out, e.TxID.Seqno)
	// The commit evidence's digest is public so that anyone holding the
	// files recomputes the leaves; the evidence itself stays secret until
	// the transaction commits.
	ce := s.CommitEvidenceDigest(e.TxID)
	out = append(out, ce[:]...)
	out = append(out, e.Claims[:]...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(pub)))
	out = binary.BigEndian.AppendUint32(out, uint32(sealedLen))
	out = append(out, pub...)
	// The header and the public part are the additional data: moving a
	// private part to another entry fails its tag.
	return k.aead.Seal(out, iv(e.TxID), priv, out), nil
}

// Header is what an entry says of itself without the ledger secret.
type Header struct {
	TxID  TxID
	Flags uint8
	// Public holds the public maps' writes.
	Public WriteSet
	// CommitEvidenceDigest is SHA-256 of the commit evidence; Claims the
	// app's claims digest.
	CommitEvidenceDigest, Claims merkle.Hash
	// Private is the encrypted part.
	Private []byte
	aad     []byte
}

// ParseHeader reads an entry's header and public part: what a host, an
// auditor or a backup without the ledger secret can check.
func ParseHeader(b []byte) (*Header, error) {
	if len(b) < headerSize || string(b[:4]) != magic {
		return nil, fmt.Errorf("%w: no CFLE header", ErrFormat)
	}
	if b[4] != Version {
		return nil, fmt.Errorf("%w: version %d", ErrFormat, b[4])
	}
	h := &Header{Flags: b[5], Public: WriteSet{}}
	if h.Flags&^knownFlags != 0 {
		return nil, fmt.Errorf("%w: flags %#x", ErrFormat, h.Flags)
	}
	h.TxID = TxID{binary.BigEndian.Uint64(b[6:]), binary.BigEndian.Uint64(b[14:])}
	if h.TxID.View == 0 || h.TxID.Seqno == 0 || h.TxID.View > 1<<32-1 {
		return nil, fmt.Errorf("%w: transaction ID %s", ErrFormat, h.TxID)
	}
	copy(h.CommitEvidenceDigest[:], b[ceAt:])
	copy(h.Claims[:], b[claimsAt:])
	pubLen, privLen := uint64(binary.BigEndian.Uint32(b[86:])), uint64(binary.BigEndian.Uint32(b[90:]))
	if uint64(len(b)) != headerSize+pubLen+privLen || len(b) > MaxEntry {
		return nil, fmt.Errorf("%w: lengths %d + %d for %d bytes", ErrFormat, pubLen, privLen, len(b))
	}
	pub := b[headerSize : headerSize+pubLen]
	if err := decodeWrites(pub, true, h.Public); err != nil {
		return nil, err
	}
	h.Private = b[headerSize+pubLen:]
	h.aad = b[:headerSize+pubLen]
	return h, nil
}

// Decode reads an entry and decrypts its private writes.
func (s *Secret) Decode(b []byte) (*Entry, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	priv, err := s.at(h.TxID.Seqno).aead.Open(nil, iv(h.TxID), h.Private, h.aad)
	if err != nil {
		return nil, ErrAuth
	}
	if ce := s.CommitEvidenceDigest(h.TxID); ce != h.CommitEvidenceDigest {
		return nil, ErrAuth
	}
	e := &Entry{TxID: h.TxID, Flags: h.Flags, Writes: h.Public, Claims: h.Claims}
	if err := decodeWrites(priv, false, e.Writes); err != nil {
		return nil, err
	}
	return e, nil
}

// Digest is the write-set digest of an encoded entry: SHA-256 of its
// bytes as the ledger holds them.
func Digest(encoded []byte) merkle.Hash { return sha256.Sum256(encoded) }

// CommitEvidence is what a committed transaction reveals:
// "ce:" ‖ view.seqno ‖ ":" ‖ hex(HMAC-SHA-256(commit key, view.seqno)).
func (s *Secret) CommitEvidence(id TxID) string {
	return string(s.AppendCommitEvidence(make([]byte, 0, 96), id))
}

// AppendCommitEvidence appends the commit evidence of id to dst.
func (s *Secret) AppendCommitEvidence(dst []byte, id TxID) []byte {
	k := s.at(id.Seqno)
	m := k.macs.Get().(hash.Hash)
	m.Reset()
	var buf [48]byte
	txid := strconv.AppendUint(buf[:0], id.View, 10)
	txid = append(txid, '.')
	txid = strconv.AppendUint(txid, id.Seqno, 10)
	m.Write(txid)
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	k.macs.Put(m)
	dst = append(dst, "ce:"...)
	dst = append(dst, txid...)
	dst = append(dst, ':')
	return hex.AppendEncode(dst, sum[:])
}

// CommitEvidenceDigest is SHA-256 of id's commit evidence.
func (s *Secret) CommitEvidenceDigest(id TxID) merkle.Hash {
	var buf [96]byte
	return sha256.Sum256(s.AppendCommitEvidence(buf[:0], id))
}

// LeafOf is the Merkle leaf of an entry that Encode made or Decode
// accepted, given its Digest: the header's commit evidence digest was
// checked then, so the leaf needs no secret (Header.Leaf without
// parsing).
func LeafOf(encoded []byte, digest merkle.Hash) merkle.Hash {
	var ce, claims merkle.Hash
	copy(ce[:], encoded[ceAt:])
	copy(claims[:], encoded[claimsAt:])
	return merkle.LeafOfDigests(digest, ce, claims)
}

// Leaf is an encoded transaction's Merkle leaf (package merkle),
// computed from its bytes alone: no secret is needed.
func (h *Header) Leaf(encoded []byte) merkle.Hash {
	return merkle.LeafOfDigests(Digest(encoded), h.CommitEvidenceDigest, h.Claims)
}

// reader reads big-endian fields, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("%w: truncated", ErrFormat)
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (r *reader) byte1() byte {
	b := r.take(1)
	if b == nil {
		return 0xff
	}
	return b[0]
}

func (r *reader) bytes() []byte {
	n := r.u32()
	if n > maxField {
		r.err = fmt.Errorf("%w: a field of %d bytes", ErrFormat, n)
		return nil
	}
	return slices.Clone(r.take(int(n)))
}
