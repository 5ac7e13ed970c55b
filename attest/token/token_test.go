package token_test

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/attest/token"
	"github.com/confide/confide/enclave"
)

func issuer(t testing.TB, now time.Time) *token.Issuer {
	k, err := token.NewSigningKey(rand.Reader, now)
	if err != nil {
		t.Fatal(err)
	}
	i, err := token.NewIssuer("https://as.example", time.Hour, []*token.SigningKey{k})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestIssueVerify(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	i := issuer(t, now)
	c := &token.Claims{ID: "1", Nonce: "ab", Verdict: token.None}
	c.FromEvidence(enclave.Claims{Identity: enclave.Identity{Platform: "sim", SVN: 2},
		Extra: map[string]any{"x-sgx-advisory-INTEL-SA-00615": true, "x-sgx-tcb-evaluation-data-number": 17.0, "not-x": 1.0}})
	c.SetRuntimeData([]byte(`{"jwk":{"kty":"EC"},"job":"x","deep":{"a":{"b":1}}}`))
	tok, err := i.Issue(c, now)
	if err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) func() time.Time { return func() time.Time { return now.Add(d) } }
	v := &token.Verifier{Issuer: "https://as.example", Keys: token.IssuerKeys{Issuer: i, Now: at(0)}, Now: at(0)}
	got, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	m := got.Map()
	if m["x-sgx-advisory-INTEL-SA-00615"] != true || m["x-sgx-tcb-evaluation-data-number"] != 17.0 || m["not-x"] != nil {
		t.Errorf("extra claims in the map: %v", m)
	}
	if m["svn"] != 2.0 || m["runtime.job"] != "x" || m["runtime.deep.a.b"] != 1.0 || m["runtime.jwk.kty"] != "EC" || got.Profile != token.Profile {
		t.Errorf("claims map %v", m)
	}
	if _, err := got.ReleaseKey(); err == nil {
		t.Error("an invalid runtime jwk was accepted")
	}
	for name, c := range map[string]struct {
		tok  string
		v    token.Verifier
		want error
	}{
		"expired":      {tok, token.Verifier{Issuer: v.Issuer, Keys: v.Keys, Now: at(time.Hour + time.Minute)}, token.ErrExpired},
		"not yet":      {tok, token.Verifier{Issuer: v.Issuer, Keys: v.Keys, Now: at(-time.Minute)}, token.ErrExpired},
		"in leeway":    {tok, token.Verifier{Issuer: v.Issuer, Keys: v.Keys, Now: at(time.Hour + 20*time.Second)}, nil},
		"issuer":       {tok, token.Verifier{Issuer: "https://other", Keys: v.Keys, Now: at(0)}, token.ErrIssuer},
		"other keys":   {tok, token.Verifier{Issuer: v.Issuer, Keys: token.IssuerKeys{Issuer: issuer(t, now)}, Now: at(0)}, token.ErrSignature},
		"tampered":     {tok[:len(tok)-2] + "AA", *v, token.ErrSignature},
		"garbage":      {"garbage", *v, token.ErrMalformed},
		"alg none":     {"eyJhbGciOiJub25lIn0." + strings.Split(tok, ".")[1] + ".", *v, token.ErrMalformed},
		"oversized":    {strings.Repeat("a", token.MaxToken+1), *v, token.ErrMalformed},
		"payload swap": {strings.Split(tok, ".")[0] + ".e30." + strings.Split(tok, ".")[2], *v, token.ErrSignature},
	} {
		if _, err := c.v.Verify(c.tok); !errors.Is(err, c.want) && !(c.want == nil && err == nil) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// FuzzVerify: arbitrary strings never crash the verifier and are never
// accepted. Seeds: testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	now := time.Now()
	i := issuer(f, now)
	tok, err := i.Issue(&token.Claims{ID: "1"}, now)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add("eyJhbGciOiJFUzI1NiIsImtpZCI6IngifQ.e30.AAAA")
	v := &token.Verifier{Issuer: "https://as.example", Keys: token.IssuerKeys{Issuer: i}}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := v.Verify(s); err == nil && s != tok {
			t.Fatalf("accepted %q", s)
		}
	})
}
