package node

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/atls"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/ledger/identity"
)

// TestLinkRefusals: a node hello fails for a node of another service, and
// attested TLS fails for a peer whose code the policy does not admit.
func TestLinkRefusals(t *testing.T) {
	p := simtest.Start(t)
	v := &attest.Verifier{Backends: map[string]enclave.Verifier{"sim": p.Verifier()}}
	self, _ := p.Client.Identity(context.Background())
	same, _ := SameCodePolicy(self)
	other := self
	other.UniqueID = make([]byte, len(self.UniqueID)) // code nobody runs
	otherPol, _ := SameCodePolicy(other)

	svc, _ := identity.NewService("a")
	svc2, _ := identity.NewService("b")
	n1, _ := identity.NewNode(svc)
	n2, _ := identity.NewNode(svc)
	stranger, _ := identity.NewNode(svc2)

	try := func(server, client *Link) error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		sconf, _, err := server.configs()
		if err != nil {
			t.Fatal(err)
		}
		_, cconf, err := client.configs()
		if err != nil {
			t.Fatal(err)
		}
		serr := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				serr <- err
				return
			}
			tc, err := server.serverConn(c, sconf)
			if err == nil {
				tc.Close()
			}
			serr <- err
		}()
		c, cerr := client.dial(ln.Addr().String(), cconf)
		if cerr == nil {
			c.Close()
		}
		if err := <-serr; err != nil {
			return err
		}
		return cerr
	}
	att := func(id *identity.Identity, service *identity.Identity, pol *attest.Policy) *Link {
		return &Link{Self: id, Service: service.Cert, ATLS: &atls.Config{Attester: p.Client, Verifier: v, Policy: pol}}
	}
	if err := try(att(n1, svc, same), att(n2, svc, same)); err != nil {
		t.Fatalf("two nodes of one service: %v", err)
	}
	if err := try(&Link{Self: n1, Service: svc.Cert}, &Link{Self: n2, Service: svc.Cert}); err != nil {
		t.Fatalf("two nodes, no attestation: %v", err)
	}
	// A node of another service, attested or not.
	if err := try(att(n1, svc, same), att(stranger, svc, same)); err == nil || !strings.Contains(err.Error(), "endorsed") {
		t.Fatalf("a stranger node: %v", err)
	}
	if err := try(&Link{Self: n1, Service: svc.Cert}, &Link{Self: stranger, Service: svc.Cert}); err == nil {
		t.Fatal("a stranger node without attestation")
	}
	// Code the policy does not admit.
	if err := try(att(n1, svc, otherPol), att(n2, svc, same)); err == nil {
		t.Fatal("a client whose code the server's policy refuses")
	}
	if err := try(att(n1, svc, same), att(n2, svc, otherPol)); err == nil {
		t.Fatal("a server whose code the client's policy refuses")
	}
}
