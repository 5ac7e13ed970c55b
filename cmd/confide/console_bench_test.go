package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confide/confide/console"
	"github.com/confide/confide/internal/auth"
)

// BenchmarkConsoleLedgerPages renders the console's ledger pages over a
// one-node ledger of CONFIDE_BENCH_TXS transactions (default 100,000; one
// in a hundred in a second, sparse collection): a page of the dense
// collection's list from a random seqno, a page of the sparse one (the
// ledger scans up to 10,000 seqnos for its 100 entries), and a random
// transaction with its receipt. The goal (issue 14) is under
// 200 ms a page on this machine. Run:
//
//	go test ./cmd/confide -run '^$' -bench ConsoleLedgerPages -benchtime 200x
func BenchmarkConsoleLedgerPages(b *testing.B) {
	n := 100_000
	if v := os.Getenv("CONFIDE_BENCH_TXS"); v != "" {
		fmt.Sscan(v, &n)
	}
	l := startLedger(b, 1)
	primary := "https://" + l.primary()
	start := time.Now()
	var ids sync.Map
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				coll := "bench"
				if i%100 == 0 {
					coll = "rare"
				}
				resp, err := l.client.Post(primary+"/app/transactions?collection_id="+coll, "application/json",
					strings.NewReader(fmt.Sprintf(`{"contents":"entry %d: %s"}`, i, strings.Repeat("x", 64))))
				if err != nil {
					failed.Add(1)
					continue
				}
				var r struct {
					TxID string `json:"transaction_id"`
				}
				json.NewDecoder(resp.Body).Decode(&r)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				ids.Store(i, r.TxID)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d writes failed", failed.Load())
	}
	var last string
	ids.Range(func(_, v any) bool { last = v.(string); return true })
	// Wait for everything to commit (the last write's status).
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		var st struct {
			Status string `json:"status"`
		}
		var maxID string
		ids.Range(func(k, v any) bool {
			if k.(int64) == int64(n) {
				maxID = v.(string)
			}
			return true
		})
		if code, err := l.call("GET", strings.TrimPrefix(primary, "https://"), "/app/tx?transaction_id="+maxID, "", &st); err == nil && code == 200 && st.Status == "Committed" {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the writes did not commit")
		}
	}
	var state struct {
		Commit int `json:"commit_seqno"`
	}
	l.call("GET", strings.TrimPrefix(primary, "https://"), "/node/state", "", &state)
	b.Logf("%d transactions written in %v (seqnos to %d, e.g. %s)", n, time.Since(start).Round(time.Second), state.Commit, last)

	tok, hash, _ := auth.NewToken()
	pr, err := auth.Parse(fmt.Appendf(nil, `{"version":1,"principals":[{"name":"admin","token_sha256":%q,"admin":true}]}`, hash))
	if err != nil {
		b.Fatal(err)
	}
	svc, _ := os.ReadFile(filepath.Join(l.dir, "service_cert.pem"))
	c, err := console.New(console.Config{Principals: pr,
		Ledger: console.LedgerBackend{URL: primary, HTTP: l.client, ServiceCert: svc}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	br := signedIn(b, srv.URL, tok)
	get := func(path, want string) {
		resp, err := br.Get(srv.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			b.Fatalf("GET %s: %s\n%.500s", path, resp.Status, body)
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, coll := range []string{"bench", "rare"} {
		b.Run("transactions-page-"+coll, func(b *testing.B) {
			for b.Loop() {
				// A full page: from anywhere but the last 10,000 seqnos.
				from := 1 + rnd.IntN(max(1, state.Commit-10_000))
				get(fmt.Sprintf("/ledger/transactions?collection_id=%s&from=%d", coll, from), "Next page")
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
		})
	}
	b.Run("transaction-receipt", func(b *testing.B) {
		for b.Loop() {
			v, _ := ids.Load(int64(1 + rnd.IntN(n)))
			get("/ledger/tx/"+v.(string), "Receipt")
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
	})
}

// signedIn is an HTTP client with a console session.
func signedIn(b *testing.B, base, token string) *http.Client {
	jar := newJar()
	c := &http.Client{Jar: jar}
	resp, err := c.Get(base + "/signin")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	i := strings.Index(string(body), `name="csrf" value="`)
	if i < 0 {
		b.Fatal("no sign-in form")
	}
	rest := string(body)[i+len(`name="csrf" value="`):]
	csrf := rest[:strings.IndexByte(rest, '"')]
	resp, err = c.PostForm(base+"/signin", map[string][]string{"csrf": {csrf}, "token": {token}})
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("sign-in: %v", err)
	}
	resp.Body.Close()
	return c
}

func newJar() http.CookieJar {
	j, _ := cookiejar.New(nil)
	return j
}
