package types_test

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/confide/confide/sql/types"
)

func mustType(t *testing.T, s string) types.Type {
	ty, err := types.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return ty
}

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		typ  string
		a, b any
		want int
	}{
		{"INT", int64(-5), int64(3), -1},
		{"BIGINT", int64(1 << 40), int64(1 << 40), 0},
		{"BIT", true, false, 1},
		{"DECIMAL(10,2)", "-1.50", "-1.05", -1},
		{"DECIMAL(10,2)", "100.00", "99.99", 1},
		{"VARCHAR(10)", "abc", "abd", -1},
		{"VARCHAR(10)", "ab", "ab ", -1},
		{"NVARCHAR(10)", "b", "a😀", 1},
		// BIN2 order: U+1F600 (surrogates D83D DE00) sorts before U+FF21.
		{"NVARCHAR(10)", "😀", "Ａ", -1},
		{"DATE", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), -1},
	} {
		ty := mustType(t, c.typ)
		norm := func(v any) []byte {
			if s, ok := v.(string); ok && ty.Kind == types.Decimal {
				d, err := types.ParseDec(s, ty.Scale)
				if err != nil {
					t.Fatal(err)
				}
				v = d
			}
			b, err := ty.Normalize(v)
			if err != nil {
				t.Fatalf("%s %v: %v", c.typ, v, err)
			}
			return b
		}
		got, err := ty.Compare(norm(c.a), norm(c.b))
		if err != nil || got != c.want {
			t.Errorf("%s: compare(%v, %v) = %d %v, want %d", c.typ, c.a, c.b, got, err, c.want)
		}
	}
}

// TestCompareNVarCharIsUTF16Order checks random strings against sorting
// their UTF-16 encodings directly.
func TestCompareNVarCharIsUTF16Order(t *testing.T) {
	ty := mustType(t, "NVARCHAR(MAX)")
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []rune{'a', 'z', 'é', '中', '\uE000', '\uFF21', '😀', '𝄞'}
	word := func() string {
		var sb strings.Builder
		for range r.IntN(4) {
			sb.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		return sb.String()
	}
	for range 2000 {
		a, b := word(), word()
		na, _ := ty.Normalize(a)
		nb, _ := ty.Normalize(b)
		got, err := ty.Compare(na, nb)
		if err != nil {
			t.Fatal(err)
		}
		if want := slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b))); got != want {
			t.Fatalf("%q vs %q: %d, want %d", a, b, got, want)
		}
	}
}

// TestLike checks the matcher against regular expressions.
func TestLike(t *testing.T) {
	ty := mustType(t, "NVARCHAR(20)")
	r := rand.New(rand.NewPCG(5, 6))
	pick := func(alpha string, n int) string {
		rs := []rune(alpha)
		var sb strings.Builder
		for range r.IntN(n) {
			sb.WriteRune(rs[r.IntN(len(rs))])
		}
		return sb.String()
	}
	for range 5000 {
		v, p := pick("ab😀", 8), pick("ab😀%_", 6)
		re := "^" + strings.NewReplacer("%", ".*", "_", ".").Replace(regexp.QuoteMeta(p)) + "$"
		want := regexp.MustCompile("(?s)" + re).MatchString(v)
		nv, _ := ty.Normalize(v)
		np, err := types.Type{Kind: types.NVarChar, Length: types.Max}.Normalize(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ty.Like(nv, np)
		if err != nil || got != want {
			t.Fatalf("%q LIKE %q = %v %v, want %v", v, p, got, err, want)
		}
	}
	if _, err := mustType(t, "INT").Like(nil, nil); err == nil {
		t.Error("LIKE on INT accepted")
	}
}
