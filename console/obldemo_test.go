//go:build obltrace

package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/confide/confide/console"
)

// With the recorder built in (-tags obltrace), the console runs the
// oblivious-access demo and serves its picture.
func TestObliviousDemo(t *testing.T) {
	e := start(t)
	d, ok := console.ObliviousDemo()
	if !ok {
		t.Fatal("an obltrace build offers no oblivious demo")
	}
	c, err := console.New(console.Config{Principals: e.w.Principals, Demos: map[string]console.Demo{"oblivious": d}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	b := (&env{t: t, w: e.w, srv: srv, base: srv.URL}).browser()
	b.signin(e.w.AdminToken)
	if st, _, _ := b.do("POST", "/demos/oblivious", url.Values{"csrf": {b.csrf}}); st != http.StatusSeeOther {
		t.Fatalf("run: %d", st)
	}
	_, body, _ := b.do("GET", "/demos", nil)
	if !strings.Contains(body, "naive: traces differ") || !strings.Contains(body, "oblivious: traces identical") {
		t.Fatalf("demo output:\n%s", body)
	}
	if st, svg, _ := b.do("GET", "/demos/oblivious/figure.svg", nil); st != 200 || !strings.Contains(svg, "<svg") {
		t.Fatalf("figure: %d", st)
	}
}
