// Package encfile is the format in which a party hands its data set to
// the untrusted host (spec/ml-data.md): the file streamed in chunks, each
// sealed with AES-256-GCM under a key derived from the party's key and
// the file's random ID, the chunk's number and a last-chunk flag in its
// nonce (the STREAM construction), so that a chunk tampered with,
// reordered, dropped, duplicated, moved to another file or cut off at the
// end is detected. Files are read by streaming as well: a trainer never
// holds more than a chunk of ciphertext.
package encfile

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	magic   = "CFMLDATA"
	version = 1
	// ChunkSize is the plaintext bytes per chunk (the last may hold
	// fewer, and an empty file has one empty last chunk).
	ChunkSize = 64 << 10
	// HeaderSize is the header's bytes: magic, version, chunk size
	// (uint32), file ID.
	HeaderSize = len(magic) + 1 + 4 + idSize
	idSize     = 16
	tagSize    = 16
	// KeySize is a party's key's bytes.
	KeySize = 32
)

// Errors a reader reports; each wraps ErrFormat or ErrAuth.
var (
	ErrFormat = errors.New("encfile: not a confide ML data file")
	ErrAuth   = errors.New("encfile: the file was tampered with or cut short, or the key is not its party's")
	ErrCut    = errors.New("encfile: the file is truncated: its last chunk is missing")
)

// fileKey derives the file's chunk key: the party's key alone never
// seals, so nonces repeat across files only under different keys.
func fileKey(key []byte, id []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("encfile: a key is %d bytes, not %d", KeySize, len(key))
	}
	k, err := hkdf.Key(sha256.New, key, id, "confide ml data v1", 32)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func nonce(n uint64, last bool) []byte {
	out := make([]byte, 12)
	binary.BigEndian.PutUint64(out, n)
	if last {
		out[8] = 1
	}
	return out
}

// Writer encrypts a stream; Close seals the last chunk.
type Writer struct {
	w      io.Writer
	aead   cipher.AEAD
	header []byte
	buf    []byte
	n      uint64
	closed bool
	err    error
}

// NewWriter writes the header to w and returns a Writer sealing under
// key (KeySize random bytes, the party's).
func NewWriter(w io.Writer, key []byte) (*Writer, error) {
	id := make([]byte, idSize)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	aead, err := fileKey(key, id)
	if err != nil {
		return nil, err
	}
	h := append([]byte(magic), version)
	h = binary.BigEndian.AppendUint32(h, ChunkSize)
	h = append(h, id...)
	if _, err := w.Write(h); err != nil {
		return nil, err
	}
	return &Writer{w: w, aead: aead, header: h, buf: make([]byte, 0, ChunkSize)}, nil
}

// Write buffers p, sealing each full chunk.
func (e *Writer) Write(p []byte) (int, error) {
	if e.closed {
		return 0, errors.New("encfile: write after close")
	}
	if e.err != nil {
		return 0, e.err
	}
	total := len(p)
	for len(p) > 0 {
		// A full buffer is sealed only once more data comes: the last
		// chunk must be the one Close seals.
		if len(e.buf) == ChunkSize {
			if e.err = e.seal(false); e.err != nil {
				return 0, e.err
			}
		}
		k := min(len(p), ChunkSize-len(e.buf))
		e.buf = append(e.buf, p[:k]...)
		p = p[k:]
	}
	return total, nil
}

func (e *Writer) seal(last bool) error {
	out := e.aead.Seal(nil, nonce(e.n, last), e.buf, e.header)
	e.n++
	e.buf = e.buf[:0]
	_, err := e.w.Write(out)
	return err
}

// Close seals the last chunk. It does not close the underlying writer.
func (e *Writer) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	if e.err != nil {
		return e.err
	}
	return e.seal(true)
}

// Reader decrypts a stream; it returns plaintext only from chunks that
// authenticated, and an error at the end unless the last chunk did.
type Reader struct {
	r      *bufio.Reader
	aead   cipher.AEAD
	header []byte
	n      uint64
	chunk  []byte
	out    []byte // reused for each chunk's plaintext
	plain  []byte
	done   bool
	err    error
}

// openHeader checks a header and derives the file's chunk key.
func openHeader(h, key []byte) (cipher.AEAD, error) {
	if string(h[:len(magic)]) != magic {
		return nil, ErrFormat
	}
	if h[len(magic)] != version {
		return nil, fmt.Errorf("%w: version %d (this reader knows %d)", ErrFormat, h[len(magic)], version)
	}
	if cs := binary.BigEndian.Uint32(h[len(magic)+1:]); cs != ChunkSize {
		return nil, fmt.Errorf("%w: chunk size %d", ErrFormat, cs)
	}
	return fileKey(key, h[len(magic)+5:])
}

// NewReader reads the header and returns a Reader opening under key.
func NewReader(r io.Reader, key []byte) (*Reader, error) {
	h := make([]byte, HeaderSize)
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, fmt.Errorf("%w (header: %v)", ErrFormat, err)
	}
	aead, err := openHeader(h, key)
	if err != nil {
		return nil, err
	}
	return &Reader{r: bufio.NewReaderSize(r, ChunkSize+tagSize+1), aead: aead, header: h, chunk: make([]byte, ChunkSize+tagSize), out: make([]byte, 0, ChunkSize)}, nil
}

// Read returns authenticated plaintext.
func (d *Reader) Read(p []byte) (int, error) {
	for len(d.plain) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			return 0, io.EOF
		}
		d.next()
	}
	n := copy(p, d.plain)
	d.plain = d.plain[n:]
	return n, nil
}

// next opens the next chunk: a full one is the last if nothing follows.
func (d *Reader) next() {
	n, err := io.ReadFull(d.r, d.chunk)
	switch {
	case err == io.EOF:
		d.err = ErrCut // no chunk at all after the last one opened
		return
	case err == io.ErrUnexpectedEOF:
		// A short chunk can only be the last.
	case err != nil:
		d.err = err
		return
	}
	last := n < len(d.chunk)
	if !last {
		if _, err := d.r.Peek(1); err == io.EOF {
			last = true
		}
	}
	if n < tagSize {
		d.err = ErrCut
		return
	}
	plain, err := d.aead.Open(d.out[:0], nonce(d.n, last), d.chunk[:n], d.header)
	if err != nil {
		if last {
			// Either tampered, or cut at a chunk boundary: the chunk
			// opens as a middle one.
			if _, err2 := d.aead.Open(nil, nonce(d.n, false), d.chunk[:n], d.header); err2 == nil {
				d.err = ErrCut
				return
			}
		}
		d.err = fmt.Errorf("%w (chunk %d)", ErrAuth, d.n)
		return
	}
	d.n++
	d.plain = plain
	d.done = last
}

// OpenInPlace opens a whole file held in memory, as a Reader would, but
// decrypting each chunk where it lies and moving its plaintext down: the
// plaintext it returns shares file's memory, and file is overwritten. A
// trainer that needs the whole table anyway uses it to avoid a second
// copy of every byte.
func OpenInPlace(file, key []byte) ([]byte, error) {
	if len(file) < HeaderSize {
		return nil, fmt.Errorf("%w (header: %d bytes)", ErrFormat, len(file))
	}
	aead, err := openHeader(file[:HeaderSize], key)
	if err != nil {
		return nil, err
	}
	header := bytes.Clone(file[:HeaderSize])
	body := file[HeaderSize:]
	out := 0 // plaintext bytes so far, at file[:out]
	for n := uint64(0); ; n++ {
		size := min(len(body), ChunkSize+tagSize)
		if size < tagSize {
			return nil, ErrCut
		}
		chunk := body[:size]
		body = body[size:]
		if len(body) > 0 {
			plain, err := aead.Open(chunk[:0], nonce(n, false), chunk, header)
			if err != nil {
				return nil, fmt.Errorf("%w (chunk %d)", ErrAuth, n)
			}
			out += copy(file[out:], plain)
			continue
		}
		// The last chunk: opened into fresh memory, so that a failure
		// leaves the ciphertext to try as a middle chunk (a file cut at a
		// chunk boundary).
		plain, err := aead.Open(nil, nonce(n, true), chunk, header)
		if err != nil {
			if _, err2 := aead.Open(nil, nonce(n, false), chunk, header); err2 == nil {
				return nil, ErrCut
			}
			return nil, fmt.Errorf("%w (chunk %d)", ErrAuth, n)
		}
		out += copy(file[out:], plain)
		clear(plain)
		return file[:out], nil
	}
}

// Encrypt seals plain under key.
func Encrypt(plain, key []byte) ([]byte, error) {
	var out bytes.Buffer
	w, err := NewWriter(&out, key)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Decrypt opens a whole file.
func Decrypt(file, key []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(file), key)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// NewKey is a fresh party key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return k
}
