package kms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/confide/confide/kms/api"
)

// FuzzRequests sends arbitrary bodies to the release and key-operation
// endpoints and the owner's PATCH: every reply is a 2xx or a 4xx with a
// JSON error, never a 5xx or a crash. Seeds: testdata/fuzz/FuzzRequests.
func FuzzRequests(f *testing.F) {
	w := newWorld(f)
	ctx := context.Background()
	if _, err := w.kms.Create(ctx, "k", api.CreateKey{Kty: "EC", Exportable: true, ReleasePolicy: w.policy(),
		Access: map[string][]string{"sql": api.Ops}}); err != nil {
		f.Fatal(err)
	}
	if _, err := w.kms.Create(ctx, "aes", api.CreateKey{Kty: "oct", Access: map[string][]string{"sql": api.Ops}}); err != nil {
		f.Fatal(err)
	}
	h := w.broker.Handler(nil)
	for _, s := range []string{
		`{"token":"eyJhbGciOiJFUzI1NiJ9.e30.AAAA"}`,
		`{"token":"x","version":2,"jwk":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}}`,
		`{"alg":"ES256","value":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"alg":"A256GCM","value":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","aad":"AA"}`,
		`{"alg":"ES256","value":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","signature":"AAAA"}`,
		`{"release_policy":{"version":"1.0.0","anyOf":[{"claim":"svn","equals":1}]},"access":{"sql":["get"]}}`,
	} {
		for op := byte(0); op < 9; op++ {
			f.Add(op, []byte(s))
		}
	}
	paths := []struct{ method, path string }{
		{http.MethodPost, "/v1/keys/k/release"}, {http.MethodPost, "/v1/keys/k/sign"},
		{http.MethodPost, "/v1/keys/k/verify"}, {http.MethodPost, "/v1/keys/aes/encrypt"},
		{http.MethodPost, "/v1/keys/aes/decrypt"}, {http.MethodPost, "/v1/keys/k/unwrapkey"},
		{http.MethodPost, "/v1/keys/k/wrapkey"}, {http.MethodPatch, "/v1/keys/aes"},
		{http.MethodPut, "/v1/keys/new"},
	}
	f.Fuzz(func(t *testing.T, op byte, body []byte) {
		p := paths[int(op)%len(paths)]
		if p.method == http.MethodPut && bytes.Contains(body, []byte("RSA")) {
			return // key generation is slow; PUT with other types still runs
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(p.method, p.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+w.user.Bearer)
		if p.method != http.MethodPost {
			req.Header.Set("Authorization", "Bearer "+w.kms.Bearer)
		}
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: status %d: %s", p.method, p.path, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var b struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error.Code == "" {
				t.Fatalf("status %d without a JSON error: %q", rec.Code, rec.Body)
			}
		}
		if p.method == http.MethodPut && rec.Code/100 == 2 {
			w.kms.Delete(context.Background(), "new")
		}
	})
}
