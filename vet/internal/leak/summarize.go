package leak

import (
	"golang.org/x/tools/go/ssa"

	"github.com/confide/confide/vet/internal/summary"
)

// summarize completes the function's summary from the solved state:
// which parameters flow to which results, into what other parameters
// point to, and into package variables; which results carry a secret.
func (s *fnState) summarize() {
	sum := s.sum
	for _, b := range s.fn.Blocks {
		for _, instr := range b.Instrs {
			ret, ok := instr.(*ssa.Return)
			if !ok {
				continue
			}
			for r, v := range ret.Results {
				if r >= len(sum.Results) {
					break
				}
				d := s.deep(v)
				if d.src != nil && sum.Results[r].Secret == "" && !sum.Declassify {
					sum.Results[r].Secret = d.src.what
				}
				bits(d.deps, func(b int) {
					for _, fl := range s.flowsFor(b) {
						fl.ToResults |= summary.Bit(r)
					}
				})
			}
		}
	}
	seen := map[*object]bool{}
	for _, o := range s.objs {
		r := s.find(o)
		if seen[r] || r.params == 0 && r.global == nil {
			continue
		}
		seen[r] = true
		// What was stored into r. (An allocation the function hangs
		// off a parameter is unified with the parameter's pointee, so
		// it is among these objects too.)
		stored := r.mem
		if r.global != nil {
			if stored.src != nil {
				s.p.taintGlobalVar(r.global, stored.src.what)
			}
			bits(stored.deps, func(b int) {
				for _, fl := range s.flowsFor(b) {
					if r.global.obj != nil {
						addString(&fl.Globals, r.global.obj.Name())
					}
				}
			})
		}
		paths := r.paths
		deep := r.pathsLost
		if deep {
			paths = []string{""}
		}
		bits(r.params, func(j int) {
			if j >= len(sum.Params) {
				return
			}
			for _, path := range paths {
				st := summary.Store{Param: j, Path: path, Deep: deep}
				bits(stored.deps, func(b int) {
					if s.labelParam(b) == j {
						return
					}
					for _, fl := range s.flowsFor(b) {
						addStore(&fl.Stores, st)
					}
				})
				if stored.src != nil && !sum.Params[j].Secret {
					st.Origin = stored.src.what
					addStore(&sum.Params[j].Gets, st)
				}
			}
		})
	}
}

func addString(xs *[]string, x string) {
	for _, y := range *xs {
		if y == x {
			return
		}
	}
	*xs = append(*xs, x)
}

func addStore(xs *[]summary.Store, x summary.Store) {
	for _, y := range *xs {
		if y.Param == x.Param && y.Path == x.Path {
			return
		}
	}
	*xs = append(*xs, x)
}

// equivalent compares summaries, ignoring the wording of paths.
func equivalent(a, b *summary.Func) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Declassify != b.Declassify || a.Sink != b.Sink || a.Boundary != b.Boundary || a.Oblivious != b.Oblivious ||
		len(a.Params) != len(b.Params) || len(a.Results) != len(b.Results) {
		return false
	}
	for i := range a.Results {
		if (a.Results[i].Secret == "") != (b.Results[i].Secret == "") {
			return false
		}
	}
	for i := range a.Params {
		p, q := &a.Params[i], &b.Params[i]
		if p.Secret != q.Secret || len(p.Fields) != len(q.Fields) || len(p.Gets) != len(q.Gets) || !flowEq(&p.Flow, &q.Flow) {
			return false
		}
		for _, f := range p.Fields {
			found := false
			for _, g := range q.Fields {
				if f.Path == g.Path {
					found = flowEq(&f.Flow, &g.Flow)
					break
				}
			}
			if !found {
				return false
			}
		}
		for _, st := range p.Gets {
			found := false
			for _, st2 := range q.Gets {
				found = found || st.Path == st2.Path
			}
			if !found {
				return false
			}
		}
	}
	return true
}

func flowEq(p, q *summary.Flow) bool {
	if p.ToResults != q.ToResults || (p.Sink == nil) != (q.Sink == nil) ||
		len(p.Stores) != len(q.Stores) || len(p.Uses) != len(q.Uses) || len(p.Globals) != len(q.Globals) {
		return false
	}
	for _, u := range p.Uses {
		found := false
		for _, v := range q.Uses {
			found = found || u.Kind == v.Kind && (u.Where != "") == (v.Where != "")
		}
		if !found {
			return false
		}
	}
	for _, st := range p.Stores {
		found := false
		for _, st2 := range q.Stores {
			found = found || st.Param == st2.Param && st.Path == st2.Path
		}
		if !found {
			return false
		}
	}
	for _, g := range p.Globals {
		found := false
		for _, g2 := range q.Globals {
			found = found || g == g2
		}
		if !found {
			return false
		}
	}
	return true
}
