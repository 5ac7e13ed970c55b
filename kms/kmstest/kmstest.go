// Package kmstest runs, in a test, an attestation service and a key
// broker that trusts its tokens, both real and on loopback, for packages
// that release keys to enclaves (the multi-party trainer, …). The
// platform is the caller's simulated one.
package kmstest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/token"
	"github.com/confide/confide/attestsvc"
	attestclient "github.com/confide/confide/attestsvc/client"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/internal/auth"
	"github.com/confide/confide/kms"
	kmsclient "github.com/confide/confide/kms/client"
	"github.com/confide/confide/kvstore"
	"github.com/confide/confide/seal"
)

// World is a running attestation service and key broker.
type World struct {
	AS    *attestclient.Client
	ASURL string // the issuer of its tokens: release policies' authority
	// Admin may create keys; Anon is an enclave asking for a release.
	Admin *kmsclient.Client
	Anon  *kmsclient.Client
	// KMSURL is the broker's URL. Both services know the principals
	// Principals: "owner" (AdminToken, an administrator) and "reader"
	// (ReaderToken, not one).
	KMSURL                  string
	Principals              *auth.Principals
	AdminToken, ReaderToken string
}

// Start starts both on p, until the test ends.
func Start(t testing.TB, p *simtest.Platform) *World {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	sealer, err := seal.New(p.Client, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	admin, adminHash, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	reader, readerHash, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	pr, err := auth.Parse(fmt.Appendf(nil, `{"version":1,"principals":[{"name":"owner","token_sha256":%q,"admin":true},{"name":"reader","token_sha256":%q}]}`, adminHash, readerHash))
	if err != nil {
		t.Fatal(err)
	}
	//confide:ignore false positive: the checker merges the sealer made just above with this store; opening a database file reaches no key, and this is a test's throw-away service
	asStore, err := kvstore.OpenBolt(filepath.Join(dir, "as.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { asStore.Close() })
	ats := httptest.NewUnstartedServer(nil)
	asURL := "http://" + ats.Listener.Addr().String()
	svc, err := attestsvc.New(ctx, attestsvc.Config{
		Verifier: &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSim: p.Verifier()}},
		Store:    asStore, Sealer: sealer, Issuer: asURL, Admins: pr,
	})
	if err != nil {
		t.Fatal(err)
	}
	//confide:ignore false positive: the service's handler logs request errors, never its signing key, which the checker merges with the service value; a test's throw-away service
	ats.Config.Handler = svc.Handler(nil)
	ats.Start()
	t.Cleanup(ats.Close)
	as := attestclient.New(asURL, nil)
	//confide:ignore false positive: as for the attestation service's store above
	kStore, err := kvstore.OpenBolt(filepath.Join(dir, "kms.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kStore.Close() })
	br, err := kms.New(ctx, kms.Config{Store: kStore, Sealer: sealer, Principals: pr,
		Issuers: []*token.Verifier{{Issuer: asURL, Keys: &attestclient.KeySet{Client: as}}}})
	if err != nil {
		t.Fatal(err)
	}
	//confide:ignore false positive: the broker's handler logs request errors, never its key-encryption key, which the checker merges with the broker value; a test's throw-away broker
	kts := httptest.NewServer(br.Handler(nil))
	t.Cleanup(kts.Close)
	w := &World{AS: as, ASURL: asURL, Admin: kmsclient.New(kts.URL, nil), Anon: kmsclient.New(kts.URL, nil),
		KMSURL: kts.URL, Principals: pr, AdminToken: admin, ReaderToken: reader}
	w.Admin.Bearer = admin
	return w
}
