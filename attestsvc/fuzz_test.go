package attestsvc_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/confide/confide/attestsvc/api"
)

// FuzzAttestRequest sends arbitrary bodies to /v1/attest: every reply is
// a 2xx or a 4xx with a JSON error, never a 5xx or a crash. Seeds:
// testdata/fuzz/FuzzAttestRequest.
func FuzzAttestRequest(f *testing.F) {
	e := start(f)
	h := e.svc.Handler(nil)
	seeds := [][]byte{
		[]byte(`{"evidence":"Q0ZFVgEB","nonce":"00"}`),
		[]byte(`{"evidence":"","nonce":"","runtime_data":"","policy":"x"}`),
		[]byte(`{"evidence":"Q0ZFVgEBAAAAAA==","nonce":"0000000000000000000000000000000000000000000000000000000000000000","runtime_data":"e30="}`),
		[]byte(`[]`), []byte(`null`), []byte(`{"nonce":1e999}`),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{api.PathAttest, api.PathChallenge} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
			checkReply(t, rec)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPut, api.PathPolicies+"/p", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.admin.Bearer)
		h.ServeHTTP(rec, req)
		checkReply(t, rec)
	})
}

func checkReply(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	// 503 busy is the one 5xx a request may get: the challenge limit.
	if rec.Code >= 500 && !(rec.Code == 503 && bytes.Contains(rec.Body.Bytes(), []byte(`"busy"`))) {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if rec.Code >= 400 {
		var b struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error.Code == "" {
			t.Fatalf("status %d without a JSON error: %q", rec.Code, rec.Body)
		}
	}
}
