package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type sample struct {
	A string `json:"a"`
	B int    `json:"b,omitempty"`
}

func TestUnmarshal(t *testing.T) {
	var s sample
	if err := Unmarshal([]byte(`{"a":"x","b":2}`), &s); err != nil || s.A != "x" || s.B != 2 {
		t.Fatal(s, err)
	}
	for _, bad := range []string{``, `{`, `{"a":1}`, `{"c":1}`, `{"a":"x"} {}`, `[]`} {
		var e *Error
		if err := Unmarshal([]byte(bad), &s); !errors.As(err, &e) || e.Status != 400 {
			t.Errorf("%q: %v", bad, err)
		}
	}
	req := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 100)))
	var e *Error
	if _, err := ReadBody(req, 10); !errors.As(err, &e) || e.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: %v", err)
	}
}

func TestServerNeverEchoesInternals(t *testing.T) {
	var logs bytes.Buffer
	s := NewServer(slog.New(slog.NewTextHandler(&logs, nil)), nil, "test")
	h := s.Handle("r", func(w http.ResponseWriter, r *http.Request) error {
		return errors.New("secret detail 42")
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret detail") || strings.Contains(logs.String(), "secret detail") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	p := s.Handle("p", func(w http.ResponseWriter, r *http.Request) error { panic("boom 42") })
	rec = httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "boom") || strings.Contains(logs.String(), "boom") {
		t.Errorf("panic: %d %s; logs %s", rec.Code, rec.Body, logs.String())
	}
	if !strings.Contains(logs.String(), "*errors.errorString") || !strings.Contains(logs.String(), "panic_type=string") {
		t.Errorf("the logs do not name the failures' types: %s", logs.String())
	}
}

// FuzzUnmarshal: arbitrary bodies give a value or a 4xx *Error, never a
// panic; accepted values re-encode and decode to themselves. Seeds:
// testdata/fuzz/FuzzUnmarshal.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"a":"x","b":2}`))
	f.Add([]byte(`{"a":"\u0000","b":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s sample
		err := Unmarshal(b, &s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status/100 != 4 {
				t.Fatalf("%q: %v", b, err)
			}
			return
		}
		again, _ := json.Marshal(s)
		var s2 sample
		if err := Unmarshal(again, &s2); err != nil || s2 != s {
			t.Fatalf("%q → %s → %v", b, again, err)
		}
	})
}
