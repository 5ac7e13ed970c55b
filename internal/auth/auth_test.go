package auth

import (
	"net/http/httptest"
	"testing"
)

func TestAuthenticate(t *testing.T) {
	admin, ah, _ := NewToken()
	user, uh, _ := NewToken()
	p, err := Parse([]byte(`{"version":1,"principals":[{"name":"a","token_sha256":"` + ah + `","admin":true},{"name":"u","token_sha256":"` + uh + `"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		header string
		name   string
		admin  bool
		err    error
	}{
		{"Bearer " + admin, "a", true, nil},
		{"Bearer " + user, "u", false, ErrForbidden},
		{"Bearer " + user + "x", "", false, ErrUnauthenticated},
		{"bearer " + admin, "", false, ErrUnauthenticated},
		{"", "", false, ErrUnauthenticated},
		{"Basic " + admin, "", false, ErrUnauthenticated},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		pr, err := p.Admin(r)
		if err != c.err || pr.Name != c.name {
			t.Errorf("%q: %v %v", c.header, pr, err)
		}
	}
	for _, bad := range []string{
		`{"version":2,"principals":[]}`,
		`{"version":1,"principals":[{"name":"a","token_sha256":"00"}]}`,
		`{"version":1,"principals":[{"name":"a b","token_sha256":"` + ah + `"}]}`,
		`{"version":1,"principals":[{"name":"a","token_sha256":"` + ah + `"},{"name":"a","token_sha256":"` + uh + `"}]}`,
		`{"version":1,"principals":[{"name":"a","token_sha256":"` + ah + `"},{"name":"b","token_sha256":"` + ah + `"}]}`,
		`{"version":1,"principals":[],"extra":1}`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// FuzzParse: arbitrary principals files never crash the parser. Seeds:
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"principals":[{"name":"a","token_sha256":"` + Hash("x") + `","admin":true}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err == nil && len(p.Names()) != len(p.byHash) {
			t.Fatal("names and tokens disagree")
		}
	})
}
