// Package summary defines the per-function summaries of the leak checker,
// which travel between packages as analysis facts, and the kinds of
// dependence that an oblivious function must not have on a secret.
package summary

import (
	"strings"
)

// Kind is a way in which a value can be used that makes a program's
// control flow, memory accesses or timing depend on it.
type Kind uint8

// The kinds of use forbidden on secrets in oblivious functions.
const (
	Branch       Kind = iota + 1 // if condition
	Loop                         // for condition, range count
	Switch                       // switch tag or case
	ShortCircuit                 // operand of && or ||
	Index                        // slice, array, string or map index
	Divisor                      // divisor or modulus of an integer division
	FloatDivisor                 // divisor of a floating-point division
	SliceBound                   // bound of a slice expression
	Shift                        // shift count
	Compare                      // == or != on strings, arrays or structs
	MinMax                       // operand of the integer min or max builtins
	MakeSize                     // size of make
	AppendSize                   // number of elements appended
	Select                       // channel of a select
	Call                         // argument of a call that is not known to be oblivious
	UintFloat                    // operand of a conversion between a float and a 64-bit unsigned integer
	NumKinds                     // one past the last kind
)

var kindNames = [...]string{
	Branch:       "branch condition",
	Loop:         "loop condition",
	Switch:       "switch value",
	ShortCircuit: "&&/|| operand",
	Index:        "index",
	Divisor:      "divisor",
	FloatDivisor: "floating-point divisor",
	SliceBound:   "slice bound",
	Shift:        "shift count",
	Compare:      "operand of an early-exit comparison",
	MinMax:       "min/max operand",
	MakeSize:     "make size",
	AppendSize:   "append size",
	Select:       "select channel",
	Call:         "argument of a function not known to be oblivious",
	UintFloat:    "operand of a float/uint64 conversion (compiled with a branch on the value)",
}

func (k Kind) String() string {
	if k > 0 && k < NumKinds {
		return kindNames[k]
	}
	return "use"
}

// Func summarizes a function for its callers. Parameters are indexed
// receiver first (if any), then the parameters in order; the free
// variables of closures follow (in summaries that stay in a package).
type Func struct {
	Name       string
	Declassify bool // results are public whatever the arguments
	Sink       bool // arguments leave the enclave
	Boundary   bool // results leave the enclave
	Oblivious  bool
	// Interface: the summary is the contract an annotated interface
	// method states; implementations are checked against it.
	Interface bool
	// Precise: the summary comes from analysing the function, and a
	// parameter's own Flow is that of its value alone; what it points
	// to is in Fields (path "*" for the whole pointee). Otherwise (a
	// contract, a conservative default) Flow covers both.
	Precise bool
	Params  []Param
	Results []Result
}

// Param summarizes what a function does with one parameter.
type Param struct {
	Name string
	// Secret: annotated secret; the function reports, itself, the leaks
	// it causes (callers do not report them again).
	Secret bool
	// Flow is what happens to the parameter's value and everything it
	// reaches.
	Flow
	// Fields refine Flow for individual fields of what the parameter
	// points to (or of its struct value): a flow recorded there depends
	// only on that field, so a caller checks only that part of its
	// argument.
	Fields []Field
	// Gets lists secrets the function stores into what this parameter
	// points to.
	Gets []Store
}

// Field is the flow of one field of a parameter's pointee.
type Field struct {
	Path string // "*" for the whole pointee, or field indexes "1.0"
	Flow
}

// Flow is where data goes.
type Flow struct {
	// ToResults has bit r set when the data flows to result r (bit 63
	// stands for results 63 and up).
	ToResults uint64
	// Stores lists where the function writes data that depends on it:
	// into what another parameter points to.
	Stores []Store
	// Sink is set when it reaches a sink.
	Sink *Leak
	// Uses lists the kinds of use it reaches.
	Uses []Use
	// Globals lists package variables (of the function's package) it
	// flows into.
	Globals []string
}

// Field returns the flow of field path of p, adding it if absent.
func (p *Param) Field(path string) *Flow {
	if path == "" {
		return &p.Flow
	}
	for i := range p.Fields {
		if p.Fields[i].Path == path {
			return &p.Fields[i].Flow
		}
	}
	p.Fields = append(p.Fields, Field{Path: path})
	return &p.Fields[len(p.Fields)-1].Flow
}

// Flows lists the parameter's flows: its own, then its fields'.
func (p *Param) Flows() []*Flow {
	out := []*Flow{&p.Flow}
	for i := range p.Fields {
		out = append(out, &p.Fields[i].Flow)
	}
	return out
}

// Store is a flow into memory another parameter points to.
type Store struct {
	Param int // destination parameter (for Stores)
	// Path is the access path within what the parameter points to:
	// "" for the pointee itself, field indexes and "*" for the pointee
	// of a pointer field ("1.*.0").
	Path string
	// Deep: the path is lost (objects were merged); the store may be
	// anywhere reachable from Path.
	Deep   bool
	Origin string // for Gets: the secret stored
}

// Leak describes where a parameter leaves the enclave.
type Leak struct {
	Sink string // the sink: "fmt.Println", "result of boundary function Handle"
	Via  string // the path from the parameter: "logKey(k) → fmt.Println at log.go:12"
}

// Use describes a dependence reached by a parameter.
type Use struct {
	Kind Kind
	Via  string // the path from the parameter to the use
	// Where names the oblivious function in which the use counts, or
	// is empty when it happens outside any (it counts only when the
	// caller is oblivious).
	Where string
}

// Result summarizes a result.
type Result struct {
	Name string
	// Secret, when set, describes the secret the result always carries
	// (annotation, or flow from a secret inside the function).
	Secret string
}

// MaxBit is the last bit of the parameter and result masks; it stands
// for itself and every later index.
const MaxBit = 63

// Bit returns the mask bit of index i.
func Bit(i int) uint64 {
	if i >= MaxBit {
		return 1 << MaxBit
	}
	return 1 << uint(i)
}

// Has reports whether mask m covers index i.
func Has(m uint64, i int) bool { return m&Bit(i) != 0 }

// ObjFact is the fact exported for a struct field, package variable or
// constant that is secret.
type ObjFact struct {
	Secret string
}

// AFact marks ObjFact as an analysis fact.
func (*ObjFact) AFact() {}

func (f *ObjFact) String() string { return "secret(" + f.Secret + ")" }

// FuncFact is the fact exported for a function or method.
type FuncFact struct {
	Func
}

// AFact marks FuncFact as an analysis fact.
func (*FuncFact) AFact() {}

func (f *FuncFact) String() string { return f.Func.String() }

// String renders a summary compactly, for tests and debugging.
func (f *Func) String() string {
	var b strings.Builder
	b.WriteString(f.Name)
	for _, flag := range []struct {
		on   bool
		name string
	}{{f.Declassify, "declassify"}, {f.Sink, "sink"}, {f.Boundary, "boundary"}, {f.Oblivious, "oblivious"}} {
		if flag.on {
			b.WriteString(" " + flag.name)
		}
	}
	for i, p := range f.Params {
		b.WriteString(" " + p.Name)
		var attrs []string
		if p.Secret {
			attrs = append(attrs, "secret")
		}
		for k, fl := range p.Flows() {
			prefix := ""
			if k > 0 {
				prefix = p.Fields[k-1].Path
				if prefix != "*" {
					prefix = "." + prefix + ":"
				}
			}
			for r := range f.Results {
				if Has(fl.ToResults, r) {
					attrs = append(attrs, prefix+"result"+itoa(r))
				}
			}
			for _, s := range fl.Stores {
				attrs = append(attrs, prefix+"store→"+f.paramName(s.Param))
			}
			if fl.Sink != nil {
				attrs = append(attrs, prefix+"sink")
			}
			for _, u := range fl.Uses {
				attrs = append(attrs, prefix+u.Kind.String())
			}
		}
		for range p.Gets {
			attrs = append(attrs, "gets-secret")
		}
		_ = i
		if len(attrs) > 0 {
			b.WriteString("{" + strings.Join(attrs, ",") + "}")
		}
	}
	for i, r := range f.Results {
		if r.Secret != "" {
			b.WriteString(" secret-result" + itoa(i))
		}
	}
	return b.String()
}

func (f *Func) paramName(i int) string {
	if i < len(f.Params) {
		return f.Params[i].Name
	}
	return "?"
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// maxHops bounds the length of a path description.
const maxHops = 4

// Via prepends a hop ("helper(msg)") to a path description, keeping
// descriptions short: a long path keeps its first hops and its end.
func Via(hop, rest string) string {
	if rest == "" {
		return hop
	}
	parts := strings.Split(rest, " → ")
	parts = append([]string{hop}, parts...)
	if len(parts) > maxHops+1 {
		parts = append(append(parts[:maxHops-1:maxHops-1], "…"), parts[len(parts)-1])
	}
	return strings.Join(parts, " → ")
}
