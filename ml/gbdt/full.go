package gbdt

import (
	"fmt"
	"strconv"
)

// FullTree is a tree grown to its full depth, as oblivious training grows
// them: node i (breadth first, root 0, as XGBoost numbers a depthwise
// tree) has children 2i+1 and 2i+2; nodes 0 … 2^Depth−2 are splits and the
// 2^Depth after them leaves. The per-node slices are indexed by node.
type FullTree struct {
	Depth      int
	Feature    []int32   // splits: the feature compared
	Cond       []float32 // splits: x < Cond goes left; leaves: the leaf value
	BaseWeight []float32 // every node: its weight (leaves: ×eta, as XGBoost writes them)
	LossChange []float32 // splits: the loss change
	SumHess    []float32 // every node: its hessian sum
}

// FromFullTrees builds a model from full trees (package ml/obl trains
// them), with the hyperparameters p it was trained with and the feature
// names, checking the trees' shape.
func FromFullTrees(p Params, features []string, trees []FullTree) (*Model, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	m := &Model{
		objective:        p.Objective,
		baseScore:        float32(p.BaseScore),
		boostFromAverage: p.BaseScore == 0.5,
		numFeature:       len(features),
		featureNames:     append([]string(nil), features...),
		attributes: map[string]string{
			"best_iteration":   strconv.Itoa(len(trees) - 1),
			"best_ntree_limit": strconv.Itoa(len(trees)),
		},
	}
	for k, ft := range trees {
		n := 1<<(ft.Depth+1) - 1
		splits := 1<<ft.Depth - 1
		if ft.Depth < 0 || ft.Depth > 30 || len(ft.Feature) != splits || len(ft.Cond) != n || len(ft.BaseWeight) != n ||
			len(ft.LossChange) != splits || len(ft.SumHess) != n {
			return nil, fmt.Errorf("gbdt: full tree %d: wrong sizes for depth %d", k, ft.Depth)
		}
		t := tree{left: make([]int32, n), right: make([]int32, n), parent: make([]int32, n), feature: make([]int32, n),
			cond: append([]float32(nil), ft.Cond...), defaultLeft: make([]bool, n), baseWeight: append([]float32(nil), ft.BaseWeight...),
			lossChange: make([]float32, n), sumHess: append([]float32(nil), ft.SumHess...)}
		for i := range n {
			t.parent[i] = int32((i - 1) / 2)
			t.left[i], t.right[i] = -1, -1
			if i < splits {
				if f := ft.Feature[i]; f < 0 || int(f) >= len(features) {
					return nil, fmt.Errorf("gbdt: full tree %d: node %d compares feature %d of %d", k, i, f, len(features))
				}
				t.left[i], t.right[i] = int32(2*i+1), int32(2*i+2)
				t.feature[i] = ft.Feature[i]
				t.lossChange[i] = ft.LossChange[i]
			}
		}
		t.parent[0] = -1
		m.trees = append(m.trees, t)
	}
	m.packAll()
	return m, nil
}

// CompleteTrees returns the trees as complete trees — splits breadth
// first, then leaves left to right — if every tree is one of the same
// depth, as oblivious training grows them (whose shape is public by
// construction). Thresholds and leaf values are widened to float64.
func (m *Model) CompleteTrees() (depth int, feature [][]uint32, threshold, leaves [][]float64, ok bool) {
	if len(m.trees) == 0 {
		return 0, nil, nil, nil, false
	}
	for k := range m.trees {
		t := &m.trees[k]
		n := t.numNodes()
		d := 0
		for 1<<(d+1)-1 < n {
			d++
		}
		if 1<<(d+1)-1 != n || k > 0 && d != depth {
			return 0, nil, nil, nil, false
		}
		depth = d
		splits := 1<<d - 1
		f, th, lv := make([]uint32, splits), make([]float64, splits), make([]float64, 0, n-splits)
		for i := range n {
			internal := i < splits
			if (t.left[i] >= 0) != internal || internal && (t.left[i] != int32(2*i+1) || t.right[i] != int32(2*i+2)) {
				return 0, nil, nil, nil, false
			}
			if internal {
				f[i], th[i] = uint32(t.feature[i]), float64(t.cond[i])
			} else {
				lv = append(lv, float64(t.cond[i]))
			}
		}
		feature, threshold, leaves = append(feature, f), append(threshold, th), append(leaves, lv)
	}
	return depth, feature, threshold, leaves, true
}

// BaseMargin is the margin every prediction starts from.
func (m *Model) BaseMargin() float64 { return float64(m.baseMargin()) }
