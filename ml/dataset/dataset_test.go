package dataset

import (
	"errors"
	"strings"
	"testing"
)

func TestReadCSV(t *testing.T) {
	d, err := ReadCSV(strings.NewReader("a,y,b\n1,0,2.5\n-3e2,1, 4\n"), "t.csv", "y")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.Features, ",") != "a,b" || d.Rows() != 2 || d.X[1][0] != -300 || d.X[1][1] != 4 || d.Y[1] != 1 {
		t.Fatalf("%+v", d)
	}
	if err := d.CheckBinary(); err != nil {
		t.Fatal(err)
	}
	if s := d.Subset([]int{1}); s.Rows() != 1 || s.Y[0] != 1 {
		t.Fatalf("subset %+v", s)
	}
}

func TestCSVRoundTrip(t *testing.T) {
	in := "a,b,y\n0.1,-2e-07,1\n3,4.25,0\n"
	d, err := ReadCSV(strings.NewReader(in), "t.csv", "y")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(d.CSV()); got != in {
		t.Fatalf("CSV() = %q, want %q", got, in)
	}
}

// Every bad cell is an error naming the input, the row and the column.
func TestBadInput(t *testing.T) {
	for name, c := range map[string]struct{ csv, want string }{
		"empty file":   {"", "empty"},
		"no rows":      {"a,y\n", "no rows"},
		"no label":     {"a,b\n1,2\n", `no label column "y"`},
		"empty cell":   {"a,y\n,1\n", `row 2, column "a": empty cell`},
		"not a number": {"a,y\n1,0\nx,1\n", `row 3, column "a": "x" is not a number`},
		"NaN":          {"a,y\n1,NaN\n", `row 2, column "y": "NaN" is not a finite number`},
		"infinite":     {"a,y\ninf,1\n", "not a finite number"},
		"short row":    {"a,y\n1\n", "row 2"},
		"duplicate":    {"a,a,y\n1,2,3\n", `column "a" appears twice`},
		"unnamed":      {"a,,y\n1,2,3\n", "column 2 has no name"},
		"label only":   {"y\n1\n", "no feature columns"},
	} {
		_, err := ReadCSV(strings.NewReader(c.csv), "t.csv", "y")
		if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "t.csv") {
			t.Errorf("%s: %v (want %q)", name, err, c.want)
		}
	}
	d, _ := ReadCSV(strings.NewReader("a,y\n1,2\n"), "t.csv", "y")
	if err := d.CheckBinary(); err == nil || !strings.Contains(err.Error(), "0 or 1") {
		t.Errorf("a label 2: %v", err)
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add("a,y\n1,0\n2,1\n", "y")
	f.Add("x,y,z\n1e3,-2,NaN\n", "z")
	f.Fuzz(func(t *testing.T, s, label string) {
		d, err := ReadCSV(strings.NewReader(s), "f.csv", label)
		if err != nil {
			return
		}
		if d.Rows() == 0 || len(d.Features) == 0 {
			t.Fatal("an empty table read")
		}
		for _, r := range d.X {
			if len(r) != len(d.Features) {
				t.Fatalf("row of %d for %d features", len(r), len(d.Features))
			}
		}
		if label != "" && len(d.Y) != d.Rows() {
			t.Fatal("labels and rows differ")
		}
	})
}
