package trainsvc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/kms/kmstest"
	"github.com/confide/confide/ml/data"
	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/encfile"
	"github.com/confide/confide/ml/manifest"
	"github.com/confide/confide/ml/output"
	"github.com/confide/confide/ml/party"
	"github.com/confide/confide/ml/trainer"
)

// TestProtocol: three hospitals, the real key broker and attestation
// service, the trainer over HTTP — from keys to each party's decrypted
// model and report, checked against the trainer's evidence.
func TestProtocol(t *testing.T) {
	plat := simtest.Start(t)
	w := kmstest.Start(t, plat)
	ctx := context.Background()
	svc, err := New(Config{Storage: t.TempDir(), Keys: &trainer.BrokerKeys{KMS: w.Anon, AS: w.AS, Attester: plat.Client}, Attester: plat.Client}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(svc.Handler())
	t.Cleanup(ts.Close)
	c := &httpx.Client{BaseURL: ts.URL}

	// Each party: keys, its rows encrypted.
	lines := strings.SplitAfter(strings.TrimSpace(string(data.BreastCancerCSV)), "\n")
	cuts := []int{1, 120, 330, len(lines)}
	var ks []*party.Keys
	var encs [][]byte
	var ps []map[string]any
	for i := range 3 {
		k, _ := party.Generate(fmt.Sprintf("h%d", i+1))
		enc, _ := encfile.Encrypt([]byte(lines[0]+strings.Join(lines[cuts[i]:cuts[i+1]], "")+"\n"), k.Data)
		h := sha256.Sum256(enc)
		pub := k.Public()
		ps = append(ps, map[string]any{"name": pub.Name, "signing_key": pub.SigningKey, "output_key": pub.OutputKey,
			"data": map[string]any{"sha256": hex.EncodeToString(h[:]), "bytes": len(enc)}})
		ks, encs = append(ks, k), append(encs, enc)
	}
	d, _ := dataset.ReadCSV(bytes.NewReader(data.BreastCancerCSV), "bc", "malignant")
	mb, _ := json.Marshal(map[string]any{"version": 1, "job": "hospitals", "parties": ps,
		"trainer":   map[string]any{"policy": json.RawMessage(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"}]}`), "allow_simulation": true},
		"schema":    map[string]any{"features": d.Features, "label": "malignant"},
		"algorithm": map[string]any{"name": "logreg", "params": map[string]any{"C": 1, "max_iter": 1000, "tol": 1e-6, "standardize": true}},
		"holdout":   0.2, "seed": 3, "output": map[string]any{"recipients": []string{"h1", "h2", "h3"}, "release": true}})
	m, err := manifest.Parse(mb)
	if err != nil {
		t.Fatal(err)
	}
	hash := manifest.Hash(mb)
	var sigs manifest.Signatures
	for _, k := range ks {
		manifest.Sign(mb, &sigs, k.Name, k.Sign)
	}

	// Bad requests first: a file under another name, an unsigned job.
	if _, err := c.Do(ctx, http.MethodPut, "/v1/files/"+strings.Repeat("0", 64), encs[0], nil); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("a misnamed file: %v", err)
	}
	partial := manifest.Signatures{Manifest: sigs.Manifest, Signatures: sigs.Signatures[:2]}
	if _, err := c.Do(ctx, http.MethodPost, "/v1/jobs", JobRequest{Manifest: mb, Signatures: partial}, nil); err == nil || !strings.Contains(err.Error(), "h3 has not signed") {
		t.Errorf("an unsigned job: %v", err)
	}

	// Two parties' keys and files; the job waits for the third file.
	for i := range 2 {
		if err := trainer.StoreDataKey(ctx, w.Admin, m, hash, w.ASURL, ks[i]); err != nil {
			t.Fatal(err)
		}
		put(t, c, encs[i])
	}
	var st JobState
	if _, err := c.Do(ctx, http.MethodPost, "/v1/jobs", JobRequest{Manifest: mb, Signatures: sigs}, &st); err != nil {
		t.Fatal(err)
	}
	if st.State != Waiting || len(st.Missing) != 1 || st.Missing[0] != "h3" {
		t.Fatalf("state %+v", st)
	}
	// The third file, but not its key: the job fails, naming h3.
	put(t, c, encs[2])
	st = wait(t, c, st.ID)
	if st.State != Failed || !strings.Contains(st.Error, "party h3's data key") {
		t.Fatalf("without h3's key: %+v", st)
	}
	// h3 stores its key; posted again, the job runs.
	if err := trainer.StoreDataKey(ctx, w.Admin, m, hash, w.ASURL, ks[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, http.MethodPost, "/v1/jobs", JobRequest{Manifest: mb, Signatures: sigs}, &st); err != nil {
		t.Fatal(err)
	}
	if st = wait(t, c, st.ID); st.State != Done {
		t.Fatalf("state %+v", st)
	}
	// Anyone lists the jobs, and reads a job's manifest and signatures
	// as they were posted.
	var list struct {
		Jobs []JobState `json:"jobs"`
	}
	if _, err := c.Do(ctx, http.MethodGet, "/v1/jobs", nil, &list); err != nil || len(list.Jobs) != 1 || list.Jobs[0].ID != st.ID || list.Jobs[0].State != Done {
		t.Fatalf("jobs %+v, %v", list, err)
	}
	var posted JobRequest
	if _, err := c.Do(ctx, http.MethodGet, "/v1/jobs/"+st.ID+"/manifest", nil, &posted); err != nil || !bytes.Equal(posted.Manifest, mb) || len(posted.Signatures.Signatures) != 3 {
		t.Fatalf("manifest: %v", err)
	}
	if _, err := c.Do(ctx, http.MethodGet, "/v1/jobs/"+strings.Repeat("0", 64)+"/manifest", nil, nil); err == nil {
		t.Fatal("the manifest of no job")
	}

	// Each party fetches, decrypts, and checks the report against the
	// trainer's evidence.
	for _, k := range ks {
		var out Outputs
		if _, err := c.Do(ctx, http.MethodGet, "/v1/jobs/"+st.ID+"/outputs/"+k.Name, nil, &out); err != nil {
			t.Fatal(err)
		}
		rep, err := output.Open(k.Out, hash, k.Name, out.Envelopes[0])
		if err != nil {
			t.Fatal(err)
		}
		claims, err := plat.Verifier().Verify(ctx, out.Evidence)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := enclave.NewReportData(hash[:], rep); claims.ReportData != want {
			t.Fatalf("%s: the evidence does not bind the report", k.Name)
		}
		var r trainer.Report
		json.Unmarshal(rep, &r)
		model, err := output.Open(k.Out, hash, k.Name, out.Envelopes[1])
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(model); hex.EncodeToString(h[:]) != r.Model || r.Metrics["holdout_accuracy"].(float64) < 0.9 {
			t.Fatalf("%s: report %+v", k.Name, r)
		}
	}
	if _, err := c.Do(ctx, http.MethodGet, "/v1/jobs/"+st.ID+"/outputs/eve", nil, nil); err == nil {
		t.Error("outputs for a stranger")
	}
}

func put(t *testing.T, c *httpx.Client, b []byte) {
	t.Helper()
	h := sha256.Sum256(b)
	if _, err := c.Do(context.Background(), http.MethodPut, "/v1/files/"+hex.EncodeToString(h[:]), b, nil); err != nil {
		t.Fatal(err)
	}
}

func wait(t *testing.T, c *httpx.Client, id string) JobState {
	t.Helper()
	var st JobState
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := c.Do(context.Background(), http.MethodGet, "/v1/jobs/"+id, nil, &st); err != nil {
			t.Fatal(err)
		}
		if st.State == Done || st.State == Failed || time.Now().After(deadline) {
			return st
		}
	}
}
