package cek_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/internal/auth"
	"github.com/confide/confide/kms"
	"github.com/confide/confide/kms/api"
	kmsclient "github.com/confide/confide/kms/client"
	"github.com/confide/confide/kvstore"
	"github.com/confide/confide/seal"
	"github.com/confide/confide/sql/cek"
)

// TestKMS keeps the column master key in the key broker: CEK values are
// made with its public key and sign operation and opened with unwrapkey,
// by a principal that was granted exactly those.
func TestKMS(t *testing.T) {
	ctx := context.Background()
	p := simtest.Start(t)
	st, err := kvstore.OpenBolt(filepath.Join(t.TempDir(), "kms.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sealer, _ := seal.New(p.Client, rand.Reader)
	admin, ah, _ := auth.NewToken()
	app, uh, _ := auth.NewToken()
	pr, _ := auth.Parse(fmt.Appendf(nil, `{"version":1,"principals":[{"name":"owner","token_sha256":%q,"admin":true},{"name":"app","token_sha256":%q}]}`, ah, uh))
	b, err := kms.New(ctx, kms.Config{Store: st, Sealer: sealer, Principals: pr})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(b.Handler(nil))
	defer ts.Close()
	owner := kmsclient.New(ts.URL, nil)
	owner.Bearer = admin
	if _, err := owner.Create(ctx, "cmk", api.CreateKey{Kty: "RSA", Size: 2048,
		Access: map[string][]string{"app": {"get", "unwrapkey", "sign"}}}); err != nil {
		t.Fatal(err)
	}
	c := kmsclient.New(ts.URL, nil)
	c.Bearer = app
	cmk := &cek.KMS{Client: c, Name: "cmk"}
	key := make([]byte, 32)
	rand.Read(key)
	v, err := cek.Encrypt(ctx, cmk, ts.URL+"/v1/keys/cmk", key, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cek.Decrypt(ctx, cmk, ts.URL+"/v1/keys/cmk", v)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("decrypt through the broker: %v", err)
	}
	// Rotating the CMK in the broker: the old value names version 1.
	if _, err := owner.Rotate(ctx, "cmk"); err != nil {
		t.Fatal(err)
	}
	if _, err := cek.Decrypt(ctx, cmk, "", v); err == nil {
		t.Error("a value of version 1 opened with version 2")
	}
	old := &cek.KMS{Client: c, Name: "cmk", Version: 1}
	if got, err := cek.Decrypt(ctx, old, "", v); err != nil || !bytes.Equal(got, key) {
		t.Errorf("version 1 pinned: %v", err)
	}
	// Through a cache and the provider, by key URL.
	path := ts.URL + "/v1/keys/cmk/1"
	cache := &cek.Cache{Providers: []cek.Provider{cek.KMSKeys{Client: func(base string) *kmsclient.Client {
		if base == ts.URL {
			return c
		}
		return nil
	}}}, Trusted: []string{path}}
	if got, err := cache.Decrypt(ctx, "CONFIDE_KMS", path, v); err != nil || !bytes.Equal(got, key) {
		t.Errorf("through the provider: %v", err)
	}
	for _, bad := range []string{"https://elsewhere:1/v1/keys/cmk", ts.URL + "/v2/cmk", ts.URL + "/v1/keys/cmk/x"} {
		cache.Trusted = append(cache.Trusted, bad)
		if _, err := cache.Decrypt(ctx, "CONFIDE_KMS", bad, v); err == nil {
			t.Errorf("opened %s", bad)
		}
	}
}
