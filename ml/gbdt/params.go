package gbdt

import (
	"errors"
	"fmt"
	"math"
	"runtime"
)

// The objectives Train and ReadXGBoostJSON support, spelled as XGBoost
// spells them.
const (
	BinaryLogistic   = "binary:logistic"
	RegSquaredError  = "reg:squarederror"
	maxBinsSupported = 256 // bin indices are uint8
)

// ErrParams wraps every error Validate returns.
var ErrParams = errors.New("gbdt: invalid parameters")

// Params are the training hyperparameters. The names in the comments are
// XGBoost's; the values mean what they mean there.
type Params struct {
	Objective      string  // objective: BinaryLogistic or RegSquaredError
	Rounds         int     // num_boost_round: trees to grow, at least 1
	MaxDepth       int     // max_depth: at least 1
	LearningRate   float64 // eta: each leaf weight is scaled by it
	Lambda         float64 // lambda: L2 penalty on leaf weights
	Alpha          float64 // alpha: L1 penalty on leaf weights
	MinChildWeight float64 // min_child_weight: least hessian sum in a child
	Gamma          float64 // gamma (min_split_loss): least loss change to split
	MaxBins        int     // max_bin: histogram bins per feature, 2 to 256
	BaseScore      float64 // base_score: the prediction before any tree
	// Threads is how many goroutines build histograms; 0 means
	// runtime.GOMAXPROCS(0). The model does not depend on it.
	Threads int
}

// Defaults are XGBoost 1.7's defaults (with xgb.train's 10 rounds).
func Defaults() Params {
	return Params{
		Objective:      RegSquaredError,
		Rounds:         10,
		MaxDepth:       6,
		LearningRate:   0.3,
		Lambda:         1,
		Alpha:          0,
		MinChildWeight: 1,
		Gamma:          0,
		MaxBins:        256,
		BaseScore:      0.5,
	}
}

// Validate reports the first parameter that Train cannot use.
func (p Params) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrParams, fmt.Sprintf(format, args...))
	}
	switch p.Objective {
	case BinaryLogistic, RegSquaredError:
	default:
		return bad("objective %q is not supported (want %q or %q)", p.Objective, BinaryLogistic, RegSquaredError)
	}
	if p.Rounds < 1 {
		return bad("Rounds is %d; it must be at least 1", p.Rounds)
	}
	if p.MaxDepth < 1 {
		return bad("MaxDepth is %d; it must be at least 1 (depthwise growth has no unlimited depth)", p.MaxDepth)
	}
	if p.MaxBins < 2 || p.MaxBins > maxBinsSupported {
		return bad("MaxBins is %d; it must be from 2 to %d", p.MaxBins, maxBinsSupported)
	}
	if p.Threads < 0 {
		return bad("Threads is %d; it must be 0 (all processors) or more", p.Threads)
	}
	// XGBoost keeps these in float32; a value that does not fit would
	// train on infinity.
	for _, f := range []struct {
		name     string
		v        float64
		positive bool
	}{
		{"LearningRate", p.LearningRate, true},
		{"Lambda", p.Lambda, false},
		{"Alpha", p.Alpha, false},
		{"MinChildWeight", p.MinChildWeight, false},
		{"Gamma", p.Gamma, false},
	} {
		if math.IsNaN(f.v) || math.IsInf(float64(float32(f.v)), 0) {
			return bad("%s is %v; it must be a finite float32", f.name, f.v)
		}
		if f.positive && !(f.v > 0) {
			return bad("%s is %v; it must be more than 0", f.name, f.v)
		}
		if f.v < 0 {
			return bad("%s is %v; it must not be negative", f.name, f.v)
		}
	}
	bs := float32(p.BaseScore)
	if math.IsNaN(p.BaseScore) || math.IsInf(float64(bs), 0) {
		return bad("BaseScore is %v; it must be a finite float32", p.BaseScore)
	}
	if p.Objective == BinaryLogistic && !(bs > 0 && bs < 1) {
		return bad("BaseScore is %v; binary:logistic needs a probability strictly between 0 and 1", p.BaseScore)
	}
	return nil
}

func (p Params) threads() int {
	if p.Threads > 0 {
		return p.Threads
	}
	return runtime.GOMAXPROCS(0)
}
