package kv_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/kv"
)

// TestHistory checks GetAt against a model: the state after every
// seqno, through commits, rollbacks and pruning.
func TestHistory(t *testing.T) {
	s := kv.New()
	s.KeepHistory("h")
	rng := rand.New(rand.NewPCG(1, 2))
	states := map[uint64]map[string]string{0: {}}
	cur := map[string]string{}
	seq := uint64(0)
	committed := uint64(0)
	for round := range 400 {
		switch op := rng.IntN(10); {
		case op < 6:
			seq++
			ws := entry.WriteSet{}
			for range 1 + rng.IntN(3) {
				k := fmt.Sprint("k", rng.IntN(6))
				if rng.IntN(4) == 0 {
					ws["h"] = append(ws["h"], entry.Write{Key: []byte(k), Deleted: true})
					delete(cur, k)
				} else {
					v := fmt.Sprint("v", round)
					ws["h"] = append(ws["h"], entry.Write{Key: []byte(k), Value: []byte(v)})
					cur[k] = v
				}
				break // one write per key per entry
			}
			if err := s.Apply(seq, [32]byte{}, ws); err != nil {
				t.Fatal(err)
			}
			states[seq] = clone(cur)
		case op < 8 && seq > committed:
			committed += 1 + uint64(rng.IntN(int(seq-committed)))
			s.Commit(committed)
		case op < 9 && seq > committed:
			seq = committed + uint64(rng.IntN(int(seq-committed)))
			if err := s.Rollback(seq); err != nil {
				t.Fatal(err)
			}
			cur = clone(states[seq])
			for q := range states {
				if q > seq {
					delete(states, q)
				}
			}
		default:
			if committed > 20 {
				s.PruneHistory(committed - 20)
			}
		}
		floor, _ := s.HistoryFloor()
		for at := floor; at <= seq; at++ {
			for k := range 6 {
				key := fmt.Sprint("k", k)
				v, ok, err := s.GetAt("h", []byte(key), at)
				want, wok := states[at][key]
				if err != nil || ok != wok || string(v) != want {
					t.Fatalf("round %d: %s at %d = %q %v %v, want %q %v", round, key, at, v, ok, err, want, wok)
				}
			}
		}
		if floor > 0 {
			if _, _, err := s.GetAt("h", []byte("k1"), floor-1); !errors.Is(err, kv.ErrHistoryGone) {
				t.Fatalf("below the floor: %v", err)
			}
		}
	}
	if _, _, err := s.GetAt("other", []byte("k"), 0); err == nil {
		t.Fatal("a map without history answered")
	}
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
