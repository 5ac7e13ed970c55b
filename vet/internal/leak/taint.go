package leak

import (
	"slices"
	"strings"

	"github.com/confide/confide/vet/internal/summary"
)

// source describes where a secret comes from, for messages.
type source struct {
	what string // "parameter key of Derive", "field Config.Key"
}

// taint is what a value depends on: a secret (the first found), and the
// parameters and free variables of the function being analysed (bit i
// for index i, bit 63 for 63 and up).
type taint struct {
	src  *source
	deps uint64
}

func (t taint) join(u taint) taint {
	if t.src == nil {
		t.src = u.src
	}
	t.deps |= u.deps
	return t
}

// covers reports whether t already includes u.
func (t taint) covers(u taint) bool {
	return (u.src == nil || t.src != nil) && u.deps&^t.deps == 0
}

func (t taint) zero() bool { return t.src == nil && t.deps == 0 }

func secretTaint(s *source) taint { return taint{src: s} }

func depTaint(i int) taint { return taint{deps: summary.Bit(i)} }

// bits calls f for every index set in m.
func bits(m uint64, f func(i int)) {
	for i := 0; i <= summary.MaxBit; i++ {
		if m&(1<<uint(i)) != 0 {
			f(i)
		}
	}
}

// object is an abstract memory location, in the style of Steensgaard's
// analysis: every value that may hold a pointer has one object (what it
// points to, or, for struct and array values, their storage); objects
// that a value may denote together are unified (union-find), which keeps
// the analysis near-linear. An object has sub-objects per struct field
// (to a depth), so that a secret stored into one field does not taint the
// others, and a pointee: the object that pointers stored in it point to.
type object struct {
	id int
	uf *object // union-find parent; nil for representatives

	owner   *object // the object this is a field of
	field   int
	kids    map[int]*object
	pointee *object
	depth   int
	// paths are the access paths from the root of what a parameter
	// points to (field indexes and "*" for pointees, "1.*.0"); nil
	// with pathsLost set when too many objects were merged into it.
	paths     []string
	pathsLost bool

	// params has bit i when the object is (part of) what parameter or
	// free variable i points to.
	params uint64
	// rootParam is the parameter whose pointee (or struct value) this
	// object is, or -1: its fields get their own dependence labels.
	rootParam int
	// ownBase: the object has its own base (a field of a parameter's
	// pointee, with its own label); loads from it do not read the
	// base of the objects it is inside.
	ownBase bool
	global  *globalVar
	// base is what the object holds before the function runs
	// (parameters' contents, secret variables, call results).
	base taint
	// mem is what the function stores into it.
	mem taint
	// secretField is set for objects that are, or are inside, a field
	// annotated secret: loads are secret, stores need not taint.
	secretField *source
}

const (
	maxDepth   = 4
	maxObjects = 20000
)

// vinfo is what is known of an SSA value.
type vinfo struct {
	t    taint
	obj  *object
	lenT taint // taint of its length (slices, strings)
	// tup and tobj hold the components of tuple values.
	tup  []taint
	tobj []*object
}

// maxPaths bounds the access paths an object keeps; maxPathLen their
// length (in components).
const (
	maxPaths   = 4
	maxPathLen = 6
)

// extendPaths extends every path by one component.
func extendPaths(paths []string, lost bool, comp string) ([]string, bool) {
	if lost {
		return nil, true
	}
	var out []string
	for _, p := range paths {
		if p == "" {
			out = append(out, comp)
			continue
		}
		if strings.Count(p, ".")+1 >= maxPathLen {
			return nil, true
		}
		out = append(out, p+"."+comp)
	}
	return out, false
}

// unionPaths merges two path sets.
func unionPaths(a []string, aLost bool, b []string, bLost bool) ([]string, bool) {
	if aLost || bLost {
		return nil, true
	}
	out := append([]string(nil), a...)
	for _, p := range b {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) > maxPaths {
		return nil, true
	}
	return out, false
}
