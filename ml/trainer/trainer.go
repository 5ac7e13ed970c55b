// Package trainer is what runs inside the training enclave of a
// multi-party job (spec/ml-manifest.md): it checks that every party
// signed the manifest, obtains each party's data key (from the key
// broker, after attestation, in production), reads each party's
// encrypted file from the untrusted host's storage — checking it is the
// file the manifest names, and that it decrypts, parses and matches the
// schema — trains on the union of the parties' rows less a held-out
// share, measures the model on the held-out rows, and returns the model
// and a training report encrypted to each recipient, the report bound to
// the trainer's evidence. Any failure names the party or file and ends
// the job before anything is trained.
package trainer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/encfile"
	"github.com/confide/confide/ml/gbdt"
	"github.com/confide/confide/ml/kmeans"
	"github.com/confide/confide/ml/logreg"
	"github.com/confide/confide/ml/manifest"
	"github.com/confide/confide/ml/obl"
	"github.com/confide/confide/ml/output"
)

// Keys supplies a party's data key for the job.
type Keys interface {
	DataKey(ctx context.Context, m *manifest.Manifest, hash [32]byte, party string) ([]byte, error)
}

// Store is the host's storage, addressed by a file's SHA-256 (hex).
type Store interface {
	Open(sha256 string) (io.ReadCloser, error)
}

// DirStore is a Store over a directory whose files are named by their
// SHA-256 (hex), as the host keeps them.
type DirStore string

var hashName = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Open opens the file named h.
func (d DirStore) Open(h string) (io.ReadCloser, error) {
	if !hashName.MatchString(h) {
		return nil, errors.New("not a SHA-256 file name")
	}
	return os.Open(filepath.Join(string(d), h))
}

// Report is what every recipient learns of the training (JSON).
type Report struct {
	Version   int            `json:"version"`
	Job       string         `json:"job"`
	Manifest  string         `json:"manifest_sha256"`
	Model     string         `json:"model_sha256"`
	Algorithm string         `json:"algorithm"`
	Parties   []PartyReport  `json:"parties"`
	Metrics   map[string]any `json:"metrics"`
	Released  bool           `json:"released"`
}

// PartyReport is one party's share of the rows.
type PartyReport struct {
	Name        string `json:"name"`
	Rows        int    `json:"rows"`
	TrainRows   int    `json:"train_rows"`
	HoldoutRows int    `json:"holdout_rows"`
}

// Result is a finished job.
type Result struct {
	Report     Report
	ReportJSON []byte
	// Evidence is the trainer's attestation evidence whose report data
	// is the manifest hash (nonce) and the report's hash (runtime data).
	Evidence []byte
	// Outputs are each recipient's envelopes: the report, and the model
	// if the manifest releases it.
	Outputs map[string][]*output.Envelope
	// Model stays in the enclave: predictions only, when not released.
	Model []byte
}

// ErrData wraps every problem with a party's data.
var ErrData = errors.New("trainer: data")

func dataErr(party, format string, args ...any) error {
	return fmt.Errorf("%w: party %s: %s", ErrData, party, fmt.Sprintf(format, args...))
}

// partyErr wraps err, naming the party.
func partyErr(party string, err error) error {
	return fmt.Errorf("%w: party %s: %w", ErrData, party, err)
}

// Run runs a job.
func Run(ctx context.Context, manifestBytes []byte, sigs *manifest.Signatures, keys Keys, store Store, att enclave.Attester) (*Result, error) {
	m, err := manifest.Verify(manifestBytes, sigs)
	if err != nil {
		return nil, err
	}
	hash := manifest.Hash(manifestBytes)
	// First every party's file, checked against the manifest's hash: a
	// file the host swapped, replayed, cut or tampered with costs no key
	// release. Then the keys; then each party's rows, in the schema's
	// column order. Files are read and decoded side by side (hashing,
	// decrypting and decoding are most of what the protocol adds to
	// training); the first failure in the manifest's party order is the
	// one reported.
	files := make([][]byte, len(m.Parties))
	err = eachParty(m, func(i int, p manifest.Party) (err error) {
		files[i], err = readFile(store, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	keyOf := make([][]byte, len(m.Parties))
	defer func() {
		for _, k := range keyOf {
			clear(k)
		}
	}()
	for i, p := range m.Parties {
		key, err := keys.DataKey(ctx, m, hash, p.Name)
		if err != nil {
			return nil, fmt.Errorf("trainer: party %s's data key: %w", p.Name, err)
		}
		keyOf[i] = key
	}
	tables := make([]*dataset.Dataset, len(m.Parties))
	err = eachParty(m, func(i int, p manifest.Party) (err error) {
		tables[i], err = decode(files[i], p, keyOf[i], m.Schema, m.Algorithm.Oblivious)
		return err
	})
	if err != nil {
		return nil, err
	}
	train, holdout, reports := split(m, tables)
	model, metrics, err := fit(m, train, holdout)
	if err != nil {
		return nil, err
	}
	mh := sha256.Sum256(model)
	rep := Report{Version: 1, Job: m.Job, Manifest: hex.EncodeToString(hash[:]), Model: hex.EncodeToString(mh[:]),
		Algorithm: m.Algorithm.Name, Parties: reports, Metrics: metrics, Released: m.Output.Release}
	repJSON, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	rd, err := enclave.NewReportData(hash[:], repJSON)
	if err != nil {
		return nil, err
	}
	ev, err := att.Evidence(ctx, rd)
	if err != nil {
		return nil, fmt.Errorf("trainer: evidence for the report: %w", err)
	}
	res := &Result{Report: rep, ReportJSON: repJSON, Evidence: ev, Outputs: map[string][]*output.Envelope{}}
	if !m.Output.Release {
		res.Model = model
	}
	for _, r := range m.Output.Recipients {
		p, _ := m.Party(r)
		pub, err := p.OutputPublicKey()
		if err != nil {
			return nil, err
		}
		env, err := output.Seal(pub, hash, r, "report", repJSON)
		if err != nil {
			return nil, err
		}
		res.Outputs[r] = append(res.Outputs[r], env)
		if m.Output.Release {
			env, err := output.Seal(pub, hash, r, "model", model)
			if err != nil {
				return nil, err
			}
			res.Outputs[r] = append(res.Outputs[r], env)
		}
	}
	return res, nil
}

// eachParty runs f for every party at once and returns the first error
// in the manifest's order.
func eachParty(m *manifest.Manifest, f func(int, manifest.Party) error) error {
	errs := make([]error, len(m.Parties))
	var wg sync.WaitGroup
	for i, p := range m.Parties {
		wg.Go(func() { errs[i] = f(i, p) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// readFile reads a party's file whole (the table is needed whole) and
// checks it against the manifest's hash, before any key is asked for.
func readFile(store Store, p manifest.Party) ([]byte, error) {
	f, err := store.Open(p.Data.SHA256)
	if err != nil {
		return nil, dataErr(p.Name, "the host has no file %s…: %v", p.Data.SHA256[:12], err)
	}
	defer f.Close()
	h := sha256.New()
	file, err := readAll(hashReader{f, h}, p.Data.Bytes)
	if err != nil {
		return nil, dataErr(p.Name, "reading the host's file %s…: %v", p.Data.SHA256[:12], err)
	}
	if sum := h.Sum(nil); hex.EncodeToString(sum) != p.Data.SHA256 {
		return nil, dataErr(p.Name, "the host's file is not the one the manifest names (sha256 %x…, want %s…)", sum[:6], p.Data.SHA256[:12])
	}
	return file, nil
}

// hashReader hashes what it reads, a piece at a time, while the piece is
// still in the CPU's cache.
type hashReader struct {
	r io.Reader
	h hash.Hash
}

func (r hashReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p[:min(len(p), 256<<10)])
	r.h.Write(p[:n])
	return n, err
}

// decode decrypts a party's file in place and checks its table against
// the schema.
//
// An oblivious job takes binary tables only (a CSV is parsed with
// branches on its text), read whole: a non-finite cell is refused without
// being placed.
func decode(file []byte, p manifest.Party, key []byte, schema manifest.Schema, oblivious bool) (*dataset.Dataset, error) {
	plain, err := encfile.OpenInPlace(file, key)
	if err != nil {
		clear(file)
		return nil, partyErr(p.Name, err)
	}
	var d *dataset.Dataset
	switch {
	case !oblivious:
		d, err = dataset.Read(plain, p.Name+"'s data", schema.Label)
	case bytes.HasPrefix(plain, []byte(dataset.TableMagic)):
		d, err = dataset.ReadTableWhole(plain, p.Name+"'s data", schema.Label)
	default:
		err = errors.New("an oblivious job takes binary tables (confide ml encrypt writes them), not CSV")
	}
	clear(plain)
	if err != nil {
		return nil, partyErr(p.Name, err)
	}
	if len(d.Features) != len(schema.Features) {
		return nil, dataErr(p.Name, "%d feature columns, the schema has %d", len(d.Features), len(schema.Features))
	}
	// Columns by name, in the schema's order; no more, no fewer.
	pos := map[string]int{}
	for i, f := range d.Features {
		pos[f] = i
	}
	idx := make([]int, len(schema.Features))
	inOrder := true
	for i, f := range schema.Features {
		j, ok := pos[f]
		if !ok {
			return nil, dataErr(p.Name, "no column %q, which the schema names", f)
		}
		idx[i] = j
		inOrder = inOrder && i == j
	}
	if !inOrder {
		tmp := make([]float64, len(idx))
		for _, row := range d.X {
			for i, j := range idx {
				tmp[i] = row[j]
			}
			copy(row, tmp)
		}
	}
	d.Features = schema.Features
	return d, nil
}

// readAll reads r, expecting size bytes (more or fewer change the hash,
// so up to one more is read).
func readAll(r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, min(size+1, maxPresize))
	n, err := io.ReadFull(r, b)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return b[:n], nil
	case err != nil:
		return nil, err
	case int64(n) <= size: // a manifest claiming more than maxPresize
		rest, err := io.ReadAll(io.LimitReader(r, size+1-int64(n)))
		return append(b, rest...), err
	}
	return b, nil
}

// maxPresize bounds the buffer allocated before a file's bytes arrive,
// whatever size a manifest states.
const maxPresize = 1 << 30

// split keeps out each party's holdout share, drawn with the manifest's
// seed, and joins the rest.
func split(m *manifest.Manifest, tables []*dataset.Dataset) (train, holdout *dataset.Dataset, reps []PartyReport) {
	train = &dataset.Dataset{Features: m.Schema.Features, Label: m.Schema.Label}
	holdout = &dataset.Dataset{Features: m.Schema.Features, Label: m.Schema.Label}
	rng := rand.New(rand.NewPCG(m.Seed, 0x686f6c646f7574)) // "holdout"
	for i, d := range tables {
		n := d.Rows()
		k := int(math.Round(m.Holdout * float64(n)))
		perm := rng.Perm(n)
		out := make([]bool, n)
		for _, r := range perm[:k] {
			out[r] = true
		}
		for r := range n {
			dst := train
			if out[r] {
				dst = holdout
			}
			dst.X = append(dst.X, d.X[r])
			if d.Y != nil {
				dst.Y = append(dst.Y, d.Y[r])
			}
		}
		reps = append(reps, PartyReport{Name: m.Parties[i].Name, Rows: n, TrainRows: n - k, HoldoutRows: k})
	}
	return train, holdout, reps
}

// fit trains the manifest's algorithm and measures it on the held-out
// rows.
func fit(m *manifest.Manifest, train, holdout *dataset.Dataset) ([]byte, map[string]any, error) {
	metrics := map[string]any{"train_rows": train.Rows(), "holdout_rows": holdout.Rows()}
	if train.Rows() == 0 {
		return nil, nil, fmt.Errorf("%w: no training rows", ErrData)
	}
	oblivious := m.Algorithm.Oblivious
	if oblivious {
		metrics["oblivious"] = true
	}
	switch m.Algorithm.Name {
	case "gbdt":
		p, _ := m.GBDT()
		if oblivious {
			mod, err := obl.GBDT(train, p)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %v", ErrData, err)
			}
			pr, err := obl.GBDTPredictor(mod)
			if err != nil {
				return nil, nil, err
			}
			binaryMetrics(metrics, holdout, eachRow(pr), p.Objective == gbdt.BinaryLogistic, true)
			b, err := mod.MarshalXGBoostJSON()
			return b, metrics, err
		}
		if p.Objective == gbdt.BinaryLogistic {
			if err := train.CheckBinary(); err != nil {
				return nil, nil, fmt.Errorf("%w: %v", ErrData, err)
			}
		}
		mod, err := gbdt.Train(train, p)
		if err != nil {
			return nil, nil, err
		}
		binaryMetrics(metrics, holdout, func(X [][]float64) []float64 { out, _ := mod.PredictAll(X); return out }, p.Objective == gbdt.BinaryLogistic, false)
		b, err := mod.MarshalXGBoostJSON()
		return b, metrics, err
	case "logreg":
		p, _ := m.LogReg()
		trainL, predict := logreg.Train, func(mod *logreg.Model) func([]float64) float64 { return mod.Predict }
		if oblivious {
			trainL, predict = obl.LogReg, obl.LogRegPredictor
		}
		mod, err := trainL(train, p)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrData, err)
		}
		binaryMetrics(metrics, holdout, eachRow(predict(mod)), true, oblivious)
		metrics["converged"] = mod.Converged
		b, err := json.Marshal(mod)
		return b, metrics, err
	case "kmeans":
		p, _ := m.KMeans()
		if p.K > train.Rows() {
			return nil, nil, fmt.Errorf("%w: %d clusters from %d training rows", ErrData, p.K, train.Rows())
		}
		trainK := kmeans.Train
		if oblivious {
			trainK = obl.KMeans
		}
		mod, err := trainK(train, p)
		if err != nil {
			return nil, nil, err
		}
		metrics["train_inertia"] = mod.Inertia
		metrics["holdout_inertia"] = obl.Inertia(mod, holdout.X)
		b, err := json.Marshal(mod)
		return b, metrics, err
	}
	return nil, nil, fmt.Errorf("trainer: algorithm %q", m.Algorithm.Name)
}

// binaryMetrics scores the held-out rows: accuracy and log loss for a
// binary model, RMSE for a regression; for an oblivious job, without a
// branch on a row (package obl).
func binaryMetrics(metrics map[string]any, d *dataset.Dataset, predict func([][]float64) []float64, binary, oblivious bool) {
	if d.Rows() == 0 {
		return
	}
	pred := predictAll(d.X, predict)
	switch {
	case !binary:
		metrics["holdout_rmse"] = obl.RMSE(pred, d.Y)
	case oblivious:
		metrics["holdout_accuracy"], metrics["holdout_logloss"] = obl.BinaryMetrics(pred, d.Y)
	default:
		correct, ll := 0, 0.0
		for i, p := range pred {
			if (p >= 0.5) == (d.Y[i] == 1) {
				correct++
			}
			p = math.Min(math.Max(p, 1e-15), 1-1e-15)
			if d.Y[i] == 1 {
				ll -= math.Log(p)
			} else {
				ll -= math.Log(1 - p)
			}
		}
		metrics["holdout_accuracy"] = float64(correct) / float64(d.Rows())
		metrics["holdout_logloss"] = ll / float64(d.Rows())
	}
}

// predictAll predicts every row, the rows shared among the CPUs: scoring
// the held-out rows is part of what the job adds to training.
func predictAll(X [][]float64, predict func([][]float64) []float64) []float64 {
	out := make([]float64, len(X))
	workers := min(runtime.GOMAXPROCS(0), (len(X)+1023)/1024)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(X)/workers, (w+1)*len(X)/workers
		wg.Go(func() { copy(out[lo:hi], predict(X[lo:hi])) })
	}
	wg.Wait()
	return out
}

// eachRow makes a predictor of rows from one of a row.
func eachRow(predict func([]float64) float64) func([][]float64) []float64 {
	return func(X [][]float64) []float64 {
		out := make([]float64, len(X))
		for i, x := range X {
			out[i] = predict(x)
		}
		return out
	}
}
