package trainer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/ml/data"
	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/encfile"
	"github.com/confide/confide/ml/gbdt"
	"github.com/confide/confide/ml/manifest"
	"github.com/confide/confide/ml/output"
	"github.com/confide/confide/ml/party"
)

// put stores b in the host's directory under its hash.
func put(t testing.TB, d DirStore, b []byte) string {
	h := sha256.Sum256(b)
	name := hex.EncodeToString(h[:])
	if err := os.WriteFile(filepath.Join(string(d), name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// mapKeys stands in for the key broker in these unit tests of the
// trainer's own checks; the protocol's end-to-end test releases keys
// from the real broker.
type mapKeys map[string][]byte

func (k mapKeys) DataKey(_ context.Context, _ *manifest.Manifest, _ [32]byte, party string) ([]byte, error) {
	key, ok := k[party]
	if !ok {
		return nil, errors.New("no key released")
	}
	return bytes.Clone(key), nil
}

// countKeys counts the keys asked for.
type countKeys struct {
	Keys
	n int
}

func (c *countKeys) DataKey(ctx context.Context, m *manifest.Manifest, h [32]byte, party string) ([]byte, error) {
	c.n++
	return c.Keys.DataKey(ctx, m, h, party)
}

type job struct {
	parties  []*party.Keys
	plain    [][]byte
	enc      [][]byte
	store    DirStore
	keys     mapKeys
	manifest []byte
	sigs     manifest.Signatures
}

// newJob splits the breast-cancer rows unevenly among three hospitals.
func newJob(t *testing.T, release bool, edits ...func(m map[string]any)) *job {
	t.Helper()
	lines := strings.SplitAfter(strings.TrimSpace(string(data.BreastCancerCSV)), "\n")
	head, rows := lines[0], lines[1:]
	cuts := []int{0, 100, 300, len(rows)}
	j := &job{store: DirStore(t.TempDir()), keys: mapKeys{}}
	var ps []map[string]any
	for i := range 3 {
		k, err := party.Generate(fmt.Sprintf("h%d", i+1))
		if err != nil {
			t.Fatal(err)
		}
		plain := []byte(head + strings.Join(rows[cuts[i]:cuts[i+1]], "") + "\n")
		enc, err := encfile.Encrypt(plain, k.Data)
		if err != nil {
			t.Fatal(err)
		}
		h := put(t, j.store, enc)
		j.parties, j.plain, j.enc = append(j.parties, k), append(j.plain, plain), append(j.enc, enc)
		j.keys[k.Name] = k.Data
		pub := k.Public()
		ps = append(ps, map[string]any{"name": pub.Name, "signing_key": pub.SigningKey, "output_key": pub.OutputKey,
			"data": map[string]any{"sha256": h, "bytes": len(enc)}})
	}
	d, _ := dataset.ReadCSV(bytes.NewReader(data.BreastCancerCSV), "bc", "malignant")
	m := map[string]any{"version": 1, "job": "hospitals", "parties": ps,
		"trainer":   map[string]any{"policy": json.RawMessage(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"}]}`), "allow_simulation": true},
		"schema":    map[string]any{"features": d.Features, "label": "malignant"},
		"algorithm": map[string]any{"name": "gbdt", "params": map[string]any{"objective": "binary:logistic", "num_boost_round": 30, "max_depth": 4, "eta": 0.3, "lambda": 1, "alpha": 0, "min_child_weight": 1, "gamma": 0, "max_bin": 256, "base_score": 0.5}},
		"holdout":   0.2, "seed": 7,
		"output": map[string]any{"recipients": []string{"h1", "h2", "h3"}, "release": release}}
	for _, e := range edits {
		e(m)
	}
	j.manifest, _ = json.MarshalIndent(m, "", " ")
	for _, k := range j.parties {
		if err := manifest.Sign(j.manifest, &j.sigs, k.Name, k.Sign); err != nil {
			t.Fatal(err)
		}
	}
	return j
}

func TestJob(t *testing.T) {
	plat := simtest.Start(t)
	j := newJob(t, true)
	ctx := context.Background()
	res, err := Run(ctx, j.manifest, &j.sigs, j.keys, j.store, plat.Client)
	if err != nil {
		t.Fatal(err)
	}
	rep := res.Report
	if rep.Parties[0].Rows != 100 || rep.Parties[1].Rows != 200 || rep.Parties[2].Rows != 269 || rep.Parties[0].HoldoutRows != 20 {
		t.Fatalf("report %+v", rep.Parties)
	}
	if acc := rep.Metrics["holdout_accuracy"].(float64); acc < 0.9 {
		t.Fatalf("held-out accuracy %v", acc)
	}
	// The report is bound to the trainer's evidence: the manifest hash
	// as the nonce, the report's hash as the runtime data.
	claims, err := plat.Verifier().Verify(ctx, res.Evidence)
	if err != nil {
		t.Fatal(err)
	}
	mh := manifest.Hash(j.manifest)
	want, _ := enclave.NewReportData(mh[:], res.ReportJSON)
	if claims.ReportData != want {
		t.Fatal("the evidence does not bind the report")
	}
	// Each recipient opens its own report and model, and the model is
	// the one the report names.
	for _, k := range j.parties {
		envs := res.Outputs[k.Name]
		if len(envs) != 2 {
			t.Fatalf("%s: %d envelopes", k.Name, len(envs))
		}
		model, err := output.Open(k.Out, mh, k.Name, envs[1])
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(model); hex.EncodeToString(h[:]) != rep.Model {
			t.Fatal("the model is not the one the report names")
		}
		if _, err := gbdt.ReadXGBoostJSON(model); err != nil {
			t.Fatal(err)
		}
		// Another party's envelope does not open with this key.
		other := res.Outputs[j.parties[(len(k.Name)+1)%3].Name][1]
		if other.Recipient != k.Name {
			if _, err := output.Open(k.Out, mh, other.Recipient, other); err == nil {
				t.Fatal("opened another party's model")
			}
		}
	}
	if res.Model != nil {
		t.Fatal("a released model also kept")
	}
	// Prediction only: recipients get the report, the model stays.
	p := newJob(t, false)
	res, err = Run(ctx, p.manifest, &p.sigs, p.keys, p.store, plat.Client)
	if err != nil {
		t.Fatal(err)
	}
	if res.Model == nil || len(res.Outputs["h1"]) != 1 || res.Outputs["h1"][0].What != "report" {
		t.Fatal("a prediction-only model left the enclave")
	}
}

// Every bad input: a clear error naming the party, nothing trained.
func TestBadInput(t *testing.T) {
	plat := simtest.Start(t)
	ctx := context.Background()
	run := func(j *job) error {
		_, err := Run(ctx, j.manifest, &j.sigs, j.keys, j.store, plat.Client)
		return err
	}
	j := newJob(t, true)
	j.sigs.Signatures = j.sigs.Signatures[:2]
	if err := run(j); !errors.Is(err, manifest.ErrUnsigned) || !strings.Contains(err.Error(), "h3 has not signed") {
		t.Errorf("unsigned: %v", err)
	}

	j = newJob(t, true)
	j.keys["h2"] = encfile.NewKey()
	if err := run(j); !errors.Is(err, ErrData) || !strings.Contains(err.Error(), "party h2") || !errors.Is(err, encfile.ErrAuth) {
		t.Errorf("a wrong key: %v", err)
	}

	j = newJob(t, true)
	delete(j.keys, "h1")
	if err := run(j); err == nil || !strings.Contains(err.Error(), "party h1's data key") {
		t.Errorf("no key: %v", err)
	}

	// The host swaps h1's and h2's files, or tampers with or truncates
	// h3's: found before any key is asked for.
	for name, c := range map[string]struct {
		party int
		edit  func(j *job) []byte
	}{
		"swapped":   {0, func(j *job) []byte { return j.enc[1] }},
		"tampered":  {2, func(j *job) []byte { b := bytes.Clone(j.enc[2]); b[len(b)/2] ^= 1; return b }},
		"truncated": {2, func(j *job) []byte { return j.enc[2][:len(j.enc[2])-10] }},
		"missing":   {1, nil},
	} {
		j = newJob(t, true)
		m, _ := manifest.Parse(j.manifest)
		path := filepath.Join(string(j.store), m.Parties[c.party].Data.SHA256)
		if c.edit == nil {
			os.Remove(path)
		} else {
			os.WriteFile(path, c.edit(j), 0o644)
		}
		asked := &countKeys{Keys: j.keys}
		_, err := Run(ctx, j.manifest, &j.sigs, asked, j.store, plat.Client)
		if !errors.Is(err, ErrData) || !strings.Contains(err.Error(), "party "+m.Parties[c.party].Name) || !strings.Contains(err.Error(), "the host") {
			t.Errorf("%s: %v", name, err)
		}
		if asked.n != 0 {
			t.Errorf("%s: %d keys asked for", name, asked.n)
		}
	}

	// A party whose table does not match the schema, or holds bad
	// cells: its own file, encrypted and named in a manifest all signed.
	for name, c := range map[string]struct {
		edit func(string) string
		want string
	}{
		"schema":  {func(s string) string { return strings.Replace(s, "mean_radius", "radius", 1) }, `no column "mean_radius"`},
		"NaN":     {func(s string) string { return strings.Replace(s, "17.99", "NaN", 1) }, "not a finite number"},
		"empty":   {func(s string) string { return strings.Replace(s, "17.99", "", 1) }, "empty cell"},
		"letters": {func(s string) string { return strings.Replace(s, "17.99", "seventeen", 1) }, "not a number"},
	} {
		j = newJob(t, true)
		k := j.parties[0]
		enc, _ := encfile.Encrypt([]byte(c.edit(string(j.plain[0]))), k.Data)
		h := put(t, j.store, enc)
		var mm map[string]any
		json.Unmarshal(j.manifest, &mm)
		mm["parties"].([]any)[0].(map[string]any)["data"] = map[string]any{"sha256": h, "bytes": len(enc)}
		j.manifest, _ = json.Marshal(mm)
		j.sigs = manifest.Signatures{}
		for _, k := range j.parties {
			manifest.Sign(j.manifest, &j.sigs, k.Name, k.Sign)
		}
		if err := run(j); !errors.Is(err, ErrData) || !strings.Contains(err.Error(), "party h1") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// asTables re-seals every party's rows as a binary table (what confide
// ml encrypt writes) and has the manifest, naming the new files, signed
// again.
func asTables(t *testing.T, j *job) {
	t.Helper()
	var m map[string]any
	json.Unmarshal(j.manifest, &m)
	for i, k := range j.parties {
		d, err := dataset.ReadCSV(bytes.NewReader(j.plain[i]), k.Name, "malignant")
		if err != nil {
			t.Fatal(err)
		}
		enc, err := encfile.Encrypt(d.Table(), k.Data)
		if err != nil {
			t.Fatal(err)
		}
		m["parties"].([]any)[i].(map[string]any)["data"] = map[string]any{"sha256": put(t, j.store, enc), "bytes": len(enc)}
		j.enc[i] = enc
	}
	j.manifest, _ = json.MarshalIndent(m, "", " ")
	j.sigs = manifest.Signatures{}
	for _, k := range j.parties {
		if err := manifest.Sign(j.manifest, &j.sigs, k.Name, k.Sign); err != nil {
			t.Fatal(err)
		}
	}
}

// A manifest that asks for oblivious training gets package obl's
// trainers, and models as good as the ordinary ones'.
func TestObliviousJob(t *testing.T) {
	plat := simtest.Start(t)
	ctx := context.Background()
	for name, alg := range map[string]map[string]any{
		"logreg": {"name": "logreg", "params": map[string]any{"C": 1, "max_iter": 200, "tol": 1e-6, "standardize": true}},
		"kmeans": {"name": "kmeans", "params": map[string]any{"k": 2, "n_init": 2, "max_iter": 50, "tol": 1e-4, "seed": 1}},
		"gbdt":   {"name": "gbdt", "params": map[string]any{"objective": "binary:logistic", "num_boost_round": 20, "max_depth": 3, "eta": 0.3, "lambda": 1, "alpha": 0, "min_child_weight": 1, "gamma": 0, "max_bin": 64, "base_score": 0.5}},
	} {
		var reps [2]Report
		for i, oblivious := range []bool{false, true} {
			a := maps.Clone(alg)
			a["oblivious"] = oblivious
			j := newJob(t, true, func(m map[string]any) { m["algorithm"] = a })
			if oblivious {
				// CSV is refused: it is parsed with branches on its text.
				if _, err := Run(ctx, j.manifest, &j.sigs, j.keys, j.store, plat.Client); err == nil || !strings.Contains(err.Error(), "takes binary tables") {
					t.Fatalf("%s: an oblivious job on CSV: %v", name, err)
				}
				asTables(t, j)
			}
			res, err := Run(ctx, j.manifest, &j.sigs, j.keys, j.store, plat.Client)
			if err != nil {
				t.Fatalf("%s oblivious=%v: %v", name, oblivious, err)
			}
			reps[i] = res.Report
		}
		if reps[1].Metrics["oblivious"] != true || reps[0].Metrics["oblivious"] != nil {
			t.Errorf("%s: metrics %v / %v", name, reps[0].Metrics, reps[1].Metrics)
		}
		switch name {
		case "logreg", "gbdt":
			a, b := reps[0].Metrics["holdout_accuracy"].(float64), reps[1].Metrics["holdout_accuracy"].(float64)
			if math.Abs(a-b) > 0.01 {
				t.Errorf("held-out accuracy %v, oblivious %v", a, b)
			}
		case "kmeans":
			a, b := reps[0].Metrics["train_inertia"].(float64), reps[1].Metrics["train_inertia"].(float64)
			if math.Abs(a-b) > 0.01*a {
				t.Errorf("inertia %v, oblivious %v", a, b)
			}
		}
	}
}
