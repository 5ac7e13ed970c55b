package freeport

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestPort(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		seen[p] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		l.Close()
	}
	if len(seen) < 10 {
		t.Fatalf("20 picks gave %d ports", len(seen))
	}
	if a, err := Addr(); err != nil || !strings.HasPrefix(a, "127.0.0.1:") {
		t.Fatalf("%q %v", a, err)
	}
}
