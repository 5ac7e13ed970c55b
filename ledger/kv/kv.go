package kv

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/confide/confide/ledger/entry"
)

// ErrOrder reports a write set applied out of seqno order, or a rollback
// into committed state.
var ErrOrder = errors.New("kv: out of order")

// Store is the ledger's state. Reads are safe from any goroutine; Apply,
// Rollback and Commit are called by the node's loop alone.
type Store struct {
	mu        sync.RWMutex
	maps      map[string]map[string][]byte
	last      uint64 // seqno of the last applied write set
	committed uint64
	undo      []undo // seqnos committed+1 … last, in order
	hist      *history
}

type undo struct {
	seqno  uint64
	digest [32]byte // the entry's write-set digest, to recognise it again
	olds   []old
}

type old struct {
	m, k    string
	v       []byte
	existed bool
}

// New is an empty store.
func New() *Store { return &Store{maps: map[string]map[string][]byte{}} }

// Last is the seqno of the last applied write set.
func (s *Store) Last() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.last
}

// Committed is the seqno up to which the state is final.
func (s *Store) Committed() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.committed
}

// Get reads a key. The returned slice must not be modified.
func (s *Store) Get(m string, k []byte) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.maps[m][string(k)]
	return v, ok
}

// Range calls fn for each key of a map in key order until fn returns
// false. It holds the store's read lock, so fn must not write.
func (s *Store) Range(m string, fn func(k, v []byte) bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mp := s.maps[m]
	keys := make([]string, 0, len(mp))
	for k := range mp {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !fn([]byte(k), mp[k]) {
			return
		}
	}
}

// Len is the number of keys in a map.
func (s *Store) Len(m string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.maps[m])
}

// Apply applies the write set of the entry at seqno, which must follow
// the last one. digest identifies the entry (entry.Digest).
func (s *Store) Apply(seqno uint64, digest [32]byte, ws entry.WriteSet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seqno != s.last+1 {
		return fmt.Errorf("%w: write set %d after %d", ErrOrder, seqno, s.last)
	}
	u := undo{seqno: seqno, digest: digest}
	for name, writes := range ws {
		mp := s.maps[name]
		if mp == nil {
			mp = map[string][]byte{}
			s.maps[name] = mp
		}
		for _, w := range writes {
			k := string(w.Key)
			v, ok := mp[k]
			u.olds = append(u.olds, old{m: name, k: k, v: v, existed: ok})
			if w.Deleted {
				delete(mp, k)
			} else {
				mp[k] = bytes.Clone(w.Value)
			}
		}
	}
	s.undo = append(s.undo, u)
	s.last = seqno
	return nil
}

// Digest returns the digest an uncommitted seqno was applied with.
func (s *Store) Digest(seqno uint64) ([32]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if seqno <= s.committed || seqno > s.last {
		return [32]byte{}, false
	}
	return s.undo[seqno-s.committed-1].digest, true
}

// Rollback undoes every write set after seqno.
func (s *Store) Rollback(seqno uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seqno < s.committed {
		return fmt.Errorf("%w: rollback to %d below the committed %d", ErrOrder, seqno, s.committed)
	}
	for s.last > seqno {
		u := s.undo[len(s.undo)-1]
		for i := len(u.olds) - 1; i >= 0; i-- {
			o := u.olds[i]
			if o.existed {
				s.maps[o.m][o.k] = o.v
			} else {
				delete(s.maps[o.m], o.k)
			}
		}
		s.undo = s.undo[:len(s.undo)-1]
		s.last--
	}
	return nil
}

// Commit makes the state up to seqno final.
func (s *Store) Commit(seqno uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seqno = min(seqno, s.last)
	if seqno <= s.committed {
		return
	}
	n := seqno - s.committed
	if s.hist != nil {
		for _, u := range s.undo[:n] {
			s.hist.record(u)
		}
	}
	s.undo = slices.Delete(s.undo, 0, int(n))
	s.committed = seqno
}

// Tx is a transaction being executed: reads see the store and the
// transaction's own writes, which it buffers until the node records
// them. It is used by one goroutine.
type Tx struct {
	s      *Store
	writes map[string]map[string]entry.Write
}

// Begin starts a transaction.
func (s *Store) Begin() *Tx { return &Tx{s: s, writes: map[string]map[string]entry.Write{}} }

// Get reads a key.
func (t *Tx) Get(m string, k []byte) ([]byte, bool) {
	if w, ok := t.writes[m][string(k)]; ok {
		return w.Value, !w.Deleted
	}
	return t.s.Get(m, k)
}

// Put writes a key.
func (t *Tx) Put(m string, k, v []byte) {
	t.write(m, entry.Write{Key: bytes.Clone(k), Value: bytes.Clone(v)})
}

// Delete removes a key.
func (t *Tx) Delete(m string, k []byte) {
	t.write(m, entry.Write{Key: bytes.Clone(k), Deleted: true})
}

func (t *Tx) write(m string, w entry.Write) {
	mp := t.writes[m]
	if mp == nil {
		mp = map[string]entry.Write{}
		t.writes[m] = mp
	}
	mp[string(w.Key)] = w
}

// Scratch is a transaction over the same state whose writes go nowhere
// unless it is itself applied: for running code that must not write.
func (t *Tx) Scratch() *Tx { return &Tx{s: t.s, writes: t.Savepoint()} }

// Savepoint is a transaction's writes at one moment.
type Savepoint map[string]map[string]entry.Write

// Savepoint records the transaction's writes so far.
func (t *Tx) Savepoint() Savepoint {
	sp := Savepoint{}
	for m, mp := range t.writes {
		c := make(map[string]entry.Write, len(mp))
		for k, w := range mp {
			c[k] = w
		}
		sp[m] = c
	}
	return sp
}

// RollbackTo undoes the writes made since a savepoint.
func (t *Tx) RollbackTo(sp Savepoint) {
	t.writes = map[string]map[string]entry.Write{}
	for m, mp := range sp {
		c := make(map[string]entry.Write, len(mp))
		for k, w := range mp {
			c[k] = w
		}
		t.writes[m] = c
	}
}

// Range calls fn for each key of a map as the transaction sees it (the
// store's keys with the transaction's writes over them), in key order,
// until fn returns false.
func (t *Tx) Range(m string, fn func(k, v []byte) bool) {
	seen := map[string][]byte{}
	t.s.Range(m, func(k, v []byte) bool {
		seen[string(k)] = v
		return true
	})
	for k, w := range t.writes[m] {
		if w.Deleted {
			delete(seen, k)
		} else {
			seen[k] = w.Value
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !fn([]byte(k), seen[k]) {
			return
		}
	}
}

// WriteSet is what the transaction wrote, or nil if nothing.
func (t *Tx) WriteSet() entry.WriteSet {
	if len(t.writes) == 0 {
		return nil
	}
	ws := entry.WriteSet{}
	for m, mp := range t.writes {
		for _, w := range mp {
			ws[m] = append(ws[m], w)
		}
	}
	return ws
}

// Dump is the whole latest state as a write set (every key a write), for
// a snapshot.
func (s *Store) Dump() entry.WriteSet {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ws := entry.WriteSet{}
	for name, mp := range s.maps {
		if len(mp) == 0 {
			continue
		}
		writes := make([]entry.Write, 0, len(mp))
		for k, v := range mp {
			writes = append(writes, entry.Write{Key: []byte(k), Value: v})
		}
		ws[name] = writes
	}
	return ws
}

// Load replaces the state with a snapshot's: the state after seqno,
// committed.
func (s *Store) Load(seqno uint64, ws entry.WriteSet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maps = map[string]map[string][]byte{}
	for name, writes := range ws {
		mp := make(map[string][]byte, len(writes))
		for _, w := range writes {
			mp[string(w.Key)] = w.Value
		}
		s.maps[name] = mp
	}
	s.last, s.committed, s.undo = seqno, seqno, nil
	if s.hist != nil {
		// A snapshot replaces the state: what came before is gone.
		s.hist.keys, s.hist.floor, s.hist.n = map[string]map[string][]version{}, seqno, 0
	}
}
