// Package mpdemo is `confide demo mpml`: the seeds' scenario of partnered
// hospitals that train one model on patient data none of them may see
// of the others'. Three hospitals hold uneven shares of the Wisconsin
// breast-cancer data (package ml/data); common test rows are set aside
// for everyone. Each hospital trains alone, then all three train jointly
// through the multi-party protocol — their data encrypted under their
// own keys, the keys released by the key broker only to the trainer's
// attested code for this manifest, the model sealed to each hospital —
// and each model is scored on the same test rows. Everything the
// untrusted host held is written under DIR/host/ and checked to contain
// no plaintext record; a chart compares the accuracies.
package mpdemo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	attestclient "github.com/confide/confide/attestsvc/client"
	"github.com/confide/confide/enclave"
	kmsclient "github.com/confide/confide/kms/client"
	"github.com/confide/confide/ml/data"
	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/encfile"
	"github.com/confide/confide/ml/gbdt"
	"github.com/confide/confide/ml/manifest"
	"github.com/confide/confide/ml/output"
	"github.com/confide/confide/ml/party"
	"github.com/confide/confide/ml/trainer"
)

// Options are what the demo runs against.
type Options struct {
	Dir      string
	Platform interface {
		enclave.Attester
		enclave.Self
	}
	AS    *attestclient.Client
	ASURL string            // the issuer release policies trust
	KMS   *kmsclient.Client // may create keys (the parties store theirs)
}

// Shares of the non-test rows each hospital holds.
var shares = []float64{0.12, 0.28, 0.60}

// Run runs the demo and prints one line per party, then the joint line.
func Run(ctx context.Context, w io.Writer, o Options) error {
	d, err := dataset.ReadCSV(bytes.NewReader(data.BreastCancerCSV), "breast_cancer.csv", "malignant")
	if err != nil {
		return err
	}
	host := filepath.Join(o.Dir, "host")
	if err := os.MkdirAll(filepath.Join(host, "files"), 0o755); err != nil {
		return err
	}
	// The common test rows (a quarter), then the hospitals' shares.
	perm := rand.New(rand.NewPCG(2016, 1)).Perm(d.Rows())
	nTest := d.Rows() / 4
	test := d.Subset(perm[:nTest])
	rest := perm[nTest:]
	params := gbdt.Defaults()
	params.Objective, params.Rounds, params.MaxDepth = gbdt.BinaryLogistic, 50, 4
	var names []string
	var accs []float64
	var keys []*party.Keys
	var parties []manifest.Party
	lo := 0
	for i, s := range shares {
		hi := lo + int(s*float64(len(rest)))
		if i == len(shares)-1 {
			hi = len(rest)
		}
		own := d.Subset(rest[lo:hi])
		lo = hi
		name := fmt.Sprintf("hospital%d", i+1)
		m, err := gbdt.Train(own, params)
		if err != nil {
			return err
		}
		acc := accuracy(test, m.Predict)
		fmt.Fprintf(w, "solo %s accuracy=%.4f (%d patients)\n", name, acc, own.Rows())
		names, accs = append(names, name), append(accs, acc)
		// Its share of the joint job: keys, its table encrypted.
		k, err := party.Generate(name)
		if err != nil {
			return err
		}
		enc, err := encfile.Encrypt(own.Table(), k.Data)
		if err != nil {
			return err
		}
		h := sha256.Sum256(enc)
		hx := hex.EncodeToString(h[:])
		if err := os.WriteFile(filepath.Join(host, "files", hx), enc, 0o644); err != nil {
			return err
		}
		pub := k.Public()
		keys = append(keys, k)
		parties = append(parties, manifest.Party{Name: name, SigningKey: pub.SigningKey, OutputKey: pub.OutputKey,
			Data: manifest.DataRef{SHA256: hx, Bytes: int64(len(enc))}})
	}
	// The manifest: the trainer is this very code on this platform.
	id, err := o.Platform.Identity(ctx)
	if err != nil {
		return err
	}
	pol := fmt.Sprintf(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":%q},{"claim":"unique_id","equals":%q}]}`, id.Platform, hex.EncodeToString(id.UniqueID))
	gp, _ := json.Marshal(manifest.GBDTParamsOf(params))
	mf := manifest.Manifest{Version: manifest.Version, Job: fmt.Sprintf("mpml-%x", id.UniqueID[:4]) + "-" + strconv.FormatUint(rand.Uint64()%1e6, 10),
		Parties: parties, Trainer: manifest.Trainer{Policy: json.RawMessage(pol), AllowSimulation: id.Platform == enclave.PlatformSim},
		Schema: manifest.Schema{Features: d.Features, Label: d.Label}, Algorithm: manifest.Algorithm{Name: "gbdt", Params: gp},
		Holdout: 0.1, Seed: 1, Output: manifest.Output{Recipients: names, Release: true}}
	mb, err := json.MarshalIndent(mf, "", "  ")
	if err != nil {
		return err
	}
	var sigs manifest.Signatures
	hash := manifest.Hash(mb)
	for _, k := range keys {
		if err := manifest.Sign(mb, &sigs, k.Name, k.Sign); err != nil {
			return err
		}
		if err := trainer.StoreDataKey(ctx, o.KMS, &mf, hash, o.ASURL, k); err != nil {
			return fmt.Errorf("%s storing its key: %w", k.Name, err)
		}
	}
	sb, _ := json.MarshalIndent(sigs, "", "  ")
	for name, b := range map[string][]byte{"manifest.json": mb, "manifest.sigs.json": sb} {
		if err := os.WriteFile(filepath.Join(host, name), b, 0o644); err != nil {
			return err
		}
	}
	res, err := trainer.Run(ctx, mb, &sigs, &trainer.BrokerKeys{KMS: o.KMS, AS: o.AS, Attester: o.Platform},
		trainer.DirStore(filepath.Join(host, "files")), o.Platform)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(host, "evidence.bin"), res.Evidence, 0o644); err != nil {
		return err
	}
	// Each hospital opens its own model; they are one model.
	var joint *gbdt.Model
	for _, k := range keys {
		envs := res.Outputs[k.Name]
		eb, _ := json.Marshal(envs)
		if err := os.WriteFile(filepath.Join(host, "outputs-"+k.Name+".json"), eb, 0o644); err != nil {
			return err
		}
		for _, e := range envs {
			if e.What != "model" {
				continue
			}
			b, err := output.Open(k.Out, hash, k.Name, e)
			if err != nil {
				return err
			}
			if joint, err = gbdt.ReadXGBoostJSON(b); err != nil {
				return err
			}
		}
	}
	acc := accuracy(test, joint.Predict)
	fmt.Fprintf(w, "joint accuracy=%.4f (%d patients, trained in the enclave; report bound to its evidence)\n", acc, d.Rows()-nTest)
	names, accs = append(names, "joint"), append(accs, acc)
	// What the host held: no plaintext record.
	n, err := checkHost(host, d)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "the host held %d files under %s: no plaintext record among them\n", n, host)
	chart := filepath.Join(o.Dir, "accuracy.svg")
	if err := draw(chart, names, accs); err != nil {
		return err
	}
	fmt.Fprintf(w, "chart: %s\n", chart)
	return nil
}

func accuracy(d *dataset.Dataset, predict func([]float64) float64) float64 {
	ok := 0
	for i, x := range d.X {
		if (predict(x) >= 0.5) == (d.Y[i] == 1) {
			ok++
		}
	}
	return float64(ok) / float64(d.Rows())
}

// checkHost looks for any patient's record — its first values as the
// CSV prints them, and as the binary table the parties encrypt holds them
// — in every file the host held.
func checkHost(dir string, d *dataset.Dataset) (int, error) {
	var needles [][]byte
	for _, x := range d.X {
		needles = append(needles, []byte(strconv.FormatFloat(x[0], 'g', -1, 64)+","+strconv.FormatFloat(x[1], 'g', -1, 64)+","+strconv.FormatFloat(x[2], 'g', -1, 64)))
		var bin []byte
		for _, v := range x[:3] {
			bin = binary.LittleEndian.AppendUint64(bin, math.Float64bits(v))
		}
		needles = append(needles, bin)
	}
	n := 0
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		n++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range needles {
			if bytes.Contains(b, s) {
				return fmt.Errorf("mpdemo: %s holds a plaintext record (%s…)", path, s)
			}
		}
		return nil
	})
	return n, err
}

func draw(path string, names []string, accs []float64) error {
	p := plot.New()
	p.Title.Text = "Accuracy on the common test patients"
	p.Y.Label.Text = "accuracy"
	p.NominalX(names...)
	b, err := plotter.NewBarChart(plotter.Values(accs), vg.Points(40))
	if err != nil {
		return err
	}
	b.Color = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	b.LineStyle.Width = 0
	p.Add(b)
	lo := 1.0
	for _, a := range accs {
		lo = min(lo, a)
	}
	p.Y.Min, p.Y.Max = max(0, lo-0.05), 1
	xy := make(plotter.XYs, len(accs))
	labels := make([]string, len(accs))
	for i, a := range accs {
		xy[i].X, xy[i].Y, labels[i] = float64(i)-0.15, a, fmt.Sprintf("%.4f", a)
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xy, Labels: labels})
	if err != nil {
		return err
	}
	p.Add(l)
	return p.Save(vg.Points(560), vg.Points(340), path)
}
