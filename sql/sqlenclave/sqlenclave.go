package sqlenclave

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/sql/cell"
	"github.com/confide/confide/sql/ddl"
	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/types"
)

// Sizes and labels of spec/ae-enclave.md.
const (
	NonceSize     = 32
	SessionIDSize = 16
	PointSize     = 97 // an uncompressed P-384 point
	packageV1     = 0x01
	ivSize        = 12
	guidSize      = 16
	hashSize      = sha256.Size
	maxKeys       = 64
	maxName       = 128

	runtimeLabel = "confide-sql-enclave-v1\x00"
	sessionLabel = "confide-sql-enclave-session-v1\x00"

	// PendingTTL is how long a session waits for its first package.
	PendingTTL = 5 * time.Minute
	// IdleTTL is how long an established session, and a cached key,
	// live after their last package.
	IdleTTL = time.Hour
	// DecryptWindow is how long a decrypting statement's package lets
	// the enclave decrypt cells under its keys (unless another package
	// for the key comes first).
	DecryptWindow = 15 * time.Minute
)

// The confide SQL server's table functions of the SQL enclave.
const (
	AttestFunction = "sp_enclave_attest"
	KeysFunction   = "sp_enclave_keys"
)

// ErrRejected is the one answer to a key package that fails any check:
// which check failed is not the host's to learn.
var ErrRejected = errors.New("sqlenclave: key package rejected")

// Attestation is what sp_enclave_attest returns.
type Attestation struct {
	SessionID  []byte
	EnclaveKey []byte // P-384, uncompressed
	Evidence   []byte
}

// RuntimeData is what the evidence's report data binds besides the nonce.
func RuntimeData(sessionID, enclaveKey []byte) []byte {
	out := make([]byte, 0, len(runtimeLabel)+len(sessionID)+len(enclaveKey))
	out = append(out, runtimeLabel...)
	out = append(out, sessionID...)
	return append(out, enclaveKey...)
}

// sessionKey derives the AES-256-GCM key both sides share.
func sessionKey(shared, nonce, sessionID, enclaveKey, clientKey []byte) (cipher.AEAD, error) {
	info := make([]byte, 0, len(sessionLabel)+SessionIDSize+2*PointSize)
	info = append(append(append(append(info, sessionLabel...), sessionID...), enclaveKey...), clientKey...)
	key, err := hkdf.Key(sha256.New, shared, nonce, string(info), 32)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

func aad(sessionID, clientKey []byte) []byte {
	return append(append([]byte{packageV1}, sessionID...), clientKey...)
}

// Enclave is the trusted side: it attests sessions, accepts key packages
// and keeps the delivered keys. It runs inside the SQL enclave; the host
// reaches it only through the ECALLs of the SQL server.
type Enclave struct {
	// Platform produces the evidence.
	Platform enclave.Attester
	// Now is the clock (nil: time.Now).
	Now      func() time.Time
	observer atomic.Pointer[func(op string, envelopes ...string)]

	mu       sync.Mutex
	sessions map[[SessionIDSize]byte]*session
	keys     map[string]*cachedKey // by lower-cased name
	opened   map[string]openedCell // by envelope

	// imgMu guards images, the enclave scan's table images by table
	// name. It is taken alone, or inside mu.
	imgMu   sync.Mutex
	images  map[string]*TableImage
	touched map[string]uint64 // the version each table was last queried at
}

type session struct {
	priv        *ecdh.PrivateKey //confide:secret
	enclaveKey  []byte
	nonce       []byte
	clientKey   []byte      // fixed by the first accepted package
	aead        cipher.AEAD //confide:secret
	counter     uint64
	established bool
	last        time.Time
}

type cachedKey struct {
	key  *cell.Key //confide:secret
	last time.Time
	// decrypt is set when the key's last package came with a statement
	// that decrypts a column in place.
	decrypt bool
}

func (e *Enclave) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// maxSessions bounds the sessions an enclave holds: an attestation call
// costs the host nothing, so pending sessions must not grow without end.
const maxSessions = 4096

// Attest opens a pending session for a client's nonce.
func (e *Enclave) Attest(ctx context.Context, nonce []byte) (Attestation, error) {
	if len(nonce) != NonceSize {
		return Attestation{}, fmt.Errorf("sqlenclave: the nonce must be %d bytes, not %d", NonceSize, len(nonce))
	}
	priv, err := ecdh.P384().GenerateKey(rand.Reader)
	if err != nil {
		return Attestation{}, err
	}
	var id [SessionIDSize]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Attestation{}, err
	}
	pub := priv.PublicKey().Bytes()
	rd, err := enclave.NewReportData(nonce, RuntimeData(id[:], pub))
	if err != nil {
		return Attestation{}, err
	}
	ev, err := e.Platform.Evidence(ctx, rd)
	if err != nil {
		return Attestation{}, fmt.Errorf("sqlenclave: evidence: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.expire()
	if len(e.sessions) >= maxSessions {
		return Attestation{}, errors.New("sqlenclave: too many sessions; try again later")
	}
	if e.sessions == nil {
		e.sessions = map[[SessionIDSize]byte]*session{}
	}
	e.sessions[id] = &session{priv: priv, enclaveKey: pub, nonce: bytes.Clone(nonce), last: e.now()}
	return Attestation{SessionID: id[:], EnclaveKey: pub, Evidence: ev}, nil
}

// expire forgets idle sessions and keys; e.mu is held.
func (e *Enclave) expire() {
	now := e.now()
	for id, s := range e.sessions {
		ttl := PendingTTL
		if s.established {
			ttl = IdleTTL
		}
		if now.Sub(s.last) > ttl {
			delete(e.sessions, id)
		}
	}
	for n, k := range e.keys {
		if now.Sub(k.last) > IdleTTL {
			delete(e.keys, n)
			e.dropImages()
		}
	}
}

// AcceptKeys checks a key package for the statement the host says it is
// running and caches its keys. It returns the names of the keys.
func (e *Enclave) AcceptKeys(pkg []byte, statement string) ([]string, error) {
	const head = 1 + SessionIDSize + PointSize + ivSize
	if len(pkg) < head+16 || pkg[0] != packageV1 {
		return nil, ErrRejected
	}
	var id [SessionIDSize]byte
	copy(id[:], pkg[1:1+SessionIDSize])
	clientKey := pkg[1+SessionIDSize : 1+SessionIDSize+PointSize]
	iv := pkg[1+SessionIDSize+PointSize : head]

	e.mu.Lock()
	defer e.mu.Unlock()
	e.expire()
	s := e.sessions[id]
	if s == nil {
		return nil, ErrRejected
	}
	aead := s.aead
	if !s.established {
		peer, err := ecdh.P384().NewPublicKey(clientKey)
		if err != nil {
			return nil, ErrRejected
		}
		shared, err := s.priv.ECDH(peer)
		if err != nil {
			return nil, ErrRejected
		}
		if aead, err = sessionKey(shared, s.nonce, id[:], s.enclaveKey, clientKey); err != nil {
			return nil, ErrRejected
		}
	} else if subtle.ConstantTimeCompare(clientKey, s.clientKey) != 1 {
		return nil, ErrRejected
	}
	body, err := aead.Open(nil, iv, pkg[head:], aad(id[:], clientKey))
	if err != nil {
		return nil, ErrRejected
	}
	keys, counter, ok := parseBody(body, statement)
	if !ok || counter <= s.counter {
		return nil, ErrRejected
	}
	cellKeys := make(map[string]*cell.Key, len(keys))
	for name, k := range keys {
		ck, err := cell.NewKey(k)
		if err != nil {
			return nil, ErrRejected
		}
		cellKeys[name] = ck
	}
	// Every check passed: only now does the package change anything.
	if !s.established {
		s.established, s.aead, s.clientKey, s.priv = true, aead, bytes.Clone(clientKey), nil
	}
	s.counter, s.last = counter, e.now()
	if e.keys == nil {
		e.keys = map[string]*cachedKey{}
	}
	decrypts := decryptsColumn(statement)
	names := make([]string, 0, len(cellKeys))
	for name, ck := range cellKeys {
		if old := e.keys[name]; old != nil && !old.key.Equal(ck) {
			// Another key under the name: what the old one decrypted
			// must not answer for it.
			e.dropImages()
			clear(e.opened)
		}
		e.keys[name] = &cachedKey{key: ck, last: s.last, decrypt: decrypts}
		names = append(names, name)
	}
	return names, nil
}

// parseBody reads a package body for the statement: its keys by
// lower-cased name, and its counter.
func parseBody(b []byte, statement string) (map[string][]byte, uint64, bool) {
	if len(b) < guidSize+8+hashSize+2 {
		return nil, 0, false
	}
	counter := binary.BigEndian.Uint64(b[guidSize:])
	want := sha256.Sum256([]byte(statement))
	if subtle.ConstantTimeCompare(b[guidSize+8:guidSize+8+hashSize], want[:]) != 1 {
		return nil, 0, false
	}
	b = b[guidSize+8+hashSize:]
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n < 1 || n > maxKeys {
		return nil, 0, false
	}
	keys := make(map[string][]byte, n)
	for range n {
		if len(b) < 2 {
			return nil, 0, false
		}
		l := int(binary.BigEndian.Uint16(b))
		if l < 1 || l > maxName || len(b) < 2+l+cell.KeySize {
			return nil, 0, false
		}
		name := strings.ToLower(string(b[2 : 2+l]))
		if _, dup := keys[name]; dup {
			return nil, 0, false
		}
		keys[name] = b[2+l : 2+l+cell.KeySize]
		b = b[2+l+cell.KeySize:]
	}
	if len(b) != 0 {
		return nil, 0, false
	}
	return keys, counter, true
}

// CellKey returns a cached key by its CEK name.
func (e *Enclave) CellKey(name string) (*cell.Key, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.keys[strings.ToLower(name)]
	if k == nil || e.now().Sub(k.last) > IdleTTL {
		return nil, false
	}
	return k.key, true
}

// Missing lists the named keys that are not cached, so that a statement
// needing them is refused before it starts.
func (e *Enclave) Missing(names ...string) []string {
	var out []string
	for _, n := range names {
		if _, ok := e.CellKey(n); !ok {
			out = append(out, n)
		}
	}
	return out
}

// Envelopes: an enclave-enabled cell as the server stores it, a TEXT value
// that names the cell's CEK and type so that the SQLite collation and
// functions can hand it to the enclave (spec/ae-enclave.md):
//
//	ae1:<CEK name, base64url>:<type, base64url>:<cell, base64url>
const envelopePrefix = "ae1:"

// Envelope wraps a cell.
func Envelope(cek, typ string, c []byte) string {
	enc := base64.RawURLEncoding
	return envelopePrefix + enc.EncodeToString([]byte(cek)) + ":" + enc.EncodeToString([]byte(typ)) + ":" + enc.EncodeToString(c)
}

// ParseEnvelope unwraps a cell.
func ParseEnvelope(s string) (cek string, typ types.Type, c []byte, err error) {
	rest, ok := strings.CutPrefix(s, envelopePrefix)
	name, rest, ok1 := strings.Cut(rest, ":")
	ts, cs, ok2 := strings.Cut(rest, ":")
	if !ok || !ok1 || !ok2 || strings.Contains(cs, ":") {
		return "", types.Type{}, nil, ErrEnvelope
	}
	enc := base64.RawURLEncoding
	n, err1 := enc.DecodeString(name)
	c, err2 := enc.DecodeString(cs)
	if err1 != nil || err2 != nil || len(n) == 0 {
		return "", types.Type{}, nil, ErrEnvelope
	}
	if typ, err = envelopeType(ts); err != nil {
		return "", types.Type{}, nil, ErrEnvelope
	}
	return string(n), typ, c, nil
}

// envelopeTypes caches the types envelopes name (a column has one).
var envelopeTypes sync.Map // base64url text → types.Type

func envelopeType(b64 string) (types.Type, error) {
	if t, ok := envelopeTypes.Load(b64); ok {
		return t.(types.Type), nil
	}
	ts, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return types.Type{}, err
	}
	t, err := types.Parse(string(ts))
	if err != nil {
		return types.Type{}, err
	}
	envelopeTypes.Store(b64, t)
	return t, nil
}

// ErrEnvelope reports a stored value that is not an envelope.
var ErrEnvelope = errors.New("sqlenclave: not an enclave-enabled cell")

// open decrypts an envelope with a cached key. Recently opened envelopes
// are kept decrypted (inside the enclave, and only while their key is
// cached): an index seek or build compares the same cells many times.
func (e *Enclave) open(s string) (types.Type, []byte, error) {
	e.mu.Lock()
	if o, ok := e.opened[s]; ok {
		k := e.keys[o.cek]
		if k != nil && e.now().Sub(k.last) <= IdleTTL {
			e.mu.Unlock()
			return o.typ, o.plaintext, nil
		}
	}
	e.mu.Unlock()
	name, typ, c, err := ParseEnvelope(s)
	if err != nil {
		return types.Type{}, nil, err
	}
	k, ok := e.CellKey(name)
	if !ok {
		return types.Type{}, nil, fmt.Errorf("sqlenclave: column encryption key %q is not in the enclave", name)
	}
	pt, err := k.Decrypt(c)
	if err != nil {
		return types.Type{}, nil, fmt.Errorf("sqlenclave: a cell under %q: %w", name, err)
	}
	e.mu.Lock()
	if len(e.opened) >= maxOpened {
		clear(e.opened)
	}
	if e.opened == nil {
		e.opened = make(map[string]openedCell, maxOpened)
	}
	e.opened[s] = openedCell{cek: strings.ToLower(name), typ: typ, plaintext: pt}
	e.mu.Unlock()
	return typ, pt, nil
}

// maxOpened bounds the decrypted cells the enclave keeps.
const maxOpened = 1 << 16

type openedCell struct {
	cek       string
	typ       types.Type
	plaintext []byte //confide:secret
}

// Observe installs f (nil: none) to see every call the host makes into
// the enclave's computations, with the stored values it passes: what a
// host can observe of a query (tests compare the two modes with it).
func (e *Enclave) Observe(f func(op string, envelopes ...string)) {
	if f == nil {
		e.observer.Store(nil)
		return
	}
	e.observer.Store(&f)
}

func (e *Enclave) observe(op string, envelopes ...string) {
	if f := e.observer.Load(); f != nil {
		(*f)(op, envelopes...)
	}
}

// Compare orders two envelopes by their plaintexts. Values of different
// types do not compare (an error). It runs inside the enclave: only the
// order leaves it.
func (e *Enclave) Compare(a, b string) (int, error) {
	e.observe("compare", a, b)
	ta, pa, err := e.open(a)
	if err != nil {
		return 0, err
	}
	tb, pb, err := e.open(b)
	if err != nil {
		return 0, err
	}
	ta, tb = publicType(ta), publicType(tb)
	if ta.Kind != tb.Kind {
		if decimal.Numeric(ta) && decimal.Numeric(tb) {
			da, dta, err := fromNormalized(ta, pa)
			if err != nil {
				return 0, err
			}
			db, dtb, err := fromNormalized(tb, pb)
			if err != nil {
				return 0, err
			}
			return decimal.Compare(da, publicDecType(dta), db, publicDecType(dtb)), nil
		}
		return 0, fmt.Errorf("sqlenclave: %s and %s values do not compare", ta, tb)
	}
	if ta.Kind == types.Decimal && ta != tb {
		da, dta, err := fromNormalized(ta, pa)
		if err != nil {
			return 0, err
		}
		db, dtb, err := fromNormalized(tb, pb)
		if err != nil {
			return 0, err
		}
		return decimal.Compare(da, publicDecType(dta), db, publicDecType(dtb)), nil
	}
	return ta.Compare(pa, pb)
}

// Like matches an envelope against an envelope holding a LIKE pattern.
func (e *Enclave) Like(value, pattern string) (bool, error) {
	e.observe("like", value, pattern)
	tv, pv, err := e.open(value)
	if err != nil {
		return false, err
	}
	tp, pp, err := e.open(pattern)
	if err != nil {
		return false, err
	}
	if tv.Kind != tp.Kind {
		return false, fmt.Errorf("sqlenclave: a %s pattern for a %s value", tp, tv)
	}
	return tv.Like(pv, pp)
}

// Forget drops every session and key, as a restart of the enclave does:
// clients attest again and resend their keys.
func (e *Enclave) Forget() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.sessions)
	clear(e.keys)
	clear(e.opened)
	e.dropImages()
}

// In-place encryption (ALTER TABLE … ALTER COLUMN): the engine streams a
// column's values through the enclave, which encrypts plaintexts,
// re-encrypts cells under another key or encryption type, or — only for a
// statement that asked for it — decrypts them.

// Encrypt encrypts a normalized plaintext under a cached key into an
// envelope. The host knew the plaintext already (the column was
// plaintext); the key never leaves the enclave.
func (e *Enclave) Encrypt(plaintext []byte, cekName string, typ types.Type, deterministic bool) (string, error) {
	k, ok := e.CellKey(cekName)
	if !ok {
		return "", fmt.Errorf("sqlenclave: column encryption key %q is not in the enclave", cekName)
	}
	c, err := k.Encrypt(plaintext, deterministic, nil)
	if err != nil {
		return "", err
	}
	return Envelope(cekName, typ.String(), c), nil
}

// Reencrypt moves an envelope to another key or encryption type; the
// plaintext stays inside the enclave.
func (e *Enclave) Reencrypt(env, cekName string, typ types.Type, deterministic bool) (string, error) {
	from, pt, err := e.open(env)
	if err != nil {
		return "", err
	}
	if from.Kind != typ.Kind {
		return "", fmt.Errorf("sqlenclave: a %s cell cannot become %s", from, typ)
	}
	return e.Encrypt(pt, cekName, typ, deterministic)
}

// Decrypt returns an envelope's normalized plaintext, for in-place
// decryption of a column: only while the key's last package came with a
// statement that decrypts a column (ALTER TABLE … ALTER COLUMN without
// ENCRYPTED WITH), and for DecryptWindow after it, so cached keys alone
// do not let a host read cells.
func (e *Enclave) Decrypt(env string) ([]byte, error) {
	name, _, _, err := ParseEnvelope(env)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	k := e.keys[strings.ToLower(name)]
	allowed := k != nil && k.decrypt && e.now().Sub(k.last) <= DecryptWindow
	e.mu.Unlock()
	if !allowed {
		return nil, fmt.Errorf("sqlenclave: no statement from a client asked to decrypt cells under %q", name)
	}
	_, pt, err := e.open(env)
	return pt, err
}

// decryptsColumn reports whether a statement decrypts a column in place:
// the enclave reads the statement its package is bound to.
func decryptsColumn(statement string) bool {
	st, err := ddl.Parse(statement)
	ac, ok := st.(*ddl.AlterColumn)
	return err == nil && ok && ac.Encryption == nil
}
