// Package model reads any model file confide writes (spec/ml-models.md)
// — XGBoost JSON boosted trees, logistic regression, k-means — and
// predicts with it over a table whose columns it matches by name.
package model

import (
	"encoding/json"
	"fmt"

	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/gbdt"
	"github.com/confide/confide/ml/kmeans"
	"github.com/confide/confide/ml/logreg"
	"github.com/confide/confide/ml/obl"
)

// Kinds of model.
const (
	GBDT   = "gbdt"
	LogReg = "logreg"
	KMeans = "kmeans"
)

// Model is a loaded model of any kind.
type Model struct {
	Kind     string
	Features []string
	// Binary says the prediction is a probability of label 1 (else a
	// value, or a cluster index for k-means).
	Binary  bool
	predict func(row []float64) float64
	// oblivious predicts without a branch or access that depends on the
	// row (package obl).
	oblivious func(row []float64) float64
}

// Read parses a model file.
func Read(b []byte) (*Model, error) {
	var head struct {
		Format  string          `json:"format"`
		Learner json.RawMessage `json:"learner"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("model: not a JSON document: %w", err)
	}
	switch {
	case head.Learner != nil:
		m, err := gbdt.ReadXGBoostJSON(b)
		if err != nil {
			return nil, err
		}
		names := m.FeatureNames()
		if len(names) == 0 {
			// XGBoost files may carry no names: then columns f0, f1, …,
			// as XGBoost itself calls them.
			for i := range m.NumFeatures() {
				names = append(names, fmt.Sprintf("f%d", i))
			}
		}
		ob, err := obl.GBDTPredictor(m)
		if err != nil {
			return nil, err
		}
		return &Model{Kind: GBDT, Features: names, Binary: m.Objective() == gbdt.BinaryLogistic, predict: m.Predict, oblivious: ob}, nil
	case head.Format == logreg.FormatName:
		m, err := logreg.Read(b)
		if err != nil {
			return nil, err
		}
		return &Model{Kind: LogReg, Features: m.Features, Binary: true, predict: m.Predict, oblivious: obl.LogRegPredictor(m)}, nil
	case head.Format == kmeans.FormatName:
		m, err := kmeans.Read(b)
		if err != nil {
			return nil, err
		}
		return &Model{Kind: KMeans, Features: m.Features, predict: func(r []float64) float64 { return float64(m.Predict(r)) },
			oblivious: obl.KMeansPredictor(m)}, nil
	}
	return nil, fmt.Errorf("model: unknown format %q (want XGBoost JSON, %s or %s)", head.Format, logreg.FormatName, kmeans.FormatName)
}

// Predict predicts every row of d, whose columns must include the
// model's features (matched by name; others are ignored).
func (m *Model) Predict(d *dataset.Dataset) ([]float64, error) { return m.predictWith(d, m.predict) }

// PredictOblivious is Predict computed obliviously (package obl): no
// branch or memory access depends on a row's values, only on the number
// of rows and the model's size. Boosted trees are read as a secret model
// would be, by scans (a model kept inside the enclave stays hidden too).
func (m *Model) PredictOblivious(d *dataset.Dataset) ([]float64, error) {
	return m.predictWith(d, m.oblivious)
}

func (m *Model) predictWith(d *dataset.Dataset, predict func([]float64) float64) ([]float64, error) {
	idx := make([]int, len(m.Features))
	pos := map[string]int{}
	for i, f := range d.Features {
		pos[f] = i
	}
	for i, f := range m.Features {
		j, ok := pos[f]
		if !ok {
			return nil, fmt.Errorf("model: the table has no column %q, which the model needs", f)
		}
		idx[i] = j
	}
	out := make([]float64, d.Rows())
	row := make([]float64, len(idx))
	for r, x := range d.X {
		for i, j := range idx {
			row[i] = x[j]
		}
		out[r] = predict(row)
	}
	return out, nil
}
