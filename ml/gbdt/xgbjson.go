package gbdt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrModelFormat wraps every error ReadXGBoostJSON returns.
var ErrModelFormat = errors.New("gbdt: xgboost json model")

// The version this package writes and the minor version it reads.
var xgbVersion = [3]int64{1, 7, 4}

// rootParent is what XGBoost writes as the root's parent: kInvalidNodeId
// with the is-left-child bit masked off.
const rootParent = math.MaxInt32

// MarshalXGBoostJSON writes m as XGBoost 1.7.4's Booster.save_model does
// for a ".json" file: the same objects, keys in the same (sorted) order,
// floats in the same shortest form, so that XGBoost loads it and a model
// read by ReadXGBoostJSON is written back byte for byte.
func (m *Model) MarshalXGBoostJSON() ([]byte, error) {
	for _, s := range m.featureNames {
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("gbdt: feature name %q is not valid UTF-8", s)
		}
	}
	for k, v := range m.attributes {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("gbdt: attribute %q is not valid UTF-8", k)
		}
	}
	for i := range m.trees {
		t := &m.trees[i]
		for _, a := range [][]float32{t.cond, t.baseWeight, t.lossChange, t.sumHess} {
			for _, v := range a {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return nil, fmt.Errorf("gbdt: tree %d holds %v, which JSON cannot represent", i, v)
				}
			}
		}
	}
	spw := m.scalePosWeight
	if spw == "" {
		spw = "1"
	}
	var b bytes.Buffer
	w := func(s string) { b.WriteString(s) }
	w(`{"learner":{"attributes":{`)
	keys := make([]string, 0, len(m.attributes))
	for k := range m.attributes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			w(",")
		}
		writeString(&b, k)
		w(":")
		writeString(&b, m.attributes[k])
	}
	w(`},"feature_names":`)
	writeStrings(&b, m.featureNames)
	w(`,"feature_types":`)
	writeStrings(&b, m.featureTypes)
	w(`,"gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"`)
	w(strconv.Itoa(len(m.trees)))
	w(`","size_leaf_vector":"0"},"tree_info":[`)
	for i := range m.trees {
		if i > 0 {
			w(",")
		}
		w("0")
	}
	w(`],"trees":[`)
	for i := range m.trees {
		if i > 0 {
			w(",")
		}
		m.trees[i].writeJSON(&b, i, m.numFeature)
	}
	w(`]},"name":"gbtree"},"learner_model_param":{"base_score":"`)
	b.Write(appendXGBFloat(nil, m.baseScore))
	w(`","boost_from_average":"`)
	if m.boostFromAverage {
		w("1")
	} else {
		w("0")
	}
	w(`","num_class":"0","num_feature":"`)
	w(strconv.Itoa(m.numFeature))
	w(`","num_target":"1"},"objective":{"name":`)
	writeString(&b, m.objective)
	w(`,"reg_loss_param":{"scale_pos_weight":`)
	writeString(&b, spw)
	w(`}}},"version":[`)
	for i, v := range xgbVersion {
		if i > 0 {
			w(",")
		}
		w(strconv.FormatInt(v, 10))
	}
	w("]}")
	return b.Bytes(), nil
}

func (t *tree) writeJSON(b *bytes.Buffer, id, numFeature int) {
	w := func(s string) { b.WriteString(s) }
	floats := func(a []float32) {
		w("[")
		var buf [32]byte
		for i, v := range a {
			if i > 0 {
				w(",")
			}
			b.Write(appendXGBFloat(buf[:0], v))
		}
		w("]")
	}
	ints := func(n int, at func(i int) int64) {
		w("[")
		var buf [24]byte
		for i := range n {
			if i > 0 {
				w(",")
			}
			b.Write(strconv.AppendInt(buf[:0], at(i), 10))
		}
		w("]")
	}
	n := t.numNodes()
	w(`{"base_weights":`)
	floats(t.baseWeight)
	w(`,"categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[],"default_left":`)
	ints(n, func(i int) int64 {
		if t.defaultLeft[i] {
			return 1
		}
		return 0
	})
	w(`,"id":`)
	w(strconv.Itoa(id))
	w(`,"left_children":`)
	ints(n, func(i int) int64 { return int64(t.left[i]) })
	w(`,"loss_changes":`)
	floats(t.lossChange)
	w(`,"parents":`)
	ints(n, func(i int) int64 {
		if i == 0 {
			return rootParent
		}
		return int64(t.parent[i])
	})
	w(`,"right_children":`)
	ints(n, func(i int) int64 { return int64(t.right[i]) })
	w(`,"split_conditions":`)
	floats(t.cond)
	w(`,"split_indices":`)
	ints(n, func(i int) int64 { return int64(t.feature[i]) })
	w(`,"split_type":`)
	ints(n, func(int) int64 { return 0 })
	w(`,"sum_hessian":`)
	floats(t.sumHess)
	w(`,"tree_param":{"num_deleted":"0","num_feature":"`)
	w(strconv.Itoa(numFeature))
	w(`","num_nodes":"`)
	w(strconv.Itoa(n))
	w(`","size_leaf_vector":"0"}}`)
}

// appendXGBFloat formats v as XGBoost's JSON writer does: the shortest
// digits that read back as v, always with an exponent and no '+' or
// leading zeros in it ("5E-1", "1.25E1", "-0E0").
func appendXGBFloat(b []byte, v float32) []byte {
	start := len(b)
	b = strconv.AppendFloat(b, float64(v), 'E', -1, 32)
	e := bytes.IndexByte(b[start:], 'E') + start
	exp := b[e+1:]
	neg := exp[0] == '-'
	digits := bytes.TrimLeft(exp[1:], "0")
	if len(digits) == 0 {
		digits = []byte{'0'}
	}
	var tmp [8]byte
	out := tmp[:0]
	if neg {
		out = append(out, '-')
	}
	out = append(out, digits...)
	return append(b[:e+1], out...)
}

func writeStrings(b *bytes.Buffer, a []string) {
	b.WriteByte('[')
	for i, s := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, s)
	}
	b.WriteByte(']')
}

// writeString quotes s as XGBoost's writer does: the short escapes, \u00xx
// for other control characters, everything else (UTF-8) as it is.
func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				fmt.Fprintf(b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// ReadXGBoostJSON parses a model saved by XGBoost 1.7 (Booster.save_model
// to a ".json" file) or by MarshalXGBoostJSON: a gbtree booster with
// objective binary:logistic or reg:squarederror and numerical splits. It
// checks everything it reads — the exact set of keys of every object,
// types, array lengths, that each tree is a tree whose splits name
// existing features — and rejects what it does not support rather than
// ignore it.
func ReadXGBoostJSON(data []byte) (*Model, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrModelFormat, fmt.Sprintf(format, args...))
	}
	if !utf8.Valid(data) {
		return nil, bad("not valid UTF-8")
	}
	// A lenient first look, for clear errors about what is not supported
	// before the strict checks report it as a shape error.
	var peek struct {
		Learner struct {
			GradientBooster struct {
				Name any `json:"name"`
			} `json:"gradient_booster"`
			Objective struct {
				Name any `json:"name"`
			} `json:"objective"`
		} `json:"learner"`
		Version []any `json:"version"`
	}
	if err := json.Unmarshal(data, &peek); err != nil {
		return nil, bad("%v", err)
	}
	if len(peek.Version) != 3 || peek.Version[0] != float64(xgbVersion[0]) || peek.Version[1] != float64(xgbVersion[1]) {
		return nil, bad("version %v: only XGBoost 1.7 models are supported", peek.Version)
	}
	if n := peek.Learner.GradientBooster.Name; n != "gbtree" {
		return nil, bad("booster %v: only gbtree is supported", n)
	}
	if o := peek.Learner.Objective.Name; o != BinaryLogistic && o != RegSquaredError {
		return nil, bad("objective %v: only %s and %s are supported", o, BinaryLogistic, RegSquaredError)
	}
	if err := checkShape(data); err != nil {
		return nil, bad("%v", err)
	}
	var f xgbFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, bad("%v", err)
	}
	m, err := f.model()
	if err != nil {
		return nil, bad("%v", err)
	}
	return m, nil
}

// The file's structure. checkShape has already made sure every key is
// present exactly once, spelled exactly so, with no others and no nulls.
type xgbFile struct {
	Learner struct {
		Attributes      map[string]string `json:"attributes"`
		FeatureNames    []string          `json:"feature_names"`
		FeatureTypes    []string          `json:"feature_types"`
		GradientBooster struct {
			Model struct {
				Param struct {
					NumParallelTree string `json:"num_parallel_tree"`
					NumTrees        string `json:"num_trees"`
					SizeLeafVector  string `json:"size_leaf_vector"`
				} `json:"gbtree_model_param"`
				TreeInfo []int64   `json:"tree_info"`
				Trees    []xgbTree `json:"trees"`
			} `json:"model"`
			Name string `json:"name"`
		} `json:"gradient_booster"`
		LearnerModelParam struct {
			BaseScore        string `json:"base_score"`
			BoostFromAverage string `json:"boost_from_average"`
			NumClass         string `json:"num_class"`
			NumFeature       string `json:"num_feature"`
			NumTarget        string `json:"num_target"`
		} `json:"learner_model_param"`
		Objective struct {
			Name         string `json:"name"`
			RegLossParam struct {
				ScalePosWeight string `json:"scale_pos_weight"`
			} `json:"reg_loss_param"`
		} `json:"objective"`
	} `json:"learner"`
	Version []int64 `json:"version"`
}

type xgbTree struct {
	BaseWeights        []float32 `json:"base_weights"`
	Categories         []int64   `json:"categories"`
	CategoriesNodes    []int64   `json:"categories_nodes"`
	CategoriesSegments []int64   `json:"categories_segments"`
	CategoriesSizes    []int64   `json:"categories_sizes"`
	DefaultLeft        []int64   `json:"default_left"`
	ID                 int64     `json:"id"`
	LeftChildren       []int64   `json:"left_children"`
	LossChanges        []float32 `json:"loss_changes"`
	Parents            []int64   `json:"parents"`
	RightChildren      []int64   `json:"right_children"`
	SplitConditions    []float32 `json:"split_conditions"`
	SplitIndices       []int64   `json:"split_indices"`
	SplitType          []int64   `json:"split_type"`
	SumHessian         []float32 `json:"sum_hessian"`
	TreeParam          struct {
		NumDeleted     string `json:"num_deleted"`
		NumFeature     string `json:"num_feature"`
		NumNodes       string `json:"num_nodes"`
		SizeLeafVector string `json:"size_leaf_vector"`
	} `json:"tree_param"`
}

// wantString checks an XGBoost parameter that must have one value.
func wantString(name, got, want string) error {
	if got != want {
		return fmt.Errorf("%s is %q; only %q is supported", name, got, want)
	}
	return nil
}

// parseCount parses a non-negative integer parameter written as XGBoost
// writes it (decimal, no sign, no leading zeros).
func parseCount(name, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || strconv.Itoa(n) != s {
		return 0, fmt.Errorf("%s is %q; want a non-negative integer", name, s)
	}
	return n, nil
}

func (f *xgbFile) model() (*Model, error) {
	l := &f.Learner
	if f.Version[2] < 0 {
		return nil, fmt.Errorf("version %v is not a version", f.Version)
	}
	lp := &l.LearnerModelParam
	m := &Model{objective: l.Objective.Name, attributes: l.Attributes}
	if m.attributes == nil {
		m.attributes = map[string]string{}
	}
	for _, e := range []error{
		wantString("learner_model_param.num_class", lp.NumClass, "0"),
		wantString("learner_model_param.num_target", lp.NumTarget, "1"),
		wantString("gbtree_model_param.num_parallel_tree", l.GradientBooster.Model.Param.NumParallelTree, "1"),
		wantString("gbtree_model_param.size_leaf_vector", l.GradientBooster.Model.Param.SizeLeafVector, "0"),
	} {
		if e != nil {
			return nil, e
		}
	}
	switch lp.BoostFromAverage {
	case "0", "1":
		m.boostFromAverage = lp.BoostFromAverage == "1"
	default:
		return nil, fmt.Errorf("boost_from_average is %q; want \"0\" or \"1\"", lp.BoostFromAverage)
	}
	bs, err := strconv.ParseFloat(lp.BaseScore, 32)
	if err != nil || math.IsNaN(bs) {
		return nil, fmt.Errorf("base_score %q is not a finite float32", lp.BaseScore)
	}
	m.baseScore = float32(bs)
	if m.objective == BinaryLogistic && !(m.baseScore > 0 && m.baseScore < 1) {
		return nil, fmt.Errorf("base_score %v: binary:logistic needs a probability strictly between 0 and 1", m.baseScore)
	}
	spw := l.Objective.RegLossParam.ScalePosWeight
	if v, err := strconv.ParseFloat(spw, 32); err != nil || !(v > 0) || strings.TrimSpace(spw) != spw {
		return nil, fmt.Errorf("scale_pos_weight %q is not a positive float32", spw)
	}
	if spw != "1" {
		m.scalePosWeight = spw
	}
	nf, err := parseCount("learner_model_param.num_feature", lp.NumFeature)
	if err != nil {
		return nil, err
	}
	if nf < 1 || nf > math.MaxInt32 {
		return nil, fmt.Errorf("num_feature is %d; want 1 to %d", nf, math.MaxInt32)
	}
	m.numFeature = nf
	if n := len(l.FeatureNames); n != 0 && n != nf {
		return nil, fmt.Errorf("%d feature_names for %d features", n, nf)
	}
	if n := len(l.FeatureTypes); n != 0 && n != nf {
		return nil, fmt.Errorf("%d feature_types for %d features", n, nf)
	}
	for i, ft := range l.FeatureTypes {
		switch ft {
		case "q", "float", "int", "i":
		case "c":
			return nil, fmt.Errorf("feature %d is categorical; categorical splits are not supported", i)
		default:
			return nil, fmt.Errorf("feature %d has unknown type %q", i, ft)
		}
	}
	if len(l.FeatureNames) > 0 {
		m.featureNames = l.FeatureNames
	}
	if len(l.FeatureTypes) > 0 {
		m.featureTypes = l.FeatureTypes
	}
	gm := &l.GradientBooster.Model
	nt, err := parseCount("gbtree_model_param.num_trees", gm.Param.NumTrees)
	if err != nil {
		return nil, err
	}
	if nt != len(gm.Trees) || len(gm.TreeInfo) != len(gm.Trees) {
		return nil, fmt.Errorf("num_trees is %d, with %d trees and %d tree_info entries", nt, len(gm.Trees), len(gm.TreeInfo))
	}
	for i, g := range gm.TreeInfo {
		if g != 0 {
			return nil, fmt.Errorf("tree_info[%d] is %d; a single-output model has only group 0", i, g)
		}
	}
	m.trees = make([]tree, len(gm.Trees))
	for i := range gm.Trees {
		if err := gm.Trees[i].convert(&m.trees[i], i, nf); err != nil {
			return nil, fmt.Errorf("tree %d: %w", i, err)
		}
	}
	m.packAll()
	return m, nil
}

// convert checks one tree and fills t.
func (x *xgbTree) convert(t *tree, id, nf int) error {
	if x.ID != int64(id) {
		return fmt.Errorf("id is %d", x.ID)
	}
	tp := &x.TreeParam
	if err := wantString("num_deleted", tp.NumDeleted, "0"); err != nil {
		return err
	}
	if err := wantString("size_leaf_vector", tp.SizeLeafVector, "0"); err != nil {
		return err
	}
	if tp.NumFeature != strconv.Itoa(nf) {
		return fmt.Errorf("num_feature is %q; the model has %d", tp.NumFeature, nf)
	}
	n, err := parseCount("num_nodes", tp.NumNodes)
	if err != nil {
		return err
	}
	if n < 1 || n > math.MaxInt32 {
		return fmt.Errorf("num_nodes is %d", n)
	}
	for _, a := range []struct {
		name string
		len  int
	}{
		{"base_weights", len(x.BaseWeights)},
		{"default_left", len(x.DefaultLeft)},
		{"left_children", len(x.LeftChildren)},
		{"loss_changes", len(x.LossChanges)},
		{"parents", len(x.Parents)},
		{"right_children", len(x.RightChildren)},
		{"split_conditions", len(x.SplitConditions)},
		{"split_indices", len(x.SplitIndices)},
		{"split_type", len(x.SplitType)},
		{"sum_hessian", len(x.SumHessian)},
	} {
		if a.len != n {
			return fmt.Errorf("%s has %d entries for %d nodes", a.name, a.len, n)
		}
	}
	if len(x.Categories)+len(x.CategoriesNodes)+len(x.CategoriesSegments)+len(x.CategoriesSizes) != 0 {
		return errors.New("categorical splits are not supported")
	}
	*t = tree{
		left:        make([]int32, n),
		right:       make([]int32, n),
		parent:      make([]int32, n),
		feature:     make([]int32, n),
		cond:        x.SplitConditions,
		defaultLeft: make([]bool, n),
		baseWeight:  x.BaseWeights,
		lossChange:  x.LossChanges,
		sumHess:     x.SumHessian,
	}
	if x.Parents[0] != rootParent {
		return fmt.Errorf("the root's parent is %d; want %d", x.Parents[0], rootParent)
	}
	t.parent[0] = -1
	seen := make([]bool, n) // reached as a child
	for i := range n {
		if x.SplitType[i] != 0 {
			return fmt.Errorf("node %d: split_type %d; only numerical (0) splits are supported", i, x.SplitType[i])
		}
		switch x.DefaultLeft[i] {
		case 0, 1:
			t.defaultLeft[i] = x.DefaultLeft[i] == 1
		default:
			return fmt.Errorf("node %d: default_left is %d", i, x.DefaultLeft[i])
		}
		if f := x.SplitIndices[i]; f < 0 || f >= int64(nf) {
			return fmt.Errorf("node %d: split index %d; the model has %d features", i, f, nf)
		}
		t.feature[i] = int32(x.SplitIndices[i])
		l, r := x.LeftChildren[i], x.RightChildren[i]
		if l == -1 && r == -1 {
			t.left[i], t.right[i] = -1, -1
			continue
		}
		// Children come after their parent, as XGBoost allocates them;
		// that rules out cycles, and each node being some node's child
		// exactly once makes it a tree.
		for _, c := range []int64{l, r} {
			if c <= int64(i) || c >= int64(n) {
				return fmt.Errorf("node %d: child %d is not a node after it (of %d)", i, c, n)
			}
			if seen[c] {
				return fmt.Errorf("node %d: child %d has another parent", i, c)
			}
			seen[c] = true
			if x.Parents[c] != int64(i) {
				return fmt.Errorf("node %d: parents[%d] is %d", i, c, x.Parents[c])
			}
		}
		t.left[i], t.right[i] = int32(l), int32(r)
	}
	for i := 1; i < n; i++ {
		if !seen[i] {
			return fmt.Errorf("node %d is no node's child", i)
		}
		t.parent[i] = int32(x.Parents[i])
	}
	return nil
}

// shape lists, for each object in an XGBoost 1.7 model file (by its path;
// "*" is an array element), the keys it has. nil means any keys.
var shape = map[string][]string{
	"":                               {"learner", "version"},
	"learner":                        {"attributes", "feature_names", "feature_types", "gradient_booster", "learner_model_param", "objective"},
	"learner.attributes":             nil,
	"learner.gradient_booster":       {"model", "name"},
	"learner.gradient_booster.model": {"gbtree_model_param", "tree_info", "trees"},
	"learner.gradient_booster.model.gbtree_model_param": {"num_parallel_tree", "num_trees", "size_leaf_vector"},
	"learner.gradient_booster.model.trees.*": {
		"base_weights", "categories", "categories_nodes", "categories_segments", "categories_sizes",
		"default_left", "id", "left_children", "loss_changes", "parents", "right_children",
		"split_conditions", "split_indices", "split_type", "sum_hessian", "tree_param",
	},
	"learner.gradient_booster.model.trees.*.tree_param": {"num_deleted", "num_feature", "num_nodes", "size_leaf_vector"},
	"learner.learner_model_param":                       {"base_score", "boost_from_average", "num_class", "num_feature", "num_target"},
	"learner.objective":                                 {"name", "reg_loss_param"},
	"learner.objective.reg_loss_param":                  {"scale_pos_weight"},
}

// checkShape walks the JSON tokens and checks that each object has
// exactly the keys shape lists for it — encoding/json alone would accept
// missing keys, duplicates and keys in another case — and that nothing
// is null or follows the document.
func checkShape(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		path    string
		object  bool
		wantKey bool   // objects: a key or '}' comes next
		key     string // objects: the key whose value comes next
		seen    map[string]bool
	}
	var stack []frame
	done := false
	valueEnded := func() {
		if len(stack) == 0 {
			done = true
		} else if top := &stack[len(stack)-1]; top.object {
			top.wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if !done {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
		if err != nil {
			return err
		}
		if done {
			return errors.New("data after the model")
		}
		n := len(stack)
		if n > 0 && stack[n-1].wantKey {
			top := &stack[n-1]
			if tok == json.Delim('}') {
				for _, k := range shape[top.path] {
					if !top.seen[k] {
						return fmt.Errorf("%s: missing key %q", where(top.path), k)
					}
				}
				stack = stack[:n-1]
				valueEnded()
				continue
			}
			k, ok := tok.(string)
			if !ok {
				return fmt.Errorf("%s: %v where a key should be", where(top.path), tok)
			}
			if top.seen[k] {
				return fmt.Errorf("%s: key %q appears twice", where(top.path), k)
			}
			if keys := shape[top.path]; keys != nil && !slices.Contains(keys, k) {
				return fmt.Errorf("%s: unexpected key %q", where(top.path), k)
			}
			top.seen[k], top.key, top.wantKey = true, k, false
			continue
		}
		// A value, or the end of an array.
		path := ""
		switch {
		case n == 0:
			if tok != json.Delim('{') {
				return errors.New("the model is not a JSON object")
			}
		case stack[n-1].object:
			path = joinPath(stack[n-1].path, stack[n-1].key)
		default:
			path = joinPath(stack[n-1].path, "*")
		}
		switch tok {
		case json.Delim('{'):
			if _, ok := shape[path]; !ok {
				return fmt.Errorf("%s: unexpected object", where(path))
			}
			stack = append(stack, frame{path: path, object: true, wantKey: true, seen: map[string]bool{}})
			continue
		case json.Delim('['):
			stack = append(stack, frame{path: path})
			continue
		case json.Delim(']'):
			stack = stack[:n-1]
		case nil:
			return fmt.Errorf("%s: null", where(path))
		}
		valueEnded()
	}
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func where(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}
