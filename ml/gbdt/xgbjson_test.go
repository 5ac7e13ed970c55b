package gbdt

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/confide/confide/ml/dataset"
)

var update = flag.Bool("update", false, "regenerate testdata/xgboost (needs XGBoost 1.7) and the fuzz seeds")

func TestAppendXGBFloat(t *testing.T) {
	for _, c := range []struct {
		v    float32
		want string
	}{
		{0.5, "5E-1"}, {12.5, "1.25E1"}, {50, "5E1"}, {0, "0E0"},
		{float32(math.Copysign(0, -1)), "-0E0"}, {1, "1E0"}, {-4, "-4E0"},
		{9.52381e6, "9.52381E6"}, {1e-7, "1E-7"}, {-0.42000002, "-4.2000002E-1"},
		{0.074074075, "7.4074075E-2"}, {math.MaxFloat32, "3.4028235E38"},
		{math.SmallestNonzeroFloat32, "1E-45"}, {1e10, "1E10"},
	} {
		if got := string(appendXGBFloat(nil, c.v)); got != c.want {
			t.Errorf("appendXGBFloat(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestWriteString(t *testing.T) {
	var b bytes.Buffer
	writeString(&b, "a\"b\\c\n\t\x01é\u2028")
	if got, want := b.String(), `"a\"b\\c\n\t\u0001é`+"\u2028\""; got != want {
		t.Errorf("writeString = %s, want %s", got, want)
	}
}

// tinyModel is a valid model: one tree splitting feature 1 at 3.
const tinyModel = `{"learner":{"attributes":{},"feature_names":["a","b"],"feature_types":[],` +
	`"gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"1","size_leaf_vector":"0"},` +
	`"tree_info":[0],"trees":[{"base_weights":[1E0,-5E-1,5E-1],"categories":[],"categories_nodes":[],` +
	`"categories_segments":[],"categories_sizes":[],"default_left":[0,0,0],"id":0,"left_children":[1,-1,-1],` +
	`"loss_changes":[2E0,0E0,0E0],"parents":[2147483647,0,0],"right_children":[2,-1,-1],` +
	`"split_conditions":[3E0,-5E-1,5E-1],"split_indices":[1,0,0],"split_type":[0,0,0],"sum_hessian":[4E0,2E0,2E0],` +
	`"tree_param":{"num_deleted":"0","num_feature":"2","num_nodes":"3","size_leaf_vector":"0"}}]},"name":"gbtree"},` +
	`"learner_model_param":{"base_score":"5E-1","boost_from_average":"1","num_class":"0","num_feature":"2","num_target":"1"},` +
	`"objective":{"name":"binary:logistic","reg_loss_param":{"scale_pos_weight":"1"}}},"version":[1,7,4]}`

func TestReadTinyModel(t *testing.T) {
	m, err := ReadXGBoostJSON([]byte(tinyModel))
	if err != nil {
		t.Fatal(err)
	}
	if m.Objective() != BinaryLogistic || m.NumFeatures() != 2 || m.NumTrees() != 1 ||
		!reflect.DeepEqual(m.FeatureNames(), []string{"a", "b"}) {
		t.Errorf("read %s, %d features %v, %d trees", m.Objective(), m.NumFeatures(), m.FeatureNames(), m.NumTrees())
	}
	for _, c := range []struct {
		x    []float64
		want float64
	}{{[]float64{9, 2}, -0.5}, {[]float64{9, 3}, 0.5}, {[]float64{0, math.NaN()}, 0.5}} {
		if got := m.PredictMargin(c.x); got != c.want {
			t.Errorf("PredictMargin(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got, want := m.Predict([]float64{0, 0}), 1/(1+math.Exp(0.5)); math.Abs(got-want) > 1e-7 {
		t.Errorf("Predict = %v, want %v", got, want)
	}
	out, err := m.MarshalXGBoostJSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != tinyModel {
		t.Errorf("written back differently:\n%s\nwant\n%s", out, tinyModel)
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string // replace old (which must occur) by new in tinyModel
		want           string
	}{
		{"not JSON", tinyModel, "{", "unexpected end of JSON"},
		{"array", tinyModel, "[]", "cannot unmarshal array"},
		{"trailing data", `[1,7,4]}`, `[1,7,4]} {}`, "invalid character '{' after top-level value"},
		{"invalid UTF-8", `"a"`, "\"\xff\"", "not valid UTF-8"},
		{"version 2", `[1,7,4]`, `[2,0,0]`, "only XGBoost 1.7 models are supported"},
		{"version 1.6", `[1,7,4]`, `[1,6,2]`, "only XGBoost 1.7 models are supported"},
		{"version length", `[1,7,4]`, `[1,7]`, "only XGBoost 1.7 models are supported"},
		{"negative patch", `[1,7,4]`, `[1,7,-1]`, "is not a version"},
		{"dart", `"name":"gbtree"`, `"name":"dart"`, "booster dart: only gbtree is supported"},
		{"objective", `"binary:logistic"`, `"multi:softprob"`, "objective multi:softprob: only"},
		{"missing key", `"feature_types":[],`, ``, `learner: missing key "feature_types"`},
		{"unexpected key", `"feature_types":[],`, `"feature_types":[],"extra":1,`, `learner: unexpected key "extra"`},
		{"duplicate key", `"feature_types":[],`, `"feature_types":[],"feature_types":[],`, `key "feature_types" appears twice`},
		{"key case", `"tree_info"`, `"Tree_info"`, `unexpected key "Tree_info"`},
		{"null", `"feature_types":[]`, `"feature_types":null`, "learner.feature_types: null"},
		{"unexpected object", `"split_type":[0,0,0]`, `"split_type":[0,{},0]`, "split_type.*: unexpected object"},
		{"attribute type", `"attributes":{}`, `"attributes":{"a":1}`, "cannot unmarshal number"},
		{"num_class", `"num_class":"0"`, `"num_class":"3"`, `num_class is "3"; only "0"`},
		{"num_target", `"num_target":"1"`, `"num_target":"2"`, `num_target is "2"`},
		{"parallel trees", `"num_parallel_tree":"1"`, `"num_parallel_tree":"2"`, `num_parallel_tree is "2"`},
		{"base_score text", `"base_score":"5E-1"`, `"base_score":"half"`, `base_score "half" is not a finite float32`},
		{"base_score range", `"base_score":"5E-1"`, `"base_score":"1E0"`, "strictly between 0 and 1"},
		{"boost_from_average", `"boost_from_average":"1"`, `"boost_from_average":"yes"`, `boost_from_average is "yes"`},
		{"scale_pos_weight", `"scale_pos_weight":"1"`, `"scale_pos_weight":"-1"`, `scale_pos_weight "-1" is not a positive`},
		{"num_feature zero", `"num_target":"1"`, `"num_target":"1","num_feature":"0"`, `key "num_feature" appears twice`},
		{"num_feature", `"num_feature":"2","num_target"`, `"num_feature":"02","num_target"`, `num_feature is "02"`},
		{"feature names", `["a","b"]`, `["a"]`, "1 feature_names for 2 features"},
		{"categorical type", `"feature_types":[]`, `"feature_types":["float","c"]`, "feature 1 is categorical"},
		{"unknown type", `"feature_types":[]`, `"feature_types":["float","x"]`, `unknown type "x"`},
		{"num_trees", `"num_trees":"1"`, `"num_trees":"2"`, "num_trees is 2, with 1 trees"},
		{"tree_info", `"tree_info":[0]`, `"tree_info":[1]`, "tree_info[0] is 1"},
		{"tree id", `"id":0`, `"id":1`, "tree 0: id is 1"},
		{"num_deleted", `"num_deleted":"0"`, `"num_deleted":"1"`, `num_deleted is "1"`},
		{"tree num_feature", `"num_feature":"2","num_nodes"`, `"num_feature":"3","num_nodes"`, `num_feature is "3"; the model has 2`},
		{"num_nodes", `"num_nodes":"3"`, `"num_nodes":"4"`, "has 3 entries for 4 nodes"},
		{"no nodes", `"num_nodes":"3"`, `"num_nodes":"0"`, "num_nodes is 0"},
		{"short array", `"sum_hessian":[4E0,2E0,2E0]`, `"sum_hessian":[4E0,2E0]`, "sum_hessian has 2 entries for 3 nodes"},
		{"split type", `"split_type":[0,0,0]`, `"split_type":[1,0,0]`, "node 0: split_type 1"},
		{"categories", `"categories":[]`, `"categories":[1]`, "categorical splits are not supported"},
		{"default_left", `"default_left":[0,0,0]`, `"default_left":[2,0,0]`, "default_left is 2"},
		{"split index", `"split_indices":[1,0,0]`, `"split_indices":[2,0,0]`, "split index 2; the model has 2 features"},
		{"negative split index", `"split_indices":[1,0,0]`, `"split_indices":[-1,0,0]`, "split index -1"},
		{"child out of range", `"right_children":[2,-1,-1]`, `"right_children":[3,-1,-1]`, "child 3 is not a node after it"},
		{"cycle", `"left_children":[1,-1,-1]`, `"left_children":[1,0,-1]`, "child 0 is not a node after it"},
		{"one child", `"left_children":[1,-1,-1]`, `"left_children":[-1,-1,-1]`, "child -1 is not a node after it"},
		{"shared child", `"right_children":[2,-1,-1]`, `"right_children":[1,-1,-1]`, "child 1 has another parent"},
		{"parent link", `"parents":[2147483647,0,0]`, `"parents":[2147483647,0,1]`, "parents[2] is 1"},
		{"root parent", `"parents":[2147483647,0,0]`, `"parents":[-1,0,0]`, "the root's parent is -1"},
		{"orphan", `"left_children":[1,-1,-1]`, `"left_children":[-1,-1,-1],"right_children_":0`, `unexpected key "right_children_"`},
		{"float range", `"split_conditions":[3E0`, `"split_conditions":[3E39`, "cannot unmarshal number 3E39"},
		{"fractional index", `"left_children":[1,`, `"left_children":[1.5,`, "cannot unmarshal number 1.5"},
		{"string for number", `"id":0`, `"id":"0"`, "cannot unmarshal string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tinyModel, tc.old) {
				t.Fatalf("%q is not in tinyModel", tc.old)
			}
			in := strings.Replace(tinyModel, tc.old, tc.new, 1)
			_, err := ReadXGBoostJSON([]byte(in))
			if err == nil || !errors.Is(err, ErrModelFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadXGBoostJSON: %v, want an ErrModelFormat containing %q", err, tc.want)
			}
		})
	}
	// A node no node points to (here node 2 of 3 after a leaf root).
	in := strings.NewReplacer(`"left_children":[1,-1,-1]`, `"left_children":[-1,-1,-1]`,
		`"right_children":[2,-1,-1]`, `"right_children":[-1,-1,-1]`).Replace(tinyModel)
	if _, err := ReadXGBoostJSON([]byte(in)); err == nil || !strings.Contains(err.Error(), "node 1 is no node's child") {
		t.Errorf("orphan nodes: %v", err)
	}
}

// TestRoundTrip writes trained models and reads them back.
func TestRoundTrip(t *testing.T) {
	for _, obj := range []string{BinaryLogistic, RegSquaredError} {
		d := synthetic(3000, 4, 11)
		d.Features[2] = "naïve \"quoted\"\n"
		p := Defaults()
		p.Objective, p.Rounds, p.BaseScore = obj, 5, 0.3
		m := mustTrain(t, d, p)
		js, err := m.MarshalXGBoostJSON()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ReadXGBoostJSON(js)
		if err != nil {
			t.Fatalf("%s: reading what was written: %v", obj, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("%s: the model read back differs", obj)
		}
		js2, _ := m2.MarshalXGBoostJSON()
		if !bytes.Equal(js, js2) {
			t.Fatalf("%s: written twice differently", obj)
		}
	}
}

// Golden files: models XGBoost 1.7.4 trained (go test -update writes
// them into testdata/xgboost), each with XGBoost's predictions for some
// rows in a .expect.json beside it.
type golden struct {
	name   string
	params func() Params
}

var goldens = []golden{
	{
		// binary:logistic with XGBoost's defaults on the breast-cancer data.
		name: "breast_cancer",
		params: func() Params {
			p := Defaults()
			p.Objective, p.Rounds = BinaryLogistic, 20
			return p
		},
	},
	{
		// reg:squarederror with every parameter off its default, and more
		// distinct values than bins (the quantile prune matters).
		name: "regression",
		params: func() Params {
			return Params{Objective: RegSquaredError, Rounds: 12, MaxDepth: 4, LearningRate: 0.1,
				Lambda: 2, Alpha: 0.5, MinChildWeight: 2, Gamma: 0.1, MaxBins: 32, BaseScore: 0.25}
		},
	},
}

func goldenPath(name, ext string) string { return filepath.Join("testdata", "xgboost", name+ext) }

// goldenData is the training data of a golden model.
func goldenData(t testing.TB, name string) *dataset.Dataset {
	switch name {
	case "breast_cancer":
		return breastCancer(t)
	case "regression":
		return syntheticData(2000, 4, 12, false)
	}
	t.Fatalf("no golden data %q", name)
	return nil
}

// goldenRows are the rows a golden file's predictions are for: some
// training rows, then some with missing values.
func goldenRows(d *dataset.Dataset) [][]float64 {
	var rows [][]float64
	for i := range 16 {
		rows = append(rows, d.X[i*7%len(d.X)])
	}
	for i := range 4 {
		x := slices.Clone(d.X[i])
		for j := i; j < len(x); j += 2 {
			x[j] = math.NaN()
		}
		rows = append(rows, x)
	}
	return rows
}

func writeGolden(t *testing.T, g golden) {
	d := goldenData(t, g.name)
	params := xgbParams(g.params())
	if err := os.MkdirAll(filepath.Dir(goldenPath(g.name, "")), 0o755); err != nil {
		t.Fatal(err)
	}
	var trained struct{ Margin []float64 }
	runRef(t, "train", struct {
		refData
		Params map[string]any `json:"params"`
		Rounds int            `json:"rounds"`
		Model  string         `json:"model"`
	}{writeRefData(t, d), params, g.params().Rounds, goldenPath(g.name, ".json")}, &trained)
	rows := goldenRows(d)
	var pred struct{ Margin, Prob []float64 }
	runRef(t, "predict", struct {
		refData
		Model string `json:"model"`
	}{writeRefData(t, &dataset.Dataset{Features: d.Features, X: rows}), goldenPath(g.name, ".json")}, &pred)
	exp := goldenExpect{Margin: pred.Margin, Prob: pred.Prob}
	for _, r := range rows {
		var jr []jsonFloat
		for _, v := range r {
			jr = append(jr, jsonFloat(v))
		}
		exp.Rows = append(exp.Rows, jr)
	}
	b, err := json.MarshalIndent(exp, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenPath(g.name, ".expect.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// goldenExpect is the .expect.json file beside a golden model.
type goldenExpect struct {
	Rows   [][]jsonFloat `json:"rows"`
	Margin []float64     `json:"margin"`
	Prob   []float64     `json:"prob"`
}

// jsonFloat is a float64 in JSON that may be the string "NaN".
type jsonFloat float64

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if string(b) == `"NaN"` {
		*f = jsonFloat(math.NaN())
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	*f = jsonFloat(v)
	return err
}

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) {
		return []byte(`"NaN"`), nil
	}
	return strconv.AppendFloat(nil, float64(f), 'g', -1, 64), nil
}

func TestXGBoostGoldenFiles(t *testing.T) {
	if *update {
		needXGBoost(t)
		for _, g := range goldens {
			writeGolden(t, g)
		}
		writeFuzzSeeds(t)
	}
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			file, err := os.ReadFile(goldenPath(g.name, ".json"))
			if err != nil {
				t.Fatal(err)
			}
			var want goldenExpect
			readJSON(t, goldenPath(g.name, ".expect.json"), &want)
			m, err := ReadXGBoostJSON(file)
			if err != nil {
				t.Fatal(err)
			}
			// Our predictions equal XGBoost's (both sum float32 leaves).
			for i, row := range want.Rows {
				x := make([]float64, len(row))
				for j, v := range row {
					x[j] = float64(v)
				}
				if got := m.PredictMargin(x); math.Abs(got-want.Margin[i]) > 1e-6 {
					t.Errorf("row %d: margin %v, XGBoost %v", i, got, want.Margin[i])
				}
				if got := m.Predict(x); math.Abs(got-want.Prob[i]) > 1e-6 {
					t.Errorf("row %d: prediction %v, XGBoost %v", i, got, want.Prob[i])
				}
			}
			// Written back byte for byte.
			out, err := m.MarshalXGBoostJSON()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, file) {
				t.Errorf("XGBoost's file is not written back as it was")
			}
			// And training here grows the same trees.
			ours := mustTrain(t, goldenData(t, g.name), g.params())
			if diffs := compareTrees(ours, m); len(diffs) > 0 {
				t.Errorf("training differs from XGBoost's:\n%s", strings.Join(diffs, "\n"))
			}
		})
	}
}

// compareTrees lists where a's trees differ from b's: structure, split
// features and conditions and leaf values must be equal; the training
// statistics within 1e-5 (relative), as XGBoost's root base_weight
// depends on how its threads summed.
func compareTrees(a, b *Model) []string {
	if len(a.trees) != len(b.trees) {
		return []string{fmt.Sprintf("%d trees and %d", len(a.trees), len(b.trees))}
	}
	close := func(x, y float32) bool {
		return math.Abs(float64(x-y)) <= 1e-5*math.Max(1, math.Abs(float64(y)))
	}
	var out []string
	for i := range a.trees {
		ta, tb := &a.trees[i], &b.trees[i]
		if ta.numNodes() != tb.numNodes() {
			out = append(out, fmt.Sprintf("tree %d: %d nodes and %d", i, ta.numNodes(), tb.numNodes()))
			continue
		}
		for n := range ta.left {
			switch {
			case ta.left[n] != tb.left[n] || ta.right[n] != tb.right[n] || ta.parent[n] != tb.parent[n] ||
				ta.defaultLeft[n] != tb.defaultLeft[n]:
				out = append(out, fmt.Sprintf("tree %d node %d: shapes differ", i, n))
			case ta.left[n] >= 0 && (ta.feature[n] != tb.feature[n] || ta.cond[n] != tb.cond[n]):
				out = append(out, fmt.Sprintf("tree %d node %d: split f%d < %v and f%d < %v",
					i, n, ta.feature[n], ta.cond[n], tb.feature[n], tb.cond[n]))
			case ta.cond[n] != tb.cond[n]:
				out = append(out, fmt.Sprintf("tree %d node %d: leaf %v and %v", i, n, ta.cond[n], tb.cond[n]))
			case !close(ta.baseWeight[n], tb.baseWeight[n]) || !close(ta.lossChange[n], tb.lossChange[n]) ||
				!close(ta.sumHess[n], tb.sumHess[n]):
				out = append(out, fmt.Sprintf("tree %d node %d: statistics differ", i, n))
			}
		}
	}
	return out
}

// FuzzReadXGBoostJSON: reading never panics; whatever reads writes back
// and reads again to the same model; a model read can be evaluated.
func FuzzReadXGBoostJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadXGBoostJSON(data)
		if err != nil {
			if !errors.Is(err, ErrModelFormat) {
				t.Fatalf("error %v is not an ErrModelFormat", err)
			}
			return
		}
		out, err := m.MarshalXGBoostJSON()
		if err != nil {
			t.Fatalf("a model read cannot be written: %v", err)
		}
		m2, err := ReadXGBoostJSON(out)
		if err != nil {
			t.Fatalf("a model written cannot be read: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("the model changed in a round trip")
		}
		if out2, _ := m2.MarshalXGBoostJSON(); !bytes.Equal(out, out2) {
			t.Fatalf("the model is written differently the second time")
		}
		if m.NumFeatures() > 1<<16 {
			return // valid, but too wide to evaluate here
		}
		x := make([]float64, m.NumFeatures())
		m.Predict(x)
		for i := range x {
			x[i] = math.NaN()
		}
		m.Predict(x)
		for _, tr := range m.trees {
			for n, f := range tr.feature {
				x[f] = float64(tr.cond[n])
			}
		}
		m.Predict(x)
	})
}

// fuzzSeedDir holds FuzzReadXGBoostJSON's seed corpus, which go test runs
// as part of the tests.
var fuzzSeedDir = filepath.Join("testdata", "fuzz", "FuzzReadXGBoostJSON")

// writeFuzzSeeds writes the seed corpus: valid models (ours and
// XGBoost's) and some invalid ones.
func writeFuzzSeeds(t *testing.T) {
	seeds := map[string]string{"tiny": tinyModel}
	for _, obj := range []string{BinaryLogistic, RegSquaredError} {
		p := Defaults()
		p.Objective, p.Rounds, p.MaxDepth = obj, 2, 3
		js, err := mustTrain(t, syntheticData(200, 3, 13, obj == BinaryLogistic), p).MarshalXGBoostJSON()
		if err != nil {
			t.Fatal(err)
		}
		seeds["ours-"+strings.ReplaceAll(obj, ":", "-")] = string(js)
	}
	xgb, err := os.ReadFile(goldenPath("regression", ".json"))
	if err != nil {
		t.Fatal(err)
	}
	seeds["xgboost-regression"] = string(xgb)
	for name, r := range map[string][2]string{
		"cycle":        {`"left_children":[1,-1,-1]`, `"left_children":[1,0,-1]`},
		"shared-child": {`"right_children":[2,-1,-1]`, `"right_children":[1,-1,-1]`},
		"bad-feature":  {`"split_indices":[1,0,0]`, `"split_indices":[7,0,0]`},
		"null":         {`"feature_types":[]`, `"feature_types":null`},
		"trailing":     {`[1,7,4]}`, `[1,7,4]}{}`},
	} {
		seeds[name] = strings.Replace(tinyModel, r[0], r[1], 1)
	}
	if err := os.MkdirAll(fuzzSeedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range seeds {
		b := "go test fuzz v1\n[]byte(" + strconv.Quote(s) + ")\n"
		if err := os.WriteFile(filepath.Join(fuzzSeedDir, name), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFuzzSeeds makes sure the seed corpus is there (fuzzers have lost
// theirs silently before) and holds models that read.
func TestFuzzSeeds(t *testing.T) {
	entries, err := os.ReadDir(fuzzSeedDir)
	if err != nil {
		t.Fatal(err)
	}
	valid := 0
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(fuzzSeedDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(string(b), "go test fuzz v1\n[]byte(")
		lit, ok2 := strings.CutSuffix(lit, ")\n")
		data, err := strconv.Unquote(lit)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s is not a []byte seed in Go's corpus format", e.Name())
		}
		if _, err := ReadXGBoostJSON([]byte(data)); err == nil {
			valid++
		}
	}
	if len(entries) < 9 || valid < 4 {
		t.Errorf("%d seeds, %d of them valid models; want at least 9 and 4", len(entries), valid)
	}
}
