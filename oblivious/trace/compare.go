package trace

import "fmt"

// Diff returns a description of the first difference between two traces,
// or "" when they are identical.
func Diff(a, b []Event) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("event %d: %v vs %v", i, a[i], b[i])
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("lengths %d vs %d", len(a), len(b))
	}
	return ""
}

func (e Event) String() string {
	unit := "elem"
	if e.Line {
		unit = "line"
	}
	return fmt.Sprintf("%v obj%d %s%d", e.Op, e.Object, unit, e.Index)
}
