package kv_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/kv"
)

func snapshot(s *kv.Store, maps ...string) string {
	out := ""
	for _, m := range maps {
		s.Range(m, func(k, v []byte) bool {
			out += fmt.Sprintf("%s/%s=%s ", m, k, v)
			return true
		})
	}
	return out
}

// TestRollback applies random write sets and checks that rolling back to
// any uncommitted point restores the state the store had there.
func TestRollback(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	maps := []string{"public:a", "b"}
	s := kv.New()
	states := []string{snapshot(s, maps...)}
	for seq := uint64(1); seq <= 200; seq++ {
		tx := s.Begin()
		for range rng.IntN(5) {
			m := maps[rng.IntN(2)]
			k := []byte(fmt.Sprint(rng.IntN(10)))
			if rng.IntN(4) == 0 {
				tx.Delete(m, k)
			} else {
				tx.Put(m, k, []byte(fmt.Sprint(seq)))
			}
		}
		if err := s.Apply(seq, [32]byte{byte(seq)}, tx.WriteSet()); err != nil {
			t.Fatal(err)
		}
		states = append(states, snapshot(s, maps...))
		if seq%50 == 0 {
			s.Commit(seq - 20)
		}
	}
	for _, to := range []uint64{199, 190, 181} {
		if err := s.Rollback(to); err != nil {
			t.Fatal(err)
		}
		if got := snapshot(s, maps...); got != states[to] || s.Last() != to {
			t.Fatalf("rollback to %d: state differs", to)
		}
	}
	if err := s.Rollback(179); !errors.Is(err, kv.ErrOrder) {
		t.Fatalf("rollback into committed state: %v", err)
	}
	if err := s.Apply(183, [32]byte{}, nil); !errors.Is(err, kv.ErrOrder) {
		t.Fatalf("apply out of order: %v", err)
	}
	if d, ok := s.Digest(181); !ok || d[0] != 181 {
		t.Fatal("digest of an uncommitted write set")
	}
	if _, ok := s.Digest(180); ok {
		t.Fatal("digest of a committed write set")
	}
}

func TestTx(t *testing.T) {
	s := kv.New()
	s.Apply(1, [32]byte{}, entry.WriteSet{"m": {{Key: []byte("x"), Value: []byte("1")}, {Key: []byte("y"), Value: []byte("2")}}})
	tx := s.Begin()
	tx.Put("m", []byte("x"), []byte("3"))
	tx.Delete("m", []byte("y"))
	if v, ok := tx.Get("m", []byte("x")); !ok || string(v) != "3" {
		t.Fatal("tx does not read its own write")
	}
	if _, ok := tx.Get("m", []byte("y")); ok {
		t.Fatal("tx reads a key it deleted")
	}
	if v, _ := s.Get("m", []byte("x")); string(v) != "1" {
		t.Fatal("tx wrote through before it was applied")
	}
	ws := tx.WriteSet()
	if len(ws["m"]) != 2 {
		t.Fatalf("write set %v", ws)
	}
	if s.Begin().WriteSet() != nil {
		t.Fatal("empty transaction has a write set")
	}
}
