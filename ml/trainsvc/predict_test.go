package trainsvc

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/ml/data"
	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/manifest"
	"github.com/confide/confide/ml/output"
	"github.com/confide/confide/ml/party"
)

// keyMap hands out the parties' keys, by job and party name (two jobs
// may share party names): the broker's release is TestProtocol's
// subject; here, what a prediction-only model serves.
type keyMap map[string][]byte

func (k keyMap) DataKey(_ context.Context, m *manifest.Manifest, _ [32]byte, p string) ([]byte, error) {
	return bytes.Clone(k[m.Job+p]), nil
}

// TestPredictOnly: a model the manifest does not release answers each
// party's signed rows with predictions sealed to that party, and refuses
// unsigned, stale, foreign and malformed requests.
func TestPredictOnly(t *testing.T) {
	plat := simtest.Start(t)
	ctx := context.Background()
	keys := keyMap{}
	svc, err := New(Config{Storage: t.TempDir(), Keys: keys, Attester: plat.Client}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(svc.Handler())
	t.Cleanup(ts.Close)
	c := &httpx.Client{BaseURL: ts.URL}
	j := newTwoParty(t, "predict-only", keys)
	ks, hash := j.keys, j.hash
	for _, enc := range j.encs {
		put(t, c, enc)
	}
	var st JobState
	if _, err := c.Do(ctx, http.MethodPost, "/v1/jobs", j.req, &st); err != nil {
		t.Fatal(err)
	}
	if st = wait(t, c, st.ID); st.State != Done {
		t.Fatalf("%+v", st)
	}
	var out Outputs
	c.Do(ctx, http.MethodGet, "/v1/jobs/"+st.ID+"/outputs/h1", nil, &out)
	if len(out.Envelopes) != 1 || out.Envelopes[0].What != "report" {
		t.Fatalf("a prediction-only job sent %d envelopes", len(out.Envelopes))
	}

	d, _ := dataset.ReadCSV(bytes.NewReader(data.BreastCancerCSV), "bc", "malignant")
	rows := d.X[:5]
	ask := func(k *party.Keys, req PredictRequest, sign bool) (*output.Envelope, error) {
		if sign {
			req.Sig = ed25519.Sign(k.Sign, PredictMessage(hash, &req))
		}
		var env output.Envelope
		_, err := c.Do(ctx, http.MethodPost, "/v1/jobs/"+st.ID+"/predict", req, &env)
		return &env, err
	}
	env, err := ask(ks[0], PredictRequest{Party: "h1", Time: time.Now().Unix(), Rows: rows}, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := output.Open(ks[0].Out, hash, "h1", env)
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	json.Unmarshal(b, &got)
	if len(got) != 5 {
		t.Fatalf("predictions %v", got)
	}
	for _, v := range got {
		if v != 0 && v != 1 {
			t.Fatalf("a cluster index %v", v)
		}
	}
	if _, err := output.Open(ks[1].Out, hash, "h2", env); err == nil {
		t.Fatal("h2 opened h1's predictions")
	}
	for name, c := range map[string]struct {
		k    *party.Keys
		req  PredictRequest
		sign bool
		want string
	}{
		"unsigned":     {ks[0], PredictRequest{Party: "h1", Time: time.Now().Unix(), Rows: rows}, false, "bad_signature"},
		"signed by h2": {ks[1], PredictRequest{Party: "h1", Time: time.Now().Unix(), Rows: rows}, true, "bad_signature"},
		"stale":        {ks[0], PredictRequest{Party: "h1", Time: time.Now().Add(-time.Hour).Unix(), Rows: rows}, true, "stale"},
		"stranger":     {ks[0], PredictRequest{Party: "eve", Time: time.Now().Unix(), Rows: rows}, true, "not_a_party"},
		"short row":    {ks[0], PredictRequest{Party: "h1", Time: time.Now().Unix(), Rows: [][]float64{{1, 2}}}, true, "2 values"},
	} {
		if _, err := ask(c.k, c.req, c.sign); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
