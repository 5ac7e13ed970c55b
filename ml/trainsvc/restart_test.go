package trainsvc

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/ml/data"
	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/encfile"
	"github.com/confide/confide/ml/manifest"
	"github.com/confide/confide/ml/output"
	"github.com/confide/confide/ml/party"
	"github.com/confide/confide/seal"
)

// twoParty is a prediction-only k-means job of two parties.
type twoParty struct {
	keys []*party.Keys
	encs [][]byte
	req  JobRequest
	hash [32]byte
}

func newTwoParty(t *testing.T, name string, keys keyMap) *twoParty {
	d, _ := dataset.ReadCSV(bytes.NewReader(data.BreastCancerCSV), "bc", "malignant")
	j := &twoParty{}
	var ps []map[string]any
	for i := range 2 {
		k, _ := party.Generate(fmt.Sprintf("h%d", i+1))
		enc, _ := encfile.Encrypt(d.Subset(seq(i*284, (i+1)*284)).Table(), k.Data)
		h := sha256.Sum256(enc)
		pub := k.Public()
		ps = append(ps, map[string]any{"name": pub.Name, "signing_key": pub.SigningKey, "output_key": pub.OutputKey,
			"data": map[string]any{"sha256": hex.EncodeToString(h[:]), "bytes": len(enc)}})
		j.keys, j.encs, keys[name+k.Name] = append(j.keys, k), append(j.encs, enc), k.Data
	}
	mb, _ := json.Marshal(map[string]any{"version": 1, "job": name, "parties": ps,
		"trainer":   map[string]any{"policy": json.RawMessage(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"}]}`), "allow_simulation": true},
		"schema":    map[string]any{"features": d.Features, "label": "malignant"},
		"algorithm": map[string]any{"name": "kmeans", "params": map[string]any{"k": 2, "n_init": 2, "max_iter": 100, "tol": 1e-4, "seed": 1}},
		"holdout":   0, "seed": 1, "output": map[string]any{"recipients": []string{"h1", "h2"}, "release": false}})
	j.req.Manifest = mb
	for _, k := range j.keys {
		manifest.Sign(mb, &j.req.Signatures, k.Name, k.Sign)
	}
	j.hash = manifest.Hash(mb)
	return j
}

func (j *twoParty) id() string { return hex.EncodeToString(j.hash[:]) }

func seq(lo, hi int) []int {
	s := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

// A trainer stopped and started again loses nothing: a finished job
// still serves its outputs and its model kept inside still predicts, a
// waiting job trains once its last file arrives, and a record the host
// altered is reported and left in place.
func TestRestart(t *testing.T) {
	plat := simtest.Start(t)
	ctx := context.Background()
	sealer, err := seal.New(plat.Client, nil)
	if err != nil {
		t.Fatal(err)
	}
	storage, jobs := t.TempDir(), t.TempDir()
	keys := keyMap{}
	var logs bytes.Buffer
	start := func() (*Service, *httpx.Client) {
		svc, err := New(Config{Storage: storage, Keys: keys, Attester: plat.Client, Jobs: jobs, Sealer: sealer,
			Log: slog.New(slog.NewTextHandler(&logs, nil))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(svc.Handler())
		t.Cleanup(ts.Close)
		return svc, &httpx.Client{BaseURL: ts.URL}
	}
	svc, c := start()
	post := func(c *httpx.Client, j *twoParty) {
		t.Helper()
		if _, err := c.Do(ctx, http.MethodPost, "/v1/jobs", j.req, nil); err != nil {
			t.Fatal(err)
		}
	}
	done, waiting, altered := newTwoParty(t, "done", keys), newTwoParty(t, "waiting", keys), newTwoParty(t, "altered", keys)
	for _, j := range []*twoParty{done, altered} {
		put(t, c, j.encs[0])
		put(t, c, j.encs[1])
		post(c, j)
		if st := wait(t, c, j.id()); st.State != Done {
			t.Fatalf("%+v", st)
		}
	}
	put(t, c, waiting.encs[0])
	post(c, waiting)
	rows := [][]float64{}
	d, _ := dataset.ReadCSV(bytes.NewReader(data.BreastCancerCSV), "bc", "malignant")
	rows = append(rows, d.X[:20]...)
	predict := func(c *httpx.Client) []float64 {
		t.Helper()
		req := PredictRequest{Party: "h2", Time: time.Now().Unix(), Rows: rows}
		req.Sig = ed25519.Sign(done.keys[1].Sign, PredictMessage(done.hash, &req))
		var env output.Envelope
		if _, err := c.Do(ctx, http.MethodPost, "/v1/jobs/"+done.id()+"/predict", req, &env); err != nil {
			t.Fatal(err)
		}
		b, err := output.Open(done.keys[1].Out, done.hash, "h2", &env)
		if err != nil {
			t.Fatal(err)
		}
		var ps []float64
		json.Unmarshal(b, &ps)
		return ps
	}
	before := predict(c)
	var outBefore Outputs
	c.Do(ctx, http.MethodGet, "/v1/jobs/"+done.id()+"/outputs/h1", nil, &outBefore)
	svc.Wait()

	// The host flips a bit in one record; the trainer starts again.
	rec := filepath.Join(jobs, altered.id()+".sealed")
	b, _ := os.ReadFile(rec)
	b[len(b)/2] ^= 1
	os.WriteFile(rec, b, 0o600)
	svc, c = start()

	if got := predict(c); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("predictions after the restart %v, before %v", got, before)
	}
	var out Outputs
	if _, err := c.Do(ctx, http.MethodGet, "/v1/jobs/"+done.id()+"/outputs/h1", nil, &out); err != nil || !bytes.Equal(out.Evidence, outBefore.Evidence) {
		t.Errorf("outputs after the restart: %v", err)
	}
	var st JobState
	if _, err := c.Do(ctx, http.MethodGet, "/v1/jobs/"+waiting.id(), nil, &st); err != nil || st.State != Waiting || strings.Join(st.Missing, ",") != "h2" {
		t.Fatalf("the waiting job after the restart: %+v %v", st, err)
	}
	put(t, c, waiting.encs[1])
	if st := wait(t, c, waiting.id()); st.State != Done {
		t.Fatalf("the waiting job: %+v", st)
	}
	if _, err := c.Do(ctx, http.MethodGet, "/v1/jobs/"+altered.id(), nil, nil); err == nil {
		t.Error("an altered record loaded")
	}
	if _, err := os.Stat(rec); err != nil {
		t.Errorf("the altered record was not left in place: %v", err)
	}
	if !strings.Contains(logs.String(), "job record not loaded") || !strings.Contains(logs.String(), altered.id()) {
		t.Errorf("the altered record was not reported: %s", logs.String())
	}
	svc.Wait()
}
