package console

import (
	"strings"
	"testing"
)

// apply rebuilds both sides from a diff: kept and removed lines are a,
// kept and added lines are b.
func apply(d []diffLine) (a, b string) {
	var x, y []string
	for _, l := range d {
		if l.Op != "+" {
			x = append(x, l.Text)
		}
		if l.Op != "-" {
			y = append(y, l.Text)
		}
	}
	return strings.Join(x, "\n"), strings.Join(y, "\n")
}

func TestLineDiff(t *testing.T) {
	d := lineDiff("a\nb\nc\nd", "a\nx\nc\nd\ne")
	var ops string
	for _, l := range d {
		ops += l.Op
	}
	if ops != " -+  +" {
		t.Fatalf("ops %q", ops)
	}
	if len(lineDiff("same\n", "same")) != 1 {
		t.Fatal("a trailing newline is a change")
	}
}

func FuzzLineDiff(f *testing.F) {
	f.Add("a\nb\nc", "a\nc\nd")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 4096 || len(b) > 4096 {
			return
		}
		d := lineDiff(a, b)
		ga, gb := apply(d)
		wa := strings.Join(splitLines(a), "\n")
		wb := strings.Join(splitLines(b), "\n")
		if ga != wa || gb != wb {
			t.Fatalf("the diff does not rebuild its sides: %q %q", ga, gb)
		}
		kept := 0
		for _, l := range d {
			if l.Op == " " {
				kept++
			}
		}
		if a == b && kept != len(splitLines(a)) {
			t.Fatal("equal sides with changes")
		}
	})
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"": "/", "/keys": "/keys", "//evil": "/", "https://evil": "/", "/\\evil": "/", "/a\r\nb": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q", in, got)
		}
	}
}
