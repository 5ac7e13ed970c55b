package kv

import (
	"errors"
	"fmt"
	"slices"
)

// ErrHistoryGone: a read at a seqno older than the history kept.
var ErrHistoryGone = errors.New("kv: state at that seqno is no longer kept")

// history holds, for the maps chosen with KeepHistory, the values that
// committed writes replaced, so that the state after an earlier seqno
// can be read (Store.GetAt). It lives in memory on each node: a node
// that restarts keeps history from the state it restarts from.
type history struct {
	maps  map[string]bool
	keys  map[string]map[string][]version // map → key → versions, oldest first
	floor uint64                          // reads at seqnos before it are gone
	n     int
}

// version is the value a key held before the write at seqno.
type version struct {
	seqno   uint64
	v       []byte
	existed bool
}

// KeepHistory starts keeping the replaced values of the named maps from
// now: GetAt answers for seqnos from the last applied one on.
func (s *Store) KeepHistory(maps ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hist == nil {
		s.hist = &history{maps: map[string]bool{}, keys: map[string]map[string][]version{}, floor: s.last}
	}
	for _, m := range maps {
		s.hist.maps[m] = true
	}
}

// record keeps a committed entry's replaced values (with s.mu held).
func (h *history) record(u undo) {
	for _, o := range u.olds {
		if !h.maps[o.m] {
			continue
		}
		km := h.keys[o.m]
		if km == nil {
			km = map[string][]version{}
			h.keys[o.m] = km
		}
		km[o.k] = append(km[o.k], version{seqno: u.seqno, v: o.v, existed: o.existed})
		h.n++
	}
}

// PruneHistory forgets what only reads at seqnos before floor need.
func (s *Store) PruneHistory(floor uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hist
	if h == nil || floor <= h.floor {
		return
	}
	h.floor = floor
	for _, km := range h.keys {
		for k, vs := range km {
			// A version at seqno q is the value before q: reads at
			// seqnos ≥ floor need the versions after floor only.
			i, _ := slices.BinarySearchFunc(vs, floor+1, func(v version, q uint64) int { return cmpU(v.seqno, q) })
			if i == len(vs) {
				delete(km, k)
			} else if i > 0 {
				km[k] = slices.Clone(vs[i:])
			}
			h.n -= i
		}
	}
}

// HistoryFloor is the oldest seqno GetAt answers for.
func (s *Store) HistoryFloor() (uint64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.hist == nil {
		return 0, false
	}
	return s.hist.floor, true
}

// HistoryVersions is the number of replaced values kept.
func (s *Store) HistoryVersions() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.hist == nil {
		return 0
	}
	return s.hist.n
}

// GetAt reads a key of a history map as it was after seqno at.
func (s *Store) GetAt(m string, k []byte, at uint64) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := s.hist
	if h == nil || !h.maps[m] {
		return nil, false, fmt.Errorf("kv: no history of %s", m)
	}
	if at < h.floor {
		return nil, false, ErrHistoryGone
	}
	if at >= s.last {
		v, ok := s.maps[m][string(k)]
		return v, ok, nil
	}
	// The first write after at, committed or not, replaced the value
	// at had.
	if vs := h.keys[m][string(k)]; len(vs) > 0 {
		i, _ := slices.BinarySearchFunc(vs, at+1, func(v version, q uint64) int { return cmpU(v.seqno, q) })
		if i < len(vs) {
			return vs[i].v, vs[i].existed, nil
		}
	}
	for _, u := range s.undo {
		if u.seqno <= at {
			continue
		}
		for _, o := range u.olds {
			if o.m == m && o.k == string(k) {
				return o.v, o.existed, nil
			}
		}
	}
	v, ok := s.maps[m][string(k)]
	return v, ok, nil
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
