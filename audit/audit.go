package audit

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/confide/confide/kvstore"
)

// Version is the record format version.
const Version = 1

// Outcomes.
const (
	OK     = "ok"
	Denied = "denied"
)

// Record is one audited event. Its stored form is its JSON encoding, in
// the field order below; the chain hashes those exact bytes.
type Record struct {
	V       int    `json:"v"`
	Seq     uint64 `json:"seq"`
	Time    string `json:"time"`
	Actor   string `json:"actor"`
	Op      string `json:"op"`
	Target  string `json:"target,omitempty"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
	Prev    string `json:"prev"`
}

// EnclaveActor names an attested enclave as a record's actor:
// "enclave:" and the first 16 hex digits of its unique ID and config ID.
func EnclaveActor(uniqueID, configID string) string {
	short := func(h string) string {
		if len(h) > 16 {
			return h[:16]
		}
		return h
	}
	return "enclave:" + short(uniqueID) + "/" + short(configID)
}

// Head identifies the chain's last record.
type Head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Genesis is the Prev of the first record.
var Genesis = hex.EncodeToString(make([]byte, sha256.Size))

// ErrBroken reports a chain or head that does not verify.
var ErrBroken = errors.New("audit: log does not verify")

// MaxRecord bounds one record's encoding.
const MaxRecord = 16 << 10

// Log appends to and checks the log kept in a store bucket.
type Log struct {
	// Bucket holds records keyed by 8-byte big-endian sequence number;
	// the head is kept in Bucket+".head".
	Bucket string
	// MACKey authenticates the head (32 bytes, secret to the enclave).
	MACKey []byte //confide:secret
	Now    func() time.Time
}

func (l *Log) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

type storedHead struct {
	Head
	MAC string `json:"mac"`
}

func (l *Log) headMAC(h Head) string {
	m := hmac.New(sha256.New, l.MACKey)
	m.Write([]byte("confide audit head v1\x00"))
	binary.Write(m, binary.BigEndian, h.Seq)
	m.Write([]byte(h.Hash))
	return hex.EncodeToString(m.Sum(nil))
}

// head reads and authenticates the head; a log without records has the
// zero Head with Hash Genesis.
func (l *Log) head(tx kvstore.Tx) (Head, error) {
	b := tx.Get(l.Bucket+".head", []byte("head"))
	if b == nil {
		if k, _ := tx.Last(l.Bucket); k != nil {
			return Head{}, fmt.Errorf("%w: records without a head", ErrBroken)
		}
		return Head{Hash: Genesis}, nil
	}
	var sh storedHead
	if err := json.Unmarshal(b, &sh); err != nil {
		return Head{}, fmt.Errorf("%w: head: %v", ErrBroken, err)
	}
	if !hmac.Equal([]byte(sh.MAC), []byte(l.headMAC(sh.Head))) {
		return Head{}, fmt.Errorf("%w: head MAC", ErrBroken)
	}
	return sh.Head, nil
}

// Append adds a record (Seq, Time, Prev and V are filled in) within tx.
func (l *Log) Append(tx kvstore.Tx, r Record) (Head, error) {
	h, err := l.head(tx)
	if err != nil {
		return Head{}, err
	}
	r.V, r.Prev = Version, h.Hash
	r.Seq = h.Seq + 1
	if h.Hash == Genesis {
		r.Seq = 1
	}
	r.Time = l.now().UTC().Format(time.RFC3339Nano)
	b, err := json.Marshal(r)
	if err != nil {
		return Head{}, err
	}
	if len(b) > MaxRecord {
		return Head{}, errors.New("audit: record too large")
	}
	sum := sha256.Sum256(b)
	next := Head{Seq: r.Seq, Hash: hex.EncodeToString(sum[:])}
	if err := tx.Put(l.Bucket, seqKey(r.Seq), b); err != nil {
		return Head{}, err
	}
	sh, _ := json.Marshal(storedHead{next, l.headMAC(next)})
	return next, tx.Put(l.Bucket+".head", []byte("head"), sh)
}

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// Export writes every record, one per line, checking the chain and the
// head's MAC as it goes, and returns the head.
func (l *Log) Export(tx kvstore.Tx, w io.Writer) (Head, error) {
	want, err := l.head(tx)
	if err != nil {
		return Head{}, err
	}
	c := chain{prev: Genesis}
	err = tx.ForEach(l.Bucket, nil, func(_, v []byte) error {
		if err := c.add(v); err != nil {
			return err
		}
		if w != nil {
			if _, err := w.Write(append(v[:len(v):len(v)], '\n')); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Head{}, err
	}
	if c.head() != want {
		return Head{}, fmt.Errorf("%w: the records end at %d, the head says %d", ErrBroken, c.seq, want.Seq)
	}
	return want, nil
}

// Check verifies the stored log.
func (l *Log) Check(tx kvstore.Tx) (Head, error) { return l.Export(tx, nil) }

// chain checks records in order.
type chain struct {
	seq  uint64
	prev string
}

func (c *chain) head() Head { return Head{Seq: c.seq, Hash: c.prev} }

func (c *chain) add(b []byte) error {
	r, err := Parse(b)
	if err != nil {
		return err
	}
	if r.Seq != c.seq+1 {
		return fmt.Errorf("%w: record %d follows %d", ErrBroken, r.Seq, c.seq)
	}
	if r.Prev != c.prev {
		return fmt.Errorf("%w: record %d does not link to its predecessor", ErrBroken, r.Seq)
	}
	sum := sha256.Sum256(b)
	c.seq, c.prev = r.Seq, hex.EncodeToString(sum[:])
	return nil
}

// Parse decodes one stored record strictly: it must be exactly the
// canonical encoding of the record it decodes to, so that the hashed bytes
// carry no slack an editor could use.
func Parse(b []byte) (Record, error) {
	var r Record
	if len(b) > MaxRecord {
		return r, fmt.Errorf("%w: record too large", ErrBroken)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("%w: %v", ErrBroken, err)
	}
	if r.V != Version {
		return r, fmt.Errorf("%w: record version %d", ErrBroken, r.V)
	}
	canon, err := json.Marshal(r)
	if err != nil || !bytes.Equal(canon, b) {
		return r, fmt.Errorf("%w: record %d is not in canonical form", ErrBroken, r.Seq)
	}
	return r, nil
}

// Verify checks an exported log (one record per line) and returns its
// head; a verifier compares that head with the one the service reports.
func Verify(r io.Reader) (Head, []Record, error) {
	c := chain{prev: Genesis}
	var out []Record
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 4096), MaxRecord+1)
	for s.Scan() {
		line := s.Bytes()
		if err := c.add(line); err != nil {
			return Head{}, nil, err
		}
		rec, _ := Parse(line)
		out = append(out, rec)
	}
	if err := s.Err(); err != nil {
		return Head{}, nil, fmt.Errorf("%w: %v", ErrBroken, err)
	}
	return c.head(), out, nil
}
