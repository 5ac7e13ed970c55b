package attestsvc

import (
	"sync"
	"time"
)

// nonces holds outstanding challenges. Every nonce has the same lifetime,
// so issue order is expiry order and expired ones are swept from the
// front of a queue.
type nonces struct {
	mu    sync.Mutex
	live  map[[32]byte]time.Time
	queue []queued
	head  int // queue[:head] is swept
	max   int
}

type queued struct {
	n   [32]byte
	exp time.Time
}

func newNonces(max int) *nonces {
	return &nonces{live: make(map[[32]byte]time.Time), max: max}
}

// add registers a nonce; it fails when max are outstanding.
func (s *nonces) add(n [32]byte, exp, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	if len(s.live) >= s.max {
		return false
	}
	s.live[n] = exp
	s.queue = append(s.queue, queued{n, exp})
	return true
}

// take consumes a nonce, reporting whether it was outstanding and
// unexpired.
func (s *nonces) take(n [32]byte, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.live[n]
	if !ok {
		return false
	}
	delete(s.live, n)
	return now.Before(exp)
}

func (s *nonces) sweep(now time.Time) {
	for s.head < len(s.queue) && !now.Before(s.queue[s.head].exp) {
		delete(s.live, s.queue[s.head].n)
		s.head++
	}
	// Taken nonces leave their entries behind; compacting whenever the
	// queue is four times the live set keeps it O(live) at amortised O(1)
	// per nonce.
	if n := len(s.queue) - s.head; n > 1024 && n > 4*len(s.live) {
		q := s.queue[:0]
		for _, e := range s.queue[s.head:] {
			if _, ok := s.live[e.n]; ok {
				q = append(q, e)
			}
		}
		clear(s.queue[len(q):])
		s.queue, s.head = q, 0
	} else if s.head > 1024 && 2*s.head > len(s.queue) {
		s.queue = append(s.queue[:0], s.queue[s.head:]...)
		s.head = 0
	}
}

func (s *nonces) outstanding() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}
